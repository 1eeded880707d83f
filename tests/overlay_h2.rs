//! The reference overlay over HTTP/2 (h2c, prior knowledge) beside HTTP/1.1 on one
//! port, and its drain: `POST /admin/drain` sends GOAWAY to every HTTP/2 connection and
//! closes the HTTP/1.1 ones, and the overlay goes on accepting new ones.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::h2_hostile::{ACK, END_STREAM, frame, frames_until, kind, raw, read_frame, request};
use common::sample as metric;
use stampede::overlay::{self, OverlayConfig, OverlayHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> OverlayHandle {
    overlay::spawn(OverlayConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

type H2 = h2::client::SendRequest<Bytes>;

async fn h2c(addr: SocketAddr) -> (H2, tokio::task::JoinHandle<Result<(), h2::Error>>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    (send, tokio::spawn(conn))
}

/// One request on an HTTP/2 connection: status and body.
/// (A GET without a body.)
async fn call(send: &H2, path: &str, body: &str) -> (u16, String) {
    let method = if body.is_empty() { "GET" } else { "POST" };
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://overlay{path}"))
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let mut send = send.clone().ready().await.unwrap();
    let (answer, mut stream) = send.send_request(req, body.is_empty()).unwrap();
    if !body.is_empty() {
        stream.send_data(Bytes::from(body.to_string()), true).unwrap();
    }
    let answer = answer.await.unwrap();
    let status = answer.status().as_u16();
    let mut body = answer.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    (status, String::from_utf8(text).unwrap())
}

/// One HTTP/1.1 request on `tcp` (kept alive); the answer's head and body.
async fn http1(tcp: &mut TcpStream, path: &str, body: &str) -> String {
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: overlay\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before the answer: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn logins_over_h2c_and_http1_share_one_port_and_one_model() {
    let o = start().await;
    let (send, _conn) = h2c(o.addr).await;
    // Streams at once on one connection: each waits in the model's queue, none is cut.
    let mut calls = Vec::new();
    for c in 0..20 {
        let send = send.clone();
        calls.push(tokio::spawn(async move {
            call(&send, "/login", &format!("{{\"client\":{c}}}")).await
        }));
    }
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"session\""), "{body}");
    }
    let mut tcp = TcpStream::connect(o.addr).await.unwrap();
    let answer = http1(&mut tcp, "/login", "{\"client\":20}").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, text) = call(&send, "/metrics", "").await;
    assert_eq!(metric(&text, "overlay_logins_ok_total"), 21.0);
    assert_eq!(metric(&text, "overlay_http_connections_total{protocol=\"h2c\"}"), 1.0);
    assert_eq!(
        metric(&text, "overlay_http_connections_total{protocol=\"http/1.1\"}"),
        1.0
    );
    assert_eq!(metric(&text, "overlay_http_connections_open"), 2.0);
}

#[tokio::test]
async fn a_drain_sends_goaway_closes_http1_and_keeps_accepting() {
    let o = start().await;
    // An HTTP/2 connection read frame by frame, with a login answered on it.
    let mut h2 = raw(o.addr).await;
    let mut login = request(1, true, false, "/login", 0);
    frame(&mut login, kind::DATA, END_STREAM, 1, b"{\"client\":1}");
    h2.write_all(&login).await.unwrap();
    let seen = frames_until(&mut h2, |f| f.kind == kind::DATA && f.flags & END_STREAM != 0).await;
    let head = seen.iter().find(|f| f.kind == kind::HEADERS).unwrap();
    assert_eq!((head.stream, head.payload[0]), (1, 0x88), ":status 200: {head:?}");
    // An HTTP/1.1 connection kept alive after its login.
    let mut h1 = TcpStream::connect(o.addr).await.unwrap();
    assert!(
        http1(&mut h1, "/login", "{\"client\":2}")
            .await
            .starts_with("HTTP/1.1 200")
    );

    let mut admin = TcpStream::connect(o.addr).await.unwrap();
    let answer = http1(&mut admin, "/admin/drain", "").await;
    assert!(answer.contains("{\"draining\":3}"), "{answer}");

    // The HTTP/2 connection: a GOAWAY with NO_ERROR (its login, stream 1, was processed),
    // then the end of the connection. (The server's PING, which makes sure no stream is
    // in flight towards it, is answered, as a client does.)
    let mut goaways = Vec::new();
    while let Ok(f) = read_frame(&mut h2).await {
        if f.kind == kind::GOAWAY {
            goaways.push(f.payload);
        } else if f.kind == kind::PING && f.flags & ACK == 0 {
            let mut ack = Vec::new();
            frame(&mut ack, kind::PING, ACK, 0, &f.payload);
            let _ = h2.write_all(&ack).await;
        }
    }
    assert!(!goaways.is_empty(), "no GOAWAY before the close");
    let last = goaways.last().unwrap();
    assert_eq!(&last[4..8], [0, 0, 0, 0], "NO_ERROR");
    let last_stream = u32::from_be_bytes(last[..4].try_into().unwrap());
    assert!(last_stream >= 1, "stream 1 was processed: {last_stream}");
    // The HTTP/1.1 connection is closed.
    let mut rest = [0u8; 64];
    assert_eq!(h1.read(&mut rest).await.unwrap(), 0);

    // New connections are served, over both protocols.
    let (send, _conn) = h2c(o.addr).await;
    assert_eq!(call(&send, "/login", "{\"client\":3}").await.0, 200);
    let mut h1 = TcpStream::connect(o.addr).await.unwrap();
    assert!(
        http1(&mut h1, "/login", "{\"client\":4}")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let (_, text) = call(&send, "/metrics", "").await;
    assert_eq!(metric(&text, "overlay_http_drained_total"), 3.0);
    assert_eq!(
        metric(&text, "overlay_http_connections_open"),
        2.0,
        "the drained ones ended"
    );
    assert_eq!(metric(&text, "overlay_http_connections_total{protocol=\"h2c\"}"), 2.0);
    o.shutdown().await;
}

#[tokio::test]
async fn a_drained_h2_client_sees_goaway_and_its_next_stream_fails_cleanly() {
    let o = start().await;
    let (send, conn) = h2c(o.addr).await;
    assert_eq!(call(&send, "/login", "{\"client\":1}").await.0, 200);
    let mut admin = TcpStream::connect(o.addr).await.unwrap();
    http1(&mut admin, "/admin/drain", "").await;
    // The h2 client's connection ends without an error of its own (a GOAWAY NO_ERROR).
    let ended = tokio::time::timeout(Duration::from_secs(10), conn).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    let e = send.clone().ready().await.err();
    assert!(e.is_some(), "a drained connection takes no new stream");
}

/// `actions: [{ at, drain: true }]` is the same drain at an instant of the overlay's
/// timeline: a profile's embedded overlay reloads mid-run.
#[tokio::test]
async fn a_drain_action_sends_goaway_at_its_instant() {
    let config = OverlayConfig::from_yaml_str("actions: [{ at: 300ms, drain: true }]\n").unwrap();
    let o = overlay::spawn(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut h2 = raw(o.addr).await;
    let mut login = request(1, true, false, "/login", 0);
    frame(&mut login, kind::DATA, END_STREAM, 1, b"{\"client\":1}");
    h2.write_all(&login).await.unwrap();
    let got = tokio::time::timeout(
        Duration::from_secs(10),
        frames_until(&mut h2, |f| f.kind == kind::GOAWAY),
    )
    .await;
    let seen = got.expect("no GOAWAY within 10 s of a drain due at 300 ms");
    assert!(
        seen.iter().any(|f| f.kind == kind::DATA),
        "the login was answered first"
    );
    assert_eq!(&seen.last().unwrap().payload[4..8], [0, 0, 0, 0], "NO_ERROR");
}
