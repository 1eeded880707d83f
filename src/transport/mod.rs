//! The login flow over HTTP/1.1, on connections the engine owns. `fresh` mode really
//! opens one connection per login attempt and keeps it across the flow's steps; errors
//! are told apart exactly (refused, reset, timeout, a cut or malformed answer); and the
//! hot path is a write of composed bytes and a parsed read (http1.rs) in the engine's
//! own task: no connection task, no channel per request. reqwest is used where none of
//! that matters (scraping the target's metrics).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

pub mod http1;

use crate::outcome::{Class, StepResult};
use crate::profile::{ConnMode, Node, Pick, Step, TlsSpec, Vars};
use crate::rng::{Stream, draw};
use http1::{Chunked, Framing, compose, parse_head};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot resolve `{host}`: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("TLS: {0}")]
    Tls(String),
}

/// A node, resolved once before the run.
#[derive(Debug)]
struct Dest {
    addr: SocketAddr,
    host: String,
    base_path: String,
    /// For `https://` nodes: the name the certificate must carry (SNI).
    tls: Option<ServerName<'static>>,
}

/// A connection's byte stream: plain TCP, or TLS over it.
#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Io {
    fn tcp(&self) -> &TcpStream {
        match self {
            Io::Plain(s) => s,
            Io::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
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
    stream: Io,
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
    async fn open(addr: SocketAddr, tls: Option<(&TlsConnector, &ServerName<'static>)>) -> Result<Conn, Failure> {
        let tcp = TcpStream::connect(addr).await.map_err(Failure::io)?;
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            None => Io::Plain(tcp),
            Some((connector, name)) => Io::Tls(Box::new(connector.connect(name.clone(), tcp).await.map_err(|e| {
                Failure {
                    class: classify_tls(&e),
                    cause: Cause::Io(e),
                }
            })?)),
        };
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
        match socket2::SockRef::from(self.stream.tcp()).peek(&mut probe) {
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            // A close (0), or bytes nobody asked for: either way not reusable.
            Ok(_) => false,
        }
    }

    /// Sends one request and reads its whole answer; returns the status and Retry-After.
    async fn exchange(&mut self, step: &Step, d: &Dest, vars: Vars) -> Result<(u16, Option<Duration>), Failure> {
        self.out.clear();
        compose(step, &d.host, &d.base_path, vars, &mut self.out, &mut self.scratch);
        self.stream.write_all(&self.out).await.map_err(Failure::io)?;
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
                    Err(bad) => {
                        self.reusable = false;
                        return Err(Failure::body(Cause::Bad(bad)));
                    }
                }
            }
            // Closed before a whole answer: the server dropped the request.
            if self.fill().await? == 0 {
                self.reusable = false;
                return Err(Failure {
                    class: Class::Reset,
                    cause: Cause::ClosedEarly,
                });
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
                        return Err(Failure::body(Cause::CutBody));
                    }
                }
            }
            Framing::Chunked => {
                let mut c = Chunked::default();
                loop {
                    let used = c.feed(&self.buf[..self.filled]).map_err(|bad| {
                        self.reusable = false;
                        Failure::body(Cause::Bad(bad))
                    })?;
                    self.consume(used);
                    if c.is_done() {
                        break;
                    }
                    if self.fill().await? == 0 {
                        self.reusable = false;
                        return Err(Failure::body(Cause::CutBody));
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
        } else if let Io::Plain(s) = &self.stream {
            // The answer is whole and nothing else is due until the next request: forget
            // the stale read readiness rather than pay a read that would block. (Not
            // under TLS: the session may hold records read ahead of the answer.)
            let _ = s.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
        }
        Ok((head.status, head.retry_after))
    }

    /// Reads more bytes; 0 means the server closed the connection.
    async fn fill(&mut self) -> Result<usize, Failure> {
        if self.filled == self.buf.len() {
            let grown = (self.buf.len() * 2).min(http1::MAX_HEAD * 2);
            if grown == self.buf.len() {
                // A head that long is rejected by the parser before this.
                self.reusable = false;
                return Err(Failure::body(Cause::Bad(http1::BadResponse::HeadTooLong)));
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
                Err(Failure::io(e))
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
    /// Set when a node is `https://`.
    tls: Option<Tls>,
    examples: Examples,
}

/// The run's TLS client side (rustls's connector, which does not say what it holds).
struct Tls(TlsConnector);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Transport {
    pub async fn new(
        nodes: &[Node],
        pick: Pick,
        timeout: Duration,
        mode: ConnMode,
        max_connections: usize,
        seed: u64,
        tls: &TlsSpec,
    ) -> Result<Arc<Transport>, TransportError> {
        let mut dests = Vec::new();
        let connector = if nodes.iter().any(|n| n.tls) {
            Some(Tls(connector(tls)?))
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
                    host: n.host.clone(),
                    source,
                })?;
            let host = if n.host.contains(':') {
                format!("[{}]:{}", n.host, n.port)
            } else {
                format!("{}:{}", n.host, n.port)
            };
            let name = if n.tls {
                let name = ServerName::try_from(n.host.clone()).map_err(|e| {
                    TransportError::Tls(format!("`{}` is not a name a certificate can carry: {e}", n.host))
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
            tls: connector,
            examples: Examples::default(),
        }))
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
                    let tls = self.tls.as_ref().map(|t| &t.0).zip(d.tls.as_ref());
                    conn = Some(Conn::open(d.addr, tls).await?);
                }
                conn.as_mut().expect("opened above").exchange(step, d, vars).await
            })
            .await;
            let done = Instant::now();
            let (c, ra) = match r {
                Err(_) => {
                    self.examples.note(Class::Timeout, || {
                        format!("no answer within {}", crate::units::Dur(self.timeout))
                    });
                    (Class::Timeout, None)
                }
                Ok(Err(f)) => {
                    self.examples.note(f.class, || f.cause.to_string());
                    (f.class, None)
                }
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

/// Why a request failed: its class, and the cause that says why in words.
#[derive(Debug)]
struct Failure {
    class: Class,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Io(io::Error),
    Bad(http1::BadResponse),
    ClosedEarly,
    CutBody,
}

impl Failure {
    fn io(e: io::Error) -> Failure {
        Failure {
            class: classify_io(&e),
            cause: Cause::Io(e),
        }
    }

    fn body(cause: Cause) -> Failure {
        Failure {
            class: Class::Body,
            cause,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Io(e) => {
                write!(f, "{e}")?;
                let unknown_issuer = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|r| {
                        matches!(
                            r,
                            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
                        )
                    });
                if unknown_issuer {
                    f.write_str(
                        " (trust its issuer with target.tls.ca, or set target.tls.verify: false for a test target)",
                    )?;
                }
                Ok(())
            }
            Cause::Bad(b) => write!(f, "{b}"),
            Cause::ClosedEarly => f.write_str("the server closed the connection before a whole answer"),
            Cause::CutBody => f.write_str("the server closed the connection in the middle of the body"),
        }
    }
}

/// The first failure of each class, in words: a report that counts 20,000 `tls`
/// failures also says what the first one was. Costs one atomic load per failure after
/// the first of its class, nothing on success.
#[derive(Debug, Default)]
struct Examples {
    seen: AtomicU32,
    list: Mutex<std::collections::BTreeMap<String, String>>,
}

impl Examples {
    fn note(&self, class: Class, why: impl FnOnce() -> String) {
        let bit = 1u32
            << match class {
                Class::Timeout => 0,
                Class::Refused => 1,
                Class::Reset => 2,
                Class::Tls => 3,
                Class::Body => 4,
                Class::Connect => 5,
                _ => return,
            };
        // A plain load first: in a failure storm the bit is set, and threads sharing
        // the transport then only read the line.
        if self.seen.load(Ordering::Relaxed) & bit == 0 && self.seen.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            let mut l = self.list.lock().unwrap_or_else(|e| e.into_inner());
            l.insert(class.to_string(), why());
        }
    }

    fn list(&self) -> std::collections::BTreeMap<String, String> {
        self.list.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A handshake failure is `tls` (the certificate, the protocol); the connection dying
/// under it keeps its own class.
fn classify_tls(e: &io::Error) -> Class {
    let tls_error = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if tls_error || e.kind() == io::ErrorKind::InvalidData {
        Class::Tls
    } else {
        classify_io(e)
    }
}

/// The client side of TLS for the run. Session resumption is off: a rebooted machine
/// has no session to resume, so every fresh connection pays the full handshake, as the
/// storm it stands for would.
fn connector(spec: &TlsSpec) -> Result<TlsConnector, TransportError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut config = if spec.verify {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some((file, certs)) = &spec.ca {
            for c in certs {
                roots
                    .add(rustls::pki_types::CertificateDer::from(c.clone()))
                    .map_err(|e| TransportError::Tls(format!("a certificate in `{file}`: {e}")))?;
            }
        }
        if roots.is_empty() {
            return Err(TransportError::Tls(
                "this machine has no trusted root certificates: give `target.tls.ca`, or `verify: false` for a test target"
                    .into(),
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// `verify: false`: any certificate is accepted; signatures are still checked, so the
/// handshake is the real one.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
