//! A real login end to end: credentials from a CSV checked per client, a token from a
//! JSON body sent as Bearer, a cookie set on step 2 and required on step 3 and on the
//! keepalives, and a logout with the token when the client reboots. The server keeps
//! what it saw per user; the test fails if any value is not carried, or is carried
//! where it must not be (a cookie on a login after a reboot, a revoked token on a
//! logout after a failed keepalive). The reboot's own drop is seen only inside the
//! engine (a login always starts empty): `engine::schedule::session_tests`.

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

/// A target that revokes the first session it gives each user at its first keepalive,
/// and refuses that user's next login: the client then holds no session when it
/// reboots, and sends no logout: neither the revoked token nor its cookie (nor an
/// empty one) reaches the target.
#[derive(Default)]
struct Revoking {
    logins: HashMap<String, u32>,
    /// Token → (user, which of the user's logins issued it).
    tokens: HashMap<String, (String, u32)>,
    revoked: std::collections::HashSet<String>,
    /// Per user: logouts that carried no token and no cookie.
    bare_logouts: HashMap<String, u32>,
    wrong: Vec<String>,
}

type R = Arc<Mutex<Revoking>>;

async fn revoking_login(State(s): State<R>, body: Bytes) -> Response {
    let mut s = s.lock().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let u = v["u"].as_str().unwrap_or("").to_string();
    let n = *s.logins.entry(u.clone()).and_modify(|n| *n += 1).or_insert(1);
    if n == 2 {
        return StatusCode::FORBIDDEN.into_response();
    }
    let token = format!("r{}x{u}", s.tokens.len());
    s.tokens.insert(token.clone(), (u, n));
    (
        StatusCode::OK,
        [(header::SET_COOKIE, format!("sid={token}; Path=/"))],
        format!(r#"{{"access_token":"{token}"}}"#),
    )
        .into_response()
}

fn bearer(h: &HeaderMap) -> Option<String> {
    let a = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(a.strip_prefix("Bearer ")?.trim().to_string()).filter(|t| !t.is_empty())
}

async fn revoking_keepalive(State(s): State<R>, h: HeaderMap) -> StatusCode {
    let mut s = s.lock().unwrap();
    let Some(t) = bearer(&h) else {
        // Clients online from the start hold no session yet: sent back to log in.
        return StatusCode::UNAUTHORIZED;
    };
    match s.tokens.get(&t).map(|(_, n)| *n) {
        Some(1) if !s.revoked.contains(&t) => {
            s.revoked.insert(t);
            StatusCode::UNAUTHORIZED
        }
        Some(_) if !s.revoked.contains(&t) => StatusCode::OK,
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn revoking_logout(
    State(s): State<R>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    h: HeaderMap,
) -> StatusCode {
    let mut s = s.lock().unwrap();
    let u = q.get("u").cloned().unwrap_or_default();
    let token = bearer(&h);
    let cookie = h.get(header::COOKIE).and_then(|c| c.to_str().ok()).map(str::to_string);
    match (token, cookie) {
        (None, None) => *s.bare_logouts.entry(u).or_default() += 1,
        (t, c) => {
            let revoked = t.as_ref().is_some_and(|t| s.revoked.contains(t));
            s.wrong.push(format!(
                "{u}: a logout with token {t:?} (revoked: {revoked}) and cookie {c:?} after its session ended"
            ))
        }
    }
    StatusCode::NO_CONTENT
}

#[tokio::test]
async fn a_session_a_failed_keepalive_ended_is_not_sent_again() {
    const N: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("username,password\n");
    for i in 0..N {
        csv.push_str(&format!("user{i},pw{i}\n"));
    }
    std::fs::write(dir.path().join("users.csv"), csv).unwrap();
    let seen: R = Arc::default();
    let app = Router::new()
        .route("/login", post(revoking_login))
        .route("/keepalive", post(revoking_keepalive))
        .route("/logout", post(revoking_logout))
        .with_state(seen.clone());
    let addr = common::serve_app(app).await;
    // Online at the start with no session: the first keepalive fails, login 1 gives a
    // token, its first keepalive revokes it, login 2 is refused (no retry), and the
    // storm's reboot finds the client without a session: it sends no logout (it has
    // no session to leave). Then login 3 succeeds.
    let text = format!(
        r#"
name: revoked-session
seed: 5
target: {{ nodes: ["http://{addr}"], timeout: 2s }}
population: {{ simulate: {N} }}
baseline: {{ duration: 1500ms }}
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
  retry: {{ policy: none }}
  session:
    keepalive: {{ request: POST /keepalive, headers: {{ authorization: "Bearer {{{{token}}}}" }} }}
    every: 100ms
  on_reboot:
    - {{ request: 'POST /logout?u={{{{data.username}}}}', headers: {{ authorization: "Bearer {{{{token}}}}" }} }}
observe: {{ window: 250ms, until_recovered: 500ms }}
"#
    );
    let p = stampede::run::parse(&text, &dir.path().join("p.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    tokio::time::timeout(Duration::from_secs(60), run(&p, RunOptions::default(), &mut ()))
        .await
        .expect("bounded")
        .unwrap();
    let s = seen.lock().unwrap();
    assert!(s.wrong.is_empty(), "{:#?}", s.wrong);
    assert_eq!(s.revoked.len(), N, "every user's first session was revoked");
    for i in 0..N {
        let u = format!("user{i}");
        assert_eq!(s.logins.get(&u), Some(&3), "{u}: {:?}", s.logins);
        assert_eq!(
            s.bare_logouts.get(&u),
            None,
            "{u}: no session, no logout: {:?}",
            s.bare_logouts
        );
    }
}
