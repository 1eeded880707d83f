//! `--metrics-listen` shares the process's file descriptors with the storm (issue #23):
//! whoever reaches the metrics port must not be able to take them and so bend the
//! verdict. A run under a low descriptor limit (lowered in the child only) is flooded
//! with more idle connections to its exporter than the exporter's cap, and reaches the
//! same verdict as the same run left alone.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{bin, profile_file};

/// Descriptors the child may hold: the storm (both ends of each fresh connection: the
/// overlay is in-process) needs well under it, the flood alone more than it.
const NOFILE: u64 = 256;
const FLOOD: usize = 400;

const PROFILE: &str = r#"name: exporter-flood
target: { overlay: { preset: healthy, capacity: 2000/s, spare_slots: 100% }, timeout: 1s, connection: fresh }
population: { simulate: 300 }
baseline: { duration: 2s, rate: 40/s }
storm: { waves: [ { at: 0s, share: 30%, spread: "uniform(2s)" } ] }
client:
  login: [ { name: auth, request: POST /login, body: '{"client": {{client}}}' } ]
  retry: { policy: exponential, base: 200ms, cap: 1s, max_attempts: 4 }
observe: { window: 500ms, until_recovered: 2s }
slo: { success_rate: 95%, p99: 500ms, hold: 1s, min_requests: 5 }
"#;

/// Runs the profile with `--metrics-listen 127.0.0.1:0` and the start 4 s ahead,
/// opening `flood` idle connections to the exporter before the start; returns the
/// report.
fn run(flood: usize) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), PROFILE);
    let out = dir.path().join("out");
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(4);
    let mut cmd = bin();
    cmd.args(["run", "-q", "--metrics-listen", "127.0.0.1:0", "--threads", "1"])
        .arg("--start-at")
        .arg(format!("{:.3}", at.as_secs_f64()))
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only setrlimit, async-signal-safe, in the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: NOFILE,
                rlim_max: NOFILE,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no metrics address printed");
        if let Some(rest) = line.trim().strip_prefix("metrics: http://") {
            break rest.trim_end_matches("/metrics").to_string();
        }
    };
    // Until `flood` are open, or the accept queue is full (connects then time out:
    // the exporter takes no more than its cap), for at most 2 s: the start is 4 s ahead.
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(2);
    let mut held = Vec::new();
    let mut failed_in_a_row = 0;
    while held.len() < flood && failed_in_a_row < 5 && std::time::Instant::now() < until {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => {
                held.push(s);
                failed_in_a_row = 0;
            }
            Err(_) => failed_in_a_row += 1,
        }
    }
    if flood > 0 {
        // Before the fix every one was accepted, and past NOFILE the storm's own
        // connects failed with EMFILE.
        assert!(
            held.len() > NOFILE as usize / 2,
            "only {} flood connections",
            held.len()
        );
    }
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    let status = child.wait().unwrap();
    drop(held);
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}: {rest}");
    common::report_of(&out)
}

#[test]
fn a_flood_of_exporter_connections_does_not_move_the_verdict() {
    let calm = run(0);
    let flooded = run(FLOOD);
    let verdict = |r: &serde_json::Value| r["recovery"]["verdict"].as_str().unwrap_or("none").to_string();
    assert!(
        ["never-degraded", "recovered"].contains(&verdict(&calm).as_str()),
        "{}",
        calm["recovery"]
    );
    assert_eq!(verdict(&flooded), verdict(&calm), "{}", flooded["recovery"]);
    for r in [&calm, &flooded] {
        let outcomes = &r["totals"]["outcomes"];
        assert!(
            outcomes.get("fds").is_none() && outcomes.get("connect").is_none(),
            "{outcomes}"
        );
        // (engine.behind is not asserted: a debug build on a shared machine may lag.)
        assert_eq!(r["totals"]["generator_failed"], 0, "{}", r["totals"]);
    }
}
