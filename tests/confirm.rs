//! Nothing leaves loopback unconfirmed: checked before any connection, so these tests
//! send nothing anywhere (the hosts are under `.invalid`, which never resolves).

use std::process::{Command, Output, Stdio};

fn run(profile: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, profile).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_stampede"));
    c.arg("run")
        .arg(&path)
        .args(["--quiet", "--out"])
        .arg(dir.path().join("out"))
        .args(args)
        .env_remove("STAMPEDE_ALLOW_TARGET")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    // A run refused before it started leaves a report that says so (for CI), with
    // nothing sent; a run that went on left a report of what it sent.
    let report = dir.path().join("out").join("report.json");
    if !o.status.success() && report.exists() {
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(r["stop_reason"], "not-started", "{r}");
        assert_eq!(r["windows"], serde_json::json!([]), "nothing was sent");
    }
    o
}

const PROFILE: &str = r#"
name: far
target: { nodes: ["https://login.staging.invalid:8443", "http://127.0.0.1:9"], timeout: 1s }
population: { simulate: 10 }
storm: { waves: [ { share: 100% } ] }
client: { login: [ { request: POST /login } ] }
"#;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_unconfirmed_node_outside_loopback_exits_2_before_anything_is_sent() {
    let o = run(PROFILE, &[], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("login.staging.invalid is outside loopback"), "{e}");
    assert!(e.contains("--allow-target login.staging.invalid"), "{e}");
    assert!(e.contains("nothing was sent"), "{e}");
    // Near misses do not confirm it.
    for wrong in ["staging.invalid", "login.staging.invalid:443"] {
        let o = run(PROFILE, &["--allow-target", wrong], &[]);
        assert_eq!(o.status.code(), Some(2), "{wrong}: {}", stderr(&o));
    }
}

#[test]
fn a_confirmed_node_goes_on_to_the_run() {
    // Confirmed by the flag or the environment, the run proceeds to its preflight,
    // which cannot resolve the node (exit 3), instead of refusing (exit 2).
    let o = run(PROFILE, &["--allow-target", "login.staging.invalid:8443"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!stderr(&o).contains("outside loopback"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot resolve `login.staging.invalid`"),
        "{}",
        stderr(&o)
    );
    let o = run(
        PROFILE,
        &[],
        &[("STAMPEDE_ALLOW_TARGET", "other.invalid, login.staging.invalid")],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}
