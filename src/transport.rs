//! The login flow over HTTP/1.1, on connections the engine owns. `fresh` mode really
//! opens one connection per login attempt and keeps it across the flow's steps; errors
//! are told apart exactly (refused, reset, timeout, a cut or malformed answer); and the
//! hot path is a write of composed bytes and a parsed read (http1.rs) in the engine's
//! own task: no connection task, no channel per request. reqwest is used where none of
//! that matters (scraping the target's metrics).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::http1::{Chunked, Framing, compose, parse_head};
use crate::profile::{ConnMode, Node, Pick, Step, Vars};
use crate::record::{Class, StepResult};
use crate::rng::{Stream, draw};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot resolve `{host}`: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("`{0}`: https targets are not supported yet; use http://")]
    Tls(String),
}

/// A node, resolved once before the run.
#[derive(Debug)]
struct Dest {
    addr: SocketAddr,
    host: String,
    base_path: String,
}

/// The result of one request or flow.
#[derive(Debug, Clone)]
pub struct FlowResult {
    pub class: Class,
    pub retry_after: Option<Duration>,
    /// When the flow began (the engine's dispatch; before any wait for a connection).
    pub started: Instant,
    /// When the request went out: a connection was in hand (pooled) or being opened
    /// (fresh). Service time counts from here.
    pub sent: Instant,
    pub done: Instant,
    pub steps: Vec<StepResult>,
    /// Index of the node used.
    pub node: usize,
}

/// One open connection, with the buffers its requests and answers pass through.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    /// Received bytes not yet consumed: `buf[..filled]`.
    buf: Vec<u8>,
    filled: usize,
    out: Vec<u8>,
    scratch: String,
    /// False once the connection cannot carry another request (closed, cut, or the
    /// server said `Connection: close`).
    reusable: bool,
    idle_since: Instant,
}

/// A connection idle longer than this is checked for a close by the server before reuse
/// (a syscall: under load connections come back within microseconds and skip it).
const STALE_AFTER: Duration = Duration::from_millis(100);

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, Class> {
        let stream = TcpStream::connect(addr).await.map_err(|e| classify_io(&e))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: vec![0; 4096],
            filled: 0,
            out: Vec::with_capacity(512),
            scratch: String::with_capacity(128),
            reusable: true,
            idle_since: Instant::now(),
        })
    }

    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Whether a connection taken from the idle pool can still carry a request: one that
    /// has been idle a while may have been closed by the server meanwhile.
    pub fn still_open(&self, now: Instant) -> bool {
        if now.saturating_duration_since(self.idle_since) < STALE_AFTER {
            return true;
        }
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        // Non-blocking (tokio's sockets are): no data and no close is WouldBlock.
        match socket2::SockRef::from(&self.stream).peek(&mut probe) {
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            // A close (0), or bytes nobody asked for: either way not reusable.
            Ok(_) => false,
        }
    }

    /// Sends one request and reads its whole answer; returns the status and Retry-After.
    async fn exchange(&mut self, step: &Step, d: &Dest, vars: Vars) -> Result<(u16, Option<Duration>), Class> {
        self.out.clear();
        compose(step, &d.host, &d.base_path, vars, &mut self.out, &mut self.scratch);
        self.stream.write_all(&self.out).await.map_err(|e| classify_io(&e))?;
        let head_request = step.method == http::Method::HEAD;
        let head = loop {
            if self.filled > 0 {
                match parse_head(&self.buf[..self.filled], head_request) {
                    Ok(Some(h)) if (100..200).contains(&h.status) && h.status != 101 => {
                        self.consume(h.len);
                        continue;
                    }
                    Ok(Some(h)) => break h,
                    Ok(None) => {}
                    Err(_) => {
                        self.reusable = false;
                        return Err(Class::Body);
                    }
                }
            }
            // Closed before a whole answer: the server dropped the request.
            if self.fill().await? == 0 {
                self.reusable = false;
                return Err(Class::Reset);
            }
        };
        self.consume(head.len);
        // The body is read whole: the connection can then be reused, and a cut body shows.
        match head.framing {
            Framing::Empty => {}
            Framing::Length(n) => {
                let mut left = n;
                loop {
                    let take = left.min(self.filled as u64);
                    self.consume(take as usize);
                    left -= take;
                    if left == 0 {
                        break;
                    }
                    if self.fill().await? == 0 {
                        self.reusable = false;
                        return Err(Class::Body);
                    }
                }
            }
            Framing::Chunked => {
                let mut c = Chunked::default();
                loop {
                    let used = c.feed(&self.buf[..self.filled]).map_err(|_| {
                        self.reusable = false;
                        Class::Body
                    })?;
                    self.consume(used);
                    if c.is_done() {
                        break;
                    }
                    if self.fill().await? == 0 {
                        self.reusable = false;
                        return Err(Class::Body);
                    }
                }
            }
            Framing::UntilClose => loop {
                self.filled = 0;
                if self.fill().await? == 0 {
                    break;
                }
            },
        }
        if head.close || self.filled > 0 {
            // Closing, or bytes beyond the answer (nothing was pipelined): not reused.
            self.reusable = false;
        } else {
            // The answer is whole and nothing else is due until the next request: forget
            // the stale read readiness rather than pay a read that would block.
            let _ = self
                .stream
                .try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
        }
        Ok((head.status, head.retry_after))
    }

    /// Reads more bytes; 0 means the server closed the connection.
    async fn fill(&mut self) -> Result<usize, Class> {
        if self.filled == self.buf.len() {
            let grown = (self.buf.len() * 2).min(crate::http1::MAX_HEAD * 2);
            if grown == self.buf.len() {
                // A head that long is rejected by the parser before this.
                self.reusable = false;
                return Err(Class::Body);
            }
            self.buf.resize(grown, 0);
        }
        match self.stream.read(&mut self.buf[self.filled..]).await {
            Ok(n) => {
                self.filled += n;
                Ok(n)
            }
            Err(e) => {
                self.reusable = false;
                Err(classify_io(&e))
            }
        }
    }

    fn consume(&mut self, n: usize) {
        if n >= self.filled {
            self.filled = 0;
        } else {
            self.buf.copy_within(n..self.filled, 0);
            self.filled -= n;
        }
    }
}

#[derive(Debug)]
pub struct Transport {
    dests: Vec<Dest>,
    pick: Pick,
    timeout: Duration,
    mode: ConnMode,
    max_connections: usize,
    seed: u64,
    next: AtomicUsize,
}

impl Transport {
    pub async fn new(
        nodes: &[Node],
        pick: Pick,
        timeout: Duration,
        mode: ConnMode,
        max_connections: usize,
        seed: u64,
    ) -> Result<Arc<Transport>, TransportError> {
        let mut dests = Vec::new();
        for n in nodes {
            if n.tls {
                return Err(TransportError::Tls(n.url.clone()));
            }
            let addr = tokio::net::lookup_host((n.host.as_str(), n.port))
                .await
                .and_then(|mut a| {
                    a.next()
                        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
                })
                .map_err(|source| TransportError::Resolve {
                    host: n.host.clone(),
                    source,
                })?;
            let host = if n.host.contains(':') {
                format!("[{}]:{}", n.host, n.port)
            } else {
                format!("{}:{}", n.host, n.port)
            };
            dests.push(Dest {
                addr,
                host,
                base_path: n.base_path.clone(),
            });
        }
        Ok(Arc::new(Transport {
            dests,
            pick,
            timeout,
            mode,
            max_connections: max_connections.max(1),
            seed,
            next: AtomicUsize::new(0),
        }))
    }

    pub fn nodes(&self) -> usize {
        self.dests.len()
    }

    /// Connections to one node in use at once, at most (pooled flows).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Whether login attempts take their connection from the pool.
    pub fn reuses(&self) -> bool {
        self.mode == ConnMode::Reuse
    }

    /// Which node a request of `client` goes to (`failover_index` is the client's own
    /// host-cache position, used by `failover`).
    pub fn pick(&self, client: u64, attempt: u32, failover_index: usize) -> usize {
        let n = self.dests.len();
        if n == 1 {
            return 0;
        }
        match self.pick {
            Pick::Random => (draw(self.seed, Stream::Pick, client, attempt as u64) % n as u64) as usize,
            Pick::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            Pick::Hash => (crate::rng::mix64(client) % n as u64) as usize,
            Pick::Failover => failover_index % n,
        }
    }

    /// Runs `steps` in order for one client on `conn` (a pooled connection) or on one it
    /// opens; stops at the first step that fails. `started` is when the engine
    /// dispatched the flow. Returns the connection if it can carry another request.
    pub async fn flow(
        &self,
        steps: &[Step],
        vars: Vars,
        mut conn: Option<Conn>,
        started: Instant,
    ) -> (FlowResult, Option<Conn>) {
        let node = vars.node;
        let d = &self.dests[node];
        let mut results = Vec::with_capacity(steps.len());
        let mut retry_after = None;
        let mut class = Class::Ok;
        let sent = Instant::now();
        let mut step_start = sent;
        for step in steps {
            let deadline = step_start + self.timeout;
            let r = tokio::time::timeout_at(deadline, async {
                if conn.is_none() {
                    conn = Some(Conn::open(d.addr).await?);
                }
                conn.as_mut().expect("opened above").exchange(step, d, vars).await
            })
            .await;
            let done = Instant::now();
            let (c, ra) = match r {
                Err(_) => (Class::Timeout, None),
                Ok(Err(c)) => (c, None),
                Ok(Ok((status, ra))) => {
                    if step.expect.contains(&status) {
                        (Class::Ok, None)
                    } else if ra.is_some() && (status == 429 || status == 503) {
                        (Class::RetryAfter(status), ra)
                    } else {
                        (Class::Status(status), None)
                    }
                }
            };
            let began = if results.is_empty() { started } else { step_start };
            results.push(StepResult {
                class: c,
                latency: done - began,
                service: done - step_start,
            });
            step_start = done;
            if !c.is_ok() {
                class = c;
                retry_after = ra;
                // A connection that failed mid-flow (or timed out mid-answer) is not reused.
                if !matches!(c, Class::Status(_) | Class::RetryAfter(_)) {
                    conn = None;
                }
                break;
            }
        }
        let conn = conn.filter(|c| c.reusable).map(|mut c| {
            c.idle_since = step_start;
            c
        });
        (
            FlowResult {
                class,
                retry_after,
                started,
                sent,
                done: step_start,
                steps: results,
                node,
            },
            conn,
        )
    }
}

pub fn classify_io(e: &io::Error) -> Class {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => Class::Refused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => Class::Reset,
        K::TimedOut => Class::Timeout,
        _ => Class::Connect,
    }
}
