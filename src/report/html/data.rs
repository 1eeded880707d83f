//! What the charts plot, computed here and embedded in the page as one JSON block:
//! per-window series of one run (rates per second, percentiles in milliseconds), the
//! turning points to mark, and HdrHistogram percentile curves. The raw histograms
//! stay out of the page.

use std::collections::BTreeSet;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::header::headline;
use super::{HtmlError, r3, secs};
use crate::analysis::recovery::Health;
use crate::outcome::Verdict;
use crate::record::{HistSummary, Window, merge};
use crate::report::Report;

/// Percentile curves go up to 99.9999 % at most (x = 6 "nines").
const MAX_NINES: f64 = 6.0;
/// Step of the percentile curves along the nines axis: 20 points per decade.
const NINES_STEP: f64 = 0.05;

/// Latency percentiles of every window, milliseconds; null where a window completed
/// nothing (the latency charts are logarithmic).
#[derive(Serialize, Default)]
pub(super) struct Pcts {
    p50: Vec<Option<f64>>,
    p90: Vec<Option<f64>>,
    p99: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
}

impl Pcts {
    pub(super) fn push(&mut self, h: &HistSummary) {
        let v = |x: f64| (h.count > 0 && x > 0.0).then_some(r3(x));
        self.p50.push(v(h.p50));
        self.p90.push(v(h.p90));
        self.p99.push(v(h.p99));
        self.max.push(v(h.max));
    }
}

/// Where the story's turning points are, seconds from the start.
#[derive(Serialize)]
struct Marks {
    trigger: f64,
    storm_end: f64,
    end: f64,
    recovered: Option<f64>,
    relapsed: Option<f64>,
    metastable_since: Option<f64>,
    /// The confirmation probe: from the plan's end (retries silenced) to its end, and
    /// when the target healed in it.
    probe_from: Option<f64>,
    probe_to: Option<f64>,
    probe_healed: Option<f64>,
    /// Shade from the trigger to the end: the target never came back.
    down: bool,
    verdict: String,
    headline: String,
    /// Operator actions on the embedded overlay (from the profile): when, and what.
    actions: Vec<super::actions::Action>,
}

impl Marks {
    fn of(r: &Report) -> Marks {
        let rec = r.recovery.as_ref();
        let end = charted(r)
            .last()
            .map_or(secs(r.plan.ended_ms), |w| secs(w.start_ms + w.len_ms));
        Marks {
            trigger: secs(rec.map_or(r.plan.trigger_start_ms, |x| x.trigger_start_ms)),
            storm_end: secs(rec.map_or(r.plan.storm_end_ms, |x| x.storm_end_ms)),
            end,
            recovered: rec.and_then(|x| x.recovered_at_ms).map(secs),
            relapsed: rec.and_then(|x| x.relapsed_at_ms).map(secs),
            metastable_since: rec.and_then(|x| x.metastable_since_ms).map(secs),
            probe_from: rec
                .and_then(|x| x.probe.as_ref())
                .map(|p| secs(p.retries_stopped_at_ms)),
            probe_to: rec.and_then(|x| x.probe.as_ref()).map(|p| secs(p.ended_at_ms).min(end)),
            probe_healed: rec.and_then(|x| x.probe.as_ref()?.healed_at_ms).map(secs),
            down: rec.is_some_and(|x| {
                matches!(
                    x.verdict,
                    Verdict::NotRecovered
                        | Verdict::Metastable
                        | Verdict::RecoveredThenRelapsed
                        | Verdict::Down
                        | Verdict::NeverHealthy
                        | Verdict::Improving
                )
            }),
            verdict: rec.map_or("not analysed".into(), |x| x.verdict_shown()),
            headline: headline(r).0,
            actions: super::actions::marks(r),
        }
    }
}

/// Each window's health as the analysis judged it (see `RunData::health`), and why.
fn health(r: &Report) -> (Vec<u8>, Vec<String>) {
    let ws = charted(r);
    let (mut health, mut reason) = (vec![0u8; ws.len()], vec![String::new(); ws.len()]);
    if let Some(rec) = &r.recovery {
        for h in &rec.health {
            if let Some(i) = ws.iter().position(|w| w.index == h.index) {
                health[i] = match h.state {
                    Health::Healthy => 1,
                    Health::Unhealthy => 2,
                    Health::Unjudged => 3,
                    Health::Tolerated => 4,
                };
                reason[i] = h.reason.clone();
            }
        }
    }
    (health, reason)
}

#[derive(Serialize)]
struct Slo {
    success_pct: f64,
    p99_ms: f64,
}

/// Everything the time-series charts of one run plot. Rates are per second, so runs
/// with different windows overlay.
#[derive(Serialize)]
pub(super) struct RunData {
    name: String,
    window_s: f64,
    t: Vec<f64>,
    planned: Vec<f64>,
    first: Vec<f64>,
    retries: Vec<f64>,
    ok: Vec<f64>,
    failed: Vec<f64>,
    gave_up: Vec<f64>,
    relogins: Vec<f64>,
    success: Vec<Option<f64>>,
    latency: Pcts,
    service: Pcts,
    outcomes: Vec<(String, Vec<f64>)>,
    in_flight: Vec<u64>,
    locked_out: Vec<u64>,
    /// Of `locked_out`, the clients that had given up: they stay locked out for good,
    /// and drawn apart, those still trying can be seen to fall as the target heals.
    locked_gave_up: Vec<u64>,
    lag: Pcts,
    target: Vec<(String, Vec<Option<f64>>)>,
    /// The target charts' time axis: the windows' `t`, then the scrapes after sending
    /// stopped (report.json's `after_run`), past the end-of-run line.
    target_t: Vec<f64>,
    /// 0 not judged by the analysis, 1 healthy, 2 unhealthy, 3 unjudged.
    health: Vec<u8>,
    health_reason: Vec<String>,
    marks: Marks,
    slo: Option<Slo>,
    /// A connected population's series (the page's first chart); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<super::held::HeldSeries>,
    /// An HTTP/2 run's connections; absent under HTTP/1.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    h2: Option<super::h2::H2Series>,
}

/// A Prometheus counter by its name (`_total`): a running total whose chart is flat
/// or climbing whatever the target does; its rate is what an ops engineer reads.
fn is_counter(key: &str) -> bool {
    key.split('{').next().unwrap_or(key).ends_with("_total")
}

/// A counter's increase per second between consecutive points (at `t`, seconds); none
/// for the first point, a gap, or a reset (the target restarted and its counter fell).
fn per_second(t: &[f64], raw: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut out = vec![None];
    for (i, pair) in raw.windows(2).enumerate() {
        let len_s = t[i + 1] - t[i];
        out.push(match (pair[0], pair[1]) {
            (Some(a), Some(b)) if b >= a && len_s > 0.0 => Some(r3((b - a) / len_s)),
            _ => None,
        });
    }
    out.truncate(raw.len());
    out
}

/// The windows the charts plot: all but those reaching past the moment sending
/// stopped. The last window is usually cut short by the end of the run, and its
/// counts, drawn as a rate over a whole window, made every series drop to 0 at the
/// end: a sudden recovery that never happened. (The distributions still use every
/// window: they count latencies, not rates.)
pub(super) fn charted(r: &Report) -> &[Window] {
    let n = r
        .windows
        .iter()
        .take_while(|w| w.start_ms + w.len_ms <= r.plan.ended_ms)
        .count();
    if n == 0 { &r.windows } else { &r.windows[..n] }
}

impl RunData {
    pub(super) fn of(r: &Report) -> Result<RunData, HtmlError> {
        let ws = charted(r);
        let rate = |w: &Window, v: u64| {
            if w.len_ms == 0 {
                0.0
            } else {
                r3(v as f64 * 1000.0 / w.len_ms as f64)
            }
        };
        let series = |f: &dyn Fn(&Window) -> u64| ws.iter().map(|w| rate(w, f(w))).collect();
        let (mut latency, mut service, mut lag) = (Pcts::default(), Pcts::default(), Pcts::default());
        for w in ws {
            latency.push(&w.latency_ms);
            service.push(&w.service_ms);
            lag.push(&w.send_lag_ms);
        }
        let mut classes: Vec<(String, u64)> = r.totals.outcomes.iter().map(|(k, v)| (k.clone(), *v)).collect();
        classes.sort_by(|a, b| (a.0 != "ok").cmp(&(b.0 != "ok")).then(b.1.cmp(&a.1)));
        let outcomes = classes
            .into_iter()
            .map(|(k, _)| {
                let v = ws
                    .iter()
                    .map(|w| rate(w, w.outcomes.get(&k).copied().unwrap_or(0)))
                    .collect();
                (k, v)
            })
            .collect();
        let after = r.after_run.as_ref().map_or(&[][..], |a| &a.points[..]);
        let target_t: Vec<f64> = ws
            .iter()
            .map(|w| secs(w.start_ms))
            .chain(after.iter().map(|p| secs(p.at_ms)))
            .collect();
        let names: BTreeSet<&String> = ws
            .iter()
            .flat_map(|w| w.target.keys())
            .chain(after.iter().flat_map(|p| p.series.keys()))
            .collect();
        let target = names
            .into_iter()
            .map(|k| {
                let raw: Vec<Option<f64>> = ws
                    .iter()
                    .map(|w| w.target.get(k).copied())
                    .chain(after.iter().map(|p| p.series.get(k).copied()))
                    .collect();
                let declared = r
                    .engine
                    .target_counters
                    .iter()
                    .any(|c| Some(c.as_str()) == k.split('{').next());
                if is_counter(k) || declared {
                    (format!("rate({k}) /s"), per_second(&target_t, &raw))
                } else {
                    (k.clone(), raw)
                }
            })
            .collect();
        let (health, health_reason) = health(r);
        let planned = ws
            .iter()
            .map(|w| {
                let i = w.index as usize;
                rate(w, r.plan.first_logins_per_window.get(i).copied().unwrap_or(0))
            })
            .collect();
        let rec = r.recovery.as_ref();
        Ok(RunData {
            name: r.name.clone(),
            window_s: secs(r.plan.window_ms),
            t: ws.iter().map(|w| secs(w.start_ms)).collect(),
            planned,
            first: series(&|w| w.counts.first_attempts),
            retries: series(&|w| w.counts.retries),
            ok: series(&|w| w.counts.logins_ok),
            failed: series(&|w| w.counts.logins_failed),
            gave_up: series(&|w| w.counts.gave_up),
            relogins: series(&|w| w.counts.relogins),
            success: ws.iter().map(|w| w.success_rate().map(|s| r3(s * 100.0))).collect(),
            latency,
            service,
            outcomes,
            in_flight: ws.iter().map(|w| w.in_flight_max).collect(),
            locked_out: ws.iter().map(|w| w.locked_out).collect(),
            locked_gave_up: crate::analysis::recovery::given_up(ws.iter()).collect(),
            lag,
            target,
            target_t,
            health,
            health_reason,
            marks: Marks::of(r),
            slo: rec.map(|x| Slo {
                success_pct: r3(x.slo.success_rate * 100.0),
                p99_ms: r3(x.slo.p99_ms),
            }),
            held: super::held::HeldSeries::of(r, ws),
            h2: super::h2::H2Series::of(r, ws),
        })
    }
}

/// The windows before the trigger and those from the trigger on, for the latency
/// distribution: what users lived through normally, and in and after the storm.
pub(super) fn latency_groups(r: &Report) -> Result<Vec<(String, Histogram<u64>)>, HtmlError> {
    let trigger = r
        .recovery
        .as_ref()
        .map_or(r.plan.trigger_start_ms, |x| x.trigger_start_ms);
    let (before, after): (Vec<&Window>, Vec<&Window>) =
        r.windows.iter().partition(|w| w.start_ms + w.len_ms <= trigger);
    let mut out = Vec::new();
    for (label, ws) in [("baseline", &before), ("storm and after", &after)] {
        out.push((
            format!("{label}, from intended instant"),
            merge(ws.iter().map(|w| &w.latency_ms))?,
        ));
    }
    out.push((
        "storm and after, service time".into(),
        merge(after.iter().map(|w| &w.service_ms))?,
    ));
    Ok(out)
}

/// Each login step over the whole run.
pub(super) fn step_groups(ws: &[Window]) -> Result<Vec<(String, Histogram<u64>)>, HtmlError> {
    let mut names: Vec<&str> = Vec::new();
    for s in ws.iter().flat_map(|w| w.steps.iter()) {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let h = merge(
                ws.iter()
                    .flat_map(|w| w.steps.iter())
                    .filter(|s| s.name == name)
                    .map(|s| &s.latency_ms),
            )?;
            Ok((format!("step {name}"), h))
        })
        .collect()
}

/// HdrHistogram percentile curves on a shared "nines" axis: x = log10(1 / (1 − q)),
/// so 1 is the 90th percentile, 2 the 99th, 3 the 99.9th. Each curve stops where its
/// count stops resolving quantiles, with its maximum as the last point.
#[derive(Serialize)]
pub(super) struct Curves {
    pub(super) x: Vec<f64>,
    pub(super) series: Vec<Curve>,
}

#[derive(Serialize)]
pub(super) struct Curve {
    label: String,
    count: u64,
    /// Milliseconds at each x; null beyond the curve's resolution.
    pub(super) ms: Vec<Option<f64>>,
}

impl Curves {
    pub(super) fn of(groups: Vec<(String, Histogram<u64>)>) -> Curves {
        let groups: Vec<_> = groups.into_iter().filter(|(_, h)| !h.is_empty()).collect();
        let limit = |h: &Histogram<u64>| (h.len() as f64).log10().clamp(0.0, MAX_NINES);
        let top = groups.iter().map(|(_, h)| limit(h)).fold(0.0, f64::max);
        let steps = (top / NINES_STEP).ceil() as usize + 1;
        let x: Vec<f64> = (0..=steps).map(|i| r3(i as f64 * NINES_STEP)).collect();
        let series = groups
            .iter()
            .map(|(label, h)| {
                let lim = limit(h);
                let mut done = false;
                let ms = x
                    .iter()
                    .map(|&xi| {
                        if xi <= lim + 1e-9 {
                            let q = 1.0 - 10f64.powf(-xi);
                            Some(r3(h.value_at_quantile(q) as f64 / 1000.0))
                        } else if !done {
                            done = true;
                            Some(r3(h.max() as f64 / 1000.0))
                        } else {
                            None
                        }
                    })
                    .collect();
                Curve {
                    label: label.clone(),
                    count: h.len(),
                    ms,
                }
            })
            .collect();
        Curves { x, series }
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn counters_are_charted_as_rates_gauges_as_they_are() {
        assert!(is_counter("logins_total{result=\"ok\"}") && !is_counter("queue_depth"));
        let ws: Vec<Window> = (0..5)
            .map(|i| Window {
                index: i,
                start_ms: i as u64 * 500,
                len_ms: 500,
                ..Window::default()
            })
            .collect();
        let t: Vec<f64> = ws.iter().map(|w| secs(w.start_ms)).collect();
        let raw = [Some(10.0), Some(15.0), None, Some(30.0), Some(2.0)];
        // +5 in half a second; a gap; a reset (the target restarted).
        assert_eq!(per_second(&t, &raw), vec![None, Some(10.0), None, None, None]);
        assert_eq!(per_second(&t[..1], &raw[..1]), vec![None]);
        assert!(per_second(&[], &[]).is_empty());
    }

    #[test]
    fn a_counter_declared_by_its_type_is_charted_as_a_rate_too() {
        let mut r = crate::report::testkit::report(6, 3, "rates", "");
        for (i, w) in r.windows.iter_mut().enumerate() {
            w.target.insert("served".into(), i as f64 * 10.0);
            w.target.insert("queue".into(), 5.0);
        }
        r.engine.target_counters = vec!["served".into()];
        let d = RunData::of(&r).unwrap();
        let series = |name: &str| d.target.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert!(
            series("served").is_none(),
            "a declared counter is not drawn as a running total"
        );
        assert_eq!(series("queue").unwrap()[1], Some(5.0), "a gauge is drawn as it is");
        let per_s = 10.0 * 1000.0 / r.windows[1].len_ms as f64;
        assert_eq!(series("rate(served) /s").unwrap()[1], Some(per_s));
    }
}
