//! A lean WebSocket gateway for `bench/held.sh`: it holds every connection it is given,
//! answers each text message with `{"op":"hb_ack"}` (and pings with pongs), and gives
//! `POST /login` a token, so that stampede, Tsung and Artillery can each hold their
//! clients against the same target. One task per connection, small buffers: it must
//! hold 250,000 clients without being the bench's limit. Prints its address, then the
//! connections it holds once a second on stderr.
//!
//!     cargo run --release --example ws_target -- 127.0.0.1:9001

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

async fn login(mut s: TcpStream, n: u64) {
    let mut buf = vec![0u8; 2048];
    let mut got = 0;
    // The head and a small body: a login is a few hundred bytes.
    while got < buf.len() {
        match s.read(&mut buf[got..]).await {
            Ok(0) | Err(_) => return,
            Ok(k) => got += k,
        }
        let text = String::from_utf8_lossy(&buf[..got]);
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            if got >= end + 4 + len {
                break;
            }
        }
    }
    let body = format!(r#"{{"token":"t{n}"}}"#);
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(answer.as_bytes()).await;
    let _ = s.shutdown().await;
}

async fn hold(s: TcpStream, held: Arc<AtomicU64>) {
    let config = WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(0)
        .max_message_size(Some(64 << 10))
        .max_frame_size(Some(64 << 10));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(s, Some(config)).await else {
        return;
    };
    held.fetch_add(1, Ordering::Relaxed);
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(_) = m
            && ws.send(Message::text(r#"{"op":"hb_ack"}"#)).await.is_err()
        {
            break;
        }
    }
    held.fetch_sub(1, Ordering::Relaxed);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let l = TcpListener::bind(&addr).await.expect("bind");
    println!("{}", l.local_addr().expect("bound"));
    let held = Arc::new(AtomicU64::new(0));
    let h = held.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            eprintln!("held {}", h.load(Ordering::Relaxed));
        }
    });
    let mut n = 0u64;
    loop {
        let (s, _) = match l.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of file descriptors: wait rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = s.set_nodelay(true);
        n += 1;
        let held = held.clone();
        tokio::spawn(async move {
            let mut first = [0u8; 4];
            if matches!(s.peek(&mut first).await, Ok(4) if &first == b"POST") {
                login(s, n).await;
            } else {
                hold(s, held).await;
            }
        });
    }
}
