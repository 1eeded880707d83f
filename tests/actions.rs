//! `storm.actions` (issue #26): commands run on the target at instants of the storm,
//! only with `--allow-actions`; each one's start, end, status and output in the report;
//! a failing or overrunning one noted while the run goes on; Ctrl-C ends their groups.
//! Every target here is a local process.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `stampede overlay` (the healthy reference overlay) as a process of its own, so an
/// action can stop and continue it.
fn overlay() -> (Child, SocketAddr) {
    let mut cmd = common::bin();
    cmd.args(["overlay", "--listen", "127.0.0.1:0", "--mode", "healthy"]);
    common::spawn_overlay(cmd)
}

fn profile(target: &str, actions: &str) -> String {
    format!(
        r#"name: acts
target: {target}
population: {{ simulate: 400, warmup: {{ enabled: false }} }}
baseline: {{ duration: 2s, rate: 60/s }}
storm:
  waves: [ {{ at: 0s, share: 20%, spread: "uniform(1s)" }} ]
  actions:
{actions}
client:
  login: [ {{ name: auth, request: POST /login, body: '{{"client": {{{{client}}}}}}' }} ]
  retry: {{ policy: exponential, base: 200ms, cap: 500ms, max_attempts: 100 }}
observe: {{ window: 500ms, until_recovered: 5s }}
slo: {{ success_rate: 90%, p99: 400ms, hold: 1s, min_requests: 5 }}
"#
    )
}

fn run(dir: &Path, text: &str, extra: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, serde_json::Value) {
    let path = common::profile_file(dir, text);
    let out = dir.join("out");
    let o = common::bin()
        .args(["run", "-q", "--no-preflight"])
        .args(extra)
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let report = match std::fs::read_to_string(out.join("report.json")) {
        Ok(t) => serde_json::from_str(&t).unwrap(),
        Err(_) => serde_json::Value::Null,
    };
    (o.status.code(), err, report)
}

const EMBEDDED: &str = "{ overlay: { preset: healthy, capacity: 2000/s }, timeout: 1s, connection: fresh }";

#[test]
fn a_profile_with_actions_is_refused_without_allow_actions_listing_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let text = profile(
        EMBEDDED,
        "    - { at: 0s, run: [systemctl, restart, 'auth@2'], timeout: 30s }\n    - { at: 90s, run: [echo, '${NOT_EXPANDED_IN_OUTPUTS}'] }",
    );
    let (code, err, report) = run(dir.path(), &text, &[], &[("NOT_EXPANDED_IN_OUTPUTS", "s3cret")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("nothing was sent") && err.contains("--allow-actions"),
        "{err}"
    );
    assert!(err.contains("systemctl restart auth@2"), "{err}");
    assert!(
        err.contains("echo ${NOT_EXPANDED_IN_OUTPUTS}") && !err.contains("s3cret"),
        "{err}"
    );
    assert!(report.is_null(), "a refused run wrote a report: {report}");
    // validate lists them, with their run time.
    let o = common::bin()
        .arg("validate")
        .arg(dir.path().join("profile.yaml"))
        .env("NOT_EXPANDED_IN_OUTPUTS", "s3cret")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("actions: 2 commands on the target, run only with --allow-actions"),
        "{out}"
    );
    assert!(
        out.contains("at 0s (run time 2s, timeout 30s): systemctl restart auth@2"),
        "{out}"
    );
    // STAMPEDE_ALLOW_ACTIONS=0 is not a yes.
    let (code, ..) = run(dir.path(), &text, &[], &[("STAMPEDE_ALLOW_ACTIONS", "0")]);
    assert_eq!(code, Some(2));
}

/// An action stops the target (SIGSTOP) at the trigger and another continues it
/// (SIGCONT) 2 s later: the logins in between time out, the report shows both actions
/// at their instants, and the target recovers after the second.
#[test]
fn an_action_stops_a_local_target_mid_storm_and_the_report_shows_it() {
    let (mut target, addr) = overlay();
    let pid = target.id().to_string();
    let dir = tempfile::tempdir().unwrap();
    let text = profile(
        &format!("{{ nodes: [http://{addr}], timeout: 500ms, connection: fresh }}"),
        "    - { at: 0s, run: [kill, -STOP, '${TARGET_PID}'] }\n    - { at: 2s, run: [kill, -CONT, '${TARGET_PID}'] }",
    );
    let (code, err, r) = run(
        dir.path(),
        &text,
        &[],
        &[("TARGET_PID", &pid), ("STAMPEDE_ALLOW_ACTIONS", "1")],
    );
    let _ = target.kill();
    assert!(code.is_some_and(|c| c <= 1), "{err}");
    let acts = r["actions"].as_array().unwrap();
    assert_eq!(acts.len(), 2, "{r}");
    for (a, (cmd, at)) in acts
        .iter()
        .zip([("kill -STOP ${TARGET_PID}", 2000), ("kill -CONT ${TARGET_PID}", 4000)])
    {
        assert_eq!(a["command"], cmd);
        assert_eq!(a["at_ms"], at);
        assert_eq!(a["outcome"]["kind"], "exited", "{a}");
        assert_eq!(a["outcome"]["code"], 0, "{a}");
        let started = a["started_ms"].as_u64().unwrap();
        assert!((at..at + 500).contains(&started), "started at {started}, due at {at}");
    }
    // Timeouts while it was stopped, none before; logins succeed again after.
    let windows = r["windows"].as_array().unwrap();
    let timeouts = |from: u64, to: u64| -> u64 {
        windows
            .iter()
            .filter(|w| (from..to).contains(&w["start_ms"].as_u64().unwrap()))
            .map(|w| w["outcomes"]["timeout"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(timeouts(0, 2000), 0, "timeouts before the stop");
    assert!(
        timeouts(2000, 4500) > 10,
        "no timeouts while stopped: {}",
        timeouts(2000, 4500)
    );
    let ok_after: u64 = windows
        .iter()
        .filter(|w| w["start_ms"].as_u64().unwrap() >= 5000)
        .map(|w| w["logins_ok"].as_u64().unwrap_or(0))
        .sum();
    assert!(ok_after > 50, "no logins after the target continued");
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(
        html.contains("action: kill -STOP ${TARGET_PID}"),
        "the page's time axis"
    );
}

/// A failing action, one that overruns its timeout and one that cannot start are each
/// noted as such, with their output's last lines, and the run goes on to its end.
#[test]
fn failing_and_overrunning_actions_are_noted_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-executable.sh"), "echo hi\n").unwrap();
    let text = profile(
        EMBEDDED,
        "    - { at: 0s, run: [sh, -c, 'echo one; echo two >&2; exit 3'] }\n    - { at: 0s, run: [sleep, '30'], timeout: 500ms }\n    - { at: 1s, run: [./not-executable.sh] }\n    - { at: 10m, run: [echo, never] }",
    );
    let started = Instant::now();
    let (code, err, r) = run(dir.path(), &text, &["--allow-actions"], &[]);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the overrunning action held the run"
    );
    assert!(code.is_some_and(|c| c <= 1), "{err}");
    assert_eq!(r["stop_reason"], "completed", "{r}");
    let a = r["actions"].as_array().unwrap();
    assert_eq!(a[0]["outcome"], serde_json::json!({ "kind": "exited", "code": 3 }));
    // stdout and stderr are two pipes read by two tasks: both lines are kept, and their
    // order is the order the reads came back in, which two pipes cannot promise.
    let mut out: Vec<&str> = a[0]["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    out.sort_unstable();
    assert_eq!(out, ["one", "two"], "{}", a[0]);
    assert_eq!(
        a[1]["outcome"],
        serde_json::json!({ "kind": "timed_out", "timeout_ms": 500 })
    );
    let took = a[1]["ended_ms"].as_u64().unwrap() - a[1]["started_ms"].as_u64().unwrap();
    assert!((500..3000).contains(&took), "ended after {took} ms");
    assert_eq!(a[2]["outcome"]["kind"], "failed", "{}", a[2]);
    assert!(
        a[2]["outcome"]["error"].as_str().unwrap().contains("ermission"),
        "{}",
        a[2]
    );
    assert_eq!(a[3]["outcome"]["kind"], "not_reached");
    // The report is valid against its schema, and the summary names each one.
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(
        v.is_valid(&r),
        "{:?}",
        v.iter_errors(&r).map(|e| e.to_string()).collect::<Vec<_>>()
    );
    let o = common::bin()
        .arg("report")
        .arg(dir.path().join("out/report.json"))
        .arg("-o")
        .arg(dir.path().join("again"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Ctrl-C during a run ends the process groups of its actions: nothing they started
/// outlives the run.
#[test]
fn ctrl_c_ends_the_actions_process_groups() {
    let dir = tempfile::tempdir().unwrap();
    // A marker no other process has: a sleep of an odd length, in the background of a
    // shell and in its foreground.
    let marker = format!("{}.{}", 400 + std::process::id() % 100, 4321);
    let text = profile(
        EMBEDDED,
        &format!("    - {{ at: 0s, run: [sh, -c, 'sleep {marker} & sleep {marker}'], timeout: 1h }}"),
    )
    .replace("until_recovered: 5s", "until_recovered: 60s");
    let path = common::profile_file(dir.path(), &text);
    let mut child = common::bin()
        .args(["run", "-q", "--no-preflight", "--allow-actions"])
        .arg(&path)
        .arg("-o")
        .arg(dir.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = || {
        let o = Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while running() < 2 {
        assert!(Instant::now() < deadline, "the action never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "interrupted");
    assert_eq!(running(), 0, "an action's process outlived the run");
    let r = common::report_of(&dir.path().join("out"));
    assert_eq!(r["actions"][0]["outcome"]["kind"], "ended", "{}", r["actions"]);
}

/// What `validate` refuses in an action, each at its line and field.
#[test]
fn bad_actions_are_placed_problems() {
    let cases = [
        (
            "    - { at: 0s }",
            "storm.actions[0].run",
            "missing: the command as a list",
        ),
        (
            "    - { run: [echo] }",
            "storm.actions[0].at",
            "missing: when the command runs",
        ),
        (
            "    - { at: 0s, run: ['systemctl restart auth'] }",
            "storm.actions[0].run",
            "never run by a shell",
        ),
        (
            "    - { at: 0s, run: [echo, '{{client}}'] }",
            "storm.actions[0].run[1]",
            "not `{{…}}`",
        ),
        (
            "    - { at: 0s, run: [./absent.sh] }",
            "storm.actions[0].run[0]",
            "is not a file beside the profile",
        ),
        (
            "    - { at: 0s, run: [echo], timeout: 0s }",
            "storm.actions[0].timeout",
            "out of range",
        ),
        (
            "    - { at: 0s, run: [echo], timeout: 30 }",
            "storm.actions[0].timeout",
            "has no unit",
        ),
        (
            "    - { at: 0s, run: [echo], every: 1s }",
            "storm.actions[0].every",
            "unknown",
        ),
    ];
    for (actions, field, want) in cases {
        let text = profile(EMBEDDED, actions);
        let e = match stampede::run::parse(&text, Path::new("/nonexistent/p.yaml"), &|_| None) {
            Err(e) => e,
            Ok(_) => panic!("{actions}: accepted"),
        };
        assert!(
            e.problems
                .iter()
                .any(|p| p.field == field && p.line == Some(8) && p.message.contains(want)),
            "{actions}: no `{field}` problem at line 8 holding `{want}`:\n{e}"
        );
    }
}
