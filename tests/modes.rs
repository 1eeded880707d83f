//! The reference overlay's modes, stormed end to end with fixed seeds: each does what it
//! claims, judged on the run's own recorded figures (success and goodput per window,
//! retries), not on strings.

mod common;

use common::load;
use stampede::outcome::Verdict;
use stampede::record::Window;
use stampede::report::Report;
use stampede::run::{RunOptions, run};

/// A small patch-tuesday: 2,000 clients, 40 % reboot over ~12 s, supernodes lost with
/// them; `overlay` and `retry` vary per test.
fn storm(overlay: &str, retry: &str, after_storm: &str) -> String {
    format!(
        r#"
name: mode
seed: 21
target:
  overlay: {overlay}
  timeout: 1s
population: {{ clients: 2_000_000, simulate: 2_000 }}
time_scale: 60
baseline: {{ duration: 4s, rate: 20/s }}
storm:
  waves: [ {{ at: 0s, share: 40%, spread: "normal(sd 2m)" }} ]
  downtime: "uniform(6s, 30s)"
client:
  login: [ {{ name: auth, request: POST /login, body: '{{"client": {{{{client}}}}}}' }} ]
  retry: {retry}
  session:
    keepalive: {{ request: POST /keepalive, body: '{{"client": {{{{client}}}}}}' }}
    every: 2s
  on_reboot: [ {{ request: POST /leave, body: '{{"client": {{{{client}}}}}}' }} ]
observe: {{ window: 1s, until_recovered: {after_storm} }}
slo: {{ success_rate: 90%, p99: 900ms, hold: 4s }}
"#
    )
}

const OVERLAY: &str = "capacity: 150/s, supernode_slots: 50, promotion_delay: 2s, promotion_rate: 20/s";
const PERSISTENT: &str = "{ policy: exponential, base: 200ms, cap: 1s, jitter: full, max_attempts: 10000 }";

/// The storms are real-time experiments against a real target: run them one at a time,
/// or on 2 cores they starve each other and measure the machine instead.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn go(text: &str) -> Report {
    let _turn = ONE_AT_A_TIME.lock().await;
    run(&load(text), RunOptions::default(), &mut ())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Success rate of the completed attempts intended in windows [from_s, to_s).
fn success(ws: &[Window], from_s: u64, to_s: u64) -> f64 {
    let sel = ws
        .iter()
        .filter(|w| w.start_ms >= from_s * 1000 && w.start_ms < to_s * 1000);
    let (ok, all) = sel.fold((0, 0), |(ok, all), w| {
        (
            ok + w.counts.logins_ok,
            all + w.counts.logins_ok + w.counts.logins_failed,
        )
    });
    if all == 0 { f64::NAN } else { ok as f64 / all as f64 }
}

fn sum(ws: &[Window], from_s: u64, to_s: u64, f: fn(&Window) -> u64) -> u64 {
    ws.iter()
        .filter(|w| w.start_ms >= from_s * 1000 && w.start_ms < to_s * 1000)
        .map(f)
        .sum()
}

fn storm_span(r: &Report) -> (u64, u64, u64) {
    (
        r.plan.trigger_start_ms / 1000,
        r.plan.storm_end_ms.div_ceil(1000),
        r.plan.ended_ms / 1000,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_overlay_dips_and_recovers() {
    let r = go(&storm(&format!("{{ preset: healthy, {OVERLAY} }}"), PERSISTENT, "20s")).await;
    let (trigger, storm_end, end) = storm_span(&r);
    let ws = &r.windows;
    assert!(
        success(ws, 0, trigger) > 0.99,
        "baseline healthy: {}",
        success(ws, 0, trigger)
    );
    assert!(
        success(ws, trigger, storm_end) < 0.8,
        "the storm hurts: {}",
        success(ws, trigger, storm_end)
    );
    assert!(
        success(ws, end - 5, end) > 0.95,
        "healed by the end: {}",
        success(ws, end - 5, end)
    );
    let rec = r.recovery.as_ref().unwrap();
    assert_eq!(rec.verdict, Verdict::Recovered, "{}", rec.summary);
    assert!(rec.recovery_time_ms.unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_2007_stays_down_after_the_trigger_has_passed() {
    let r = go(&storm(&format!("{{ preset: bug-2007, {OVERLAY} }}"), PERSISTENT, "12s")).await;
    let (trigger, storm_end, end) = storm_span(&r);
    let ws = &r.windows;
    assert!(success(ws, 0, trigger) > 0.99);
    // Long after the last rebooted client came back, logins still fail: it is the
    // clients' own retries (and lost sessions) that keep the overlay down.
    assert!(
        success(ws, end - 6, end) < 0.5,
        "still down at the end: {}",
        success(ws, end - 6, end)
    );
    let fresh_late = sum(ws, storm_end, end, |w| {
        w.counts.first_attempts - w.counts.relogins.min(w.counts.first_attempts)
    });
    let retries_late = sum(ws, storm_end, end, |w| w.counts.retries);
    assert!(
        retries_late > 5 * fresh_late,
        "retries {retries_late} vs fresh {fresh_late}"
    );
    let rec = r.recovery.as_ref().unwrap();
    assert!(
        matches!(rec.verdict, Verdict::Metastable | Verdict::NotRecovered),
        "{}",
        rec.summary
    );
    assert_eq!(rec.recovered_at_ms, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_fix_brings_bug_2007_back() {
    // Mega-supernodes 22 s into the run, well after the storm's end (~16 s).
    let overlay = format!(
        "{{ preset: bug-2007, {OVERLAY}, actions: [ {{ at: 22s, inject_mega_supernodes: 10, slots: 400 }} ] }}"
    );
    let r = go(&storm(&overlay, PERSISTENT, "30s")).await;
    let (_, storm_end, end) = storm_span(&r);
    let ws = &r.windows;
    assert!(storm_end < 22, "the fix comes after the storm: {storm_end}");
    assert!(
        success(ws, storm_end, 22) < 0.5,
        "down until the fix: {}",
        success(ws, storm_end, 22)
    );
    assert!(
        success(ws, end - 6, end) > 0.9,
        "up after it: {}",
        success(ws, end - 6, end)
    );
    let rec = r.recovery.as_ref().unwrap();
    assert_eq!(rec.verdict, Verdict::Recovered, "{}", rec.summary);
    assert!(
        rec.recovered_at_ms.unwrap() >= 22_000,
        "recovered after the fix: {:?}",
        rec.recovered_at_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_queue_with_immediate_retries_never_recovers_but_backoff_does() {
    let text = |retry: &str| {
        format!(
            r#"
name: retry-storm
seed: 4
target: {{ overlay: {{ preset: unbounded, capacity: 120/s, supernode_slots: 100 }}, timeout: 500ms }}
population: {{ simulate: 500 }}
baseline: {{ duration: 4s, rate: 10/s }}
storm:
  waves: [ {{ at: 0s, share: 60%, spread: "uniform(2s)" }} ]
client:
  login: [ {{ name: auth, request: POST /login, body: '{{"client": {{{{client}}}}}}' }} ]
  retry: {retry}
observe: {{ window: 1s, until_recovered: 25s }}
slo: {{ success_rate: 90%, p99: 450ms, hold: 4s }}
"#
        )
    };
    let immediate = go(&text("{ policy: immediate, max_attempts: 100000 }")).await;
    let (_, _, end) = storm_span(&immediate);
    let ws = &immediate.windows;
    let goodput_late = sum(ws, end - 6, end, |w| w.counts.logins_ok);
    let attempts_late = sum(ws, end - 6, end, |w| w.counts.attempts);
    assert!(attempts_late > 300, "the retries keep coming: {attempts_late}");
    assert!(
        (goodput_late as f64) < 0.05 * attempts_late as f64,
        "goodput collapsed: {goodput_late} of {attempts_late}"
    );
    assert_eq!(immediate.recovery.as_ref().unwrap().recovered_at_ms, None);

    let backoff = go(&text(
        "{ policy: exponential, base: 500ms, cap: 30s, jitter: full, max_attempts: 100000 }",
    ))
    .await;
    let ws = &backoff.windows;
    assert!(
        success(ws, end - 5, end) > 0.9,
        "backoff survives: {}",
        success(ws, end - 5, end)
    );
    assert!(backoff.recovery.as_ref().unwrap().recovered_at_ms.is_some());
}
