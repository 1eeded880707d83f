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

use common::{SHORT_HEALTHY_STORM, bin, profile_file};

/// Descriptors the child may hold: the storm (both ends of each fresh connection: the
/// overlay is in-process) needs well under it, the flood alone more than it.
const NOFILE: u64 = 256;
const FLOOD: usize = 400;

/// Runs the profile with `--metrics-listen 127.0.0.1:0` and the start 4 s ahead,
/// opening `flood` idle connections to the exporter before the start; returns the
/// report.
fn run(flood: usize) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &format!("name: exporter-flood\n{SHORT_HEALTHY_STORM}"));
    let out = dir.path().join("out");
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(4);
    let mut cmd = bin();
    cmd.args(["run", "-q", "--metrics-listen", "127.0.0.1:0", "--metrics-linger", "0"])
        .args(["--threads", "1"])
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

/// The value of the one sample of `name` (with `labels` exactly, as written) in `text`.
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name_and_labels} in\n{text}"))
        .parse()
        .unwrap()
}

/// `GET /metrics` on `addr`: the body.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// After the run, `--metrics-linger` keeps the endpoint serving the run's final values
/// (the report's counters) and `stampede_run_info`; Ctrl-C ends the linger at once,
/// and the exit code stays the run's.
#[test]
fn the_exporter_lingers_with_the_final_values_until_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(
        dir.path(),
        &format!("name: linger \"x\"\nseed: 11\n{SHORT_HEALTHY_STORM}"),
    );
    let out = dir.path().join("out");
    let mut child = bin()
        .args([
            "run",
            "-q",
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-linger",
            "5m",
            "-t",
            "1",
        ])
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    let mut addr = None;
    // Until the linger is announced: the run has ended and its report is written.
    while !line.starts_with("metrics: serving the final values") {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("the run ended without a linger: {seen}");
        }
        seen.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("metrics: http://") {
            addr = Some(rest.trim_end_matches("/metrics").to_string());
        }
    }
    let addr = addr.expect("the metrics address is printed first");
    assert!(line.contains(&format!("http://{addr}/metrics for 5m")), "{line}");
    let text = scrape(&addr);
    let report = common::report_of(&out);
    let counts = &report["totals"];
    assert!(counts["attempts"].as_u64().unwrap() > 0, "{counts}");
    assert_eq!(
        sample(&text, "stampede_attempts_total"),
        counts["attempts"].as_f64().unwrap()
    );
    assert_eq!(
        sample(&text, "stampede_logins_total{result=\"ok\"}"),
        counts["logins_ok"].as_f64().unwrap()
    );
    assert_eq!(
        sample(&text, "stampede_windows_closed_total"),
        report["windows"].as_array().unwrap().len() as f64
    );
    assert_eq!(sample(&text, "stampede_in_flight"), 0.0);
    assert_eq!(
        sample(
            &text,
            "stampede_run_info{profile=\"linger \\\"x\\\"\",seed=\"11\",shard=\"1/1\",protocol=\"http/1.1\"}"
        ),
        1.0
    );
    assert!(child.try_wait().unwrap().is_none(), "the linger ended early");
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            panic!("Ctrl-C did not end the linger");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert_eq!(status.code(), Some(0), "{seen}{rest}");
    assert!(!rest.contains("stopping"), "a Ctrl-C after the run is no stop: {rest}");
}
