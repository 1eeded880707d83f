//! The target's own metrics as an ops engineer names them: labelled series match
//! exactly, bare ones over their label sets, and derived series land in the windows.

mod common;

use common::load;
use stampede::run::{RunOptions, run};

#[tokio::test]
async fn labelled_series_are_found_and_derived_series_are_computed() {
    let p = load(
        r#"
name: series
seed: 3
target:
  overlay: { preset: healthy }
  timeout: 1s
  metrics:
    series: [ 'overlay_keepalives_total{result="ok"}', 'overlay_keepalives_total{result="nope"}', overlay_queue_depth ]
    derived:
      - { name: busy_slots, expr: "overlay_supernode_slots_total - overlay_supernode_slots_free" }
      - { name: ok_ratio, expr: "overlay_logins_ok_total / overlay_logins_completed_total" }
population: { simulate: 200 }
baseline: { duration: 1s, rate: 100/s }
storm:
  waves: [ { at: 0s, share: 100%, spread: "uniform(500ms)" } ]
client:
  login: [ { name: auth, request: POST /login, body: '{"client": {{client}}}', expect: 200 } ]
observe: { window: 250ms, until_recovered: 500ms }
"#,
    );
    let opts = RunOptions {
        threads: Some(1),
        ..RunOptions::default()
    };
    let r = run(&p, opts, &mut ()).await.unwrap();
    assert_eq!(
        r.engine.missing_series,
        vec!["overlay_keepalives_total{result=\"nope\"}".to_string()],
        "a labelled name that was scraped is not missing; one never exposed is"
    );
    assert!(
        r.engine.target_counters.iter().any(|c| c == "overlay_logins_ok_total"),
        "{:?}",
        r.engine.target_counters
    );
    let has = |k: &str| r.windows.iter().any(|w| w.target.contains_key(k));
    assert!(has("overlay_keepalives_total{result=\"ok\"}"));
    assert!(has("busy_slots"), "derived difference");
    let ratios: Vec<f64> = r
        .windows
        .iter()
        .filter_map(|w| w.target.get("ok_ratio").copied())
        .collect();
    assert!(
        !ratios.is_empty() && ratios.iter().all(|x| (0.0..=1.0).contains(x)),
        "{ratios:?}"
    );
}

#[test]
fn a_derived_series_without_an_operator_names_its_field() {
    let text = "name: d\ntarget:\n  overlay: { preset: healthy }\n  metrics:\n    derived: [ { name: x, expr: \"a/b\" } ]\npopulation: { simulate: 10 }\nstorm: { waves: [ { share: 100%, spread: \"uniform(1s)\" } ] }\nclient: { login: [ { request: POST /login } ] }\n";
    let e = stampede::run::parse(text, std::path::Path::new("d.yaml"), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("target.metrics.derived[0].expr") && e.contains("spaces around the operator"),
        "{e}"
    );
}

/// A FIFO without a deadline check, 1,500 logins in half a second against 200/s with a
/// 500 ms client timeout: when sending stops, the queue still holds hundreds of logins
/// whose clients had gone. The run keeps scraping until it is empty.
#[tokio::test]
async fn the_targets_drain_after_the_run_is_scraped_until_its_queue_is_back_at_baseline() {
    let p = load(
        r#"
name: drain
seed: 3
target:
  overlay: { preset: unbounded, capacity: 200/s }
  timeout: 500ms
  metrics: { series: [ overlay_queue_depth ] }
population: { simulate: 1500 }
baseline: { duration: 1s, rate: 20/s }
storm:
  waves: [ { at: 0s, share: 100%, spread: "uniform(500ms)" } ]
client:
  login: [ { name: auth, request: POST /login, body: '{"client": {{client}}}', expect: 200 } ]
  retry: { policy: none }
observe: { window: 500ms, until_recovered: 1s }
"#,
    );
    let opts = RunOptions {
        threads: Some(1),
        ..RunOptions::default()
    };
    let r = run(&p, opts, &mut ()).await.unwrap();
    let a = r.after_run.as_ref().expect("the queue was watched after the run");
    assert_eq!(a.watched, vec!["overlay_queue_depth".to_string()]);
    assert_eq!(a.baseline.get("overlay_queue_depth"), Some(&0.0));
    let queue: Vec<f64> = a.points.iter().map(|p| p.series["overlay_queue_depth"]).collect();
    assert!(queue[0] > 100.0, "work was left when sending stopped: {queue:?}");
    assert_eq!(queue.last(), Some(&0.0), "{queue:?}");
    assert!(queue.windows(2).all(|w| w[1] <= w[0]), "it drains: {queue:?}");
    let drained = a.drained_at_ms.expect("drained within the bound");
    assert!(drained > r.plan.ended_ms && a.points.iter().all(|p| p.at_ms >= r.plan.ended_ms));
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&json));
    let summary = stampede::report::terminal::summary(&r);
    assert!(
        summary.contains("target drain: back at its baseline")
            && summary.contains("overlay_queue_depth 0 (baseline 0)"),
        "{summary}"
    );
}
