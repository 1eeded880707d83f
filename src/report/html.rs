//! The HTML report: one self-contained file a person opens (from `file://`, offline)
//! to see the storm, the collapse and the recovery.
//!
//! The page is a minijinja template (auto-escaped: nothing from the profile or the
//! target can inject markup). What the charts plot is computed here and embedded as
//! one JSON block that the page script parses; the raw histograms are not embedded,
//! only the per-window series and the percentile curves computed from them, so a
//! 600-window run stays well under 2 MB. Charts are drawn by uPlot (MIT, vendored in
//! `assets/`), inlined with the page's own script and style.

use std::collections::BTreeSet;
use std::time::Duration;

use hdrhistogram::Histogram;
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::Report;
use crate::analysis::Comparison;
use crate::analysis::recovery::Health;
use crate::analysis::sweep::Sweep;
use crate::outcome::Verdict;
use crate::record::{HistError, HistSummary, Window, merge};
use crate::units::format_duration;
use crate::units::{fmt_ms, pct};

const UPLOT_JS: &str = include_str!("assets/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/uPlot.min.css");
const PAGE_JS: &str = include_str!("assets/stampede.js");
const PAGE_CSS: &str = include_str!("assets/stampede.css");

const TEMPLATES: [(&str, &str); 5] = [
    ("macros.html", include_str!("templates/macros.html")),
    ("base.html", include_str!("templates/base.html")),
    ("run.html", include_str!("templates/run.html")),
    ("compare.html", include_str!("templates/compare.html")),
    ("sweep.html", include_str!("templates/sweep.html")),
];

/// Percentile curves go up to 99.9999 % at most (x = 6 "nines").
const MAX_NINES: f64 = 6.0;
/// Step of the percentile curves along the nines axis: 20 points per decade.
const NINES_STEP: f64 = 0.05;

#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("the HTML template failed to render: {0}")]
    Template(#[from] minijinja::Error),
    #[error("a window's histogram cannot be read: {0}")]
    Hist(#[from] HistError),
}

/// The report of one run as one HTML page.
pub fn render(report: &Report) -> Result<String, HtmlError> {
    let data = RunData::of(report)?;
    let curves = Curves::of(
        latency_groups(report)?
            .into_iter()
            .chain(step_groups(&report.windows)?)
            .collect(),
    );
    let page = context! {
        title => format!("stampede · {}", report.name),
        run => Value::from(Serde(Header::of(report))),
        data => script_json(&context! { kind => "run", run => Value::from(Serde(&data)), curves => Value::from(Serde(&curves)) }),
    };
    render_page("run.html", page)
}

/// Two runs of one profile, the new one overlaid on the base.
pub fn render_compare(base: &Report, new: &Report, cmp: &Comparison) -> Result<String, HtmlError> {
    let mut groups = Vec::new();
    for (who, r) in [("base", base), ("new", new)] {
        for (label, h) in latency_groups(r)? {
            groups.push((format!("{who}: {label}"), h));
        }
    }
    let rows: Vec<_> = cmp
        .rows
        .iter()
        .map(|r| {
            context! {
                metric => &r.metric,
                base => &r.base,
                new => &r.new,
                change => r.change_pct.map_or("–".to_string(), |c| format!("{c:+.1}%")),
                regressed => r.regressed,
            }
        })
        .collect();
    let page = context! {
        title => format!("stampede · {} vs {}", base.name, new.name),
        base => Value::from(Serde(Header::of(base))),
        new => Value::from(Serde(Header::of(new))),
        rows => rows,
        tolerance => pct(cmp.tolerance),
        regressed => cmp.any_regression(),
        data => script_json(&context! {
            kind => "compare",
            base => Value::from(Serde(RunData::of(base)?)),
            new => Value::from(Serde(RunData::of(new)?)),
            curves => Value::from(Serde(Curves::of(groups))),
        }),
    };
    render_page("compare.html", page)
}

/// A sweep: recovery time against storm intensity, the cliff marked.
pub fn render_sweep(sweep: &Sweep, title: &str) -> Result<String, HtmlError> {
    let secs = |v: Option<u64>| v.map(|ms| ms as f64 / 1000.0);
    let levels: Vec<_> = sweep
        .levels
        .iter()
        .map(|l| {
            context! {
                intensity => l.intensity,
                runs => l.runs,
                recovered => l.recovered,
                not_recovered => l.not_recovered,
                failed_seeds => l.failed_seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
                median => l.median_recovery_ms.map(|v| fmt_ms(v as f64)),
                range => match (l.min_recovery_ms, l.max_recovery_ms) {
                    (Some(a), Some(b)) => Some(format!("{} – {}", fmt_ms(a as f64), fmt_ms(b as f64))),
                    _ => None,
                },
                verdicts => l.verdicts.iter().map(|(k, v)| format!("{k} × {v}")).collect::<Vec<_>>().join(", "),
                median_s => secs(l.median_recovery_ms),
                min_s => secs(l.min_recovery_ms),
                max_s => secs(l.max_recovery_ms),
                not_recovered_pct => if l.runs > 0 { Some(r3(l.not_recovered as f64 * 100.0 / l.runs as f64)) } else { None },
            }
        })
        .collect();
    let page = context! {
        title => format!("stampede sweep · {title}"),
        name => title,
        levels => levels.clone(),
        cliff => sweep.cliff,
        first_failure => sweep.first_failure,
        safe_up_to => sweep.safe_up_to,
        data => script_json(&context! {
            kind => "sweep",
            levels => levels,
            cliff => sweep.cliff,
            first_failure => sweep.first_failure,
            safe_up_to => sweep.safe_up_to,
        }),
    };
    render_page("sweep.html", page)
}

fn render_page(name: &str, ctx: Value) -> Result<String, HtmlError> {
    let mut env = Environment::new();
    for (n, src) in TEMPLATES {
        env.add_template(n, src)?;
    }
    // Trusted, vendored text: inlined as is (checked by a test to hold no `</script`).
    env.add_global("uplot_js", Value::from_safe_string(UPLOT_JS.into()));
    env.add_global("uplot_css", Value::from_safe_string(UPLOT_CSS.into()));
    env.add_global("page_js", Value::from_safe_string(PAGE_JS.into()));
    env.add_global("page_css", Value::from_safe_string(PAGE_CSS.into()));
    env.add_global("version", env!("CARGO_PKG_VERSION"));
    Ok(env.get_template(name)?.render(ctx)?)
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&` become
/// `\u003c` etc., so no string in it can close the block or open a comment, and
/// `JSON.parse` reads it back unchanged.
fn script_json(v: &Value) -> Value {
    let s = serde_json::to_string(v).expect("template values always serialize");
    Value::from_safe_string(
        s.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026"),
    )
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// A duration as a headline reads it: tenths of a second under a minute, whole
/// seconds above (window edges make anything finer noise).
fn human(ms: u64) -> String {
    let ms = if ms >= 60_000 {
        (ms + 500) / 1000 * 1000
    } else if ms >= 1000 {
        (ms + 50) / 100 * 100
    } else {
        ms
    };
    format_duration(Duration::from_millis(ms))
}

/// The verdict as a headline, and the CSS class that colours it.
fn headline(report: &Report) -> (String, &'static str) {
    let Some(rec) = &report.recovery else {
        return ("Not analysed".into(), "unknown");
    };
    match rec.verdict {
        Verdict::Recovered => (
            match rec.recovery_time_ms {
                Some(t) => format!("Recovered in {}", human(t)),
                None => "Recovered".into(),
            },
            "good",
        ),
        Verdict::NeverDegraded => ("Never degraded".into(), "good"),
        Verdict::RecoveredThenRelapsed => ("Recovered, then relapsed".into(), "warn"),
        Verdict::NotRecovered => ("Not recovered".into(), "bad"),
        Verdict::Metastable => ("Metastable".into(), "bad"),
        Verdict::InsufficientData => ("Insufficient data".into(), "unknown"),
    }
}

/// What the page's header and tables show of one run: every string here is escaped
/// by the template.
#[derive(Serialize)]
struct Header {
    name: String,
    description: String,
    seed: u64,
    target: String,
    started_at: String,
    interrupted: bool,
    stop_reason: String,
    shard: Option<String>,
    headline: String,
    verdict_class: &'static str,
    story: Vec<Chapter>,
    verdict: String,
    summary: String,
    subline: Vec<String>,
    figures: Vec<(String, String)>,
    thresholds: Vec<Threshold>,
    scale: Vec<(String, String)>,
    generator: Vec<(String, String)>,
    behind: bool,
    steps: Vec<StepRow>,
    /// Class, attempts, share, and the first failure of the class in words.
    outcomes: Vec<(String, String, String, String)>,
    notes: Vec<String>,
    slo_how: Option<String>,
    profile_yaml: String,
}

/// One part of the story the charts tell: the storm, the collapse, the recovery.
#[derive(Serialize)]
struct Chapter {
    title: &'static str,
    text: String,
    class: &'static str,
}

/// Storm, collapse, recovery (or not), in words, from the windows and the analysis.
fn story(r: &Report) -> Vec<Chapter> {
    let Some(rec) = &r.recovery else {
        return Vec::new();
    };
    let per_s = |w: &Window, v: u64| v as f64 * 1000.0 / w.len_ms.max(1) as f64;
    let after: Vec<&Window> = r
        .windows
        .iter()
        .filter(|w| w.start_ms + w.len_ms > rec.trigger_start_ms)
        .collect();
    let peak = |f: &dyn Fn(&Window) -> f64| {
        after
            .iter()
            .map(|w| (f(w), w.start_ms))
            .fold(None, |best: Option<(f64, u64)>, (v, at)| match best {
                Some((b, _)) if b >= v => best,
                _ => Some((v, at)),
            })
    };
    let mut out = Vec::new();
    let mut storm = format!(
        "{} clients rebooted and came to log in between {} and {}",
        count(r.plan.storm_clients),
        human(rec.trigger_start_ms),
        human(rec.storm_end_ms)
    );
    if let Some((v, at)) = peak(&|w| per_s(w, w.attempts)) {
        let retries = after.iter().map(|w| w.retries).sum::<u64>();
        storm.push_str(&format!(
            "; attempts peaked at {}/s at {}, {} of them retries overall",
            count(v.round() as u64),
            human(at),
            count(retries)
        ));
    }
    out.push(Chapter {
        title: "Storm",
        text: storm + ".",
        class: "warn",
    });
    let judged = rec
        .health
        .iter()
        .filter(|h| h.start_ms + rec.window_ms > rec.trigger_start_ms && h.state != Health::Unjudged);
    let worst = judged.filter_map(|h| h.success_rate.map(|s| (s, h.start_ms))).fold(
        None,
        |best: Option<(f64, u64)>, (s, at)| match best {
            Some((b, _)) if b <= s => best,
            _ => Some((s, at)),
        },
    );
    let p99 = peak(&|w| {
        if w.latency_ms.count > 0 { w.latency_ms.p99 } else { 0.0 }
    });
    let collapse = match (rec.verdict, worst, p99) {
        (Verdict::NeverDegraded, _, Some((p, at))) => Chapter {
            title: "No collapse",
            text: format!(
                "every judged window stayed within the SLO; p99 peaked at {} at {}.",
                fmt_ms(p),
                human(at)
            ),
            class: "good",
        },
        (_, Some((s, s_at)), Some((p, p_at))) => Chapter {
            title: "Collapse",
            text: format!(
                "{} and p99 rose to {} at {}; {} clients were locked out at the worst ({}).",
                if s + 1e-9 >= rec.slo.success_rate {
                    format!("success stayed at {} or better", pct(s))
                } else {
                    format!("success fell to {} at {}", pct(s), human(s_at))
                },
                fmt_ms(p),
                human(p_at),
                count(rec.peak_locked_out),
                rec.peak_locked_out_at_ms.map_or("–".into(), human)
            ),
            class: "bad",
        },
        _ => Chapter {
            title: "Collapse",
            text: "too few logins completed after the trigger to tell.".into(),
            class: "unknown",
        },
    };
    out.push(collapse);
    let end = r.windows.last().map_or(r.plan.ended_ms, |w| w.start_ms + w.len_ms);
    let (title, text, class) = match rec.verdict {
        Verdict::Recovered | Verdict::RecoveredThenRelapsed => (
            "Recovery",
            format!(
                "healthy for a hold of {} from {}, {} after the trigger{}",
                human(rec.slo.hold_ms),
                rec.recovered_at_ms.map_or("–".into(), human),
                rec.recovery_time_ms.map_or("–".into(), human),
                match rec.relapsed_at_ms {
                    Some(at) => format!(", then relapsed at {}.", human(at)),
                    None => ".".into(),
                }
            ),
            if rec.verdict == Verdict::Recovered {
                "good"
            } else {
                "warn"
            },
        ),
        Verdict::NeverDegraded => ("Recovery", "nothing to recover from.".into(), "good"),
        Verdict::Metastable => (
            "No recovery",
            format!(
                "the offered load was back at baseline from {}, yet the target stayed down to the end ({}): its own retries hold it down.",
                rec.metastable_since_ms.map_or("–".into(), human),
                human(end)
            ),
            "bad",
        ),
        Verdict::NotRecovered => (
            "No recovery",
            format!(
                "no hold of {} healthy windows before the end ({}).",
                human(rec.slo.hold_ms),
                human(end)
            ),
            "bad",
        ),
        Verdict::InsufficientData => ("Recovery", "too few completed logins to judge.".into(), "unknown"),
    };
    out.push(Chapter { title, text, class });
    out
}

#[derive(Serialize)]
struct Threshold {
    expr: String,
    passed: bool,
    measured: String,
}

#[derive(Serialize)]
struct StepRow {
    name: String,
    count: String,
    ok: String,
    failed: String,
    p50: String,
    p90: String,
    p99: String,
    max: String,
    service_p99: String,
}

impl StepRow {
    fn of(name: &str, ok: u64, failed: u64, lat: &HistSummary, svc: &HistSummary) -> Self {
        let f = |v: f64, n: u64| if n == 0 { "–".into() } else { fmt_ms(v) };
        StepRow {
            name: name.into(),
            count: count(ok + failed),
            ok: count(ok),
            failed: count(failed),
            p50: f(lat.p50, lat.count),
            p90: f(lat.p90, lat.count),
            p99: f(lat.p99, lat.count),
            max: f(lat.max, lat.count),
            service_p99: f(svc.p99, svc.count),
        }
    }
}

fn count(n: u64) -> String {
    super::terminal::thousands(n)
}

impl Header {
    fn of(r: &Report) -> Header {
        let (headline, verdict_class) = headline(r);
        let rec = r.recovery.as_ref();
        let mut subline = Vec::new();
        let mut figures = Vec::new();
        if let Some(rec) = rec {
            match (rec.verdict, rec.recovered_at_ms) {
                (Verdict::Recovered, Some(at)) if at < rec.storm_end_ms => subline.push(format!(
                    "before the storm ended (it ran until {})",
                    human(rec.storm_end_ms)
                )),
                (Verdict::Recovered, Some(at)) => {
                    subline.push(format!("{} after the storm ended", human(at - rec.storm_end_ms)))
                }
                _ => {}
            }
            if let Some(at) = rec.relapsed_at_ms {
                subline.push(format!("relapsed at {}", human(at)));
            }
            if let Some(at) = rec.metastable_since_ms {
                subline.push(format!(
                    "offered load back at baseline since {}, target still down",
                    human(at)
                ));
            }
            if let Some(a) = rec.retry_amplification {
                figures.push(("retry amplification".into(), format!("{a:.2}×")));
            }
            if let Some(g) = rec.goodput_share {
                figures.push(("attempts that logged in".into(), pct(g)));
            }
            if let Some(d) = rec.down_share {
                figures.push(("windows unhealthy after trigger".into(), pct(d)));
            }
            figures.push((
                "peak clients locked out".into(),
                match rec.peak_locked_out_at_ms {
                    Some(at) => format!("{} at {}", count(rec.peak_locked_out), human(at)),
                    None => count(rec.peak_locked_out),
                },
            ));
        }
        let t = &r.totals;
        figures.push((
            "logins".into(),
            format!(
                "{} ok · {} failed · {} gave up",
                count(t.logins_ok),
                count(t.logins_failed),
                count(t.counts.gave_up)
            ),
        ));
        let p = &r.plan;
        let per = if p.population_simulated > 0 {
            p.population_modelled as f64 / p.population_simulated as f64
        } else {
            0.0
        };
        let scale = vec![
            (
                "clients".into(),
                format!(
                    "{} modelled, {} simulated (each stands for {})",
                    count(p.population_modelled),
                    count(p.population_simulated),
                    if per >= 1.0 {
                        count(per.round() as u64)
                    } else {
                        format!("{per:.2}")
                    }
                ),
            ),
            (
                "time scale".into(),
                if p.time_scale == 1.0 {
                    "real time".into()
                } else {
                    format!("{}× faster than real time", p.time_scale)
                },
            ),
            (
                "storm".into(),
                format!(
                    "{} storm clients, {} background; trigger at {}, storm ends {}",
                    count(p.storm_clients),
                    count(p.background_clients),
                    human(p.trigger_start_ms),
                    human(p.storm_end_ms)
                ),
            ),
            (
                "windows".into(),
                format!("{} of {}", r.windows.len(), human(p.window_ms)),
            ),
            (
                "ran for".into(),
                format!("{} (planned {})", human(p.ended_ms), human(p.end_ms)),
            ),
        ];
        let e = &r.engine;
        let generator = vec![
            (
                "send lag p99".into(),
                format!("{} (max {})", fmt_ms(e.send_lag_ms.p99), fmt_ms(e.send_lag_ms.max)),
            ),
            ("attempts unstarted".into(), count(e.stats.unstarted)),
            ("engine threads".into(), count(e.stats.threads as u64)),
            ("throttled by clients".into(), count(e.stats.throttled)),
            ("abandoned at drain".into(), count(e.stats.abandoned)),
            ("metric scrapes failed".into(), count(e.stats.scrape_errors)),
        ];
        let mut steps: Vec<StepRow> = vec![StepRow::of(
            "login (whole flow)",
            t.logins_ok,
            t.logins_failed,
            &t.latency_ms,
            &t.service_ms,
        )];
        steps.extend(
            t.steps
                .iter()
                .map(|s| StepRow::of(&s.name, s.ok, s.failed, &s.latency_ms, &s.service_ms)),
        );
        let sent: u64 = t.outcomes.values().sum();
        let mut outcomes: Vec<(String, u64, String)> = t
            .outcomes
            .iter()
            .map(|(k, v)| {
                let share = if sent > 0 {
                    pct(*v as f64 / sent as f64)
                } else {
                    "–".into()
                };
                (k.clone(), *v, share)
            })
            .collect();
        outcomes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let outcomes = outcomes
            .into_iter()
            .map(|(k, n, s)| {
                let why = e.stats.failure_examples.get(&k).cloned().unwrap_or_default();
                (k, count(n), s, why)
            })
            .collect();
        Header {
            name: r.name.clone(),
            description: r.description.clone(),
            seed: r.seed,
            target: r.target.clone(),
            started_at: r.started_at.clone(),
            interrupted: r.interrupted,
            stop_reason: format!("{:?}", r.stop_reason).to_lowercase(),
            shard: r.shard.map(|s| format!("{} of {}", s.index, s.count)),
            headline,
            verdict_class,
            story: story(r),
            verdict: rec.map_or("not analysed".into(), |r| r.verdict.to_string()),
            summary: rec.map_or(String::new(), |r| r.summary.clone()),
            subline,
            figures,
            thresholds: r
                .thresholds
                .iter()
                .map(|t| Threshold {
                    expr: t.expr.clone(),
                    passed: t.passed,
                    measured: t.measured.clone(),
                })
                .collect(),
            scale,
            generator,
            behind: e.behind,
            steps,
            outcomes,
            notes: rec.map_or(Vec::new(), |r| r.notes.clone()),
            slo_how: rec.map(|r| r.slo.how.clone()),
            profile_yaml: serde_yaml::to_string(&r.profile)
                .unwrap_or_else(|_| serde_json::to_string_pretty(&r.profile).unwrap_or_default()),
        }
    }
}

/// Latency percentiles of every window, milliseconds; null where a window completed
/// nothing (the latency charts are logarithmic).
#[derive(Serialize, Default)]
struct Pcts {
    p50: Vec<Option<f64>>,
    p90: Vec<Option<f64>>,
    p99: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
}

impl Pcts {
    fn push(&mut self, h: &HistSummary) {
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
    /// Shade from the trigger to the end: the target never came back.
    down: bool,
    verdict: String,
    headline: String,
    /// Operator actions on the embedded overlay (from the profile): when, and what.
    actions: Vec<Action>,
}

#[derive(Serialize)]
struct Action {
    at: f64,
    label: String,
}

/// The overlay's timed operator actions as the profile wrote them
/// (`target.overlay.actions[]`: `at` plus `inject_mega_supernodes`/`slots` or `shed`).
fn operator_actions(r: &Report) -> Vec<Action> {
    let Some(list) = r.profile.pointer("/target/overlay/actions").and_then(|a| a.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|a| {
            let at = a.get("at").and_then(|v| match v {
                serde_json::Value::String(s) => s.parse::<crate::units::Dur>().ok(),
                serde_json::Value::Number(n) => n.as_f64().map(crate::units::Dur::from_secs_f64),
                _ => None,
            })?;
            let label = if let Some(n) = a.get("inject_mega_supernodes").and_then(|v| v.as_u64()) {
                format!("operator: +{n} mega-supernodes")
            } else if let Some(on) = a.get("shed").and_then(|v| v.as_bool()) {
                format!("operator: shedding {}", if on { "on" } else { "off" })
            } else {
                "operator action".to_string()
            };
            Some(Action {
                at: at.as_secs_f64(),
                label,
            })
        })
        .collect()
}

#[derive(Serialize)]
struct Slo {
    success_pct: f64,
    p99_ms: f64,
}

/// Everything the time-series charts of one run plot. Rates are per second, so runs
/// with different windows overlay.
#[derive(Serialize)]
struct RunData {
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
    lag: Pcts,
    target: Vec<(String, Vec<Option<f64>>)>,
    /// 0 not judged by the analysis, 1 healthy, 2 unhealthy, 3 unjudged.
    health: Vec<u8>,
    health_reason: Vec<String>,
    marks: Marks,
    slo: Option<Slo>,
}

impl RunData {
    fn of(r: &Report) -> Result<RunData, HtmlError> {
        let ws = &r.windows;
        let n = ws.len();
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
        let names: BTreeSet<&String> = ws.iter().flat_map(|w| w.target.keys()).collect();
        let target = names
            .into_iter()
            .map(|k| (k.clone(), ws.iter().map(|w| w.target.get(k).copied()).collect()))
            .collect();
        let (mut health, mut health_reason) = (vec![0u8; n], vec![String::new(); n]);
        if let Some(rec) = &r.recovery {
            for h in &rec.health {
                if let Some(i) = ws.iter().position(|w| w.index == h.index) {
                    health[i] = match h.state {
                        Health::Healthy => 1,
                        Health::Unhealthy => 2,
                        Health::Unjudged => 3,
                    };
                    health_reason[i] = h.reason.clone();
                }
            }
        }
        let planned = ws
            .iter()
            .map(|w| {
                let i = w.index as usize;
                rate(w, r.plan.first_logins_per_window.get(i).copied().unwrap_or(0))
            })
            .collect();
        let rec = r.recovery.as_ref();
        let end = ws.last().map_or(secs(r.plan.ended_ms), |w| secs(w.start_ms + w.len_ms));
        let marks = Marks {
            trigger: secs(rec.map_or(r.plan.trigger_start_ms, |x| x.trigger_start_ms)),
            storm_end: secs(rec.map_or(r.plan.storm_end_ms, |x| x.storm_end_ms)),
            end,
            recovered: rec.and_then(|x| x.recovered_at_ms).map(secs),
            relapsed: rec.and_then(|x| x.relapsed_at_ms).map(secs),
            metastable_since: rec.and_then(|x| x.metastable_since_ms).map(secs),
            down: rec.is_some_and(|x| {
                matches!(
                    x.verdict,
                    Verdict::NotRecovered | Verdict::Metastable | Verdict::RecoveredThenRelapsed
                )
            }),
            verdict: rec.map_or("not analysed".into(), |x| x.verdict.to_string()),
            headline: headline(r).0,
            actions: operator_actions(r),
        };
        Ok(RunData {
            name: r.name.clone(),
            window_s: secs(r.plan.window_ms),
            t: ws.iter().map(|w| secs(w.start_ms)).collect(),
            planned,
            first: series(&|w| w.first_attempts),
            retries: series(&|w| w.retries),
            ok: series(&|w| w.logins_ok),
            failed: series(&|w| w.logins_failed),
            gave_up: series(&|w| w.gave_up),
            relogins: series(&|w| w.relogins),
            success: ws.iter().map(|w| w.success_rate().map(|s| r3(s * 100.0))).collect(),
            latency,
            service,
            outcomes,
            in_flight: ws.iter().map(|w| w.in_flight_max).collect(),
            locked_out: ws.iter().map(|w| w.locked_out).collect(),
            lag,
            target,
            health,
            health_reason,
            marks,
            slo: rec.map(|x| Slo {
                success_pct: r3(x.slo.success_rate * 100.0),
                p99_ms: r3(x.slo.p99_ms),
            }),
        })
    }
}

/// The windows before the trigger and those from the trigger on, for the latency
/// distribution: what users lived through normally, and in and after the storm.
fn latency_groups(r: &Report) -> Result<Vec<(String, Histogram<u64>)>, HtmlError> {
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
fn step_groups(ws: &[Window]) -> Result<Vec<(String, Histogram<u64>)>, HtmlError> {
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
struct Curves {
    x: Vec<f64>,
    series: Vec<Curve>,
}

#[derive(Serialize)]
struct Curve {
    label: String,
    count: u64,
    /// Milliseconds at each x; null beyond the curve's resolution.
    ms: Vec<Option<f64>>,
}

impl Curves {
    fn of(groups: Vec<(String, Histogram<u64>)>) -> Curves {
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
mod tests {
    use super::*;
    use crate::analysis::Totals;
    use crate::analysis::testkit::{run, with_retries};
    use crate::analysis::{Timeline, aggregate, analyze, compare};
    use crate::outcome::StopReason;
    use crate::profile::Slo;
    use crate::report::{EngineFacts, PlanFacts, SCHEMA};

    /// `n` one-second windows: 20 s of healthy baseline, a storm from 20 s to 40 s that
    /// collapses the target, and health back from `heal_at` (never if beyond `n`).
    fn report(n: usize, heal_at: usize, name: &str, description: &str) -> Report {
        let spec: Vec<(u64, u64, u64)> = (0..n)
            .map(|i| match i {
                _ if i < 20 => (50, 0, 8),
                _ if i < heal_at => (20, 180, 1900),
                _ => (50, 0, 9),
            })
            .collect();
        let mut windows: Vec<Window> = run(&spec)
            .into_iter()
            .map(|w| {
                let r = w.attempts / 2;
                with_retries(w, r)
            })
            .collect();
        for (i, w) in windows.iter_mut().enumerate() {
            w.outcomes.insert("ok".into(), w.logins_ok);
            if w.logins_failed > 0 {
                w.outcomes.insert("timeout".into(), w.logins_failed / 2);
                w.outcomes
                    .insert("http_503_retry_after".into(), w.logins_failed - w.logins_failed / 2);
            }
            w.locked_out = w.logins_failed * 3;
            w.in_flight_max = w.attempts / 4;
            for (k, v) in [
                ("overlay_online_clients", 10_000.0 - w.locked_out as f64),
                ("overlay_supernodes_active", 40.0 - (w.logins_failed / 10) as f64),
                ("overlay_queue_depth", w.logins_failed as f64 * 2.0),
                (name, i as f64),
            ] {
                w.target.insert(k.to_string(), v);
            }
        }
        let timeline = Timeline {
            trigger_start: Duration::from_secs(20),
            storm_end: Duration::from_secs(40),
            observe_end: Duration::from_secs(n as u64),
        };
        let slo = Slo {
            success_rate: Some(0.95),
            p99: Some(Duration::from_secs(1)),
            hold: Some(Duration::from_secs(10)),
            min_requests: 10,
        };
        let recovery = analyze(&windows, &timeline, &slo, Duration::from_secs(2));
        Report {
            schema: SCHEMA.into(),
            stampede_version: "test".into(),
            name: name.into(),
            description: description.into(),
            seed: 7,
            started_at: "2007-08-16T12:00:00Z".into(),
            interrupted: false,
            stop_reason: StopReason::Completed,
            target: format!("overlay {name}"),
            profile: serde_json::json!({ "name": name, "description": description }),
            plan: PlanFacts {
                window_ms: 1000,
                trigger_start_ms: 20_000,
                storm_end_ms: 40_000,
                end_ms: n as u64 * 1000,
                ended_ms: n as u64 * 1000,
                population_modelled: 200_000_000,
                population_simulated: 20_000,
                time_scale: 60.0,
                first_logins_per_window: windows.iter().map(|w| w.first_attempts).collect(),
                ..PlanFacts::default()
            },
            engine: EngineFacts::default(),
            shard: None,
            totals: Totals::of(&windows).unwrap(),
            windows,
            recovery: Some(recovery),
            thresholds: Vec::new(),
        }
    }

    fn ok_report() -> Report {
        report(120, 55, "patch-tuesday", "Monthly patch reboots.")
    }

    /// The JSON block's text, as the page script reads it.
    fn data_block(page: &str) -> &str {
        let open = r#"<script type="application/json" id="stampede-data">"#;
        let start = page.find(open).expect("the page has a data block") + open.len();
        let len = page[start..].find("</script>").expect("the block is closed");
        &page[start..start + len]
    }

    /// `src`/`href` attribute values and CSS `url(...)`s that leave the file.
    fn external_refs(page: &str) -> Vec<String> {
        let lower = page.to_ascii_lowercase();
        let mut out = Vec::new();
        for attr in ["src=", "href=", "url("] {
            for (at, _) in lower.match_indices(attr) {
                let v = lower[at + attr.len()..].trim_start_matches(['"', '\'', ' ']);
                if v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//") {
                    out.push(page[at..(at + 60).min(page.len())].to_string());
                }
            }
        }
        out
    }

    #[test]
    fn the_verdict_comes_first_in_words() {
        let page = render(&ok_report()).unwrap();
        let at = page.find(r#"id="verdict""#).unwrap();
        assert!(
            page.contains(r#"<div class="headline" id="verdict">Recovered in 35s</div>"#),
            "{}",
            &page[at..at + 200]
        );
        assert!(page.contains("after the storm ended"));
        let down = report(120, 1000, "down", "");
        let page = render(&down).unwrap();
        let verdict = down.recovery.as_ref().unwrap().verdict;
        assert!(matches!(verdict, Verdict::NotRecovered | Verdict::Metastable));
        let word = if verdict == Verdict::Metastable {
            "Metastable"
        } else {
            "Not recovered"
        };
        assert!(page.contains(&format!(r#"id="verdict">{word}</div>"#)));
        assert!(page.contains(r#"class="verdict bad""#));
    }

    #[test]
    fn nothing_is_fetched_from_the_network() {
        let page = render(&ok_report()).unwrap();
        assert_eq!(external_refs(&page), Vec::<String>::new());
        assert!(page.contains("default-src 'none'"), "the CSP forbids fetches");
        // The check itself finds what it looks for.
        let bad = r#"<img src="https://cdn.example/x.png"><link href='//fonts.example/f'>"#;
        assert_eq!(external_refs(bad).len(), 2);
    }

    #[test]
    fn hostile_text_from_the_profile_is_escaped() {
        let name = "<script>alert(1)</script>";
        let desc = r#""><img src=x onerror=alert(1)>"#;
        let page = render(&report(60, 45, name, desc)).unwrap();
        let body = page.replace(data_block(&page), "");
        assert!(!body.contains(name), "raw name in the markup");
        assert!(!body.contains("<img src=x"), "raw description in the markup");
        assert!(body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
        assert!(body.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        assert_eq!(body.matches("<script").count(), 4, "only the page's own scripts");
    }

    #[test]
    fn the_data_block_survives_a_closing_script_tag() {
        let name = "</script><script>alert(1)</script><!--";
        let page = render(&report(60, 45, name, "a & b")).unwrap();
        let block = data_block(&page);
        assert!(!block.contains('<') && !block.contains('>') && !block.contains('&'));
        let v: serde_json::Value = serde_json::from_str(block).unwrap();
        assert_eq!(v["run"]["name"], name);
        assert_eq!(v["kind"], "run");
        let series: Vec<&str> = v["run"]["target"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[0].as_str().unwrap())
            .collect();
        assert!(series.contains(&name), "a hostile series name stays data");
        assert_eq!(v["run"]["t"].as_array().unwrap().len(), 60);
    }

    #[test]
    fn vendored_assets_cannot_close_their_elements() {
        for js in [UPLOT_JS, PAGE_JS] {
            assert!(!js.to_ascii_lowercase().contains("</script"));
        }
        for css in [UPLOT_CSS, PAGE_CSS] {
            assert!(!css.to_ascii_lowercase().contains("</style"));
        }
    }

    #[test]
    fn ten_minutes_of_windows_stay_under_two_megabytes() {
        let r = report(600, 300, "long", "ten minutes");
        let page = render(&r).unwrap();
        assert!(page.len() < 2_000_000, "{} bytes", page.len());
        let json_len = serde_json::to_string(&r).unwrap().len();
        assert!(
            page.len() < json_len,
            "the page ({}) must not embed the histograms (report.json is {json_len})",
            page.len()
        );
    }

    #[test]
    fn percentile_curves_end_at_the_maximum() {
        let mut h = crate::record::new_hist();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let c = Curves::of(vec![("all".into(), h)]);
        let ms = &c.series[0].ms;
        assert_eq!(ms[0], Some(1.0), "x = 0 is the minimum");
        let at = |x: f64| ms[c.x.iter().position(|&v| (v - x).abs() < 1e-9).unwrap()];
        assert!((at(1.0).unwrap() - 900.0).abs() < 2.0, "x = 1 is p90");
        assert!((at(2.0).unwrap() - 990.0).abs() < 2.0, "x = 2 is p99");
        let last = *ms.iter().flatten().last().unwrap();
        assert!((last - 1000.0).abs() < 1.0, "the last point is the max, {last}");
    }

    #[test]
    fn compare_and_sweep_render() {
        let (a, b) = (ok_report(), report(120, 80, "patch-tuesday", ""));
        let cmp = compare(
            &a.windows,
            a.recovery.as_ref().unwrap(),
            &b.windows,
            b.recovery.as_ref().unwrap(),
            0.1,
        );
        let page = render_compare(&a, &b, &cmp).unwrap();
        assert!(page.contains("The new run regressed"));
        let v: serde_json::Value = serde_json::from_str(data_block(&page)).unwrap();
        assert_eq!(v["kind"], "compare");
        assert_eq!(v["curves"]["series"].as_array().unwrap().len(), 6);

        let runs: Vec<_> = [(1.0, 45), (1.0, 50), (2.0, 80), (2.0, 1000), (3.0, 1000)]
            .iter()
            .enumerate()
            .map(|(seed, &(k, heal))| (k, seed as u64, report(120, heal, "s", "").recovery.unwrap()))
            .collect();
        let sweep = aggregate(&runs);
        let page = render_sweep(&sweep, "<b>bold</b>").unwrap();
        assert!(page.contains("Cliff at intensity 3"), "{}", &page[..3000]);
        assert!(page.contains("&lt;b&gt;bold&lt;&#x2f;b&gt;"));
        let v: serde_json::Value = serde_json::from_str(data_block(&page)).unwrap();
        assert_eq!(v["levels"].as_array().unwrap().len(), 3);
    }
}
