//! A report to render in tests: real windows and a real analysis, without a run.

use std::time::Duration;

use super::{EngineFacts, PlanFacts, Report, SCHEMA};
use crate::analysis::testkit::{run, with_retries};
use crate::analysis::{Timeline, Totals, analyze, evaluate};
use crate::outcome::StopReason;
use crate::profile::Slo;
use crate::record::Window;

/// `n` one-second windows: 20 s of healthy baseline, a storm from 20 s to 40 s that
/// collapses the target, and health back from `heal_at` (never if beyond `n`).
pub(crate) fn report(n: usize, heal_at: usize, name: &str, description: &str) -> Report {
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
            let r = w.counts.attempts / 2;
            with_retries(w, r)
        })
        .collect();
    for (i, w) in windows.iter_mut().enumerate() {
        w.outcomes.insert("ok".into(), w.counts.logins_ok);
        if w.counts.logins_failed > 0 {
            w.outcomes.insert("timeout".into(), w.counts.logins_failed / 2);
            w.outcomes.insert(
                "http_503_retry_after".into(),
                w.counts.logins_failed - w.counts.logins_failed / 2,
            );
        }
        w.locked_out = w.counts.logins_failed * 3;
        w.in_flight_max = w.counts.attempts / 4;
        for (k, v) in [
            ("overlay_online_clients", 10_000.0 - w.locked_out as f64),
            ("overlay_supernodes_active", 40.0 - (w.counts.logins_failed / 10) as f64),
            ("overlay_queue_depth", w.counts.logins_failed as f64 * 2.0),
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
        connected: None,
        ..Slo::default()
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
        stop_detail: None,
        abort: None,
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
            first_logins_per_window: windows.iter().map(|w| w.counts.first_attempts).collect(),
            ..PlanFacts::default()
        },
        engine: EngineFacts {
            target_counters: Vec::new(),
            stats: crate::record::EngineStats {
                threads: 1,
                ..Default::default()
            },
            ..EngineFacts::default()
        },
        shard: None,
        profile_digest: String::new(),
        confirmed: super::Confirmed::Loopback,
        start: None,
        totals: Totals::of(&windows).unwrap(),
        windows,
        recovery: Some(recovery),
        thresholds: Vec::new(),
        after_run: None,
    }
}

/// `r` with `exprs` as its thresholds, evaluated on its windows.
pub(crate) fn gated(mut r: Report, exprs: &[&str]) -> Report {
    let parsed: Vec<_> = exprs.iter().map(|e| crate::threshold::parse(e).unwrap()).collect();
    let rec = r.recovery.as_ref().expect("the fixture is analysed");
    r.thresholds = evaluate(&parsed, &r.windows, rec, r.plan.planned_first_attempts);
    r
}
