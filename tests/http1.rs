//! The transport's HTTP/1.1 against hand-written servers on loopback: the framings a
//! real target may answer with, connections the server closes, and answers that are
//! cut or are not HTTP at all. Each is told apart in the report's outcomes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use common::{load, read_request};
use stampede::run::{RunOptions, run};

#[derive(Clone, Copy)]
enum Answer {
    /// 200 with a chunked body, written in pieces.
    Chunked,
    /// 200 with `Connection: close`, then the server closes.
    Close,
    /// 200 with neither length nor chunking: the body ends when the server closes.
    UntilClose,
    /// A content-length of 10, 3 bytes of body, then a close.
    Cut,
    /// Not HTTP.
    Garbage,
    /// 200 with a length, then a silent close 20 ms later (an idle timeout).
    SilentClose,
    /// 100 Continue, then 200.
    Continue,
}

struct Raw {
    addr: SocketAddr,
    accepts: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

async fn raw(answer: Answer) -> Raw {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepts = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let (a, r) = (accepts.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            a.fetch_add(1, Ordering::Relaxed);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while read_request(&mut s, &mut buf).await {
                    r.fetch_add(1, Ordering::Relaxed);
                    let pieces: &[&[u8]] = match answer {
                        Answer::Chunked => &[
                            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
                            b"lo\r\n6;x=y\r\n world\r\n0\r\n",
                            b"\r\n",
                        ],
                        Answer::Close => &[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"],
                        Answer::UntilClose => &[b"HTTP/1.1 200 OK\r\n\r\nthe body", b" goes on"],
                        Answer::Cut => &[b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"],
                        Answer::Garbage => &[b"SSH-2.0-OpenSSH_9.2\r\n\r\n"],
                        Answer::SilentClose => &[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
                        Answer::Continue => &[
                            b"HTTP/1.1 100 Continue\r\n\r\n",
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                        ],
                    };
                    for p in pieces {
                        if s.write_all(p).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    match answer {
                        Answer::Chunked | Answer::Continue => {}
                        Answer::SilentClose => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            return;
                        }
                        _ => return,
                    }
                }
            });
        }
    });
    Raw {
        addr,
        accepts,
        requests,
    }
}

fn profile(addr: SocketAddr, rate: &str, secs: u32) -> String {
    format!(
        r#"
name: http1
seed: 3
target: {{ nodes: ["http://{addr}"], timeout: 1s, connection: reuse, max_connections: 2 }}
population: {{ simulate: 1 }}
baseline: {{ duration: {secs}s, rate: {rate} }}
client:
  login: [ {{ name: get, request: GET /login }} ]
  retry: {{ policy: none }}
observe: {{ window: 500ms, until_recovered: 0s }}
"#
    )
}

async fn outcomes(answer: Answer, rate: &str, secs: u32) -> (stampede::report::Report, Raw) {
    let t = raw(answer).await;
    let r = run(&load(&profile(t.addr, rate, secs)), RunOptions::default(), &mut ())
        .await
        .unwrap();
    (r, t)
}

#[tokio::test]
async fn a_chunked_body_is_read_to_its_end_and_the_connection_reused() {
    let (r, t) = outcomes(Answer::Chunked, "50/s", 1).await;
    assert_eq!(
        r.totals.counts.logins_ok, r.totals.counts.attempts,
        "{:?}",
        r.totals.outcomes
    );
    assert!(r.totals.counts.attempts >= 40);
    // Two pooled connections and the preflight check's one.
    assert!(
        t.accepts.load(Ordering::Relaxed) <= 3,
        "{}",
        t.accepts.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn connection_close_and_read_until_close_open_a_new_connection_each_time() {
    for answer in [Answer::Close, Answer::UntilClose] {
        let (r, t) = outcomes(answer, "50/s", 1).await;
        assert_eq!(
            r.totals.counts.logins_ok, r.totals.counts.attempts,
            "{:?}",
            r.totals.outcomes
        );
        assert_eq!(t.requests.load(Ordering::Relaxed), r.totals.counts.attempts);
        assert_eq!(t.accepts.load(Ordering::Relaxed), r.totals.counts.attempts + 1);
    }
}

#[tokio::test]
async fn an_informational_answer_is_skipped() {
    let (r, _) = outcomes(Answer::Continue, "50/s", 1).await;
    assert_eq!(
        r.totals.counts.logins_ok, r.totals.counts.attempts,
        "{:?}",
        r.totals.outcomes
    );
}

#[tokio::test]
async fn a_cut_body_is_a_body_error_and_an_answer_that_is_not_http_a_head_error() {
    for answer in [Answer::Cut, Answer::Garbage] {
        let (r, _) = outcomes(answer, "20/s", 1).await;
        assert_eq!(r.totals.counts.logins_ok, 0);
        let (class, expected) = match answer {
            Answer::Cut => ("body", "in the middle of the body"),
            _ => ("head", "not an HTTP/1.x response"),
        };
        assert_eq!(
            r.totals.outcomes.get(class),
            Some(&r.totals.counts.attempts),
            "{:?}",
            r.totals.outcomes
        );
        let why = &r.engine.stats.failure_examples[class];
        assert!(why.contains(expected), "{why}");
    }
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_not_reused() {
    // One client logs in, then keeps its session alive every 400 ms on the pool; the
    // server closes each connection 20 ms after answering, without saying so. Every
    // keepalive finds its pooled connection gone and opens another, and none fails.
    let t = raw(Answer::SilentClose).await;
    let text = profile(t.addr, "1/s", 1)
        .replace("baseline: { duration: 1s, rate: 1/s }\n", "")
        .replace(
            "  retry: { policy: none }",
            "  retry: { policy: none }\n  session: { keepalive: { request: GET /keepalive }, every: 400ms, initially_online: true }",
        )
        .replace("until_recovered: 0s", "until_recovered: 2s");
    let p = load(&text);
    let r = run(&p, RunOptions::default(), &mut ()).await.unwrap();
    assert!(r.totals.counts.keepalives_ok >= 3, "{:?}", r.totals);
    assert_eq!(r.totals.counts.keepalives_failed, 0, "{:?}", r.totals);
    assert_eq!(
        t.accepts.load(Ordering::Relaxed),
        t.requests.load(Ordering::Relaxed) + 1,
        "one connection per request, plus the preflight check's"
    );
}
