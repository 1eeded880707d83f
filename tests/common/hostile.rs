//! A hostile target: what a broken or malicious server may send back, one class per
//! server. `tests/hostile.rs` runs stampede against each; `examples/hostile_target.rs`
//! serves one for `bench/hostile-rss.sh`, which measures stampede's peak memory.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::read_request;

#[derive(Clone, Copy, Debug)]
pub enum Hostile {
    /// Not hostile: `200 ok` to every request, the figure the others compare with.
    Healthy,
    /// Accepts the preflight check's connection, then nothing listens any more.
    Refuse,
    /// Reads the request, then resets the connection.
    Reset,
    /// Not HTTP.
    Garbage,
    /// A status line, then header lines without end.
    EndlessHead,
    /// A content-length of 1 GB, and bytes for as long as the client reads them.
    HugeLength,
    /// A chunked body without end.
    EndlessChunked,
    /// The head at once, then one byte of the body a second.
    Drip,
    /// Reads the request, answers nothing.
    Silent,
    /// `100 Continue`, again and again.
    Informational,
    /// A content-length shorter than the body that follows it.
    ShortLength,
    /// 503 with this `Retry-After`.
    RetryAfter(&'static str),
    /// Answers for 400 ms, then closes its listener and every connection.
    DiesMidRun,
    /// Not hostile: `200` with a session cookie and a JSON body holding a short `token`,
    /// the figure `HugeCapture` and `CookieFlood` compare with.
    HealthyState,
    /// `200` with a JSON body whose `token` is a megabyte (a capture's value).
    HugeCapture,
    /// `200` setting a new 58 KB cookie and a new 4 KB one with every answer (and a
    /// short `token`, so that a session flow logs in and keeps asking).
    CookieFlood,
}

impl Hostile {
    /// Every class by its name on a command line (`retry-after=VALUE` names any value).
    pub const NAMES: &[&str] = &[
        "healthy",
        "refuse",
        "reset",
        "garbage",
        "endless-head",
        "huge-length",
        "endless-chunked",
        "drip",
        "silent",
        "informational",
        "short-length",
        "retry-after=VALUE",
        "dies-mid-run",
        "healthy-state",
        "huge-capture",
        "cookie-flood",
    ];

    pub fn parse(name: &str) -> Option<Hostile> {
        Some(match name {
            "healthy" => Hostile::Healthy,
            "refuse" => Hostile::Refuse,
            "reset" => Hostile::Reset,
            "garbage" => Hostile::Garbage,
            "endless-head" => Hostile::EndlessHead,
            "huge-length" => Hostile::HugeLength,
            "endless-chunked" => Hostile::EndlessChunked,
            "drip" => Hostile::Drip,
            "silent" => Hostile::Silent,
            "informational" => Hostile::Informational,
            "short-length" => Hostile::ShortLength,
            "dies-mid-run" => Hostile::DiesMidRun,
            "healthy-state" => Hostile::HealthyState,
            "huge-capture" => Hostile::HugeCapture,
            "cookie-flood" => Hostile::CookieFlood,
            // Once per process: the value lives as long as its server.
            _ => Hostile::RetryAfter(Box::leak(
                name.strip_prefix("retry-after=")?.to_string().into_boxed_str(),
            )),
        })
    }
}

/// Every connection is served for this long at most: a test cannot hang on its server.
const SERVE_AT_MOST: Duration = Duration::from_secs(6);

/// The server's tasks end when this is dropped.
pub struct Server {
    pub addr: SocketAddr,
    _tasks: JoinSet<()>,
}

pub async fn serve(kind: Hostile) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        let began = Instant::now();
        let mut conns = JoinSet::new();
        while let Ok((s, _)) = l.accept().await {
            if let Hostile::Refuse = kind {
                // The preflight check's connection: then no one listens.
                return;
            }
            if let Hostile::DiesMidRun = kind
                && began.elapsed() > Duration::from_millis(400)
            {
                // Dropping the set cuts every connection; dropping the listener refuses
                // every new one.
                return;
            }
            conns.spawn(async move {
                let _ = tokio::time::timeout(SERVE_AT_MOST, answer(s, kind)).await;
            });
        }
    });
    Server { addr, _tasks: tasks }
}

/// Names the cookies a `CookieFlood` sets: each answer's are new.
static COOKIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A `HealthyState`, `HugeCapture` or `CookieFlood` answer.
fn grown(kind: Hostile) -> Vec<u8> {
    match kind {
        Hostile::HealthyState => {
            b"HTTP/1.1 200 OK\r\nset-cookie: sid=abc; Path=/\r\ncontent-length: 15\r\n\r\n{\"token\":\"t0k\"}".to_vec()
        }
        Hostile::HugeCapture => {
            let body = format!(r#"{{"token":"{}"}}"#, "t".repeat(1_000_000));
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes()
        }
        _ => {
            let n = COOKIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!(
                "HTTP/1.1 200 OK\r\nset-cookie: big{n}={}; Path=/\r\nset-cookie: c{n}={}; Path=/\r\ncontent-length: 15\r\n\r\n{{\"token\":\"t0k\"}}",
                "b".repeat(58_000),
                "c".repeat(4_000)
            )
            .into_bytes()
        }
    }
}

async fn answer(mut s: TcpStream, kind: Hostile) {
    let mut buf = Vec::new();
    while read_request(&mut s, &mut buf).await {
        if let Hostile::HealthyState | Hostile::HugeCapture | Hostile::CookieFlood = kind {
            if s.write_all(&grown(kind)).await.is_err() {
                return;
            }
            continue;
        }
        let head: &[u8] = match kind {
            Hostile::Healthy
            | Hostile::Refuse
            | Hostile::DiesMidRun
            | Hostile::HealthyState
            | Hostile::HugeCapture
            | Hostile::CookieFlood => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            Hostile::Reset => {
                let _ = s.set_zero_linger();
                return;
            }
            Hostile::Garbage => b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
            Hostile::EndlessHead => b"HTTP/1.1 200 OK\r\n",
            Hostile::HugeLength => b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n",
            Hostile::EndlessChunked => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            Hostile::Drip => b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n",
            Hostile::Informational | Hostile::Silent => b"",
            Hostile::ShortLength => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok, and more than was said",
            Hostile::RetryAfter(v) => {
                let a = format!("HTTP/1.1 503 Busy\r\nretry-after: {v}\r\ncontent-length: 0\r\n\r\n");
                if s.write_all(a.as_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if s.write_all(head).await.is_err() {
            return;
        }
        // What follows the head, until the client gives up (a write fails).
        let (piece, pause): (Vec<u8>, u64) = match kind {
            Hostile::EndlessHead => (b"x-more: and more\r\n".to_vec(), 0),
            Hostile::HugeLength => (vec![b'z'; 64 * 1024], 0),
            // 64 KiB chunks.
            Hostile::EndlessChunked => ([b"10000\r\n".as_slice(), &[b'z'; 1 << 16], b"\r\n"].concat(), 0),
            Hostile::Drip => (b"z".to_vec(), 1000),
            Hostile::Silent => (Vec::new(), 1000),
            Hostile::Informational => (b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), 5),
            _ => continue,
        };
        loop {
            if s.write_all(&piece).await.is_err() {
                return;
            }
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
    }
}
