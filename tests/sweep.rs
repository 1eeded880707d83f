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
    let grid = stampede::run::vary::Grid::intensities(&p, &[0.05, 1.0]).unwrap();
    let r = sweep(
        &grid,
        1,
        stampede::run::RunOptions::default(),
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

/// `sweep --gate` judges every run as `run --gate` judges one: a threshold no run can
/// meet fails in each (exit 1, each run named), one every run meets passes in each;
/// `--junit` holds a suite per run, sweep.json each run's results, `-q` no run lines.
#[test]
fn a_sweep_s_gate_judges_every_run_and_writes_junit() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::profile_file(dir.path(), &small());
    let (out, junit) = (dir.path().join("out"), dir.path().join("junit.xml"));
    let summary = dir.path().join("summary.md");
    let o = common::bin()
        .args(["sweep", "--intensity", "0.5,1", "--seeds", "1", "-t", "1", "-q"])
        .args(["--gate", "success_rate >= 0%", "--gate", "login.max < 1us"])
        .arg("--junit")
        .arg(&junit)
        .arg("--summary")
        .arg(&summary)
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    for k in ["0.5", "1"] {
        assert!(
            stderr.contains(&format!("intensity {k} seed 7: login.max was")),
            "{stderr}"
        );
    }
    assert!(!stderr.contains("success_rate was"), "{stderr}");
    assert!(stderr.contains("2 threshold(s) failed"), "{stderr}");
    assert!(
        !stdout.contains("storm clients"),
        "-q still wrote a line per run: {stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
    let names: Vec<_> = suites.iter().map(|s| s.attribute("name").unwrap()).collect();
    assert_eq!(
        names,
        [
            "stampede small-sweep intensity 0.5 seed 7",
            "stampede small-sweep intensity 1 seed 7"
        ]
    );
    for s in &suites {
        assert_eq!((s.attribute("tests"), s.attribute("failures")), (Some("2"), Some("1")));
    }
    // The job summary says which threshold failed in which run.
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("## ❌ stampede sweep ` small-sweep `: 2 runs, 2 of 4 thresholds failed"),
        "{md}"
    );
    for k in ["0.5", "1"] {
        assert!(md.contains(&format!("| intensity {k} seed 7 |")), "{md}");
    }
    assert!(md.contains("` login.max < 1us `"), "{md}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    for run in report["runs"].as_array().unwrap() {
        let passed: Vec<_> = run["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["passed"].clone())
            .collect();
        assert_eq!(passed, [true, false], "{run}");
    }

    // Thresholds every run meets: exit 0, a line per run without -q.
    let o = common::bin()
        .args(["sweep", "--intensity", "1", "--seeds", "1", "--threads", "1"])
        .args(["--gate", "success_rate >= 0%"])
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("pass"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("intensity     1 seed    7:"), "{stdout}");
}

/// A bad `--gate` is refused before any run, naming the flag (exit 2), as in `run`.
#[test]
fn a_bad_sweep_gate_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::profile_file(dir.path(), &small());
    let (junit, summary) = (dir.path().join("junit.xml"), dir.path().join("summary.md"));
    let o = common::bin()
        .args(["sweep", "--gate", "nonsense < 3"])
        .arg(&path)
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg("--junit")
        .arg(&junit)
        .arg("--summary")
        .arg(&summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--gate \"nonsense < 3\": unknown metric"), "{stderr}");
    assert!(!dir.path().join("out").exists());
    // A job that always keeps its JUnit file and summary still gets them, saying why.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let error = doc
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .expect("an error case");
    assert!(
        error.attribute("message").unwrap_or_default().contains("nonsense")
            || error.text().unwrap_or_default().contains("nonsense"),
        "{xml}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("bad input") && md.contains("unknown metric"), "{md}");
}

/// A storm of seconds per run (the healthy overlay, a few hundred clients).
fn small() -> String {
    format!("name: small-sweep\nseed: 7\n{}", common::SHORT_HEALTHY_STORM)
}
