//! A scripted gateway client: plain HTTP/1.1 for logins and admin calls, and
//! tokio-tungstenite for `GET /gateway`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error, Message, error::ProtocolError};
use tokio_tungstenite::{WebSocketStream, client_async};

pub type Ws = WebSocketStream<TcpStream>;

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// One request on its own connection (`Connection: close`).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &str, auth: Option<&str>) -> Reply {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let auth = auth.map(|a| format!("authorization: {a}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: overlay\r\nconnection: close\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{auth}\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// Logs `client` in; its session token.
pub async fn login(addr: SocketAddr, client: u64) -> String {
    let r = http(addr, "POST", "/login", &format!("{{\"client\":{client}}}"), None).await;
    assert_eq!(r.status, 200, "login {client}: {}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v["session"].as_str().unwrap().to_string()
}

/// `GET /gateway` with `authorization` (the whole header value) if given: the held
/// connection, or the HTTP status and body it was refused with.
pub async fn connect(addr: SocketAddr, authorization: Option<&str>) -> Result<Ws, (u16, String)> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut req = format!("ws://{addr}/gateway").into_client_request().unwrap();
    if let Some(a) = authorization {
        req.headers_mut().insert("authorization", a.parse().unwrap());
    }
    match client_async(req, tcp).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(res)) => {
            let body = res.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
            Err((res.status().as_u16(), body.unwrap_or_default()))
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

pub async fn connect_with(addr: SocketAddr, token: &str) -> Ws {
    connect(addr, Some(&format!("Bearer {token}"))).await.unwrap()
}

/// What a client sees next on its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Pong,
    Close(u16, String),
    /// The connection ended without a close frame (EOF or reset).
    Dropped,
    Nothing,
}

pub async fn next(ws: &mut Ws, within: Duration) -> Event {
    loop {
        let Ok(msg) = tokio::time::timeout(within, ws.next()).await else {
            return Event::Nothing;
        };
        return match msg {
            // The gateway's first message on a held connection: it is usable.
            Some(Ok(Message::Text(t))) if t.as_str() == r#"{"op":"ready"}"# => continue,
            Some(Ok(Message::Text(t))) => Event::Text(t.as_str().to_string()),
            Some(Ok(Message::Pong(_))) => Event::Pong,
            Some(Ok(Message::Close(Some(f)))) => Event::Close(u16::from(f.code), f.reason.as_str().to_string()),
            Some(Ok(Message::Close(None))) => Event::Close(u16::from(CloseCode::Status), String::new()),
            Some(Ok(_)) => continue,
            None
            | Some(Err(Error::Io(_)))
            | Some(Err(Error::ConnectionClosed))
            | Some(Err(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => Event::Dropped,
            Some(Err(e)) => panic!("unexpected error: {e}"),
        };
    }
}

pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// Sends a heartbeat and expects its answer.
pub async fn heartbeat(ws: &mut Ws) {
    send(ws, r#"{"op":"hb"}"#).await;
    assert_eq!(
        next(ws, Duration::from_secs(5)).await,
        Event::Text(r#"{"op":"hb_ack"}"#.into())
    );
}

/// `name{labels}` → value of the overlay's /metrics.
pub async fn metrics(addr: SocketAddr) -> HashMap<String, f64> {
    let r = http(addr, "GET", "/metrics", "", None).await;
    assert_eq!(r.status, 200);
    r.body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// The gateway's series (`overlay_gateway_` left off) that are not zero.
pub async fn gateway_metrics(addr: SocketAddr) -> HashMap<String, f64> {
    metrics(addr)
        .await
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("overlay_gateway_")?.to_string(), v)))
        .filter(|(_, v)| *v != 0.0)
        .collect()
}
