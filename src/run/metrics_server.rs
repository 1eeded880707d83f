//! The exporter's HTTP side: `GET /metrics` over HTTP/1.x, one request per connection.
//! The exporter shares the process's file descriptors with the storm, so whoever can
//! reach its port must not be able to take them: at most [`MAX_CONNECTIONS`] are open
//! at once (the rest wait in the kernel's accept queue, holding none of ours), a request
//! head must arrive whole within [`HEAD_TIMEOUT`] and the answer leave within
//! [`WRITE_TIMEOUT`], and no connection is kept idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Connections served at once: a Prometheus server scrapes over one, a person's `curl`
/// adds another. Far below any file-descriptor limit a storm runs with (1,024 at least).
pub const MAX_CONNECTIONS: usize = 16;
/// A request head must arrive whole within this of the accept (slowloris).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// The answer must be taken within this.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request head longer than this is refused (431).
pub const MAX_HEAD: usize = 8 << 10;

/// What `--metrics-listen` should warn of before serving on `addr`, if anything: the
/// endpoint has no authentication. One line, without a `warning:` prefix.
pub fn listen_warning(addr: SocketAddr) -> Option<String> {
    if addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "--metrics-listen {addr} is reachable beyond this machine and has no authentication: \
         anyone who reaches it reads the run's figures; bind it to 127.0.0.1 or a private address"
    ))
}

/// How much one exporter may hold: connections at once, and how long each may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connections: usize,
    pub head: Duration,
    pub write: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: MAX_CONNECTIONS,
            head: HEAD_TIMEOUT,
            write: WRITE_TIMEOUT,
        }
    }
}

/// Serves `render()` at `/metrics` until the task is aborted.
pub async fn serve(listener: TcpListener, render: Arc<dyn Fn() -> String + Send + Sync>, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.connections.max(1)));
    loop {
        // A slot first, then the accept: beyond the cap, connections wait in the
        // kernel's queue and cost this process no descriptor.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            // Out of descriptors (the storm's own), or a connection reset before its
            // accept: wait a moment rather than spin, and go on.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let render = render.clone();
        tokio::spawn(async move {
            let _ = one(stream, &*render, limits).await;
            drop(slot);
        });
    }
}

/// One request, one answer, then the connection is closed.
async fn one(mut s: TcpStream, render: &(dyn Fn() -> String + Send + Sync), limits: Limits) -> std::io::Result<()> {
    let head = tokio::time::timeout(limits.head, read_head(&mut s)).await;
    let answer = match head {
        Err(_) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) => answer(431, "text/plain", "request head too large\n".into()),
        Ok(Ok(Some(line))) => {
            let mut parts = line.split(' ');
            match (parts.next(), parts.next()) {
                (Some("GET"), Some("/metrics")) => answer(200, "text/plain; version=0.0.4", render()),
                (Some("GET"), Some(_)) => answer(404, "text/plain", "only /metrics is served\n".into()),
                _ => answer(405, "text/plain", "only GET /metrics\n".into()),
            }
        }
    };
    let _ = tokio::time::timeout(limits.write, async {
        s.write_all(&answer).await?;
        s.shutdown().await?;
        // Unread request bytes would turn the close into a reset that can overtake the
        // answer: read a little more (bounded in bytes and time) before closing.
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if s.read(&mut sink).await? == 0 {
                break;
            }
        }
        std::io::Result::Ok(())
    })
    .await;
    Ok(())
}

/// The request line of a head that ended within [`MAX_HEAD`]; None when it did not.
async fn read_head(s: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if end > MAX_HEAD {
                return Ok(None);
            }
            let head = String::from_utf8_lossy(&buf[..end]);
            return Ok(Some(head.lines().next().unwrap_or("").to_string()));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn answer(status: u16, kind: &str, body: String) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn started(limits: Limits) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, Arc::new(|| "x 1\n".to_string()), limits));
        addr
    }

    async fn get(addr: SocketAddr, req: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(req).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    const SCRAPE: &[u8] = b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n";

    #[test]
    fn a_warning_beyond_loopback_only() {
        assert_eq!(listen_warning("127.0.0.1:9464".parse().unwrap()), None);
        assert_eq!(listen_warning("[::1]:9464".parse().unwrap()), None);
        let w = listen_warning("0.0.0.0:9464".parse().unwrap()).unwrap();
        assert!(w.contains("no authentication") && w.contains("127.0.0.1"), "{w}");
        assert!(listen_warning("[::]:9464".parse().unwrap()).is_some());
    }

    #[tokio::test]
    async fn serves_metrics_and_refuses_the_rest() {
        let addr = started(Limits::default()).await;
        let ok = get(addr, SCRAPE).await;
        assert!(ok.starts_with("HTTP/1.1 200") && ok.ends_with("x 1\n"), "{ok}");
        assert!(get(addr, b"GET / HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 404"));
        assert!(
            get(addr, b"POST /metrics HTTP/1.1\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 405")
        );
        let long = format!("GET /metrics HTTP/1.1\r\nx: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(get(addr, long.as_bytes()).await.starts_with("HTTP/1.1 431"));
    }

    /// More idle connections than the cap: while they are open no scrape is accepted
    /// (the exporter holds no more than the cap), and once they close it is served.
    #[tokio::test]
    async fn connections_beyond_the_cap_wait_in_the_kernel() {
        let limits = Limits {
            connections: 4,
            head: Duration::from_secs(60),
            write: WRITE_TIMEOUT,
        };
        let addr = started(limits).await;
        let mut idle = Vec::new();
        for _ in 0..limits.connections * 3 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        let scrape = tokio::spawn(get(addr, SCRAPE));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!scrape.is_finished(), "served beyond the cap");
        drop(idle);
        let got = tokio::time::timeout(Duration::from_secs(5), scrape)
            .await
            .unwrap()
            .unwrap();
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    }

    /// A connection whose head never comes is closed after the head timeout.
    #[tokio::test]
    async fn an_idle_connection_is_closed_at_the_head_timeout() {
        let limits = Limits {
            connections: 1,
            head: Duration::from_millis(200),
            write: WRITE_TIMEOUT,
        };
        let addr = started(limits).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metr").await.unwrap();
        let mut b = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        assert!(get(addr, SCRAPE).await.starts_with("HTTP/1.1 200"));
    }
}
