//! The login flow over HTTP/1.1. Built on hyper's connection API rather than reqwest's
//! pooled client: `fresh` mode must really open one connection per login attempt and
//! keep it across the flow's steps, errors must be told apart exactly (refused, reset,
//! timeout), and the hot path must not pay for a general-purpose client. reqwest is
//! used where those do not matter (scraping the target's metrics).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use tokio::net::TcpStream;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::profile::{ConnMode, Node, Pick, Step, Vars};
use crate::record::{Class, StepResult};
use crate::rng::{Stream, draw};

type Sender = http1::SendRequest<Full<Bytes>>;

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
    host: HeaderValue,
    base_path: String,
    pool: Pool,
}

/// Keep-alive connections to one node; at most `max` in use at once. An attempt that
/// waits for a connection waits on its own clock: its latency counts from its intended
/// instant, so a saturated pool shows instead of hiding.
#[derive(Debug)]
struct Pool {
    idle: Mutex<Vec<Sender>>,
    slots: Semaphore,
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

#[derive(Debug)]
pub struct Transport {
    dests: Vec<Dest>,
    pick: Pick,
    timeout: Duration,
    mode: ConnMode,
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
                host: HeaderValue::from_str(&host).expect("a parsed host is a valid header"),
                base_path: n.base_path.clone(),
                pool: Pool {
                    idle: Mutex::new(Vec::new()),
                    slots: Semaphore::new(max_connections),
                },
            });
        }
        Ok(Arc::new(Transport {
            dests,
            pick,
            timeout,
            mode,
            seed,
            next: AtomicUsize::new(0),
        }))
    }

    pub fn nodes(&self) -> usize {
        self.dests.len()
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

    /// Runs `steps` in order for one client; stops at the first step that fails.
    /// `fresh` opens one connection for the whole flow; `reuse` (or `pooled`) takes one
    /// from the node's pool.
    pub async fn flow(&self, steps: &[Step], vars: Vars, pooled: bool) -> FlowResult {
        let node = vars.node;
        let d = &self.dests[node];
        let started = Instant::now();
        let pooled = pooled || self.mode == ConnMode::Reuse;
        let mut results = Vec::with_capacity(steps.len());
        let mut retry_after = None;
        let mut class = Class::Ok;
        let mut _permit = None;
        let mut sender: Option<Sender> = None;
        if pooled {
            // The wait for a free connection is part of the first step's latency.
            _permit = d.pool.slots.acquire().await.ok();
            // Held for a pop, never across an await.
            let mut idle = d.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            while let Some(s) = idle.pop() {
                if !s.is_closed() {
                    sender = Some(s);
                    break;
                }
            }
        }
        let sent = Instant::now();
        let mut step_start = sent;
        let mut body = String::new();
        for step in steps {
            let deadline = step_start + self.timeout;
            let r = tokio::time::timeout_at(deadline, async {
                if sender.is_none() {
                    sender = Some(connect(d.addr).await?);
                }
                let s = sender.as_mut().expect("connected above");
                s.ready().await.map_err(|e| classify_hyper(&e))?;
                let req = build(step, d, vars, &mut body);
                let resp = s.send_request(req).await.map_err(|e| classify_hyper(&e))?;
                read(resp).await
            })
            .await;
            let done = Instant::now();
            let (c, ra) = match r {
                Err(_) => (Class::Timeout, None),
                Ok(Err(c)) => (c, None),
                Ok(Ok((status, ra))) => {
                    if step.expect.contains(&status.as_u16()) {
                        (Class::Ok, None)
                    } else if ra.is_some() && (status.as_u16() == 429 || status.as_u16() == 503) {
                        (Class::RetryAfter(status.as_u16()), ra)
                    } else {
                        (Class::Status(status.as_u16()), None)
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
                // A connection that failed mid-flow is not reused.
                if !matches!(c, Class::Status(_) | Class::RetryAfter(_)) {
                    sender = None;
                }
                break;
            }
        }
        if pooled
            && let Some(s) = sender
            && !s.is_closed()
        {
            d.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        }
        FlowResult {
            class,
            retry_after,
            started,
            sent,
            done: step_start,
            steps: results,
            node,
        }
    }
}

fn build(step: &Step, d: &Dest, vars: Vars, scratch: &mut String) -> Request<Full<Bytes>> {
    scratch.clear();
    scratch.push_str(&d.base_path);
    step.path.render_into(scratch, vars);
    let mut b = Request::builder()
        .method(step.method.clone())
        .uri(scratch.as_str())
        .header(HOST, d.host.clone());
    let mut has_type = false;
    for (name, value) in &step.headers {
        has_type |= name == CONTENT_TYPE;
        b = b.header(name, value.render(vars));
    }
    let body = match &step.body {
        Some(t) => {
            if !has_type {
                b = b.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Bytes::from(t.render(vars))
        }
        None => Bytes::new(),
    };
    b.body(Full::new(body)).unwrap_or_else(|_| {
        // A rendered header value that is not valid HTTP; send the request without it
        // rather than stop the run: the target's answer will say what is wrong.
        Request::builder()
            .method(step.method.clone())
            .uri("/")
            .header(HOST, d.host.clone())
            .body(Full::new(Bytes::new()))
            .expect("static request")
    })
}

async fn connect(addr: SocketAddr) -> Result<Sender, Class> {
    let stream = TcpStream::connect(addr).await.map_err(|e| classify_io(&e))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| classify_hyper(&e))?;
    tokio::spawn(async move {
        // Errors show up on the request side.
        let _ = conn.await;
    });
    Ok(sender)
}

async fn read(resp: Response<hyper::body::Incoming>) -> Result<(StatusCode, Option<Duration>), Class> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    // The body is read whole: the connection can then be reused, and a cut body shows.
    resp.into_body().collect().await.map_err(|_| Class::Body)?;
    Ok((status, retry_after))
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

fn classify_hyper(e: &hyper::Error) -> Class {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return classify_io(io);
        }
        src = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        Class::Reset
    } else if e.is_parse() {
        Class::Body
    } else if e.is_timeout() {
        Class::Timeout
    } else {
        Class::Reset
    }
}
