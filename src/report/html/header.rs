//! What the page says in words about one run: the headline, the verdict card, the
//! facts beside it and the tables under the charts.

use serde::Serialize;

use super::story::{Chapter, story};
use crate::analysis::{Recovery, Totals};
use crate::outcome::Verdict;
use crate::record::HistSummary;
use crate::report::terminal::thousands;
use crate::report::{EngineFacts, NOT_STARTED, PlanFacts, Report, thresholds_failed};
use crate::units::{fmt_ms, pct};

/// The verdict as a headline, and the CSS class that colours it.
pub(super) fn headline(report: &Report) -> (String, &'static str) {
    if report.not_started().is_some() {
        return ("Could not start".into(), "bad");
    }
    let Some(rec) = &report.recovery else {
        return ("Not analysed".into(), "unknown");
    };
    match rec.verdict {
        Verdict::Recovered => (
            match rec.recovery_time_ms {
                Some(t) => format!("Recovered in {}", fmt_ms(t as f64)),
                None => "Recovered".into(),
            },
            "good",
        ),
        Verdict::NeverDegraded => ("Never degraded".into(), "good"),
        Verdict::RecoveredThenRelapsed => ("Recovered, then relapsed".into(), "warn"),
        Verdict::NotRecovered => ("Not recovered".into(), "bad"),
        Verdict::Metastable if rec.confirmed => (
            match rec.probe.as_ref().and_then(|p| p.recovered_after_ms) {
                Some(t) => format!(
                    "Metastable, confirmed: recovered {} after retries stopped",
                    fmt_ms(t as f64)
                ),
                None => "Metastable, confirmed".into(),
            },
            "bad",
        ),
        Verdict::Metastable => ("Metastable".into(), "bad"),
        Verdict::InsufficientData => ("Insufficient data".into(), "unknown"),
        Verdict::Down => ("Down without load feedback".into(), "bad"),
        Verdict::NeverHealthy => ("Never healthy".into(), "bad"),
        Verdict::Improving => ("Improving, not recovered yet".into(), "warn"),
    }
}

/// A label and its value, as the two-column tables show them.
type Fact = (String, String);

/// What the page's header and tables show of one run: every string here is escaped
/// by the template.
#[derive(Serialize)]
pub(super) struct Header {
    name: String,
    description: String,
    seed: u64,
    target: String,
    /// The protocol the flows spoke (`http/1.1`, `h2`, `h2c`).
    protocol: String,
    started_at: String,
    interrupted: bool,
    /// Beside the thresholds of a run that stopped early: why (an abort condition, the
    /// preflight guard) and what they therefore cover, as JUnit and the summary say it.
    cut_short: String,
    /// Nothing was sent: no charts, and none of the words of a run that ran.
    not_started: bool,
    /// Why nothing worked, for a run where no login succeeded or the target was never
    /// healthy: the commonest failure and its first example, shown at the top (the
    /// outcome table that has it is far below).
    cause: Option<String>,
    stop_reason: String,
    shard: Option<String>,
    headline: String,
    verdict_class: &'static str,
    story: Vec<Chapter>,
    verdict: String,
    summary: String,
    subline: Vec<String>,
    figures: Vec<Fact>,
    thresholds: Vec<Threshold>,
    scale: Vec<Fact>,
    generator: Vec<Fact>,
    behind: bool,
    steps: Vec<StepRow>,
    /// Class, attempts, share, and the first failure of the class in words.
    outcomes: Vec<(String, String, String, String)>,
    notes: Vec<String>,
    slo_how: Option<String>,
    profile_yaml: String,
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
    service_p50: String,
    service_p99: String,
    /// The generator's own lateness, p50 · p99: the whole flow's row only (a flow's
    /// steps after the first start when the one before ends).
    send_lag: String,
}

impl StepRow {
    fn of(name: &str, ok: u64, failed: u64, lat: &HistSummary, svc: &HistSummary, lag: Option<&HistSummary>) -> Self {
        let f = |v: f64, n: u64| if n == 0 { "–".into() } else { fmt_ms(v) };
        StepRow {
            name: name.into(),
            count: thousands(ok + failed),
            ok: thousands(ok),
            failed: thousands(failed),
            p50: f(lat.p50, lat.count),
            p90: f(lat.p90, lat.count),
            p99: f(lat.p99, lat.count),
            max: f(lat.max, lat.count),
            service_p50: f(svc.p50, svc.count),
            service_p99: f(svc.p99, svc.count),
            send_lag: lag.map_or("–".into(), |l| {
                format!("{} · {}", f(l.p50, l.count), f(l.p99, l.count))
            }),
        }
    }
}

impl Header {
    pub(super) fn of(r: &Report) -> Header {
        let (mut headline, mut verdict_class) = headline(r);
        let rec = r.recovery.as_ref();
        let mut subline = rec.map_or(Vec::new(), subline);
        if let Some(why) = r.not_started() {
            subline.push(format!("{NOT_STARTED}: {why}"));
        }
        // A failed gate fails the run whatever the verdict: the big line says so, in
        // red, naming what failed; the verdict moves to the line under it.
        if let Some(words) = thresholds_failed(&r.thresholds) {
            let failed: Vec<&str> = r
                .thresholds
                .iter()
                .filter(|t| !t.passed)
                .map(|t| t.expr.as_str())
                .collect();
            subline.insert(0, format!("{words} · verdict: {}", headline.to_lowercase()));
            headline = format!("Gate failed: {}", failed.join(", "));
            verdict_class = "bad";
        }
        let mut figures = super::held::figures(r);
        figures.extend(crate::report::h2::line(r).map(|l| ("connections".to_string(), l)));
        figures.extend(rec.map_or(Vec::new(), recovery_figures));
        let t = &r.totals;
        figures.push(("success rate".into(), t.success_rate.map_or("–".into(), pct)));
        figures.push((
            "logins".into(),
            format!(
                "{} ok · {} failed · {} gave up",
                thousands(t.counts.logins_ok),
                thousands(t.counts.logins_failed),
                thousands(t.counts.gave_up)
            ),
        ));
        Header {
            name: r.name.clone(),
            description: r.description.clone(),
            seed: r.seed,
            target: r.target.clone(),
            protocol: r.protocol.clone(),
            started_at: r.started_at.clone(),
            interrupted: r.cut_short() && r.not_started().is_none(),
            cut_short: crate::report::words::cut_short(r),
            not_started: r.not_started().is_some(),
            cause: cause(r),
            // The words every output shares for a run that stopped early.
            stop_reason: match crate::report::words::stopped_early(r) {
                _ if r.not_started().is_some() => "not started".into(),
                Some(why) => why,
                None => format!("{:?}", r.stop_reason).to_lowercase(),
            },
            shard: r.shard.map(|s| format!("{} of {}", s.index, s.count)),
            headline,
            verdict_class,
            story: story(r),
            verdict: rec.map_or("not analysed".into(), |r| r.verdict_shown()),
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
            scale: scale(&r.plan, r.windows.len()),
            generator: generator(&r.engine),
            behind: r.engine.behind,
            steps: steps(t, &r.engine),
            outcomes: outcomes(t, &r.engine),
            notes: rec
                .map_or(Vec::new(), |r| r.notes.clone())
                .into_iter()
                .chain(crate::report::locked_out_line(r))
                .chain(crate::report::retry_after_line(r))
                .chain(crate::report::drain_line(r))
                .chain(crate::report::received_line(r))
                .collect(),
            slo_how: rec.map(|r| r.slo.how.clone()),
            profile_yaml: super::echo::profile_yaml(&r.profile),
        }
    }
}

/// The lines under the headline: when, relative to the storm, and what held it down.
fn subline(rec: &Recovery) -> Vec<String> {
    let mut out = Vec::new();
    match (rec.verdict, rec.recovered_at_ms) {
        (Verdict::Recovered, Some(at)) if at < rec.storm_end_ms => out.push(format!(
            "before the storm ended (it ran until {})",
            fmt_ms(rec.storm_end_ms as f64)
        )),
        (Verdict::Recovered, Some(at)) => out.push(format!(
            "{} after the storm ended",
            fmt_ms((at - rec.storm_end_ms) as f64)
        )),
        _ => {}
    }
    if let Some(at) = rec.relapsed_at_ms {
        out.push(format!("relapsed at {}", fmt_ms(at as f64)));
    }
    if let Some(at) = rec.metastable_since_ms {
        out.push(format!(
            "offered load back at baseline since {}, target still down",
            fmt_ms(at as f64)
        ));
    }
    if let Some(line) = rec.probe_line() {
        out.push(format!("confirmation probe: {line}"));
    }
    out
}

/// The recovery's key figures beside the verdict card.
fn recovery_figures(rec: &Recovery) -> Vec<Fact> {
    let mut out = Vec::new();
    if let Some(a) = rec.figures.retry_amplification {
        out.push(("retry amplification".into(), format!("{a:.2}×")));
    }
    if let Some(g) = rec.figures.goodput_share {
        out.push(("attempts that logged in after the trigger".into(), pct(g)));
    }
    if let Some(d) = rec.figures.down_share {
        out.push(("windows unhealthy after trigger".into(), pct(d)));
    }
    out.push((
        "peak clients locked out".into(),
        match rec.figures.peak_locked_out_at_ms {
            Some(at) => format!("{} at {}", thousands(rec.figures.peak_locked_out), fmt_ms(at as f64)),
            None => thousands(rec.figures.peak_locked_out),
        },
    ));
    out
}

/// How big the storm was and how it was scaled down to the clients driven.
fn scale(p: &PlanFacts, windows: usize) -> Vec<Fact> {
    let per = if p.population_simulated > 0 {
        p.population_modelled as f64 / p.population_simulated as f64
    } else {
        0.0
    };
    let mut facts = vec![
        (
            "clients".into(),
            format!(
                "{} modelled, {} simulated (each stands for {})",
                thousands(p.population_modelled),
                thousands(p.population_simulated),
                if per >= 1.0 {
                    thousands(per.round() as u64)
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
                thousands(p.storm_clients),
                thousands(p.background_clients),
                fmt_ms(p.trigger_start_ms as f64),
                fmt_ms(p.storm_end_ms as f64)
            ),
        ),
        (
            "windows".into(),
            format!("{} of {}", windows, fmt_ms(p.window_ms as f64)),
        ),
        (
            "ran for".into(),
            format!("{} (planned {})", fmt_ms(p.ended_ms as f64), fmt_ms(p.end_ms as f64)),
        ),
    ];
    // The flow's inputs by name and count: the data file's values are credentials.
    if let Some(flow) = p.flow_inputs() {
        facts.push(("flow inputs".into(), flow));
    }
    facts
}

/// Whether the load generator kept its schedule.
fn generator(e: &EngineFacts) -> Vec<Fact> {
    vec![
        (
            "send lag p99".into(),
            format!(
                "{} (max {}){}",
                fmt_ms(e.send_lag_ms.p99),
                fmt_ms(e.send_lag_ms.max),
                crate::report::words::send_precision(e)
            ),
        ),
        ("attempts unstarted".into(), thousands(e.stats.unstarted)),
        ("engine threads".into(), thousands(e.stats.threads as u64)),
        ("throttled by clients".into(), thousands(e.stats.throttled)),
        ("abandoned at drain".into(), thousands(e.stats.abandoned)),
        ("metric scrapes failed".into(), thousands(e.stats.scrape_errors)),
    ]
}

/// The whole login flow first, then each step.
fn steps(t: &Totals, e: &EngineFacts) -> Vec<StepRow> {
    let mut out = vec![StepRow::of(
        "login (whole flow)",
        t.counts.logins_ok,
        t.counts.logins_failed,
        &t.latency_ms,
        &t.service_ms,
        Some(&e.send_lag_ms),
    )];
    out.extend(
        t.steps
            .iter()
            .map(|s| StepRow::of(&s.name, s.ok, s.failed, &s.latency_ms, &s.service_ms, None)),
    );
    out
}

/// For a run in which nothing worked (no login succeeded, or no window was ever
/// healthy, the baseline included): its commonest failure, with the first example.
fn cause(r: &Report) -> Option<String> {
    let never = r.recovery.as_ref().is_some_and(|x| x.verdict == Verdict::NeverHealthy);
    let t = &r.totals;
    if r.not_started().is_some() || !(never || t.counts.logins_ok == 0) || t.counts.logins_failed == 0 {
        return None;
    }
    let (class, n) = t
        .outcomes
        .iter()
        .filter(|(k, _)| k.as_str() != "ok")
        .max_by_key(|(_, n)| **n)?;
    let sent: u64 = t.outcomes.values().sum();
    let lead = if t.counts.logins_ok == 0 {
        format!(
            "No login succeeded in the whole run ({} failed)",
            thousands(t.counts.logins_failed)
        )
    } else {
        format!(
            "The target was never healthy, before the storm included ({} ok, {} failed)",
            thousands(t.counts.logins_ok),
            thousands(t.counts.logins_failed)
        )
    };
    let share = pct(*n as f64 / sent.max(1) as f64);
    Some(match r.engine.stats.failure_examples.get(class) {
        Some(why) => format!("{lead}: {share} of the attempts ended `{class}`, the first one: {why}."),
        None => format!("{lead}: {share} of the attempts ended `{class}`."),
    })
}

/// Outcome classes, most frequent first, each with the first failure of its kind.
fn outcomes(t: &Totals, e: &EngineFacts) -> Vec<(String, String, String, String)> {
    crate::report::words::outcome_rows(t, e)
        .into_iter()
        .map(|o| {
            let share = o.share.map_or_else(|| "–".into(), pct);
            (o.class, thousands(o.count), share, o.example.unwrap_or_default())
        })
        .collect()
}
