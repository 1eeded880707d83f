//! Admission control in the reference overlay (issue #26): a login limit, a ramp and
//! buckets, from the config, an operator action and the admin API, each answered 503
//! with Retry-After before the queue, and counted in /metrics.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use stampede::overlay::{self, OverlayConfig, OverlayHandle};

async fn start(yaml: &str) -> (OverlayHandle, SocketAddr) {
    let cfg = OverlayConfig::from_yaml_str(yaml).unwrap_or_else(|e| panic!("{e}"));
    let h = overlay::spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = h.addr;
    (h, addr)
}

/// (status, Retry-After, body) of one login.
async fn login(c: &reqwest::Client, addr: SocketAddr, client: u64) -> (u16, Option<u64>, String) {
    let r = c
        .post(format!("http://{addr}/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"client\":{client}}}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, r.text().await.unwrap())
}

async fn metric(c: &reqwest::Client, addr: SocketAddr, name: &str) -> f64 {
    common::sample(&common::metrics_page(c, &format!("http://{addr}")).await, name)
}

async fn admin(c: &reqwest::Client, addr: SocketAddr, body: &str) -> (u16, String) {
    let r = c
        .post(format!("http://{addr}/admin/admission"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Logins of clients `from..from+n`, in parallel: how many got in, and the refusals.
async fn storm(c: &reqwest::Client, addr: SocketAddr, from: u64, n: u64) -> (usize, Vec<(Option<u64>, String)>) {
    let all = futures_util::future::join_all((from..from + n).map(|i| login(c, addr, i))).await;
    let ok = all.iter().filter(|r| r.0 == 200).count();
    let refused = all.into_iter().filter(|r| r.0 == 503).map(|r| (r.1, r.2)).collect();
    (ok, refused)
}

/// Logins from 20 senders, each sending its next as its last is answered, for `d`:
/// (admitted, sent).
async fn steady(c: &reqwest::Client, addr: SocketAddr, d: Duration) -> (usize, usize) {
    let until = std::time::Instant::now() + d;
    let one = |k: u64| {
        let c = c.clone();
        async move {
            let (mut ok, mut sent) = (0, 0);
            while std::time::Instant::now() < until {
                sent += 1;
                ok += usize::from(login(&c, addr, 10_000 + k * 100_000 + sent as u64).await.0 == 200);
            }
            (ok, sent)
        }
    };
    let all = futures_util::future::join_all((0..20).map(one)).await;
    all.iter().fold((0, 0), |(a, b), (o, s)| (a + o, b + s))
}

#[tokio::test]
async fn a_login_limit_admits_its_rate_and_turns_the_rest_away_cheaply() {
    let (_h, addr) = start("capacity: 5000/s\nadmission: { rate: 20/s }\nretry_after: 3s\nspare_slots: 100%\n").await;
    let c = reqwest::Client::new();
    // 300 logins at once: the bucket holds two (a tenth of a second of 20/s), and 20 a
    // second come in while they arrive.
    let began = std::time::Instant::now();
    let (ok, refused) = storm(&c, addr, 0, 300).await;
    let most = 3 + (20.0 * began.elapsed().as_secs_f64()).ceil() as usize;
    assert!((1..=most).contains(&ok), "{ok} got in over {:?}", began.elapsed());
    assert_eq!(ok + refused.len(), 300);
    assert!(
        refused
            .iter()
            .all(|(ra, body)| *ra == Some(3) && body.contains("\"admission\"")),
        "{:?}",
        &refused[..3]
    );
    // Logins as fast as 20 connections can send them for 2 s: about 20 a second get in.
    let (ok2, sent2) = steady(&c, addr, Duration::from_secs(2)).await;
    assert!(sent2 > 200, "the load was not over the limit: {sent2} sent");
    assert!((32..=45).contains(&ok2), "{ok2} of {sent2} in 2 s at 20/s");
    assert_eq!(metric(&c, addr, "overlay_admission_limit_per_second").await, 20.0);
    let turned: f64 = metric(&c, addr, "overlay_logins_rejected_total{reason=\"admission\"}").await;
    assert_eq!(turned as usize, 300 + sent2 - ok - ok2);
    // Turned away before the queue: the login server did no work for them.
    assert_eq!(
        metric(&c, addr, "overlay_logins_completed_total").await as usize,
        ok + ok2
    );
}

#[tokio::test]
async fn the_admin_api_sets_buckets_that_say_when_each_opens_and_off_lifts_them() {
    let (_h, addr) = start("capacity: 5000/s\nspare_slots: 100%\n").await;
    let c = reqwest::Client::new();
    let (ok, _) = storm(&c, addr, 0, 100).await;
    assert_eq!(ok, 100, "no admission control by default");
    let (status, body) = admin(&c, addr, r#"{"buckets": 4, "every": "30s"}"#).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"admission":"4 buckets, one more every 30s"}"#)
    );
    let (ok, refused) = storm(&c, addr, 1000, 400).await;
    assert!((60..140).contains(&ok), "one bucket of four open: {ok}");
    let waits: Vec<u64> = refused.iter().map(|r| r.0.unwrap()).collect();
    for bucket in [30, 60, 90] {
        let n = waits.iter().filter(|w| (bucket - 1..=bucket).contains(*w)).count();
        assert!(
            (60..140).contains(&n),
            "bucket opening in {bucket}s: {n} clients told so ({waits:?})"
        );
    }
    assert_eq!(metric(&c, addr, "overlay_admission_buckets_open").await, 1.0);
    assert_eq!(metric(&c, addr, "overlay_admission_buckets").await, 4.0);
    let (status, _) = admin(&c, addr, r#"{"off": true}"#).await;
    assert_eq!(status, 200);
    assert_eq!(storm(&c, addr, 1000, 400).await.0, 400);
    for bad in [
        r#"{"buckets": 0, "every": "1s"}"#,
        r#"{"rate": "0/s"}"#,
        r#"{"rate": "fast"}"#,
        r#"{"burst": 3}"#,
    ] {
        let (status, body) = admin(&c, addr, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn an_operator_action_sets_a_ramp_at_its_instant() {
    let (_h, addr) = start(
        "capacity: 5000/s\nspare_slots: 100%\nactions: [ { at: 2s, admission: { from: 10/s, step: 40/s, every: 1s } } ]\n",
    )
    .await;
    let c = reqwest::Client::new();
    let began = std::time::Instant::now();
    assert_eq!(storm(&c, addr, 0, 50).await.0, 50, "before the action");
    assert!(
        metric(&c, addr, "overlay_admission_limit_per_second").await == 0.0 || began.elapsed() > Duration::from_secs(2)
    );
    tokio::time::sleep(Duration::from_millis(2200).saturating_sub(began.elapsed())).await;
    assert_eq!(metric(&c, addr, "overlay_admission_limit_per_second").await, 10.0);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        metric(&c, addr, "overlay_admission_limit_per_second").await,
        50.0,
        "one step up"
    );
    let bad = OverlayConfig::from_yaml_str("actions: [ { at: 1s, admission: { from: 10/s, step: 0/s, every: 1s } } ]");
    assert!(bad.unwrap_err().to_string().contains("actions[0].admission: step"));
}
