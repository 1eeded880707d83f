//! A report to render in tests: real windows and a real analysis, without a run.

use std::time::Duration;

use super::{EngineFacts, PlanFacts, Report, SCHEMA};
use crate::analysis::testkit::{run, with_retries};
use crate::analysis::{Timeline, Totals, analyze, evaluate};
use crate::outcome::StopReason;
use crate::profile::Slo;
use crate::record::{HistSummary, Window, new_hist};

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
    let recovery = analysed(&windows, None);
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
        preflight: None,
        target: format!("overlay {name}"),
        protocol: "http/1.1".into(),
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
        target_received: None,
        actions: Vec::new(),
    }
}

fn timeline(n: usize) -> Timeline {
    Timeline {
        trigger_start: Duration::from_secs(20),
        storm_end: Duration::from_secs(40),
        observe_end: Duration::from_secs(n as u64),
    }
}

/// The fixture's analysis of `windows`, judged on the connected share when `connected`.
fn analysed(windows: &[Window], connected: Option<f64>) -> crate::analysis::Recovery {
    let slo = Slo {
        success_rate: Some(0.95),
        p99: Some(Duration::from_secs(1)),
        hold: Some(Duration::from_secs(10)),
        min_requests: 10,
        connected,
        ..Slo::default()
    };
    analyze(windows, &timeline(windows.len()), &slo, Duration::from_secs(2))
}

/// The same run for a connected population of 20,000 held clients (`slo.connected:
/// 99%`): at the trigger 6,000 connections drop (4,000 resets, 2,000 closes 1012),
/// their clients reconnect over the windows up to `heal_at` (a few refused resumes log
/// in again, a few connects are told 1013), and are all back from `heal_at`.
pub(crate) fn held_report(n: usize, heal_at: usize, name: &str) -> Report {
    let mut r = report(n, heal_at, name, "");
    let online = 20_000u64;
    let back_by = heal_at.max(21);
    let mut connected = online;
    for (i, w) in r.windows.iter_mut().enumerate() {
        let mut h = crate::record::HeldWindow {
            online,
            ..Default::default()
        };
        let (mut upgrade, mut reconnect, mut heartbeat) = (new_hist(), new_hist(), new_hist());
        let c = &mut h.counts;
        c.heartbeats = 667;
        c.heartbeats_ok = 667;
        c.messages = 700;
        let storm = (20..back_by).contains(&i);
        for k in 0..667u64 {
            let rtt_us = if storm { 40_000 + k * 900 } else { 3_000 + k * 10 };
            heartbeat.record(rtt_us).unwrap();
        }
        if i == 20 {
            c.drops = 6_000;
            h.drops_by_cause.insert("reset".into(), 4_000);
            h.drops_by_cause.insert("ws_close_1012".into(), 2_000);
            connected -= 6_000;
        }
        if i > 20 && i < back_by {
            // The dropped clients come back evenly: all by `heal_at`, the last one late.
            let due = online - connected;
            let left = (back_by - i) as u64;
            let ok = due / left;
            c.connects = ok + 40;
            c.connects_ok = ok;
            c.connects_failed = 40;
            c.resumes = ok - 10;
            c.resumes_refused = 10;
            h.connect_outcomes.insert("ok".into(), ok);
            h.connect_outcomes.insert("ws_close_1013".into(), 40);
            connected += ok;
            for k in 0..ok {
                upgrade.record(2_000 + (k % 50) * 400).unwrap();
                reconnect
                    .record(((i - 20) as u64 * 1_000_000).saturating_sub(k * 50))
                    .unwrap();
            }
        }
        h.connected = connected;
        h.upgrade_ms = HistSummary::of(&upgrade);
        h.reconnect_ms = HistSummary::of(&reconnect);
        h.heartbeat_ms = HistSummary::of(&heartbeat);
        w.held = Some(h);
    }
    r.recovery = Some(analysed(&r.windows, Some(0.99)));
    r.totals = Totals::of(&r.windows).unwrap();
    r
}

/// `r` with `exprs` as its thresholds, evaluated on its windows.
pub(crate) fn gated(mut r: Report, exprs: &[&str]) -> Report {
    let parsed: Vec<_> = exprs.iter().map(|e| crate::threshold::parse(e).unwrap()).collect();
    let rec = r.recovery.as_ref().expect("the fixture is analysed");
    r.thresholds = evaluate(&parsed, &r.windows, rec, r.plan.planned_first_attempts);
    r
}

/// `r` stopped at 42 s by the abort condition `success_rate < 5% for 30s`.
pub(crate) fn aborted(mut r: Report) -> Report {
    r.interrupted = true;
    r.stop_reason = StopReason::Aborted;
    r.abort = Some(crate::outcome::AbortFacts {
        expr: "success_rate < 5% for 30s".into(),
        at_ms: 42_000,
        window: 41,
    });
    r.plan.ended_ms = 42_000;
    r
}

/// `r` as the preflight guard stops one: its first 77 logins before the trigger all
/// failed with `capture`, decided at 1 s.
pub(crate) fn preflighted(mut r: Report) -> Report {
    r.stop_reason = StopReason::Preflight;
    r.preflight = Some(crate::outcome::PreflightFacts {
        logins: 77,
        class: "capture".into(),
        example: Some("step `auth`: capture `token`: nothing at /token in the body".into()),
        at_ms: 1_000,
        window: 0,
    });
    r.plan.ended_ms = 1_000;
    r
}
