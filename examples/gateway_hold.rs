//! Holds N idle WebSocket connections to an overlay's gateway, to measure what one held
//! connection costs the overlay (its RSS ÷ held). Logs clients `0..N` in, upgrades each,
//! then holds them without a heartbeat until stdin closes.
//!
//!     ulimit -n 100000
//!     cargo run --release -- overlay --listen 127.0.0.1:8080 --config big.yaml &
//!     cargo run --release --example gateway_hold -- 127.0.0.1:8080 20000
//!
//! `big.yaml` should give `initial_online: N`, a `capacity` that logs them in quickly and
//! `gateway: { heartbeat_timeout: 0s }`. Past ~28,000 connections one source address runs
//! out of local ports: clients then connect from 127.0.0.2, 127.0.0.3, …

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const PER_SOURCE: u64 = 25_000;
const WORKERS: u64 = 64;

async fn tcp(server: SocketAddr, client: u64) -> std::io::Result<TcpStream> {
    let source = Ipv4Addr::new(127, 0, 0, 2 + (client / PER_SOURCE) as u8);
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    socket.connect(server).await
}

async fn login(server: SocketAddr, client: u64) -> std::io::Result<String> {
    let mut s = tcp(server, client).await?;
    let body = format!("{{\"client\":{client}}}");
    let req = format!(
        "POST /login HTTP/1.1\r\nhost: overlay\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await?;
    let token = raw
        .split("\"session\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or_else(|| std::io::Error::other(format!("login {client}: {raw}")))?;
    Ok(token.to_string())
}

async fn rss_kib(pid: &str) -> Option<u64> {
    let status = tokio::fs::read_to_string(format!("/proc/{pid}/status")).await.ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `make(c)` for every client `0..n`, `WORKERS` at a time; the results in client order.
async fn fan_out<T, F, Fut>(n: u64, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (make, next) = (make.clone(), next.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let c = next.fetch_add(1, Ordering::Relaxed);
                    if c >= n {
                        return done;
                    }
                    done.push((c, make(c).await));
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n as usize);
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort_by_key(|d| d.0);
    all.into_iter().map(|d| d.1).collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let server: SocketAddr = args.next().expect("ADDR").parse().expect("ADDR is host:port");
    let n: u64 = args.next().map_or(20_000, |a| a.parse().expect("N"));
    let pid = args.next(); // the overlay's pid, to read its RSS before and after
    let before = match &pid {
        Some(p) => rss_kib(p).await,
        None => None,
    };
    let config = WebSocketConfig::default().read_buffer_size(1024).write_buffer_size(0);
    let started = Instant::now();
    // Logins first, so that what the overlay spends on sessions is not counted below.
    let tokens = Arc::new(fan_out(n, move |c| async move { login(server, c).await.unwrap() }).await);
    println!("logged {n} clients in in {:.1?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let logged_in = match &pid {
        Some(p) => rss_kib(p).await,
        None => None,
    };
    let started = Instant::now();
    let held = fan_out(n, move |c| {
        let token = tokens[c as usize].clone();
        async move {
            let mut req = format!("ws://{server}/gateway").into_client_request().unwrap();
            req.headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            let stream = tcp(server, c).await.unwrap();
            let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
                .await
                .unwrap();
            ws
        }
    })
    .await;
    println!("held {} connections in {:.1?}", held.len(), started.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    if let (Some(p), Some(before), Some(logged_in)) = (&pid, before, logged_in)
        && let Some(after) = rss_kib(p).await
    {
        let per = |kib: u64| (kib * 1024) as f64 / n as f64;
        println!(
            "overlay RSS {before} KiB, {logged_in} KiB logged in ({:.0} bytes per session), {after} KiB held \
             ({:.0} bytes per held connection)",
            per(logged_in.saturating_sub(before)),
            per(after.saturating_sub(logged_in))
        );
    }
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
}
