//! A real login end to end: credentials from a CSV checked per client, a token from a
//! JSON body sent as Bearer, a cookie set on step 2 and required on step 3 and on the
//! keepalives, and a logout with the token when the client reboots. The server keeps
//! what it saw per user; the test fails if any value is not carried, or is carried
//! where it must not be (a cookie on a login after a reboot).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use stampede::run::{RunOptions, run};

#[derive(Default)]
struct Server {
    users: HashMap<String, String>,
    tokens: HashMap<String, String>,
    sids: HashMap<String, String>,
    issued: u64,
    /// Per user: good logins, joins, keepalives, logouts.
    logins: HashMap<String, u32>,
    joins: HashMap<String, u32>,
    keepalives: HashMap<String, u32>,
    logouts: HashMap<String, u32>,
    /// Requests that did not carry what they must (or carried what they must not).
    wrong: Vec<String>,
}

type S = Arc<Mutex<Server>>;

fn bearer_user(s: &Server, h: &HeaderMap) -> Option<String> {
    let a = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    s.tokens.get(a.strip_prefix("Bearer ")?).cloned()
}

fn cookie_user(s: &Server, h: &HeaderMap) -> Option<String> {
    let c = h.get(header::COOKIE)?.to_str().ok()?;
    let sid = c.split("; ").find_map(|kv| kv.strip_prefix("sid="))?;
    s.sids.get(sid).cloned()
}

async fn login(State(s): State<S>, h: HeaderMap, body: Bytes) -> Response {
    let mut s = s.lock().unwrap();
    if h.contains_key(header::COOKIE) {
        s.wrong
            .push("a login carried a cookie: the session was not dropped".into());
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (u, p) = (v["u"].as_str().unwrap_or(""), v["p"].as_str().unwrap_or(""));
    if s.users.get(u).map(String::as_str) != Some(p) || p.is_empty() {
        s.wrong.push(format!("bad credentials for `{u}`"));
        return StatusCode::FORBIDDEN.into_response();
    }
    s.issued += 1;
    let token = format!("t{}x{u}", s.issued);
    s.tokens.insert(token.clone(), u.to_string());
    *s.logins.entry(u.to_string()).or_default() += 1;
    (StatusCode::OK, format!(r#"{{"access_token":"{token}","ok":true}}"#)).into_response()
}

async fn session(State(s): State<S>, h: HeaderMap) -> Response {
    let mut s = s.lock().unwrap();
    let Some(u) = bearer_user(&s, &h) else {
        s.wrong.push("step 2 without a valid token".into());
        return StatusCode::UNAUTHORIZED.into_response();
    };
    s.issued += 1;
    let sid = format!("s{}", s.issued);
    s.sids.insert(sid.clone(), u);
    (
        StatusCode::OK,
        [(header::SET_COOKIE, format!("sid={sid}; Path=/; HttpOnly"))],
        "welcome",
    )
        .into_response()
}

async fn join(State(s): State<S>, h: HeaderMap) -> StatusCode {
    let mut s = s.lock().unwrap();
    match (bearer_user(&s, &h), cookie_user(&s, &h)) {
        (Some(a), Some(b)) if a == b => {
            *s.joins.entry(a).or_default() += 1;
            StatusCode::NO_CONTENT
        }
        other => {
            s.wrong.push(format!("join with token/cookie users {other:?}"));
            StatusCode::UNAUTHORIZED
        }
    }
}

async fn keepalive(State(s): State<S>, h: HeaderMap) -> StatusCode {
    let mut s = s.lock().unwrap();
    match (bearer_user(&s, &h), cookie_user(&s, &h)) {
        (Some(a), Some(b)) if a == b => {
            *s.keepalives.entry(a).or_default() += 1;
            StatusCode::OK
        }
        // Clients online from the start hold no session yet: sent back to log in.
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn logout(State(s): State<S>, h: HeaderMap) -> StatusCode {
    let mut s = s.lock().unwrap();
    match bearer_user(&s, &h) {
        Some(u) => {
            *s.logouts.entry(u).or_default() += 1;
            StatusCode::NO_CONTENT
        }
        None => {
            s.wrong.push("a logout without a valid token".into());
            StatusCode::UNAUTHORIZED
        }
    }
}

#[tokio::test]
async fn every_value_is_carried_per_client_and_dropped_on_reboot() {
    const N: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("username,password\n");
    let mut users = HashMap::new();
    for i in 0..N {
        csv.push_str(&format!("user{i},pw-{i}-{}\n", i * 7919 % 1000));
        users.insert(format!("user{i}"), format!("pw-{i}-{}", i * 7919 % 1000));
    }
    std::fs::write(dir.path().join("users.csv"), csv).unwrap();
    let seen: S = Arc::new(Mutex::new(Server {
        users,
        ..Default::default()
    }));
    let app = Router::new()
        .route("/login", post(login))
        .route("/session", post(session))
        .route("/join", post(join))
        .route("/keepalive", post(keepalive))
        .route("/logout", post(logout))
        .with_state(seen.clone());
    let addr = common::serve_app(app).await;
    let text = format!(
        r#"
name: login-flow
seed: 5
target: {{ nodes: ["http://{addr}"], timeout: 2s, connection: fresh }}
population: {{ simulate: {N} }}
baseline: {{ duration: 1500ms, rate: 1/s }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(300ms)" }} ]
  downtime: 100ms
client:
  data: users.csv
  cookies: true
  login:
    - name: auth
      request: POST /login
      body: '{{"u":"{{{{data.username}}}}","p":"{{{{data.password}}}}"}}'
      capture: {{ token: {{ json: /access_token }} }}
      expect: {{ status: 200, json: {{ /ok: true }} }}
    - name: session
      request: POST /session
      headers: {{ authorization: "Bearer {{{{token}}}}" }}
      expect: {{ status: 200, body_contains: welcome }}
    - name: join
      request: POST /join
      headers: {{ authorization: "Bearer {{{{token}}}}" }}
      expect: 204
  retry: {{ policy: none }}
  session:
    keepalive: {{ request: POST /keepalive, headers: {{ authorization: "Bearer {{{{token}}}}" }} }}
    every: 100ms
  on_reboot:
    - {{ name: logout, request: POST /logout, headers: {{ authorization: "Bearer {{{{token}}}}" }} }}
observe: {{ window: 250ms, until_recovered: 1s }}
"#
    );
    let path = dir.path().join("p.yaml");
    let p = stampede::run::parse(&text, &path, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let r = tokio::time::timeout(Duration::from_secs(60), run(&p, RunOptions::default(), &mut ()))
        .await
        .expect("bounded")
        .unwrap();
    let s = seen.lock().unwrap();
    assert!(s.wrong.is_empty(), "{:?}", s.wrong);
    assert_eq!(
        r.totals.outcomes.get("ok").copied(),
        Some(r.totals.counts.attempts),
        "{:?}",
        r.totals.outcomes
    );
    for i in 0..N {
        let u = format!("user{i}");
        // Logged in when its first keepalive found no session, and after the reboot (a
        // background login may take a row too: client N takes row N mod rows).
        let logins = s.logins.get(&u).copied().unwrap_or(0);
        assert!(logins >= 2, "{u}: {:?}", s.logins);
        assert_eq!(s.joins.get(&u), Some(&logins), "{u}: every login joined");
        assert!(s.keepalives.get(&u).is_some_and(|&k| k >= 2), "{u}: {:?}", s.keepalives);
        assert_eq!(s.logouts.get(&u), Some(&1), "{u}: logged out once, with its token");
    }
}
