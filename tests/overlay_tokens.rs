//! The reference overlay's token flow over HTTP: a login answers a session token;
//! keepalive, join and leave take it as Bearer and answer 401 for one that is unknown,
//! replaced by a later login, or revoked by a leave. The body form still works.

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
