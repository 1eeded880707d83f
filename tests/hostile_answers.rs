//! What a hostile target hands back to be kept per client (issue #23): a captured value
//! of a megabyte, a new 58 KB cookie with every answer. A client's state is budgeted
//! like a body: the capture fails `capture` ("value longer than N"), the jar holds at
//! most 16 KiB, and no request the client composes carries more.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::post;
use common::hostile::{Hostile, serve};
use stampede::run::{RunOptions, run};

fn flow(addr: std::net::SocketAddr, login: &str) -> stampede::profile::Profile {
    let text = format!(
        r#"
name: hostile-answers
target: {{ nodes: ["http://{addr}"], timeout: 2s, connection: reuse }}
population: {{ simulate: 20 }}
storm: {{ waves: [ {{ at: 0s, share: 100%, spread: "uniform(200ms)" }} ] }}
client:
  cookies: true
  login:
    - {login}
    - {{ name: join, request: POST /join, headers: {{ authorization: "Bearer {{{{token}}}}" }} }}
  retry: {{ policy: none }}
  session: {{ keepalive: {{ request: POST /join, headers: {{ authorization: "Bearer {{{{token}}}}" }} }}, every: 100ms, initially_online: false }}
observe: {{ window: 250ms, until_recovered: 1s }}
"#
    );
    stampede::run::parse(&text, std::path::Path::new("t.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

async fn storm(p: &stampede::profile::Profile) -> stampede::report::Report {
    tokio::time::timeout(Duration::from_secs(30), run(p, RunOptions::default(), &mut ()))
        .await
        .expect("bounded")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_capture_is_a_capture_failure() {
    let server = serve(Hostile::HugeCapture).await;
    let login = "{ name: auth, request: POST /login, capture: { token: { json: /token } } }";
    let r = storm(&flow(server.addr, login)).await;
    let o = &r.totals.outcomes;
    assert_eq!(o.get("capture"), Some(&r.totals.counts.attempts), "{o:?}");
    let why = &r.engine.stats.failure_examples["capture"];
    assert!(why.contains("`token`: value longer than 8192 bytes"), "{why}");
}

/// Every answer sets a new 58 KB cookie and a new 4 KB one; the server records the
/// longest `Cookie` header any request carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_cookies_keeps_each_jar_within_its_bytes() {
    let longest = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(AtomicU64::new(0));
    let answer = {
        let (longest, answers) = (longest.clone(), answers.clone());
        move |h: HeaderMap| {
            let (longest, answers) = (longest.clone(), answers.clone());
            async move {
                let sent = h.get("cookie").map_or(0, |v| v.len());
                longest.fetch_max(sent, Ordering::Relaxed);
                let n = answers.fetch_add(1, Ordering::Relaxed);
                (
                    [
                        ("set-cookie", format!("big{n}={}; Path=/", "b".repeat(58_000))),
                        ("set-cookie", format!("c{n}={}; Path=/", "c".repeat(4_000))),
                    ],
                    r#"{"token":"t"}"#,
                )
                    .into_response()
            }
        }
    };
    let app = Router::new()
        .route("/login", post(answer.clone()))
        .route("/join", post(answer));
    let addr = common::serve_app(app).await;
    let login = "{ name: auth, request: POST /login, capture: { token: { json: /token } } }";
    let r = storm(&flow(addr, login)).await;
    let answered = answers.load(Ordering::Relaxed);
    assert!(answered > 100, "{answered} answers");
    assert!(r.totals.counts.logins_ok > 0, "{:?}", r.totals.outcomes);
    let longest = longest.load(Ordering::Relaxed);
    // 16 KiB of jar: four 4 KB cookies at most (the 58 KB ones are ignored).
    assert!(
        longest > 4_000 && longest <= 16 << 10,
        "a Cookie header of {longest} bytes"
    );
}
