//! Captures and checks over the wire: a token taken from step 1's JSON is sent on
//! step 2 and on the keepalives; a missing capture and a failed check are outcomes of
//! their own, with a reason that names the step and never a value.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use stampede::run::{RunOptions, run};

/// What the server saw: per client, the Authorization values of `/join` and keepalives.
#[derive(Default)]
struct Seen {
    join: HashMap<String, Vec<String>>,
    keepalive: Vec<String>,
}

type S = Arc<Mutex<Seen>>;

async fn login(body: Bytes) -> Response {
    let client = String::from_utf8_lossy(&body).to_string();
    let n: u64 = client.parse().unwrap_or(0);
    if n % 10 == 9 {
        // Every tenth client gets an answer without a token.
        return (StatusCode::OK, r#"{"ok":true}"#).into_response();
    }
    let ok = n % 10 != 8;
    (
        StatusCode::OK,
        format!(r#"{{"ok":{ok},"access_token":"tok-{client}"}}"#),
    )
        .into_response()
}

fn bearer(h: &HeaderMap) -> String {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn join(State(s): State<S>, h: HeaderMap, body: Bytes) -> StatusCode {
    let client = String::from_utf8_lossy(&body).to_string();
    s.lock().unwrap().join.entry(client).or_default().push(bearer(&h));
    StatusCode::OK
}

async fn keepalive(State(s): State<S>, h: HeaderMap) -> StatusCode {
    s.lock().unwrap().keepalive.push(bearer(&h));
    StatusCode::OK
}

#[tokio::test]
async fn a_captured_token_is_carried_and_misses_are_their_own_outcomes() {
    let seen: S = Default::default();
    let app = Router::new()
        .route("/login", post(login))
        .route("/join", post(join))
        .route("/keepalive", post(keepalive))
        .with_state(seen.clone());
    let addr = common::serve_app(app).await;
    let text = format!(
        r#"
name: captures
seed: 3
target: {{ nodes: ["http://{addr}"], timeout: 2s, connection: fresh }}
population: {{ simulate: 100 }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(300ms)" }} ]
client:
  login:
    - name: auth
      request: POST /login
      body: "{{{{client}}}}"
      capture: {{ token: {{ json: /access_token }} }}
      expect: {{ status: 200, json: {{ /ok: true }} }}
    - name: join
      request: POST /join
      body: "{{{{client}}}}"
      headers: {{ authorization: "Bearer {{{{token}}}}" }}
  retry: {{ policy: none }}
  session:
    keepalive: {{ request: POST /keepalive, headers: {{ authorization: "Bearer {{{{token}}}}" }} }}
    every: 200ms
    initially_online: false
observe: {{ window: 250ms, until_recovered: 1s }}
"#
    );
    let p = stampede::run::parse(&text, std::path::Path::new("t.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        run(&p, RunOptions::default(), &mut ()),
    )
    .await
    .expect("bounded")
    .unwrap();
    let o = &r.totals.outcomes;
    assert_eq!(o.get("ok"), Some(&80), "{o:?}");
    assert_eq!(o.get("capture"), Some(&10), "{o:?}");
    assert_eq!(o.get("check"), Some(&10), "{o:?}");
    let ex = &r.engine.stats.failure_examples;
    assert!(
        ex["capture"].contains("step `auth`") && ex["capture"].contains("`token`"),
        "{ex:?}"
    );
    assert!(ex["check"].contains("/ok"), "{ex:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.join.len(), 80, "only clients whose step 1 passed reach step 2");
    for (client, auth) in &seen.join {
        assert_eq!(auth, &vec![format!("Bearer tok-{client}")]);
    }
    assert!(!seen.keepalive.is_empty());
    for a in &seen.keepalive {
        assert!(a.starts_with("Bearer tok-") && a.len() > "Bearer tok-".len(), "{a}");
    }
}
