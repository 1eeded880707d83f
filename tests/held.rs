//! A connected population against a gateway whose truth is known: it logs every
//! upgrade and every drop it makes (reset, a close with a code), answers heartbeats, and
//! revokes tokens on demand. The report's drops, reconnects, resumes and relogins must
//! match its log; a client told to wait by a 1013 close must not come back earlier.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use stampede::report::Report;
use stampede::run::{RunOptions, run};
use tokio::sync::oneshot;

/// How the gateway ends a connection it drops.
#[derive(Debug, Clone)]
enum Kill {
    /// The socket is dropped: no close frame.
    Reset,
    Close(u16, &'static str),
}

#[derive(Debug, Clone)]
struct Drop {
    after: Duration,
    count: usize,
    kill: Kill,
    /// The dropped clients' tokens stop working: their resume is refused with a 401.
    revoke: bool,
}

#[derive(Default)]
struct Gw {
    tokens: HashMap<String, u32>,
    revoked: HashSet<String>,
    issued: u64,
    logins: HashMap<u32, u32>,
    live: HashMap<u32, oneshot::Sender<Kill>>,
    /// (when, client, what): `upgrade`, `refused`, `drop`.
    log: Vec<(SystemTime, u32, &'static str)>,
    heartbeats: u64,
}

type S = Arc<Mutex<Gw>>;

async fn login(State(s): State<S>, body: Bytes) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let client = v["client"].as_u64().unwrap_or(u64::MAX) as u32;
    let mut g = s.lock().unwrap();
    g.issued += 1;
    let token = format!("t{}c{client}", g.issued);
    g.tokens.insert(token.clone(), client);
    *g.logins.entry(client).or_default() += 1;
    (StatusCode::OK, format!(r#"{{"token":"{token}"}}"#)).into_response()
}

async fn gateway(ws: WebSocketUpgrade, State(s): State<S>, h: HeaderMap) -> Response {
    let token = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    let client = {
        let mut g = s.lock().unwrap();
        match g.tokens.get(&token).copied() {
            Some(c) if !g.revoked.contains(&token) => {
                g.log.push((SystemTime::now(), c, "upgrade"));
                c
            }
            other => {
                g.log.push((SystemTime::now(), other.unwrap_or(u32::MAX), "refused"));
                return StatusCode::UNAUTHORIZED.into_response();
            }
        }
    };
    ws.on_upgrade(move |socket| held(socket, s, client, token))
}

async fn held(mut socket: WebSocket, s: S, client: u32, token: String) {
    let (tx, mut rx) = oneshot::channel();
    s.lock().unwrap().live.insert(client, tx);
    let _ = token;
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(_))) => {
                    s.lock().unwrap().heartbeats += 1;
                    if socket.send(Message::Text("{\"op\":\"hb_ack\"}".into())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            kill = &mut rx => {
                if let Ok(Kill::Close(code, reason)) = kill {
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                }
                return;
            }
        }
    }
}

/// Serves the gateway and runs its script of drops from the first upgrade on.
async fn gateway_with(script: Vec<Drop>) -> (std::net::SocketAddr, S) {
    let s: S = Arc::new(Mutex::new(Gw::default()));
    let app = Router::new()
        .route("/login", post(login))
        .route("/gateway", get(gateway))
        .with_state(s.clone());
    let addr = common::serve_app(app).await;
    let st = s.clone();
    tokio::spawn(async move {
        // Time counts from the run's first held connection.
        loop {
            if !st.lock().unwrap().live.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let began = tokio::time::Instant::now();
        for d in script {
            tokio::time::sleep_until(began + d.after).await;
            let mut g = st.lock().unwrap();
            let mut ids: Vec<u32> = g.live.keys().copied().collect();
            ids.sort_unstable();
            for c in ids.into_iter().take(d.count) {
                let tx = g.live.remove(&c).expect("live");
                if d.revoke {
                    let revoked: Vec<String> = g
                        .tokens
                        .iter()
                        .filter(|(_, v)| **v == c)
                        .map(|(k, _)| k.clone())
                        .collect();
                    g.revoked.extend(revoked);
                }
                g.log.push((SystemTime::now(), c, "drop"));
                let _ = tx.send(d.kill.clone());
            }
        }
    });
    (addr, s)
}

fn profile(addr: std::net::SocketAddr, extra_connect: &str) -> String {
    profile_gated(addr, extra_connect, "[]")
}

fn profile_gated(addr: std::net::SocketAddr, extra_connect: &str, gate: &str) -> String {
    format!(
        r#"
name: held-truth
seed: 3
target: {{ nodes: ["http://{addr}"], timeout: 2s, connection: fresh }}
population: {{ simulate: 30 }}
baseline: {{ duration: 6s, rate: 2/s }}
client:
  login:
    - name: auth
      request: POST /login
      body: '{{"client":{{{{client}}}}}}'
      capture: {{ token: {{ json: /token }} }}
  retry: {{ policy: exponential, base: 200ms, cap: 1s, jitter: none, max_attempts: 20, retry_after_cap: 10s }}
  session:
    connect:
      websocket: /gateway
      headers: {{ authorization: "Bearer {{{{token}}}}" }}
      heartbeat: {{ every: 300ms, send: '{{"op":"hb"}}', expect_within: 1s }}
{extra_connect}
observe: {{ window: 500ms, until_recovered: 1s }}
slo: {{ hold: 1s, p99: 500ms }}
gate: {gate}
"#
    )
}

async fn storm(text: &str) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    let p = stampede::run::parse(text, &path, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    tokio::time::timeout(Duration::from_secs(60), run(&p, RunOptions::default(), &mut ()))
        .await
        .expect("bounded")
        .unwrap()
}

fn started(r: &Report) -> SystemTime {
    let actual = &r.start.as_ref().expect("start facts").actual;
    humantime::parse_rfc3339(actual).expect("RFC 3339")
}

/// The report's count of `cause` drops over the windows, and the windows that hold them.
fn drops(r: &Report, cause: &str) -> (u64, Vec<u32>) {
    let mut n = 0;
    let mut at = Vec::new();
    for w in &r.windows {
        if let Some(k) = w.held.as_ref().and_then(|h| h.drops_by_cause.get(cause)) {
            n += k;
            at.push(w.index);
        }
    }
    (n, at)
}

#[tokio::test]
async fn drops_and_reconnects_match_the_gateways_log() {
    let (addr, s) = gateway_with(vec![
        Drop {
            after: Duration::from_millis(1500),
            count: 10,
            kill: Kill::Reset,
            revoke: false,
        },
        Drop {
            after: Duration::from_millis(3500),
            count: 5,
            kill: Kill::Close(1012, "retry after 1"),
            revoke: false,
        },
    ])
    .await;
    let r = storm(&profile(addr, "      retry_after_from: reason")).await;
    let g = s.lock().unwrap();
    let t0 = started(&r);
    let window = Duration::from_millis(500);
    let drops_at: Vec<(u32, SystemTime)> = g.log.iter().filter(|e| e.2 == "drop").map(|e| (e.1, e.0)).collect();
    assert_eq!(drops_at.len(), 15, "the gateway made its 15 drops");
    let (resets, reset_windows) = drops(&r, "reset");
    let (restarts, restart_windows) = drops(&r, "ws_close_1012");
    assert_eq!(
        resets,
        10,
        "{:?}",
        r.windows.iter().map(|w| &w.held).collect::<Vec<_>>()
    );
    assert_eq!(restarts, 5);
    // Each drop lands in the window the gateway's clock puts it in, within one.
    for (i, (_, when)) in drops_at.iter().enumerate() {
        let idx = (when.duration_since(t0).unwrap().as_millis() / window.as_millis()) as i64;
        let seen = if i < 10 { &reset_windows } else { &restart_windows };
        assert!(
            seen.iter().any(|&w| (w as i64 - idx).abs() <= 1),
            "drop {i} at window {idx}, report has them in {seen:?}"
        );
    }
    // Every dropped client came back; the gateway saw its upgrade after its drop.
    let reconnects: u64 = r
        .windows
        .iter()
        .filter_map(|w| w.held.as_ref())
        .map(|h| h.reconnect_ms.count)
        .sum();
    assert_eq!(reconnects, 15);
    for (i, (client, when)) in drops_at.iter().enumerate() {
        let back = g
            .log
            .iter()
            .find(|e| e.1 == *client && e.2 == "upgrade" && e.0 > *when)
            .unwrap_or_else(|| panic!("client {client} never came back"));
        let outage = back.0.duration_since(*when).unwrap();
        if i >= 10 {
            assert!(
                outage >= Duration::from_millis(950),
                "1012 asked for 1 s, {client} came back after {outage:?}"
            );
        } else {
            assert!(
                outage < Duration::from_millis(500),
                "a reset client resumes at once: {outage:?}"
            );
        }
    }
    let resumes: u64 = r
        .windows
        .iter()
        .filter_map(|w| w.held.as_ref())
        .map(|h| h.counts.resumes)
        .sum();
    assert_eq!(resumes, 15, "every reconnect resumed with its token");
    assert_eq!(
        g.logins.values().filter(|&&n| n > 1).count(),
        0,
        "nobody had to log in again"
    );
    // Connected share back at 100 % at the end (the 30 online from the start and the
    // background's arrivals); the heartbeats were answered.
    let last = r.windows.iter().rev().find_map(|w| w.held.as_ref()).unwrap();
    assert!(
        last.online >= 30 && last.connected == last.online,
        "{} of {}",
        last.connected,
        last.online
    );
    let background = g.logins.keys().filter(|&&c| c >= 30).count() as u64;
    assert_eq!(
        last.online,
        30 + background,
        "every client that logged in should be online"
    );
    let answered: u64 = r
        .windows
        .iter()
        .filter_map(|w| w.held.as_ref())
        .map(|h| h.heartbeat_ms.count)
        .sum();
    assert!(answered > 100, "{answered} heartbeats answered");
    assert!(g.heartbeats >= answered, "the gateway saw {} beats", g.heartbeats);
}

#[tokio::test]
async fn a_1013_close_holds_the_client_off_for_the_wait_it_names() {
    let (addr, s) = gateway_with(vec![Drop {
        after: Duration::from_millis(1000),
        count: 6,
        kill: Kill::Close(1013, "retry after 3"),
        revoke: false,
    }])
    .await;
    let gates = r#"["reconnect.p99 >= 3s", "reconnect.p99 < 2s", "reconnect_time < 5s", "connected_share > 99%"]"#;
    let r = storm(&profile_gated(addr, "      retry_after_from: reason", gates)).await;
    let passed: Vec<bool> = r.thresholds.iter().map(|t| t.passed).collect();
    assert_eq!(passed, [true, false, true, true], "{:#?}", r.thresholds);
    let g = s.lock().unwrap();
    let dropped: Vec<(u32, SystemTime)> = g.log.iter().filter(|e| e.2 == "drop").map(|e| (e.1, e.0)).collect();
    assert_eq!(dropped.len(), 6);
    for (client, when) in dropped {
        let back = g
            .log
            .iter()
            .find(|e| e.1 == client && e.2 == "upgrade" && e.0 > when)
            .unwrap_or_else(|| panic!("client {client} never came back"));
        let waited = back.0.duration_since(when).unwrap();
        assert!(
            waited >= Duration::from_secs(3),
            "client {client} came back after {waited:?}"
        );
        assert!(waited < Duration::from_millis(3600), "and not much later: {waited:?}");
    }
    assert_eq!(drops(&r, "ws_close_1013").0, 6);
}

#[tokio::test]
async fn a_refused_resume_logs_in_again_by_401_or_by_a_relogin_close() {
    let (addr, s) = gateway_with(vec![
        Drop {
            after: Duration::from_millis(1000),
            count: 4,
            kill: Kill::Reset,
            revoke: true,
        },
        Drop {
            after: Duration::from_millis(2500),
            count: 3,
            kill: Kill::Close(4004, "session lost"),
            revoke: false,
        },
    ])
    .await;
    let r = storm(&profile(addr, "      relogin_on: [4004]")).await;
    let g = s.lock().unwrap();
    let again: u32 = g.logins.values().map(|n| n - 1).sum();
    assert_eq!(
        again, 7,
        "4 refused resumes and 3 relogin closes logged in again: {:?}",
        g.logins
    );
    let refused: u64 = r
        .windows
        .iter()
        .filter_map(|w| w.held.as_ref())
        .map(|h| h.counts.resumes_refused)
        .sum();
    assert_eq!(refused, 4, "the 401s are resumes refused");
    assert_eq!(g.log.iter().filter(|e| e.2 == "refused").count(), 4);
    assert_eq!(r.totals.counts.relogins, 7);
    assert_eq!(drops(&r, "ws_close_4004").0, 3);
    let last = r.windows.iter().rev().find_map(|w| w.held.as_ref()).unwrap();
    assert_eq!(last.connected, last.online, "all back after logging in again");
}
