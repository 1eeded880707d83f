//! A fresh connection per login attempt, on the wire: the attempt's last request asks
//! the server to close, the client waits for that close before its own (so the
//! TIME_WAIT lands on the server), and each client connects from its own source
//! address. Against a raw server on loopback that records what it sees.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::load;
use stampede::run::{RunOptions, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the server saw.
#[derive(Default)]
struct Seen {
    peers: Vec<IpAddr>,
    /// Per connection, per request: whether it asked for `connection: close`.
    closes: Vec<Vec<bool>>,
    /// Connections whose client closed before the server did.
    client_closed_first: usize,
}

/// One request head (the flows here send no body); None when the client closed.
async fn head(c: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let h = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            buf.drain(..end + 4);
            return Some(h);
        }
        let mut chunk = [0u8; 2048];
        match c.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Answers 200 to every request; after one asking for a close it waits `linger` for a
/// close by the client (which must not come), then closes.
async fn serve(linger: Duration) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut c, peer)) = l.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut closes = Vec::new();
                let mut early = false;
                while let Some(h) = head(&mut c, &mut buf).await {
                    let close = h.contains("\r\nconnection: close");
                    closes.push(close);
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
                    if close {
                        let mut one = [0u8; 1];
                        early = matches!(tokio::time::timeout(linger, c.read(&mut one)).await, Ok(Ok(0)));
                        break;
                    }
                }
                if closes.is_empty() {
                    // The run's preflight: a connect, no request.
                    return;
                }
                let mut st = s.lock().unwrap();
                st.peers.push(peer.ip());
                st.closes.push(closes);
                st.client_closed_first += usize::from(early);
            });
        }
    });
    (addr, seen)
}

/// `clients` clients, each logging in once (two steps) within about a second.
fn profile(addr: SocketAddr, clients: usize, connection: &str, sources: &str) -> String {
    format!(
        r#"
name: fresh
target: {{ nodes: ["http://{addr}"], timeout: 2s, connection: {connection}, max_connections: 8 {sources} }}
population: {{ simulate: {clients} }}
storm: {{ waves: [ {{ share: 100%, spread: "uniform(1s)" }} ] }}
client:
  login: [ {{ name: a, request: GET /a }}, {{ name: b, request: GET /b }} ]
  retry: {{ policy: none }}
observe: {{ window: 1s, until_recovered: 0s }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_closes_first_and_each_client_keeps_its_own_source() {
    // Shorter than the client's wait for a close (20 ms): the client must still be
    // there when the server closes.
    let linger = Duration::from_millis(5);
    let (addr, seen) = serve(linger).await;
    // 200 addresses: one client each (127.0.9.0/24 has 254; the list picks 200).
    let list: Vec<String> = (1..=200).map(|i| format!("\"127.0.9.{i}\"")).collect();
    let sources = format!(", source_addresses: [{}]", list.join(", "));
    let r = run(
        &load(&profile(addr, 200, "fresh", &sources)),
        RunOptions::default(),
        &mut (),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.totals.counts.logins_ok, 200, "{:?}", r.totals.outcomes);
    let st = seen.lock().unwrap();
    assert_eq!(st.closes.len(), 200, "one connection per attempt");
    assert!(
        st.closes.iter().all(|c| c == &[false, true]),
        "kept across the attempt's steps, closed on the last: {:?}",
        &st.closes[..3]
    );
    assert_eq!(st.client_closed_first, 0, "the client waits for the server's close");
    let distinct: HashSet<_> = st.peers.iter().collect();
    assert_eq!(distinct.len(), 200, "each client from its own address");
    assert!(st.peers.iter().all(|p| p.to_string().starts_with("127.0.9.")));
    let spread = r.plan.sources.expect("the report gives the spread");
    assert_eq!((spread.addresses, spread.min_clients, spread.max_clients), (200, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_mode_never_asks_for_a_close() {
    let (addr, seen) = serve(Duration::from_millis(10)).await;
    let r = run(&load(&profile(addr, 50, "reuse", "")), RunOptions::default(), &mut ())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.totals.counts.logins_ok, 50);
    // Connections are counted when they end; the pool's are dropped with the run.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let st = seen.lock().unwrap();
    assert!(!st.closes.is_empty());
    assert!(st.closes.iter().flatten().all(|c| !c), "keep-alive stays keep-alive");
    assert!(st.closes.len() <= 8, "pooled: at most max_connections");
}
