//! A small WebSocket gateway for tests that need a connected population: `POST /login`
//! hands out a token, `GET /gateway` upgrades with it and answers every text message;
//! `drop_after` from the first upgrade it resets `drop` of the connections it holds.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::sync::oneshot;

#[derive(Default)]
struct Held {
    live: Vec<oneshot::Sender<()>>,
}

type S = Arc<Mutex<Held>>;

async fn gateway(ws: WebSocketUpgrade, State(s): State<S>) -> Response {
    ws.on_upgrade(move |socket| hold(socket, s))
}

async fn hold(mut socket: WebSocket, s: S) {
    let (tx, mut reset) = oneshot::channel();
    s.lock().unwrap().live.push(tx);
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(_))) => {
                    if socket.send(Message::Text("{\"op\":\"ack\"}".into())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            // Dropped without a close frame: a reset as the client sees it.
            _ = &mut reset => return,
        }
    }
}

/// Serves the gateway; `drop` connections are reset `drop_after` the first upgrade.
pub async fn serve(drop_after: Duration, drop: usize) -> SocketAddr {
    let s: S = Arc::default();
    let app = Router::new()
        .route("/login", post(|| async { r#"{"token":"t"}"# }))
        .route("/gateway", get(gateway))
        .with_state(s.clone());
    let addr = super::serve_app(app).await;
    tokio::spawn(async move {
        while s.lock().unwrap().live.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(drop_after).await;
        let mut g = s.lock().unwrap();
        let n = drop.min(g.live.len());
        for tx in g.live.drain(..n) {
            let _ = tx.send(());
        }
    });
    addr
}

/// A connected population of 20 against the gateway at `addr`: logins capture the
/// token, each client holds its connection with heartbeats every 300 ms.
pub fn profile(addr: SocketAddr, name: &str) -> String {
    format!(
        r#"
name: {name}
seed: 5
target: {{ nodes: ["http://{addr}"], timeout: 2s, connection: fresh }}
population: {{ simulate: 20 }}
baseline: {{ duration: 4s, rate: 2/s }}
client:
  login:
    - {{ name: auth, request: POST /login, capture: {{ token: {{ json: /token }} }} }}
  retry: {{ policy: exponential, base: 200ms, cap: 1s, jitter: none, max_attempts: 20 }}
  session:
    connect:
      websocket: /gateway
      headers: {{ authorization: "Bearer {{{{token}}}}" }}
      heartbeat: {{ every: 300ms, send: '{{"op":"hb"}}', expect_within: 1s }}
observe: {{ window: 500ms, until_recovered: 1s }}
slo: {{ hold: 1s, p99: 500ms }}
"#
    )
}
