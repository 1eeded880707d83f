//! The confirmation probe (`observe.confirm`), end to end: a run that ends not
//! recovered silences retries and relogins while the baseline goes on, and the verdict
//! says what the target did then. A target held down by its clients' retries heals; a
//! target that fails whatever the load stays down; a target that never worked keeps its
//! own verdict. (The reference overlay's 2007 mode does not heal under the probe: its
//! baseline logins find no free slot and keep its failure ratio, and so its promotion
//! suspension, up; the README's recovery section says so.)

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::{Script, load, serve, serve_app};
use stampede::analysis::recovery::ProbeOutcome;
use stampede::outcome::{StopReason, Verdict};
use stampede::report::Report;
use stampede::run::{RunOptions, run};
use tokio::time::Instant;

/// Real-time runs against real targets: one at a time, or on 2 cores they starve each
/// other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The caller holds `ONE_AT_A_TIME` from before it starts its target: a scripted
/// target's clock starts with it.
async fn go(text: &str, opts: RunOptions) -> Report {
    run(&load(text), opts, &mut ()).await.unwrap_or_else(|e| panic!("{e}"))
}

fn threads(n: u32) -> RunOptions {
    RunOptions {
        threads: Some(n),
        ..RunOptions::default()
    }
}

/// 2 s of baseline at 20/s, then 200 clients want in within about a second and retry
/// without end; 5 s more, then a probe of at most `confirm`.
fn profile(addr: std::net::SocketAddr, confirm: &str) -> String {
    format!(
        r#"
name: probe
seed: 5
target: {{ nodes: [ "http://{addr}" ], timeout: 1s }}
population: {{ clients: 200, simulate: 200 }}
time_scale: 60
baseline: {{ duration: 2s, rate: 20/s, arrivals: uniform }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(30s)" }} ]
  downtime: "uniform(0s, 6s)"
client:
  login: [ {{ name: auth, request: POST /login, body: '{{{{client}}}}' }} ]
  retry: {{ policy: exponential, base: 200ms, cap: 1s, jitter: full, max_attempts: 100000 }}
observe: {{ window: 1s, until_recovered: 5s{confirm} }}
slo: {{ success_rate: 90%, p99: 500ms, hold: 2s }}
"#
    )
}

/// A login service that sheds load: it refuses (503) every request while more than
/// `limit` arrived in the last second, its own included. After a storm, clients that
/// retry keep the rate above the limit by themselves: a feedback loop that only holds
/// while they retry.
async fn shedding(limit: usize) -> std::net::SocketAddr {
    let recent: Arc<Mutex<VecDeque<Instant>>> = Arc::default();
    let app = Router::new().route(
        "/login",
        post(move || {
            let recent = recent.clone();
            async move {
                let now = Instant::now();
                let mut r = recent.lock().unwrap();
                r.push_back(now);
                while r
                    .front()
                    .is_some_and(|&t| now.duration_since(t) > Duration::from_secs(1))
                {
                    r.pop_front();
                }
                if r.len() > limit {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    serve_app(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_held_down_by_retries_heals_when_they_stop_metastable_confirmed() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let addr = shedding(60).await;
    // Two engine threads: the decision and the heal are taken on their merged windows.
    let r = go(&profile(addr, ", confirm: 8s"), threads(2)).await;
    let rec = r.recovery.as_ref().unwrap();
    let probe = rec.probe.as_ref().expect("the run ended down: the probe ran");
    assert_eq!(probe.outcome, ProbeOutcome::Healed, "{}", rec.summary);
    // Before the probe the windows cannot tell: every login refused fast under retry
    // load looks like an outage too (issue #22); the probe tells them apart.
    assert_eq!(probe.verdict_before, Verdict::NotRecovered, "{}", rec.summary);
    assert!(
        rec.summary.contains("Before the probe: Down or metastable"),
        "{}",
        rec.summary
    );
    assert_eq!((rec.verdict, rec.confirmed), (Verdict::Metastable, true));
    assert!(
        rec.summary.starts_with("Metastable, confirmed: recovered ") && rec.summary.contains("after retries stopped"),
        "{}",
        rec.summary
    );
    // Stopped once healthy for the hold (2 s), well before the probe's 8 s.
    assert!(probe.ended_at_ms < probe.started_at_ms + 8_000, "{probe:?}");
    assert_eq!(r.stop_reason, StopReason::Completed);
    // In the probe no retry and no relogin was sent, and the baseline went on.
    let probe_windows: Vec<_> = r
        .windows
        .iter()
        .filter(|w| w.start_ms >= probe.retries_stopped_at_ms)
        .collect();
    assert!(
        probe_windows
            .iter()
            .all(|w| w.counts.retries == 0 && w.counts.relogins == 0)
    );
    assert!(probe_windows.iter().map(|w| w.counts.first_attempts).sum::<u64>() >= 20);
    assert!(
        rec.health
            .iter()
            .any(|h| h.phase == stampede::analysis::recovery::Phase::Probe)
    );
    every_output_says(&r, "metastable, confirmed", "recovered");
}

/// The verdict's wording in every output, and a report.json its schema accepts.
fn every_output_says(r: &Report, verdict: &str, probe: &str) {
    let terminal = stampede::report::terminal::summary(r);
    assert!(terminal.contains(&format!("verdict: {verdict} — ")), "{terminal}");
    assert!(
        terminal.contains("confirmation probe: retries and relogins silenced"),
        "{terminal}"
    );
    assert!(terminal.contains(&format!(": {probe}")), "{terminal}");
    let md = stampede::report::markdown(r).unwrap();
    assert!(md.starts_with(&format!("## ❌ stampede `probe`: {verdict}\n")), "{md}");
    assert!(
        md.contains("| Confirmation probe | retries and relogins silenced"),
        "{md}"
    );
    let xml = stampede::report::junit(r);
    assert!(xml.contains(&format!("<system-out>verdict: {verdict} — ")), "{xml}");
    let html = stampede::report::html::render(r).unwrap();
    assert!(
        html.contains("retries silenced") && html.contains("probe_from"),
        "the chart marks the probe"
    );
    let json = serde_json::to_value(r).unwrap();
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = v
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // A tight schema: a probe with an outcome it does not know is refused.
    let mut bad = json.clone();
    bad["recovery"]["probe"]["outcome"] = "healed-maybe".into();
    assert!(!v.is_valid(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_fails_whatever_the_load_stays_down_under_the_probe() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Every request fails from 3.5 s on, whatever the load: after the storm's start,
    // so that the windows alone look like a feedback loop (load up, back, still down).
    let t = serve(Script {
        outage: Some((Duration::from_millis(3500), Duration::from_secs(3600))),
        ..Script::default()
    })
    .await;
    let r = go(&profile(t.addr, ", confirm: 4s"), threads(1)).await;
    let rec = r.recovery.as_ref().unwrap();
    let probe = rec.probe.as_ref().expect("the run ended down: the probe ran");
    assert_eq!(probe.outcome, ProbeOutcome::StayedDown, "{}", rec.summary);
    assert_eq!((rec.verdict, rec.confirmed), (Verdict::Down, false));
    assert!(
        rec.summary
            .starts_with("Down: failing without load feedback (an outage, not a feedback loop)"),
        "{}",
        rec.summary
    );
    assert_eq!(probe.ended_at_ms, probe.started_at_ms + 4_000, "ran its whole length");
    every_output_says(&r, "down", "stayed down, failing without load feedback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_worked_keeps_its_own_verdict_and_no_probe_runs() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let t = serve(Script {
        outage: Some((Duration::ZERO, Duration::from_secs(3600))),
        ..Script::default()
    })
    .await;
    let r = go(&profile(t.addr, ", confirm: 4s"), threads(1)).await;
    let rec = r.recovery.as_ref().unwrap();
    assert_eq!(rec.verdict, Verdict::NeverHealthy, "{}", rec.summary);
    assert_eq!(rec.probe, None);
    assert_eq!(r.plan.ended_ms, r.plan.end_ms, "nothing sent past the plan's end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_the_probe_ends_the_run_with_a_valid_report_and_the_verdict_before_it() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let t = serve(Script {
        outage: Some((Duration::from_millis(3500), Duration::from_secs(3600))),
        ..Script::default()
    })
    .await;
    let (tx, rx) = tokio::sync::watch::channel(0u8);
    let opts = RunOptions {
        engine: Some(stampede::engine::EngineOptions {
            stop: Some(rx),
            ..Default::default()
        }),
        ..threads(1)
    };
    // The plan ends at 8 s; Ctrl-C 1.5 s into the probe of 6 s (timed from when this
    // run has the machine to itself).
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(9_500)).await;
        let _ = tx.send(1);
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let r = run(&load(&profile(t.addr, ", confirm: 6s")), opts, &mut ())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.stop_reason, StopReason::Interrupted);
    let rec = r.recovery.as_ref().unwrap();
    let probe = rec.probe.as_ref().expect("the probe had begun");
    assert_eq!(probe.outcome, ProbeOutcome::Inconclusive, "{}", rec.summary);
    assert!(probe.ended_at_ms < probe.started_at_ms + 3_000, "{probe:?}");
    assert_eq!(rec.verdict, probe.verdict_before);
    assert!(!rec.confirmed);
    assert!(
        rec.notes
            .iter()
            .any(|n| n.contains("was inconclusive: it was cut short")),
        "{:?}",
        rec.notes
    );
    let json = serde_json::to_value(&r).unwrap();
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&json));
}
