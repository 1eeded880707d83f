//! The engine as a whole against a loopback target, with a panic injected into it: a
//! failed engine still hands over what it recorded, and says why it stopped.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::outcome::StopReason;
use crate::plan::Part;
use crate::profile::Profile;
use crate::run::{RunOptions, parse, run};

/// A profile of this name makes the last engine part panic on the first completion
/// intended at or after 500 ms.
const PANIC_PROFILE: &str = "inject-panic";

/// Called by the scheduler on every completed attempt, in test builds only.
pub(super) fn inject_panic(p: &Profile, part: Part, intended: Duration) {
    if p.name == PANIC_PROFILE && part.index + 1 == part.count && intended >= Duration::from_millis(500) {
        panic!("injected for a test, at {} ms", intended.as_millis());
    }
}

/// Answers `200` with an empty body to every request, on every connection.
async fn ok_target() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_panic_in_the_engine_keeps_what_was_recorded_and_says_so() {
    let addr = ok_target().await;
    let text = format!(
        r#"
name: {PANIC_PROFILE}
seed: 2
target: {{ nodes: ["http://{addr}"], timeout: 1s, connection: reuse, max_connections: 2 }}
population: {{ simulate: 1 }}
baseline: {{ duration: 1s, rate: 100/s }}
client:
  login: [ {{ name: get, request: GET /login }} ]
  retry: {{ policy: none }}
observe: {{ window: 100ms, until_recovered: 0s }}
"#
    );
    let p = parse(&text, std::path::Path::new("panic.yaml"), &|_| None).unwrap();
    for threads in [1, 2] {
        let opts = RunOptions {
            threads: Some(threads),
            ..Default::default()
        };
        let r = run(&p, opts, &mut ()).await.expect("a report, not an error");
        assert_eq!(r.stop_reason, StopReason::Failed, "{threads} thread(s)");
        assert!(r.interrupted, "a failed run covers part of the plan");
        let why = r.engine.stats.failures.join("; ");
        assert!(why.contains("panicked: injected for a test"), "{why}");
        // What was recorded before the panic (about 0.5 s at 100/s) is in the report ...
        let ok = r.totals.counts.logins_ok;
        assert!(
            ok >= 30,
            "{threads} thread(s): {ok} logins kept, {:?}",
            r.totals.outcomes
        );
        // ... and with two threads, the other one's whole second too.
        let late: u64 = r
            .windows
            .iter()
            .filter(|w| w.index >= 6)
            .map(|w| w.counts.logins_ok)
            .sum();
        assert_eq!(late > 0, threads == 2, "{threads} thread(s): {late} logins after 0.6 s");
    }
}
