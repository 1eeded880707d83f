//! Verdicts that survive the field (issue #22), end to end against scripted targets
//! whose truth is known: an outage with retries is not a feedback loop, the probe
//! confirms only what it tested, a backlog still draining is not down, one noisy window
//! does not decide a healthy run, a gauge that drops its label set has drained.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use common::{Script, load, serve, serve_app};
use stampede::analysis::recovery::{Health, ProbeOutcome};
use stampede::outcome::{StopReason, Verdict};
use stampede::report::Report;
use stampede::run::{RunOptions, run};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// Real-time runs against real targets: one at a time, or on 2 cores they starve each
/// other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn go(text: &str) -> Report {
    run(&load(text), RunOptions::default(), &mut ())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// report.json as written, checked against its schema.
fn schema_accepts(r: &Report) {
    let json = serde_json::to_value(r).unwrap();
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = v
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

const RETRY: &str = "{ policy: exponential, base: 200ms, cap: 1s, jitter: full, max_attempts: 100000 }";

/// 2 s of baseline at 20/s, then 200 clients want in within about a second; 5 s more
/// (the plan ends at 8 s), then a probe of at most `confirm` when one is asked for.
fn profile(addr: SocketAddr, retry: &str, observe: &str, metrics: &str) -> String {
    format!(
        r#"
name: field
seed: 5
target: {{ nodes: [ "http://{addr}" ], timeout: 1s{metrics} }}
population: {{ clients: 200, simulate: 200 }}
time_scale: 60
baseline: {{ duration: 2s, rate: 20/s, arrivals: uniform }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(30s)" }} ]
  downtime: "uniform(0s, 6s)"
client:
  login: [ {{ name: auth, request: POST /login, body: '{{{{client}}}}' }} ]
  retry: {retry}
observe: {{ window: 1s, until_recovered: 5s{observe} }}
slo: {{ success_rate: 90%, p99: 500ms, hold: 2s }}
"#
    )
}

/// A login server that answers 200 until `dies`, then closes its listener: every
/// connection after it is refused (nothing is listening).
async fn dies_at(dies: Duration) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(dies, async {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    if common::read_request(&mut s, &mut buf).await {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                            .await;
                    }
                });
            }
        })
        .await;
        // The listener is dropped here.
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_outage_with_retries_is_not_called_metastable() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Before: "metastable … held by N retries" for both.
    // Nothing listening from 3.5 s on: an outage, whatever the retries do.
    let addr = dies_at(Duration::from_millis(3500)).await;
    let r = go(&profile(addr, RETRY, "", "")).await;
    let rec = r.recovery.as_ref().unwrap();
    eprintln!("verdict: {} — {}", rec.verdict_shown(), rec.summary);
    assert_eq!(rec.verdict, Verdict::Down, "{}", rec.summary);
    assert!(
        rec.summary.starts_with("Down without load feedback")
            && rec
                .summary
                .contains("every one found nothing listening (connection refused)"),
        "{}",
        rec.summary
    );
    // Refused fast with 503 under a retry load above the baseline's: the windows cannot
    // tell an outage from a feedback loop, and say so.
    let t = serve(Script {
        outage: Some((Duration::from_millis(3500), Duration::from_secs(3600))),
        ..Script::default()
    })
    .await;
    let r = go(&profile(t.addr, RETRY, "", "")).await;
    let rec = r.recovery.as_ref().unwrap();
    eprintln!("verdict: {} — {}", rec.verdict_shown(), rec.summary);
    assert_eq!(rec.verdict, Verdict::NotRecovered, "{}", rec.summary);
    assert!(
        rec.summary.starts_with("Down or metastable:")
            && rec.summary.ends_with("Run with `observe.confirm` to tell them apart."),
        "{}",
        rec.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_that_silenced_nothing_confirms_nothing() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Down from 3.5 s to 11 s, no retries at all; the plan ends at 8 s. Before:
    // "metastable, confirmed: recovered 3s after retries stopped".
    let t = serve(Script {
        outage: Some((Duration::from_millis(3500), Duration::from_secs(11))),
        ..Script::default()
    })
    .await;
    let r = go(&profile(t.addr, "{ policy: none }", ", confirm: 8s", "")).await;
    let rec = r.recovery.as_ref().unwrap();
    eprintln!("verdict: {} — {}", rec.verdict_shown(), rec.summary);
    let probe = rec.probe.as_ref().expect("the run ended down: the probe ran");
    assert_eq!(probe.outcome, ProbeOutcome::SilencedNothing, "{}", rec.summary);
    assert_eq!(probe.silenced_share, Some(0.0));
    assert_eq!(
        (rec.verdict, rec.confirmed),
        (Verdict::Recovered, false),
        "{}",
        rec.summary
    );
    let at = rec.recovered_at_ms.unwrap();
    assert!(
        (10_000..=12_000).contains(&at),
        "recovered at {at} ms, the outage ended at 11 s"
    );
    assert!(
        rec.summary
            .contains("The confirmation probe confirms nothing: it silenced nothing measurable (0%")
    );
    let terminal = stampede::report::terminal::summary(&r);
    assert!(terminal.contains("verdict: recovered — "), "{terminal}");
    assert!(
        terminal.contains("silenced nothing measurable, judged as the run's own"),
        "{terminal}"
    );
    schema_accepts(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_with_retries_that_ends_in_the_probe_is_an_outage_that_ended() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Down from 3.5 s to 12 s, retrying without end; the probe silences the retries
    // from 8 s and the target goes on refusing the baseline for 4 s more.
    let t = serve(Script {
        outage: Some((Duration::from_millis(3500), Duration::from_secs(12))),
        ..Script::default()
    })
    .await;
    let r = go(&profile(t.addr, RETRY, ", confirm: 10s", "")).await;
    let rec = r.recovery.as_ref().unwrap();
    eprintln!("verdict: {} — {}", rec.verdict_shown(), rec.summary);
    let probe = rec.probe.as_ref().expect("the run ended down: the probe ran");
    assert!(probe.silenced_share.unwrap() > 0.5, "{probe:?}");
    assert_eq!(probe.outcome, ProbeOutcome::HealedIndependently, "{}", rec.summary);
    assert_eq!((rec.verdict, rec.confirmed), (Verdict::Recovered, false));
    assert!(
        rec.summary.contains("at a time the silencing does not explain")
            && rec
                .summary
                .contains("An outage that ended, not a feedback loop the probe confirmed."),
        "{}",
        rec.summary
    );
    let at = rec.recovered_at_ms.unwrap();
    assert!(
        (11_000..=13_000).contains(&at),
        "recovered at {at} ms, the outage ended at 12 s"
    );
}

/// A login server with one worker serving `per_s` logins a second from a FIFO queue,
/// with no deadline check (work whose client has gone is still done), exposing
/// `login_queue_depth{pool="a"}` while the queue is not empty and dropping the label set
/// when it is, as real servers do.
async fn fifo(per_s: u64) -> SocketAddr {
    let queue: Arc<Mutex<VecDeque<oneshot::Sender<()>>>> = Arc::default();
    let worker = queue.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_s));
        loop {
            tick.tick().await;
            let next = worker.lock().unwrap().pop_front();
            if let Some(tx) = next {
                let _ = tx.send(());
            }
        }
    });
    let q = queue.clone();
    let app = Router::new()
        .route(
            "/login",
            post(move || {
                let q = q.clone();
                async move {
                    let (tx, rx) = oneshot::channel();
                    q.lock().unwrap().push_back(tx);
                    let _ = rx.await;
                    "{}"
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let n = queue.lock().unwrap().len();
                let mut text = "# TYPE pool_threads gauge\npool_threads 1\n".to_string();
                if n > 0 {
                    text.push_str(&format!(
                        "# TYPE login_queue_depth gauge\nlogin_queue_depth{{pool=\"a\"}} {n}\n"
                    ));
                }
                async move { text }
            }),
        );
    serve_app(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_still_draining_when_the_probe_ends_is_not_down_and_the_watch_sees_it_drain() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // 60 logins a second; the storm and its retries queue hundreds more than that.
    let addr = fifo(60).await;
    let metrics = format!(", metrics: {{ url: \"http://{addr}/metrics\", series: [login_queue_depth, pool_threads] }}");
    let r = go(&profile(addr, RETRY, ", confirm: 3s", &metrics)).await;
    let rec = r.recovery.as_ref().unwrap();
    eprintln!("verdict: {} — {}", rec.verdict_shown(), rec.summary);
    let probe = rec.probe.as_ref().expect("the run ended down: the probe ran");
    // Before: "down: an outage, not a feedback loop".
    assert_eq!(probe.outcome, ProbeOutcome::Draining, "{}", rec.summary);
    assert_ne!(rec.verdict, Verdict::Down, "{}", rec.summary);
    assert!(!rec.confirmed);
    let d = &probe.draining[0];
    assert_eq!(d.series, "login_queue_depth{pool=\"a\"}");
    assert!(d.left > 0.0 && d.left < d.from && d.per_s > 0.0, "{d:?}");
    assert!(
        rec.summary
            .starts_with("Still draining, inconclusive: with retries and relogins silenced for"),
        "{}",
        rec.summary
    );
    // The baseline went on while the engines waited up to a timeout for the plan's last
    // attempts and decided: the probe's first window holds its arrivals (before: none).
    let first = r
        .windows
        .iter()
        .find(|w| w.start_ms == probe.retries_stopped_at_ms)
        .unwrap();
    assert!(first.counts.first_attempts >= 15, "{:?}", first.counts);
    assert!(
        probe.started_at_ms > probe.retries_stopped_at_ms + 300,
        "{probe:?}: the drain took a while"
    );
    // The windows before the probe showed the feedback signature: answers late.
    assert_eq!(probe.verdict_before, Verdict::Metastable, "{}", rec.summary);
    // After the run the watch saw the queue empty, its label set gone, and stopped.
    let after = r.after_run.as_ref().expect("the queue was watched");
    let drained = after.drained_at_ms.expect("it drained, the label set dropped at 0");
    assert!(drained < r.plan.ended_ms + 25_000, "{after:?}");
    assert_eq!(r.stop_reason, StopReason::Completed);
    let terminal = stampede::report::terminal::summary(&r);
    assert!(terminal.contains("target drain: back at its baseline"), "{terminal}");
    assert!(!terminal.contains("NOT drained"), "{terminal}");
    schema_accepts(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_noisy_window_does_not_decide_a_healthy_run() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // 50 logins a second, a storm the target takes in its stride, and 150 ms at 6.4 s in
    // which it refuses every login (about 7 of the window's 50). Before: "not-recovered
    // … no healthy stretch lasted a hold", or "recovered" late.
    let t = serve(Script {
        blip: Some((Duration::from_millis(6400), Duration::from_millis(6550))),
        ..Script::default()
    })
    .await;
    let text = profile(t.addr, RETRY, "", "")
        .replace("rate: 20/s", "rate: 50/s")
        .replace("clients: 200, simulate: 200", "clients: 40, simulate: 40")
        .replace("success_rate: 90%", "success_rate: 99%");
    let r = go(&text).await;
    let rec = r.recovery.as_ref().unwrap();
    eprintln!("verdict: {} — {}", rec.verdict_shown(), rec.summary);
    assert_eq!(rec.verdict, Verdict::NeverDegraded, "{}\n{:?}", rec.summary, rec.health);
    let tolerated: Vec<_> = rec.health.iter().filter(|h| h.state == Health::Tolerated).collect();
    assert_eq!(tolerated.len(), 1, "{:?}", rec.health);
    assert!(tolerated[0].reason.contains("tolerated"), "{}", tolerated[0].reason);
    assert!(
        rec.notes.iter().any(|n| n.contains("were tolerated")),
        "{:?}",
        rec.notes
    );
    let html = stampede::report::html::render(&r).unwrap();
    assert!(
        html.contains("tolerated (noise or an isolated miss)"),
        "the page marks it"
    );
    schema_accepts(&r);
}

/// A login limiter: `per_s` logins a second (a bucket of 5), 429 beyond it.
async fn limiter(per_s: f64) -> SocketAddr {
    let bucket = Arc::new(Mutex::new((5.0f64, tokio::time::Instant::now())));
    let app = Router::new().route(
        "/login",
        post(move || {
            let bucket = bucket.clone();
            async move {
                let mut b = bucket.lock().unwrap();
                let now = tokio::time::Instant::now();
                b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * per_s).min(5.0);
                b.1 = now;
                if b.0 >= 1.0 {
                    b.0 -= 1.0;
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::TOO_MANY_REQUESTS
                }
            }
        }),
    );
    serve_app(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limiter_working_off_its_queue_is_improving_not_metastable() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // 45 logins a second for 200 clients and the baseline's 20/s: the locked-out clients
    // fall about 25 a second and success rises as fewer retry. Before: metastable.
    let addr = limiter(45.0).await;
    let r = go(&profile(addr, RETRY, "", "")).await;
    let rec = r.recovery.as_ref().unwrap();
    eprintln!("verdict: {} — {}", rec.verdict_shown(), rec.summary);
    assert_eq!(rec.verdict, Verdict::Improving, "{}", rec.summary);
    assert!(
        rec.summary.starts_with("Improving, not recovered yet: over the last ")
            && rec
                .summary
                .contains("If the trend held, every locked-out client would be in within about"),
        "{}",
        rec.summary
    );
    let terminal = stampede::report::terminal::summary(&r);
    assert!(terminal.contains("verdict: improving — "), "{terminal}");
    schema_accepts(&r);
}
