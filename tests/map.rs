//! `sweep --vary`: the map over profile fields. Its cells are the single runs they stand
//! for, its sweep-level gates judge the whole map, and a bad axis is refused before
//! anything runs, naming what is wrong and where.

mod common;

use std::path::Path;

use serde_json::Value;

/// The healthy overlay, a storm of seconds: 10% of the clients heal at any capacity, 60%
/// against 50/s does not.
fn small() -> String {
    format!("name: small-map\nseed: 7\n{}", common::SHORT_HEALTHY_STORM)
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn recovered(verdict: &Value) -> bool {
    matches!(verdict.as_str(), Some("recovered" | "never-degraded"))
}

/// A 2×2 map: every cell's run is the run of the hand-edited profile (same raw profile,
/// same plan, same outcome), each run's report is on disk where sweep.json says, the
/// JUnit file has a case per point and a suite for the sweep's gates, and a sweep-level
/// gate that fails exits 1 naming the cliff while one that holds does not.
#[test]
fn a_map_s_cells_are_the_single_runs_they_stand_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::profile_file(dir.path(), &small());
    let (out, junit) = (dir.path().join("out"), dir.path().join("junit.xml"));
    let o = common::bin()
        .args(["sweep", "--seeds", "1", "-t", "1", "-q"])
        .args(["--vary", "storm.waves[0].share=60%,10%"])
        .args(["--vary", "target.overlay.capacity=50/s,2000/s"])
        .args([
            "--gate",
            "success_rate >= 0%",
            "--gate",
            "cliff > 3x",
            "--gate",
            "cliff > 1.5x",
        ])
        .arg("--junit")
        .arg(&junit)
        .arg("--summary")
        .arg(dir.path().join("summary.md"))
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    // The job page: the gate's outcome, the map, the sweep-level threshold that failed.
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        md.starts_with("## ❌ stampede sweep ` small-map `: 4 runs, 1 of 6 thresholds failed"),
        "{md}"
    );
    assert!(md.contains("| 2000/s | never-degraded | never-degraded |"), "{md}");
    assert!(md.contains("| the sweep | "), "{md}");
    assert!(
        stdout.starts_with(
            "map of small-map: storm.waves[0].share (10%, 60%) × target.overlay.capacity (50/s, 2000/s) = 4 points × 1 seed = 4 runs, about"
        ),
        "the budget first, values in order: {stdout}"
    );
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the sweep: cliff was 2x (storm.waves[0].share=60%); required cliff > 3x"),
        "{stderr}"
    );
    assert!(!stderr.contains("cliff > 1.5x"), "{stderr}");
    assert!(stderr.contains("1 threshold(s) failed"), "{stderr}");

    let sweep = json(&out.join("sweep.json"));
    let map = &sweep["map"];
    assert_eq!(map["axes"][0]["values"], serde_json::json!(["10%", "60%"]));
    assert_eq!(map["axes"][0]["profile_value"], "30%");
    assert_eq!(map["axes"][1]["relative"], serde_json::json!([0.025, 1.0]));
    let cells = map["cells"].as_array().unwrap();
    let points: Vec<String> = cells.iter().map(|c| c["point"].to_string()).collect();
    assert_eq!(
        points,
        [
            r#"["10%","50/s"]"#,
            r#"["10%","2000/s"]"#,
            r#"["60%","50/s"]"#,
            r#"["60%","2000/s"]"#
        ]
    );
    let verdicts: Vec<&str> = cells.iter().map(|c| c["verdict"].as_str().unwrap()).collect();
    assert_eq!(&verdicts[..2], ["never-degraded", "never-degraded"], "{map}");
    assert!(matches!(verdicts[2], "not-recovered" | "metastable"), "{map}");
    assert_eq!(verdicts[3], "never-degraded", "{map}");
    assert_eq!(map["cliff"], 2.0, "60% is twice the profile's 30%");
    assert_eq!(map["boundary"][1]["from"], "50/s");
    assert_eq!(map["boundary"][0]["row"], Value::Null);
    let gates: Vec<bool> = sweep["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(gates, [false, true]);

    // Two cells against `stampede run` of the profile edited by hand.
    for (cell, share, capacity) in [(&cells[1], "10%", "2000/s"), (&cells[2], "60%", "50/s")] {
        let run = &cell["runs"][0];
        let rel = run["report"].as_str().unwrap();
        assert!(out.join(rel).with_file_name("report.html").exists(), "{rel}");
        let in_map = json(&out.join(rel));
        let edited = small()
            .replace("share: 30%", &format!("share: {share}"))
            .replace("capacity: 2000/s", &format!("capacity: {capacity}"));
        let single = dir.path().join(format!("single-{}", share.trim_end_matches('%')));
        std::fs::create_dir_all(&single).unwrap();
        let file = single.join("p.yaml");
        std::fs::write(&file, edited).unwrap();
        let o = common::bin()
            .args(["run", "-q", "-t", "1", "--seed", "7"])
            .arg(&file)
            .arg("-o")
            .arg(single.join("out"))
            .output()
            .unwrap();
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let alone = json(&single.join("out/report.json"));
        assert_eq!(in_map["profile_digest"], alone["profile_digest"], "the same profile");
        assert_eq!(in_map["plan"], alone["plan"], "the same plan");
        let (a, b) = (&in_map["recovery"], &alone["recovery"]);
        assert_eq!(
            recovered(&a["verdict"]),
            recovered(&b["verdict"]),
            "{share} {capacity}: {} vs {}",
            a["verdict"],
            b["verdict"]
        );
        assert_eq!(run["verdict"], a["verdict"]);
        if cell["verdict"] == "never-degraded" {
            assert_eq!(
                (&a["verdict"], &a["recovery_time_ms"]),
                (&b["verdict"], &b["recovery_time_ms"])
            );
        }
    }

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
    let names: Vec<_> = suites.iter().map(|s| s.attribute("name").unwrap()).collect();
    assert_eq!(names, ["stampede small-map map", "stampede small-map sweep gates"]);
    let cases: Vec<_> = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(cases[2], "storm.waves[0].share=60%, target.overlay.capacity=50/s");
    assert_eq!(cases.len(), 4);
    assert_eq!(suites[1].attribute("failures"), Some("1"));
}

fn refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = common::profile_file(dir.path(), &small());
    let o = common::bin()
        .arg("sweep")
        .args(args)
        .arg(&path)
        .arg("-o")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stdout}\n{stderr}");
    assert!(!dir.path().join("out").exists(), "{args:?}: nothing runs");
    assert!(
        !stdout.contains("runs, about"),
        "{args:?}: refused before the budget: {stdout}"
    );
    stderr.to_string()
}

/// A bad axis is refused before anything runs (exit 2): a path not in the profile with
/// the nearest ones, a value its field refuses with the point it makes, a mapping, a
/// third axis, and a cliff gate with nothing to be relative to.
#[test]
fn a_bad_axis_is_refused_naming_the_path_or_the_point() {
    let e = refused(&["--vary", "storm.waves[0].shar=10%"]);
    assert!(
        e.contains("--vary \"storm.waves[0].shar=10%\": storm.waves[0].shar is not in the profile; nearest: storm.waves[0].share"),
        "{e}"
    );
    let e = refused(&["--vary", "target.overlay.capacty=1/s"]);
    assert!(e.contains("nearest: target.overlay.capacity"), "{e}");
    let e = refused(&["--vary", "storm.waves[0].share=10%,2000%"]);
    assert!(
        e.contains("--vary \"storm.waves[0].share=10%,2000%\": storm.waves[0].share=2000%: storm.waves[0].share:"),
        "{e}"
    );
    assert!(!e.contains("share=10%:"), "10% is fine: {e}");
    let e = refused(&["--vary", "client.retry.cap=1s,fast"]);
    assert!(e.contains("client.retry.cap=fast: client.retry.cap:"), "{e}");
    let e = refused(&["--vary", "target.overlay=1,2"]);
    assert!(
        e.contains("target.overlay is a mapping, not one value; vary one of its fields, e.g. target.overlay.preset"),
        "{e}"
    );
    let e = refused(&[
        "--vary",
        "baseline.rate=1/s",
        "--vary",
        "time_scale=1,2",
        "--vary",
        "client.retry.cap=1s",
    ]);
    assert!(
        e.contains("3 axes (--intensity counts as one): a map has at most 2"),
        "{e}"
    );
    let e = refused(&[
        "--intensity",
        "1",
        "--vary",
        "baseline.rate=1/s",
        "--vary",
        "time_scale=1",
    ]);
    assert!(e.contains("3 axes"), "{e}");
    let e = refused(&["--vary", "storm.waves[0].share"]);
    assert!(e.contains("write PATH=V1,V2"), "{e}");
    // A field the profile leaves to its default may be varied, but has no value of the
    // profile's own for the cliff to be relative to.
    let e = refused(&["--vary", "client.retry.jitter=full,none", "--gate", "cliff > 2x"]);
    assert!(
        e.contains("--gate \"cliff > 2x\": the cliff is relative to the profile's own value of the first axis, and client.retry.jitter has none"),
        "{e}"
    );
    let e = refused(&["--vary", "client.retry.jitter=full,sideways"]);
    assert!(e.contains("client.retry.jitter=sideways: client.retry.jitter:"), "{e}");
    let e = refused(&["--gate", "metastable_share < lots"]);
    assert!(e.contains("--gate \"metastable_share < lots\""), "{e}");
    let e = refused(&["--gate", "metastable_shares < 10%"]);
    assert!(e.contains("a sweep also takes metastable_share and cliff"), "{e}");
}

/// Ctrl-C after the first run leaves the map so far: that run's cell and report, the
/// other points `not-run`, `interrupted` set, exit 3.
#[test]
fn ctrl_c_leaves_the_map_so_far() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let path = common::profile_file(dir.path(), &small());
    let out = dir.path().join("out");
    let mut child = common::bin()
        .args(["sweep", "--seeds", "1", "-t", "1"])
        .args(["--vary", "storm.waves[0].share=10%,20%,30%"])
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("storm clients"))
        .expect("a first run ends");
    assert!(first.contains("storm.waves[0].share=10% seed 7"), "{first}");
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(child.wait().unwrap().code(), Some(3), "interrupted: {rest:?}");
    let sweep = json(&out.join("sweep.json"));
    assert_eq!(sweep["interrupted"], true);
    let cells = sweep["map"]["cells"].as_array().unwrap();
    let runs = sweep["runs"].as_array().unwrap().len();
    assert!((1..3).contains(&runs), "{runs} runs");
    assert_ne!(cells[0]["verdict"], "not-run");
    assert_eq!(cells[2]["verdict"], "not-run");
    assert!(out.join(cells[0]["runs"][0]["report"].as_str().unwrap()).exists());
}
