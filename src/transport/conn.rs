//! One connection and its buffers: a byte stream (plain TCP, or TLS over it), a request
//! composed in place, and an answer read whole so that the connection can carry the
//! next one. The bytes themselves are http1.rs's.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::Dest;
use super::capture::{KeepRefused, Kept};
use super::failure::{Cause, Failure};
use super::http1::{self, BadResponse, Chunked, Framing, Head, compose, parse_head};
use super::retry_after::RetryAfter;
use super::tls::classify_tls;
use crate::outcome::Class;
use crate::profile::{Step, Vars};

/// A connection's byte stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Io {
    /// Connects to `addr`, from `source` when given (the client's own address; the
    /// port is the kernel's choice at connect), with TLS over it for `tls`.
    pub(super) async fn open(
        addr: SocketAddr,
        source: Option<IpAddr>,
        tls: Option<(&TlsConnector, &ServerName<'static>)>,
    ) -> Result<Io, Failure> {
        let tcp = match source {
            None => TcpStream::connect(addr).await,
            Some(ip) => connect_from(ip, addr).await,
        }
        .map_err(Failure::io)?;
        let _ = tcp.set_nodelay(true);
        Ok(match tls {
            None => Io::Plain(tcp),
            Some((connector, name)) => Io::Tls(Box::new(connector.connect(name.clone(), tcp).await.map_err(|e| {
                Failure {
                    class: classify_tls(&e),
                    cause: Cause::Io(e),
                }
            })?)),
        })
    }

    pub(super) fn tcp(&self) -> &TcpStream {
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

/// One open connection. Boxed: a connection moves with every request it carries (into
/// the flow's future, out with its result, back into the pool), and a pointer moves
/// cheaper than its state (copies of it were a tenth of the generator's user time on
/// the keep-alive path with the other large moves, #27).
#[derive(Debug)]
pub struct Conn(Box<ConnState>);

impl std::ops::Deref for Conn {
    type Target = ConnState;
    fn deref(&self) -> &ConnState {
        &self.0
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut ConnState {
        &mut self.0
    }
}

/// A connection's state, with the buffers its requests and answers pass through.
#[derive(Debug)]
pub struct ConnState {
    stream: Io,
    /// Received bytes not yet consumed: `buf[..filled]`.
    buf: Vec<u8>,
    filled: usize,
    pub(super) out: Vec<u8>,
    scratch: String,
    /// Keep every answer's head and body (a traced transport: `stampede try`).
    pub(super) keep_all: bool,
    /// False once the connection cannot carry another request (closed, cut, or the
    /// server said `Connection: close`).
    pub(super) reusable: bool,
    pub(super) idle_since: Instant,
    /// The current answer's head has arrived and its body is being read: a timeout
    /// now is a body too slow, not a target that did not answer.
    pub(super) in_body: bool,
    /// A byte of the current request's answer has arrived: a timeout now is an answer
    /// too slow (`timeout_midanswer`), not one that never began (`timeout`).
    pub(super) answered: bool,
    /// The last answer, for a step with captures or body checks (empty, and never
    /// allocated, for the others).
    pub(super) kept: Kept,
    /// The server has closed its side (a read returned 0).
    peer_closed: bool,
    /// The step deadline's timer, one per connection and moved on with every request:
    /// a later deadline only updates the registered entry (tokio extends it in place),
    /// where a timeout per request inserted and removed a timer-wheel entry each time.
    pub(super) timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// A connection idle longer than this is checked for a close by the server before reuse
/// (a syscall: under load connections come back within microseconds and skip it).
const STALE_AFTER: Duration = Duration::from_millis(100);

impl Conn {
    /// Connects to `addr`, from `source` when given (the client's own address; the
    /// port is the kernel's choice at connect).
    pub(super) async fn open(
        addr: SocketAddr,
        source: Option<IpAddr>,
        tls: Option<(&TlsConnector, &ServerName<'static>)>,
    ) -> Result<Conn, Failure> {
        let stream = Io::open(addr, source, tls).await?;
        Ok(Conn(Box::new(ConnState {
            stream,
            buf: vec![0; 4096],
            filled: 0,
            out: Vec::with_capacity(512),
            scratch: String::with_capacity(128),
            keep_all: false,
            reusable: true,
            idle_since: Instant::now(),
            in_body: false,
            answered: false,
            kept: Kept::default(),
            peer_closed: false,
            timer: None,
        })))
    }
}

impl ConnState {
    /// Waits for the server to close the connection after the answer to a request that
    /// asked it to: dropped only then, this side closes second and the TIME_WAIT stays
    /// on the server. Bytes that still arrive are dropped (the answer was whole).
    pub(super) async fn await_close(&mut self) {
        while !self.peer_closed {
            self.filled = 0;
            if !matches!(self.fill().await, Ok(n) if n > 0) {
                break;
            }
        }
        // TLS ends with the server's close_notify; its TCP FIN follows. Wait for that
        // too, or this side's FIN could leave first.
        if let Io::Tls(s) = &mut self.stream {
            let tcp = s.get_mut().0;
            let mut sink = [0u8; 256];
            while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    }

    /// The server's close (its FIN) has already been seen by the reactor, with or
    /// before its answer: no read is needed to know it, and closing now leaves the
    /// TIME_WAIT on the server all the same. Plain TCP only: over TLS the server's
    /// close_notify is still unread, and closing with unread bytes would reset the
    /// connection instead of closing it.
    pub(super) fn closed_by_peer(&self) -> bool {
        use futures_util::FutureExt;
        let Io::Plain(tcp) = &self.stream else {
            return false;
        };
        self.peer_closed
            || matches!(
                tcp.ready(tokio::io::Interest::READABLE).now_or_never(),
                Some(Ok(r)) if r.is_read_closed()
            )
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
    /// `close`: ask the server to close after this answer.
    pub(super) async fn exchange(
        &mut self,
        step: &Step,
        d: &Dest,
        vars: Vars<'_>,
        close: bool,
    ) -> Result<(u16, Option<RetryAfter>), Failure> {
        self.in_body = false;
        self.answered = false;
        self.out.clear();
        self.kept.clear();
        compose(
            step,
            &d.host,
            &d.base_path,
            vars,
            close,
            &mut self.out,
            &mut self.scratch,
        )
        .map_err(|len| Failure {
            class: Class::Capture,
            cause: Cause::RequestTooLong(len),
        })?;
        self.stream.write_all(&self.out).await.map_err(Failure::io)?;
        let head = self
            .read_head(step.method == http::Method::HEAD, self.keep_all || step.keeps_head())
            .await?;
        self.in_body = true;
        // The body is read whole: the connection can then be reused, and a cut body shows.
        self.kept.chunked = head.framing == Framing::Chunked;
        self.read_body(head.framing, self.keep_all || step.keeps_body()).await?;
        if close || head.close || self.filled > 0 {
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

    /// Reads up to the head of the final answer, past a few informational (1xx) ones.
    async fn read_head(&mut self, head_request: bool, keep: bool) -> Result<Head, Failure> {
        let mut informational = 0;
        loop {
            if self.filled > 0 {
                match parse_head(&self.buf[..self.filled], head_request) {
                    Ok(Some(h)) if (100..200).contains(&h.status) && h.status != 101 => {
                        informational += 1;
                        if informational > http1::MAX_INFORMATIONAL {
                            return Err(self.bad(BadResponse::Informational));
                        }
                        self.consume(h.len);
                        continue;
                    }
                    Ok(Some(h)) => {
                        if keep {
                            self.kept.head.extend_from_slice(&self.buf[..h.len]);
                        }
                        self.consume(h.len);
                        return Ok(h);
                    }
                    Ok(None) => {}
                    Err(bad) => return Err(self.bad(bad)),
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
        }
    }

    /// Reads the body, kept in `kept.body` when `keep` and dropped otherwise; at most
    /// `MAX_BODY` bytes of it, whatever the framing.
    async fn read_body(&mut self, framing: Framing, keep: bool) -> Result<(), Failure> {
        match framing {
            Framing::Empty => {}
            // The head's parse refused a length over MAX_BODY.
            Framing::Length(n) => {
                let mut left = n;
                loop {
                    let take = left.min(self.filled as u64);
                    self.keep(take as usize, keep)?;
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
                let mut read = 0u64;
                loop {
                    let used = match c.feed(&self.buf[..self.filled]) {
                        Ok(used) => used,
                        Err(bad) => return Err(self.bad(bad)),
                    };
                    self.keep(used, keep)?;
                    self.consume(used);
                    read += used as u64;
                    if c.is_done() {
                        break;
                    }
                    if read > http1::MAX_BODY {
                        return Err(self.bad(BadResponse::BodyTooLong));
                    }
                    if self.fill().await? == 0 {
                        self.reusable = false;
                        return Err(Failure::body(Cause::CutBody));
                    }
                }
            }
            Framing::UntilClose => {
                let mut read = 0u64;
                loop {
                    read += self.filled as u64;
                    self.keep(self.filled, keep)?;
                    self.filled = 0;
                    if read > http1::MAX_BODY {
                        return Err(self.bad(BadResponse::BodyTooLong));
                    }
                    if self.fill().await? == 0 {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The answer cannot be read: a `head` or `body` failure, and the connection is not
    /// reused.
    fn bad(&mut self, why: BadResponse) -> Failure {
        self.reusable = false;
        Failure::bad(why)
    }

    /// Reads more bytes; 0 means the server closed the connection.
    async fn fill(&mut self) -> Result<usize, Failure> {
        if self.filled == self.buf.len() {
            let grown = (self.buf.len() * 2).min(http1::MAX_HEAD * 2);
            if grown == self.buf.len() {
                // A head that long is rejected by the parser before this.
                self.reusable = false;
                return Err(Failure::bad(http1::BadResponse::HeadTooLong));
            }
            self.buf.resize(grown, 0);
        }
        match self.stream.read(&mut self.buf[self.filled..]).await {
            Ok(n) => {
                self.filled += n;
                self.answered |= n > 0;
                self.peer_closed |= n == 0;
                Ok(n)
            }
            Err(e) => {
                self.reusable = false;
                Err(Failure::io(e))
            }
        }
    }

    /// Copies the next `n` received bytes of the body into `kept.body` when `keep`,
    /// within the kept-body limits (a `body` failure past them).
    fn keep(&mut self, n: usize, keep: bool) -> Result<(), Failure> {
        if keep && let Err(refused) = self.kept.extend(&self.buf[..n]) {
            return Err(self.bad(match refused {
                KeepRefused::TooLong => BadResponse::KeptTooLong,
                KeepRefused::Budget => BadResponse::KeptBudget,
            }));
        }
        Ok(())
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

/// Connects from `source` (port 0). IP_BIND_ADDRESS_NO_PORT defers the port choice to
/// connect, where the kernel may reuse a port already bound towards another destination
/// (the whole 4-tuple is then unique): without it, bind reserves a port for every
/// destination and one address runs out at about 28,000 connections.
async fn connect_from(source: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor, and a c_int option value of its own size.
        // Best effort: a kernel without it (before 4.2) only binds a port early.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}
