//! A sweep of the reference overlay finds the cliff between two intensities.

mod common;

use common::load;
use stampede::run::sweep::sweep;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_of_the_2007_overlay_finds_the_cliff() {
    // The bug-2007 overlay heals a small reboot wave but not a large one: the large
    // wave's failures suspend the promotion that would heal it.
    let p = load(
        r#"
name: cliff
seed: 21
target:
  overlay: { preset: bug-2007, capacity: 150/s, supernode_slots: 50, promotion_delay: 2s, promotion_rate: 20/s }
  timeout: 1s
population: { clients: 2_000_000, simulate: 2_000 }
time_scale: 60
baseline: { duration: 4s, rate: 20/s }
storm:
  waves: [ { at: 0s, share: 40%, spread: "normal(sd 2m)" } ]
  downtime: "uniform(6s, 30s)"
client:
  login: [ { name: auth, request: POST /login, body: '{"client": {{client}}}' } ]
  retry: { policy: exponential, base: 200ms, cap: 1s, jitter: full, max_attempts: 10000 }
  session:
    keepalive: { request: POST /keepalive, body: '{"client": {{client}}}' }
    every: 2s
  on_reboot: [ { request: POST /leave, body: '{"client": {{client}}}' } ]
observe: { window: 1s, until_recovered: 12s }
slo: { success_rate: 90%, p99: 900ms, hold: 4s }
"#,
    );
    let mut seen = Vec::new();
    let r = sweep(
        &p,
        &[0.05, 1.0],
        1,
        None,
        |run| seen.push((run.intensity, run.recovery.verdict)),
        &mut (),
    )
    .await
    .unwrap();
    assert_eq!(seen.len(), 2);
    let s = &r.sweep;
    assert_eq!(s.levels.len(), 2);
    assert_eq!(s.levels[0].not_recovered, 0, "a small wave heals: {seen:?}");
    assert_eq!(s.levels[1].not_recovered, 1, "a large one does not: {seen:?}");
    assert_eq!(s.cliff, Some(1.0));
    assert_eq!(s.safe_up_to, Some(0.05));
    let table = stampede::report::text::sweep(s);
    assert!(table.contains("cliff"), "{table}");
    // Intensity scaled the storm, nothing else.
    assert_eq!(r.runs[0].storm_clients * 20, r.runs[1].storm_clients);
}
