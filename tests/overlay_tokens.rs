//! The reference overlay's token flow over HTTP: a login answers a session token;
//! keepalive, join and leave take it as Bearer and answer 401 for one that is unknown,
//! replaced by a later login, or revoked by a leave. The body form still works.

mod common;

use std::time::Duration;

use stampede::overlay::{self, OverlayConfig};

#[tokio::test]
async fn bearer_tokens_name_the_client_and_bad_ones_get_401() {
    let o = overlay::spawn(OverlayConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", o.addr);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let post = |path: &str, bearer: Option<&str>, body: &str| {
        let mut r = http.post(format!("{base}{path}")).body(body.to_string());
        if let Some(t) = bearer {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.send()
    };
    let login = |c: u64| post("/login", None, &format!(r#"{{"client":{c}}}"#));
    let token = |body: String| {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["session"].as_str().unwrap().to_string()
    };
    let t1 = token(login(1).await.unwrap().text().await.unwrap());
    assert_eq!(t1.len(), 32);
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(post("/keepalive", Some(&t1), "").await.unwrap()), 200);
    assert_eq!(status(post("/join", Some(&t1), "").await.unwrap()), 200);
    assert_eq!(status(post("/keepalive", Some("0123abcd"), "").await.unwrap()), 401);
    assert_eq!(status(post("/keepalive", Some("not-hex"), "").await.unwrap()), 401);
    // The body form, for profiles that name the client by id.
    assert_eq!(status(post("/keepalive", None, r#"{"client":1}"#).await.unwrap()), 200);
    // A second login replaces the first token.
    let t2 = token(login(1).await.unwrap().text().await.unwrap());
    assert_ne!(t1, t2);
    assert_eq!(status(post("/keepalive", Some(&t1), "").await.unwrap()), 401);
    assert_eq!(status(post("/leave", Some(&t2), "").await.unwrap()), 204);
    assert_eq!(
        status(post("/keepalive", Some(&t2), "").await.unwrap()),
        401,
        "revoked by the leave"
    );
}

/// Held (the embedded overlay before the run's time zero), a login for a client the
/// model has online only collects a token: no queue, no capacity spent, no timeline;
/// any other client is told to wait. Once the clock starts, logins queue as always.
#[tokio::test]
async fn a_held_overlay_hands_online_clients_tokens_and_nothing_else() {
    let cfg = OverlayConfig {
        initial_online: 10,
        ..OverlayConfig::default()
    };
    let o = overlay::spawn_held(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", o.addr);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let login = |c: u64| {
        http.post(format!("{base}/login"))
            .body(format!(r#"{{"client":{c}}}"#))
            .send()
    };
    for c in 0..10 {
        let r = login(c).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "online client {c}");
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        let token = v["session"].as_str().unwrap().to_string();
        let ka = http
            .post(format!("{base}/keepalive"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(ka.status().as_u16(), 200, "the set-up token holds a session");
    }
    let r = login(500).await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.text().await.unwrap().contains("not_started"));
    let m = common::metrics_page(&http, &base).await;
    assert_eq!(
        common::sample(&m, "overlay_logins_ok_total"),
        0.0,
        "no login was processed"
    );
    assert_eq!(common::sample(&m, "overlay_clients_online"), 10.0);
    o.clock.start(std::time::Instant::now());
    let r = login(500).await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "running: the queue serves it");
    let m = common::metrics_page(&http, &base).await;
    assert_eq!(common::sample(&m, "overlay_logins_ok_total"), 1.0);
}
