//! Recovery time against a target whose outage is scripted, and the CI gate's exit codes.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Script, load, serve};
use stampede::outcome::Verdict;
use stampede::run::{RunOptions, run};

#[tokio::test]
async fn recovery_time_is_the_end_of_a_scripted_outage_within_one_window() {
    // The target fails every request from 4 s to 9 s of its life, then is healthy.
    let t = serve(Script {
        outage: Some((Duration::from_secs(4), Duration::from_secs(9))),
        ..Default::default()
    })
    .await;
    let text = format!(
        r#"
name: outage
seed: 2
target: {{ nodes: ["http://{}"], timeout: 1s }}
population: {{ simulate: 200 }}
baseline: {{ duration: 4s, rate: 80/s }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(2s)" }} ]
client:
  login: [ {{ name: auth, request: POST /login, body: "{{{{client}}}}-{{{{attempt}}}}" }} ]
  retry: {{ policy: none }}
observe: {{ window: 1s, until_recovered: 7s }}
slo: {{ success_rate: 95%, p99: 500ms, hold: 3s }}
"#,
        t.addr
    );
    let r = run(&load(&text), RunOptions::default(), &mut ()).await.unwrap();
    let rec = r.recovery.as_ref().unwrap();
    assert_eq!(rec.verdict, Verdict::Recovered, "{}", rec.summary);
    let want = 9_000 - r.plan.trigger_start_ms as i64;
    let got = rec.recovery_time_ms.unwrap() as i64;
    assert!(
        (got - want).abs() <= r.plan.window_ms as i64,
        "recovery time {got} ms, outage ended {want} ms after the trigger"
    );
    // The windows inside the outage are the unhealthy ones.
    let down: Vec<u64> = r
        .windows
        .iter()
        .filter(|w| w.success_rate().is_some_and(|s| s < 0.5))
        .map(|w| w.start_ms / 1000)
        .collect();
    assert!(down.iter().all(|s| (4..9).contains(s)), "{down:?}");
    assert!(down.len() >= 4, "{down:?}");
}

fn ci_smoke(extra: &[&str], junit: &std::path::Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args([
            "run",
            "-q",
            concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/ci-smoke.yaml"),
            "--junit",
        ])
        .arg(junit)
        .arg("--out")
        .arg(junit.with_extension("d"))
        .args(extra)
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).to_string())
}

#[test]
fn ci_smoke_passes_its_thresholds_and_fails_a_strict_one_with_junit() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.xml");
    let (code, out) = ci_smoke(&[], &ok);
    assert_eq!(code, Some(0), "{out}");
    let xml = std::fs::read_to_string(&ok).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases = doc.descendants().filter(|n| n.has_tag_name("testcase")).count();
    assert_eq!(cases, 4, "one test case per threshold");
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("failure")).count(), 0);

    let bad = dir.path().join("bad.xml");
    let (code, out) = ci_smoke(
        &[
            "--gate",
            "login.p99 < 1us",
            "--gate",
            "verdict in [recovered, never-degraded]",
        ],
        &bad,
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("✗ login.p99 < 1us"), "{out}");
    let xml = std::fs::read_to_string(&bad).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert_eq!(failures.len(), 1);
}

#[test]
fn a_bad_threshold_is_bad_input_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.xml");
    let (code, _) = ci_smoke(&["--gate", "login.p99 < fast"], &x);
    assert_eq!(code, Some(2));
    // A job that always keeps junit.xml finds one, with the problem in it.
    let xml = std::fs::read_to_string(&x).expect("a JUnit file for a bad --gate");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    assert_eq!(suite.attribute("name"), Some("stampede ci-smoke"));
    assert_eq!(suite.attribute("errors"), Some("1"));
    let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert_eq!(error.attribute("type"), Some("bad-input"));
    let msg = error.attribute("message").unwrap();
    assert!(msg.starts_with("--gate \"login.p99 < fast\": "), "{msg}");
    assert!(!x.with_extension("d").exists(), "nothing ran, no report");
    let (code, _) = ci_smoke(&["--gate", "nosuchstep.p99 < 1s"], &dir.path().join("y.xml"));
    assert_eq!(code, Some(2));
}
