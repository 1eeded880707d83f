//! The login flow over HTTP/1.1, on connections the engine owns. `fresh` mode really
//! opens one connection per login attempt and keeps it across the flow's steps; errors
//! are told apart exactly (refused, reset, timeout, a cut or malformed answer); and the
//! hot path is a write of composed bytes and a parsed read (http1.rs) in the engine's
//! own task: no connection task, no channel per request. reqwest is used where none of
//! that matters (scraping the target's metrics).
//!
//! `conn` is one connection and its buffers, `http1` the bytes, `tls` the TLS client
//! side, `failure` why a request failed in words.

mod capture;
mod conn;
mod failure;
mod h2;
pub mod http1;
mod json_pointer;
mod retry_after;
mod tls;
mod trace;
mod ws;
mod ws_upgrade;

pub use conn::Conn;
pub use failure::classify_io;
pub use h2::{H2Events, MAX_HEADER_LIST};
pub use retry_after::RetryAfter;
pub use trace::Exchange;
pub use ws::{BeatLog, Beats, Closed, Dropped, Held, MAX_MESSAGE, reason_wait};

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use rustls::pki_types::ServerName;
use tokio::time::Instant;

use crate::outcome::{Class, StepResult, Steps};
use crate::profile::{ConnMode, HttpVersion, Node, Pick, Step, Target, Values, Vars};
use crate::rng::{Stream, draw};
use failure::Examples;
use tls::{Tls, connector};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot resolve `{host}`: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("TLS: {0}")]
    Tls(String),
}

/// The longest a fresh connection waits for the server's close after its last answer.
const CLOSE_WAIT: Duration = Duration::from_millis(20);

/// A node, resolved once before the run.
#[derive(Debug)]
struct Dest {
    addr: SocketAddr,
    host: String,
    base_path: String,
    /// For `https://` nodes: the name the certificate must carry (SNI).
    tls: Option<ServerName<'static>>,
    /// Flows to this node speak HTTP/2 (`http: 2`, or `auto` and its ALPN chose `h2`).
    h2: bool,
}

/// The result of one request or flow.
#[derive(Debug, Clone)]
pub struct FlowResult {
    pub class: Class,
    /// The wait a 429 or 503 asked for with `Retry-After`, as the target sent it.
    pub retry_after: Option<Duration>,
    /// The 429 or 503 carried a `Retry-After` that could not be read (ignored).
    pub retry_after_invalid: bool,
    /// When the flow began (the engine's dispatch; before any wait for a connection).
    pub started: Instant,
    /// When the request went out: a connection was in hand (pooled) or being opened
    /// (fresh). Service time counts from here.
    pub sent: Instant,
    pub done: Instant,
    pub steps: Steps,
    /// Index of the node used.
    pub node: usize,
}

impl FlowResult {
    /// An attempt that never went out (unstarted, throttled, refused before a send):
    /// its class, no steps, and every instant `now`.
    pub fn unsent(class: Class, now: Instant) -> Self {
        FlowResult {
            class,
            retry_after: None,
            retry_after_invalid: false,
            started: now,
            sent: now,
            done: now,
            steps: Steps::new(),
            node: 0,
        }
    }

    /// A flow that went out: its class, the Retry-After of the answer that decided it,
    /// its (started, sent, done) instants, its steps, and its node.
    fn finished(
        class: Class,
        retry_after: Option<RetryAfter>,
        (started, sent, done): (Instant, Instant, Instant),
        steps: Steps,
        node: usize,
    ) -> Self {
        FlowResult {
            class,
            retry_after: retry_after.and_then(|r| r.wait(SystemTime::now)),
            retry_after_invalid: retry_after == Some(RetryAfter::Invalid),
            started,
            sent,
            done,
            steps,
            node,
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
    /// Set when a node is `https://`.
    tls: Option<Tls>,
    /// The clients' own source addresses (`target.source_addresses`): client `id`
    /// connects from `sources[id mod len]`, always the same one. Empty: the kernel's
    /// choice.
    sources: Vec<IpAddr>,
    examples: Examples,
    /// Every exchange, for `stampede try`; None in a storm.
    tracer: Option<trace::Tracer>,
    /// `target.http: 2`: the HTTP/2 connections; None speaks HTTP/1.1.
    h2: Option<h2::H2>,
}

impl Transport {
    /// The transport for `nodes` (the profile's, resolved here) with the profile's
    /// `target` settings.
    pub async fn new(nodes: &[Node], target: &Target, seed: u64) -> Result<Arc<Transport>, TransportError> {
        Ok(Arc::new(Transport::build(nodes, target, seed).await?))
    }

    /// A transport that keeps every request and answer of its flows ([`Self::take_trace`]):
    /// the one `stampede try` sends its single flow through.
    pub async fn new_traced(nodes: &[Node], target: &Target, seed: u64) -> Result<Transport, TransportError> {
        let mut t = Transport::build(nodes, target, seed).await?;
        t.tracer = Some(trace::Tracer::default());
        Ok(t)
    }

    /// The exchanges kept since the last call (none unless built by [`Self::new_traced`]).
    pub fn take_trace(&self) -> Vec<Exchange> {
        self.tracer.as_ref().map(trace::Tracer::take).unwrap_or_default()
    }

    async fn build(nodes: &[Node], target: &Target, seed: u64) -> Result<Transport, TransportError> {
        let tls = &target.tls;
        let mut dests = Vec::new();
        let alpn: &[&[u8]] = match target.http {
            HttpVersion::Http1 => &[b"http/1.1"],
            HttpVersion::Http2 => &[b"h2"],
            HttpVersion::Auto => &[b"h2", b"http/1.1"],
        };
        let connector = if nodes.iter().any(|n| n.tls) {
            Some(Tls(connector(tls, alpn)?))
        } else {
            None
        };
        for n in nodes {
            let addr = tokio::net::lookup_host((n.host.as_str(), n.port))
                .await
                .and_then(|mut a| {
                    a.next()
                        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
                })
                .map_err(|source| TransportError::Resolve {
                    host: n.shown_host(),
                    source,
                })?;
            let host = if n.host.contains(':') {
                format!("[{}]:{}", n.host, n.port)
            } else {
                format!("{}:{}", n.host, n.port)
            };
            let name = if n.tls {
                let name = ServerName::try_from(n.host.clone()).map_err(|e| {
                    TransportError::Tls(format!(
                        "`{}` is not a name a certificate can carry: {e}",
                        n.shown_host()
                    ))
                })?;
                Some(name)
            } else {
                None
            };
            dests.push(Dest {
                addr,
                host,
                base_path: n.base_path.clone(),
                tls: name,
                h2: target.http == HttpVersion::Http2,
            });
        }
        if target.http == HttpVersion::Auto {
            h2::settle_auto(&mut dests, connector.as_ref().map(|t| &t.0)).await;
        }
        Ok(Transport {
            dests,
            pick: target.pick,
            timeout: target.timeout,
            mode: target.connection,
            max_connections: target.max_connections.max(1),
            seed,
            next: AtomicUsize::new(0),
            tls: connector,
            sources: target.source_addresses.clone(),
            examples: Examples::default(),
            tracer: None,
            h2: (target.http != HttpVersion::Http1).then(|| {
                h2::H2::new(
                    target.connection == ConnMode::Reuse,
                    nodes.len(),
                    target.max_connections.max(1),
                )
            }),
        })
    }

    /// The first message of each class of failure seen so far, by class name.
    pub fn failure_examples(&self) -> std::collections::BTreeMap<String, String> {
        self.examples.list()
    }

    pub fn nodes(&self) -> usize {
        self.dests.len()
    }

    /// Connections to one node in use at once, at most (pooled flows).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Whether login attempts take their connection from the engine's pool (HTTP/1.1
    /// `reuse`; HTTP/2 pools its own connections).
    pub fn reuses(&self) -> bool {
        self.mode == ConnMode::Reuse && !self.multiplexes()
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

    /// The source address client `client` connects from, if the profile gives any.
    pub fn source_of(&self, client: u64) -> Option<IpAddr> {
        let n = self.sources.len() as u64;
        (n > 0).then(|| self.sources[(client % n) as usize])
    }

    /// Runs `steps` in order for one client on `conn` (a pooled connection) or on one it
    /// opens; stops at the first step that fails. `started` is when the engine
    /// dispatched the flow. `values` (for a flow with captures) are rendered into each
    /// step and take what each step captures. Returns the connection if it can carry
    /// another request.
    ///
    /// `fresh`: the connection is this attempt's own (a rebooted client has no other).
    /// Its last request says `Connection: close` and the flow waits for the server's
    /// close before dropping it, so the server closes first and keeps the TIME_WAIT:
    /// on the client, thousands a second of them made every connect search the port
    /// space (`__inet_hash_connect`, a third of the generator's core, measured).
    pub async fn flow(
        &self,
        steps: &[Step],
        vars: Vars<'_>,
        mut values: Option<&mut Values>,
        mut conn: Option<Conn>,
        fresh: bool,
        started: Instant,
    ) -> (FlowResult, Option<Conn>) {
        if let Some(h2) = self.h2.as_ref().filter(|_| self.dests[vars.node].h2) {
            // Boxed: kept out of every HTTP/1.1 flow's future (see the open below).
            return (
                Box::pin(self.flow_h2(h2, steps, vars, values, fresh, started)).await,
                None,
            );
        }
        let node = vars.node;
        let d = &self.dests[node];
        let mut results = Steps::new();
        let mut retry_after: Option<RetryAfter> = None;
        let mut class = Class::Ok;
        let sent = Instant::now();
        let mut step_start = sent;
        let mut deadline = sent + self.timeout;
        // The server was asked to close and answered: its close is on its way.
        let mut closing = false;
        // The steps' deadline: the connection's own timer when it has one, moved on per
        // step (see `Conn::timer`).
        let mut timer = conn
            .as_mut()
            .and_then(|c| c.timer.take())
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
        for (i, step) in steps.iter().enumerate() {
            deadline = step_start + self.timeout;
            timer.as_mut().reset(deadline);
            let close = fresh && i + 1 == steps.len();
            let exchange = async {
                let c = match &mut conn {
                    Some(c) => c,
                    None => {
                        let tls = self.tls.as_ref().map(|t| &t.0).zip(d.tls.as_ref());
                        // Boxed: the open (a TLS handshake's state most of all) is large,
                        // and an inline one would make every flow's future that large,
                        // copied whole into the flow set at each push.
                        let open = Box::pin(Conn::open(d.addr, self.source_of(vars.client), tls));
                        let c = conn.insert(open.await?);
                        c.keep_all = self.tracer.is_some();
                        c
                    }
                };
                let vars = Vars {
                    values: values.as_deref(),
                    ..vars
                };
                c.exchange(step, d, vars, close).await
            };
            let r = tokio::select! {
                biased;
                r = exchange => Ok(r),
                () = timer.as_mut() => Err(()),
            };
            let done = Instant::now();
            if let Some(t) = &self.tracer {
                t.note(&step.name, conn.as_ref());
            }
            closing = close && matches!(r, Ok(Ok(_)));
            let (c, ra) = match r {
                Err(_) => {
                    let (answered, in_body) = conn.as_ref().map_or((false, false), |c| (c.answered, c.in_body));
                    let class = if answered {
                        Class::TimeoutMidAnswer
                    } else {
                        Class::Timeout
                    };
                    self.examples.note(class, || {
                        let limit = crate::units::Dur(self.timeout);
                        if in_body {
                            format!("the body did not finish within {limit}")
                        } else if answered {
                            format!("the answer's head did not finish within {limit}")
                        } else {
                            format!("no answer within {limit}")
                        }
                    });
                    (class, None)
                }
                Ok(Err(f)) => self.failed(&f),
                Ok(Ok((status, ra))) => {
                    let kept = &conn.as_ref().expect("it answered").kept;
                    self.judged(step, status, ra, kept, d, vars, values.as_deref_mut())
                }
            };
            push_step(&mut results, c, started, step_start, done);
            step_start = done;
            if !c.is_ok() {
                class = c;
                retry_after = ra;
                // A connection that failed mid-flow (or timed out mid-answer) is not reused.
                if !matches!(
                    c,
                    Class::Status(_) | Class::RetryAfter(_) | Class::Capture | Class::Check
                ) {
                    conn = None;
                }
                break;
            }
        }
        if closing
            && let Some(c) = conn.as_mut()
            && !c.closed_by_peer()
        {
            // After the answer was timed: the close is not the login's latency. A server
            // sends its FIN right behind its answer, whatever the distance; one that
            // ignores `Connection: close` is closed by this side after `CLOSE_WAIT`,
            // rather than holding the client's next move for the step's timeout. (When
            // the FIN came with the answer, as nginx's mostly does over loopback, no
            // read and no timer are needed: one syscall less per fresh login.)
            let _ = tokio::time::timeout_at(deadline.min(step_start + CLOSE_WAIT), c.await_close()).await;
        }
        let conn = conn.filter(|c| c.reusable && !fresh).map(|mut c| {
            c.idle_since = step_start;
            c.timer = Some(timer);
            c
        });
        (
            FlowResult::finished(class, retry_after, (started, sent, step_start), results, node),
            conn,
        )
    }

    /// A step that failed before a whole answer: its class, its first example kept.
    fn failed(&self, f: &failure::Failure) -> (Class, Option<RetryAfter>) {
        self.examples.note(f.class, || f.cause.to_string());
        (f.class, None)
    }

    /// An answer's class: its status against the step's `expect`, then (for a status
    /// accepted) its checks and captures; cookies stored whatever the status.
    #[allow(clippy::too_many_arguments)]
    fn judged(
        &self,
        step: &Step,
        status: u16,
        ra: Option<RetryAfter>,
        kept: &capture::Kept,
        d: &Dest,
        vars: Vars<'_>,
        values: Option<&mut Values>,
    ) -> (Class, Option<RetryAfter>) {
        let d = (d.host.as_str(), d.base_path.as_str());
        match capture::judge(step, answered(step, status, ra), kept, d, vars, values) {
            Ok(judged) => judged,
            Err(miss) => {
                self.examples.note(miss.class, || miss.reason);
                (miss.class, None)
            }
        }
    }
}

/// Notes a step's result: its latency counts from the attempt's start (the intended
/// instant's clock) for the first step, from its own start after.
fn push_step(results: &mut Steps, class: Class, started: Instant, step_start: Instant, done: Instant) {
    let began = if results.is_empty() { started } else { step_start };
    results.push(StepResult {
        class,
        latency: done - began,
        service: done - step_start,
    });
}

/// The class of an answer, and the `Retry-After` that matters: a 429 or 503's. One whose
/// `Retry-After` cannot be read counts as a plain status (the client's backoff applies).
fn answered(step: &Step, status: u16, ra: Option<RetryAfter>) -> (Class, Option<RetryAfter>) {
    if step.expect.contains(&status) {
        return (Class::Ok, None);
    }
    match ra {
        Some(ra) if status == 429 || status == 503 => {
            let class = if ra == RetryAfter::Invalid {
                Class::Status(status)
            } else {
                Class::RetryAfter(status)
            };
            (class, Some(ra))
        }
        _ => (Class::Status(status), None),
    }
}
