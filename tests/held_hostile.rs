//! Hostile gateways: what a broken or malicious WebSocket server may do to a held
//! client. Each is a named class in the report, the client's memory stays bounded, and
//! the run goes on to its end and its report.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

#[derive(Clone, Copy, Debug)]
enum Gw {
    /// The upgrade answered `200` with an HTML page.
    Html200,
    /// `101` with an accept key that is not the request's.
    BadAccept,
    /// A frame whose header claims 2 MiB (over the client's 1 MiB limit).
    HugeFrame,
    /// The same frame in the very write that carries the `101`: the client reads both at
    /// once, and the connection was still made (a drop, never a failed connect).
    HugeFrameWithHead,
    /// A binary message in 64 KiB fragments that never ends (a gigabyte, and more).
    EndlessFragments,
    /// A text frame that is not UTF-8.
    BadUtf8,
    /// Pings as fast as the socket takes them.
    PingFlood,
    /// Sends a close frame, then neither closes its half nor reads.
    NeverCloses,
}

/// The request's head (the login's small body, if any, is left unread).
async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&buf).to_string())
}

fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n < 65_536 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

async fn serve_one(mut s: TcpStream, gw: Gw) {
    let Some(req) = read_head(&mut s).await else { return };
    if req.starts_with("POST /login") {
        let body = r#"{"token":"t"}"#;
        let _ = s
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await;
        return;
    }
    let key = req
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-key"))
        .map_or("", |(_, v)| v.trim())
        .to_string();
    let accept = match gw {
        Gw::BadAccept => "bm90IHRoZSBrZXk=".to_string(),
        _ => derive_accept_key(key.as_bytes()),
    };
    if let Gw::Html200 = gw {
        let page = "<html><body>sign in</body></html>";
        let _ = s
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{page}",
                    page.len()
                )
                .as_bytes(),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        return;
    }
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
    );
    let mut head = head.into_bytes();
    if let Gw::HugeFrameWithHead = gw {
        head.extend_from_slice(&[0x82, 127]);
        head.extend_from_slice(&(2u64 << 20).to_be_bytes());
    }
    if s.write_all(&head).await.is_err() {
        return;
    }
    match gw {
        Gw::Html200 | Gw::BadAccept | Gw::HugeFrameWithHead => tokio::time::sleep(Duration::from_secs(1)).await,
        Gw::HugeFrame => {
            let mut f = vec![0x82, 127];
            f.extend_from_slice(&(2u64 << 20).to_be_bytes());
            let _ = s.write_all(&f).await;
            let _ = s.write_all(&vec![0u8; 64 << 10]).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Gw::EndlessFragments => {
            let chunk = vec![7u8; 64 << 10];
            let mut first = true;
            // A gigabyte at most, for as long as the client reads.
            for _ in 0..(1 << 14) {
                let f = frame(if first { 0x2 } else { 0x0 }, false, &chunk);
                first = false;
                if s.write_all(&f).await.is_err() {
                    return;
                }
            }
        }
        Gw::BadUtf8 => {
            let _ = s.write_all(&frame(0x1, true, &[0x68, 0xff, 0xfe, 0x69])).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Gw::PingFlood => {
            let ping = frame(0x9, true, b"p");
            for _ in 0..100_000 {
                if s.write_all(&ping).await.is_err() {
                    return;
                }
            }
        }
        Gw::NeverCloses => {
            let mut close = vec![0x88, 2];
            close.extend_from_slice(&1001u16.to_be_bytes());
            let _ = s.write_all(&close).await;
            // Neither reads nor closes: holds the socket for the rest of the test.
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    }
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_millis(100), s.read(&mut sink)).await;
}

async fn hostile(gw: Gw) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve_one(s, gw));
        }
    });
    addr
}

/// Runs 5 held clients against the gateway for a few seconds; returns the run's held
/// totals (connect outcomes and drops by cause, as one map).
async fn storm(gw: Gw) -> std::collections::BTreeMap<String, u64> {
    let addr = hostile(gw).await;
    let text = format!(
        r#"
name: held-hostile
seed: 1
target: {{ nodes: ["http://{addr}"], timeout: 1s, connection: fresh }}
population: {{ simulate: 5 }}
baseline: {{ duration: 3s, rate: 1/s }}
client:
  login:
    - {{ name: auth, request: POST /login, capture: {{ token: {{ json: /token }} }} }}
  retry: {{ policy: exponential, base: 100ms, cap: 400ms, max_attempts: 1000 }}
  session:
    connect:
      websocket: /gateway
      headers: {{ authorization: "Bearer {{{{token}}}}" }}
      heartbeat: {{ every: 200ms, send: ping, expect_within: 500ms }}
observe: {{ window: 500ms, until_recovered: 1s }}
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let p = stampede::run::parse(&text, &dir.path().join("p.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        stampede::run::run(&p, stampede::run::RunOptions::default(), &mut ()),
    )
    .await
    .expect("the run ends")
    .expect("with its report");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{gw:?}: {:?}",
        started.elapsed()
    );
    let h = r.totals.held.expect("a held run");
    let mut seen = h.connect_outcomes.clone();
    for (k, v) in h.drops_by_cause {
        *seen.entry(format!("drop {k}")).or_default() += v;
    }
    seen
}

fn peak_rss_mib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

#[tokio::test]
async fn each_hostile_gateway_is_a_named_class_and_the_run_goes_on() {
    let cases = [
        (Gw::Html200, "http_200"),
        (Gw::BadAccept, "ws_handshake"),
        (Gw::HugeFrame, "drop ws_too_big"),
        (Gw::HugeFrameWithHead, "drop ws_too_big"),
        (Gw::EndlessFragments, "drop ws_too_big"),
        (Gw::BadUtf8, "drop ws_utf8"),
        (Gw::PingFlood, "drop ping_flood"),
        (Gw::NeverCloses, "drop ws_close_1001"),
    ];
    for (gw, class) in cases {
        let seen = storm(gw).await;
        assert!(
            seen.get(class).copied().unwrap_or(0) > 0,
            "{gw:?}: {class} not in {seen:?}"
        );
        // A failed connect is not a connection: nothing dropped that never connected.
        if !class.starts_with("drop") {
            assert!(!seen.keys().any(|k| k.starts_with("drop")), "{gw:?}: {seen:?}");
        } else {
            // And a connection that was made and then dropped is not a failed connect.
            let bare = class.trim_start_matches("drop ");
            assert!(
                !seen.contains_key(bare),
                "{gw:?}: {bare} as a connect outcome in {seen:?}"
            );
        }
        // Bounded: a gigabyte of fragments is refused at 1 MiB per client.
        assert!(peak_rss_mib() < 400, "{gw:?}: peak RSS {} MiB", peak_rss_mib());
    }
}
