//! Timeouts told apart by whether the answer had begun, and by the target's own count
//! of what it received (issue #22, case 10): a scripted target whose truth is known
//! leaves some requests unread, reads others and never answers, starts some answers and
//! stalls, and answers the rest; its own counter is scraped from a second listener.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::load;
use stampede::run::{RunOptions, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the target did, by its own books.
#[derive(Default)]
struct Truth {
    /// Connections whose request it never read (its count never saw them).
    unread: AtomicU64,
    /// Requests it read and counted, then never answered.
    silent: AtomicU64,
    /// Requests it read, counted, began to answer and stalled.
    begun: AtomicU64,
    /// Requests it answered whole.
    answered: AtomicU64,
}

impl Truth {
    fn counted(&self) -> u64 {
        self.silent.load(Ordering::SeqCst) + self.begun.load(Ordering::SeqCst) + self.answered.load(Ordering::SeqCst)
    }
}

/// Longer than the client's timeout: whatever is held is a timeout on its side.
const HOLD: Duration = Duration::from_millis(1200);

/// The target: every request in its own connection (`connection: fresh`); the k-th
/// connection that carries bytes is left unread, read and left silent, answered in
/// part, or answered, as k mod 4. A connection without bytes (the run's preflight
/// connect) is no request.
async fn target(truth: Arc<Truth>) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let order = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let truth = truth.clone();
            let order = order.clone();
            tokio::spawn(async move {
                let mut peek = [0u8; 1];
                if !matches!(s.peek(&mut peek).await, Ok(n) if n > 0) {
                    return;
                }
                let k = order.fetch_add(1, Ordering::SeqCst);
                if k.is_multiple_of(4) {
                    truth.unread.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(HOLD).await;
                    return;
                }
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                match k % 4 {
                    1 => {
                        truth.silent.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(HOLD).await;
                    }
                    2 => {
                        truth.begun.fetch_add(1, Ordering::SeqCst);
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nbegun")
                            .await;
                        tokio::time::sleep(HOLD).await;
                    }
                    _ => {
                        truth.answered.fetch_add(1, Ordering::SeqCst);
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                            .await;
                    }
                }
            });
        }
    });
    addr
}

/// The target's own metrics, on a listener of their own (a scrape is no login).
async fn metrics(truth: Arc<Truth>) -> std::net::SocketAddr {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let n = truth.counted();
            async move {
                format!(
                    "# TYPE requests_total counter\nrequests_total{{path=\"/login\",code=\"any\"}} {n}\nrequests_total{{path=\"/other\",code=\"any\"}} 7\n"
                )
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn unanswered_timeouts_are_told_apart_from_slow_answers_and_the_targets_count_says_which_it_never_saw() {
    let truth = Arc::new(Truth::default());
    let addr = target(truth.clone()).await;
    let m = metrics(truth.clone()).await;
    let p = load(&format!(
        r#"
name: received
seed: 4
target:
  nodes: ["http://{addr}"]
  timeout: 300ms
  connection: fresh
  metrics: {{ url: "http://{m}/metrics", series: [ requests_total ], received: {{ series: 'requests_total{{path="/login"}}', step: auth }} }}
population: {{ simulate: 1 }}
baseline: {{ duration: 1s, rate: 24/s, arrivals: uniform }}
client:
  login: [ {{ name: auth, request: GET /login }} ]
  retry: {{ policy: none }}
observe: {{ window: 500ms, until_recovered: 0s }}
"#
    ));
    let opts = RunOptions {
        threads: Some(1),
        ..RunOptions::default()
    };
    let r = run(&p, opts, &mut ()).await.unwrap();
    let get = |k: &str| r.totals.outcomes.get(k).copied().unwrap_or(0);
    let t = |a: &AtomicU64| a.load(Ordering::SeqCst);
    let (unread, silent, begun, answered) = (t(&truth.unread), t(&truth.silent), t(&truth.begun), t(&truth.answered));
    assert!(
        unread > 0 && silent > 0 && begun > 0 && answered > 0,
        "every behaviour was met"
    );
    assert_eq!(
        get("timeout"),
        unread + silent,
        "no byte of an answer: {:?}",
        r.totals.outcomes
    );
    assert_eq!(get("timeout_midanswer"), begun, "{:?}", r.totals.outcomes);
    assert_eq!(get("ok"), answered, "{:?}", r.totals.outcomes);
    let x = r.target_received.as_ref().expect("the target's count was compared");
    assert_eq!(x.step.as_deref(), Some("auth"));
    assert_eq!(
        x.received,
        silent + begun + answered,
        "the /login label set only: {x:?}"
    );
    assert_eq!(x.sent, unread + silent + begun + answered, "{x:?}");
    assert_eq!(x.never_seen, unread, "{x:?}");
    assert_eq!(
        (x.counted_beyond, x.timeouts, x.timeouts_midanswer),
        (0, unread + silent, begun)
    );
    assert_eq!(x.timeouts_seen_at_least(), silent);
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(
        v.is_valid(&json),
        "{:?}",
        v.iter_errors(&json).map(|e| e.to_string()).collect::<Vec<_>>()
    );
    let summary = stampede::report::terminal::summary(&r);
    let line = format!(
        "received {} of the {} step `auth` requests sent; {unread} never seen by the target",
        silent + begun + answered,
        unread + silent + begun + answered
    );
    assert!(summary.contains(&line), "{summary}");
    assert!(
        summary.contains(&format!("at least {silent} it saw and did not answer in time")),
        "{summary}"
    );
    let md = stampede::report::markdown::markdown(&r).expect("a run has a summary");
    assert!(md.contains(&line), "{md}");
}

#[test]
fn a_received_count_must_name_a_series_and_a_login_step() {
    let text = |received: &str| {
        format!(
            "name: d\ntarget:\n  nodes: [\"http://127.0.0.1:1\"]\n  metrics:\n    url: http://127.0.0.1:1/metrics\n    received: {received}\npopulation: {{ simulate: 10 }}\nstorm: {{ waves: [ {{ share: 100%, spread: \"uniform(1s)\" }} ] }}\nclient: {{ login: [ {{ name: auth, request: POST /login }} ] }}\n"
        )
    };
    let problem = |received: &str| {
        stampede::run::parse(&text(received), std::path::Path::new("d.yaml"), &|_| None)
            .unwrap_err()
            .to_string()
    };
    let e = problem("{ step: auth }");
    assert!(e.contains("d.yaml:6: target.metrics.received.series: missing"), "{e}");
    let e = problem("{ series: 'requests_total{path=/login}' }");
    assert!(e.contains("is not a series selector"), "{e}");
    let e = problem("{ series: requests_total, step: nope }");
    assert!(
        e.contains("target.metrics.received.step") && e.contains("`nope` is not a login step: write one of auth"),
        "{e}"
    );
    assert!(
        stampede::run::parse(
            &text("{ series: requests_total }"),
            std::path::Path::new("d.yaml"),
            &|_| None
        )
        .is_ok()
    );
}
