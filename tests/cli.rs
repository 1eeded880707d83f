//! The `stampede` binary as users and CI call it: exit codes, files written, Ctrl-C.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Script, bin, profile_file, report_of, run_quiet, serve};

fn schema_check(report: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = v
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(10)
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match its schema:\n{}",
        errors.join("\n")
    );
}

fn profile(addr: std::net::SocketAddr, clients: u32, until: &str) -> String {
    format!(
        r#"
name: cli-test
seed: 5
target: {{ nodes: ["http://{addr}"], timeout: 1s }}
population: {{ simulate: {clients} }}
baseline: {{ duration: 500ms, rate: 50/s }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(1s)" }} ]
client:
  login: [ {{ name: auth, request: POST /login, body: "{{{{client}}}}" }} ]
observe: {{ window: 500ms, until_recovered: {until} }}
"#
    )
}

#[tokio::test]
async fn a_run_writes_a_report_that_matches_the_schema_and_an_hlog() {
    let t = serve(Script {
        fail_first: 1,
        retry_after: Some("0"),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(t.addr, 300, "1s"));
    let out = dir.path().join("out");
    let o = run_quiet(&[], &path, &out).await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("retry amplification"), "{stdout}");
    let out = dir.path().join("out");
    let report: serde_json::Value = report_of(&out);
    schema_check(&report);
    assert_eq!(report["interrupted"], false);
    // Every client that wanted to log in either did or was still waiting for its retry
    // when sending stopped; none gave up (one 503 each, ten attempts allowed).
    let t = &report["totals"];
    let last = report["windows"].as_array().unwrap().last().unwrap();
    assert_eq!(
        t["first_attempts"].as_u64().unwrap(),
        300 + report["plan"]["background_clients"].as_u64().unwrap()
    );
    assert_eq!(
        t["logins_ok"].as_u64().unwrap() + last["locked_out"].as_u64().unwrap(),
        t["first_attempts"].as_u64().unwrap()
    );
    assert!(t["logins_ok"].as_u64().unwrap() >= 300);
    // The interval log is one HdrHistogram tools read: two intervals (latency, service) per window.
    let hlog = std::fs::read(out.join("latency.hlog")).unwrap();
    let intervals = hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&hlog)
        .filter(|e| matches!(e, Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(_))))
        .count();
    assert_eq!(intervals, 2 * report["windows"].as_array().unwrap().len());
}

#[tokio::test]
async fn retry_after_cap_from_the_flag_cuts_the_waits_and_the_report_shows_it() {
    // Every client's first try is told to come back in 333 s; the run lasts 2 s.
    let t = serve(Script {
        fail_first: 1,
        retry_after: Some("333"),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(t.addr, 100, "1s"));
    let out = dir.path().join("out");
    let o = run_quiet(&["--retry-after-cap", "100ms"], &path, &out).await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = report_of(&dir.path().join("out"));
    schema_check(&report);
    assert_eq!(report["engine"]["retry_after_cap_ms"], 100);
    let capped = report["totals"]["retry_after_capped"].as_u64().unwrap();
    assert!(capped >= 100, "every storm client's 333 s wait was cut: {capped}");
    // HdrHistogram keeps three significant digits.
    let max = report["totals"]["retry_after_ms"]["max"].as_f64().unwrap();
    assert!((max - 333_000.0).abs() < 333.0, "{max}");
    assert!(
        stdout.contains(&format!("; cap 100ms ({capped} waits cut to it)")),
        "{stdout}"
    );
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("cap 100ms"));
    let o = bin()
        .args(["run", "--retry-after-cap", "2d", "x.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`2d` is out of range: write from 0s to 24h"));
}

#[tokio::test]
async fn send_precision_merges_sends_into_passes_and_says_so() {
    let t = serve(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // 400 storm logins over 1 s, one due every 2.5 ms on average: each wakes the engine
    // at its own instant when exact; with 4 ms most wait for a wake-up (a completion's,
    // or the timer's at most 4 ms after the last).
    let path = profile_file(dir.path(), &profile(t.addr, 400, "1s"));
    let out = dir.path().join("out");
    let o = run_quiet(&["--send-precision", "4ms"], &path, &out).await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = report_of(&out);
    schema_check(&report);
    assert_eq!(report["engine"]["send_precision_ms"], 4.0);
    let lag = report["engine"]["send_lag_ms"]["p50"].as_f64().unwrap();
    assert!(lag >= 0.1, "sends wait for a wake-up: lag p50 {lag} ms");
    assert!(
        stdout.contains("sends wait up to 4ms to share a wake-up (--send-precision)"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("sends wait up to 4ms to share a wake-up"));
    // Exact by default: nothing said, nothing written.
    let exact = dir.path().join("exact");
    let o = run_quiet(&[], &path, &exact).await;
    assert!(o.status.success());
    assert!(report_of(&exact)["engine"].get("send_precision_ms").is_none());
    assert!(!String::from_utf8_lossy(&o.stdout).contains("--send-precision"));
    for bad in ["0s", "10ms", "soon"] {
        let o = bin().args(["run", "--send-precision", bad, "x.yaml"]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("--send-precision"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn clients_locked_out_at_the_end_are_explained_by_what_they_wait_on() {
    // Each client's first try is told to come back in 333 s, past the end of the run.
    let t = serve(Script {
        fail_first: 1,
        retry_after: Some("333"),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(t.addr, 100, "1s"));
    let out = dir.path().join("out");
    let o = run_quiet(&[], &path, &out).await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let report: serde_json::Value = report_of(&dir.path().join("out"));
    let end = report["recovery"]["locked_out"]["end"].as_u64().unwrap();
    let waiting = report["engine"]["waiting_retry_after"].as_u64().unwrap();
    assert!(
        end >= 100 && waiting == end,
        "every locked-out client waits on its Retry-After: {end} {waiting}"
    );
    let want = format!(
        "note: When the run ended, {end} clients were locked out: 0 had given up, 0 were waiting on their own backoff, {end} on a Retry-After, 0 had an attempt in flight."
    );
    assert!(stdout.contains(&want), "{want}\n{stdout}");
}

#[test]
fn a_bad_profile_exits_2_listing_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name: broken\ntarget: { nodes: [\"ftp://x\"], timeout: soon }\npopulation: { simulate: lots }\nclient:\n  login: [ { request: fetch /login } ]\n  retry: { policy: sometimes }\nwhatever: 1\n";
    let path = profile_file(dir.path(), text);
    let o = bin().arg("run").arg(&path).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "profile.yaml:2: target.nodes[0]",
        "profile.yaml:2: target.timeout",
        "profile.yaml:3: population.simulate",
        "profile.yaml:5: client.login[0].request",
        "profile.yaml:6: client.retry.policy",
        "profile.yaml:7: whatever: unknown field",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
    assert!(!err.contains("panicked"));
}

#[test]
fn a_missing_profile_or_bad_flag_exits_2() {
    let o = bin().args(["run", "/nonexistent/profile.yaml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read the file `/nonexistent/profile.yaml`"));
    let smoke = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/ci-smoke.yaml");
    let o = bin().args(["run", smoke, "--shard", "5/4"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("5/4: I must be from 1 to N"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A port where nothing listens: bound on port 0, then closed.
fn closed_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn a_run_that_cannot_start_still_writes_its_report_junit_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let gated = format!("{}gate: [\"success_rate > 95%\"]\n", profile(closed_port(), 100, "1s"));
    let path = profile_file(dir.path(), &gated);
    let (out, junit, summary) = (
        dir.path().join("out"),
        dir.path().join("j.xml"),
        dir.path().join("s.md"),
    );
    let o = bin()
        .args(["run", "-q"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--junit")
        .arg(&junit)
        .arg("--summary")
        .arg(&summary)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("the target does not answer"), "{err}");
    let report: serde_json::Value = report_of(&out);
    schema_check(&report);
    assert_eq!(report["stop_reason"], "not-started");
    assert!(
        report["stop_detail"]
            .as_str()
            .unwrap()
            .contains("the target does not answer")
    );
    assert_eq!(report["windows"].as_array().unwrap().len(), 0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(r#"id="verdict">Could not start</div>"#));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"errors="1""#) && xml.contains(r#"<error type="not-started""#),
        "{xml}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## ❌ stampede `cli-test`: could not start"), "{md}");
    assert!(md.contains("the target does not answer"), "{md}");
}

#[test]
fn a_run_refused_for_an_unconfirmed_host_says_why_in_its_report_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = profile(closed_port(), 100, "1s").replace("127.0.0.1", "storm-me.invalid");
    let path = profile_file(dir.path(), &text);
    let (out, junit) = (dir.path().join("out"), dir.path().join("j.xml"));
    let o = bin()
        .args(["run", "-q"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--junit")
        .arg(&junit)
        .env_remove("STAMPEDE_ALLOW_TARGET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = report_of(&out);
    schema_check(&report);
    assert_eq!(report["confirmed"]["by"], "not-confirmed");
    assert!(report["stop_detail"].as_str().unwrap().contains("was not confirmed"));
    assert!(std::fs::read_to_string(&junit).unwrap().contains("was not confirmed"));
}

#[tokio::test]
async fn validate_shows_the_plan_and_sends_nothing() {
    let t = serve(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(t.addr, 1000, "5s"));
    let o = tokio::task::spawn_blocking(move || bin().arg("validate").arg(&path).output().unwrap())
        .await
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{s}");
    assert!(s.contains("1,000 rebooting"), "{s}");
    assert!(s.contains("peak"), "{s}");
    assert!(s.contains("shape |"), "{s}");
    assert_eq!(t.requests.load(Ordering::Relaxed), 0);
    assert_eq!(t.accepts.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn ctrl_c_stops_sending_and_still_writes_a_valid_report() {
    let t = serve(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(t.addr, 500, "60s"));
    let out = dir.path().join("out");
    let junit = dir.path().join("j.xml");
    let mut child = bin()
        .args(["run", "-q"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sent_before = t.requests.load(Ordering::Relaxed);
    assert!(sent_before > 0);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(3), "an interrupted run is not a passing run");
    let report: serde_json::Value = report_of(&out);
    schema_check(&report);
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["stop_reason"], "interrupted");
    assert!(
        report["plan"]["ended_ms"].as_u64().unwrap() < 10_000,
        "stopped long before the planned 61 s"
    );
    assert!(report["totals"]["logins_ok"].as_u64().unwrap() > 0);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"errors="1""#) && xml.contains(r#"<error type="interrupted""#),
        "{xml}"
    );
    let after = t.requests.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        t.requests.load(Ordering::Relaxed),
        after,
        "nothing is sent after the stop"
    );
}

#[test]
fn validate_warns_when_background_traffic_cannot_be_judged() {
    let dir = tempfile::tempdir().unwrap();
    let text = |window: &str, retry: &str| {
        format!(
            "name: thin\ntarget: {{ nodes: [\"http://127.0.0.1:9\"] }}\npopulation: {{ simulate: 100 }}\nbaseline: {{ duration: 10s, rate: 2/s }}\nstorm: {{ waves: [ {{ share: 50% }} ] }}\nclient: {{ login: [ {{ request: POST /login }} ]{retry} }}\nobserve: {{ window: {window} }}\n"
        )
    };
    let validate = |t: String| {
        let path = profile_file(dir.path(), &t);
        let o = bin().arg("validate").arg(&path).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let thin = validate(text("1s", ""));
    assert!(
        thin.contains("warning: the baseline's 2/s gives 2.0 logins per 1s window, below slo.min_requests (10)"),
        "{thin}"
    );
    assert!(!validate(text("5s", "")).contains("warning"));
    let none = validate(text("5s", ", retry: { policy: none }"));
    assert!(
        none.contains("retry: none (one attempt per login)") && !none.contains("Retry-After"),
        "{none}"
    );
}
