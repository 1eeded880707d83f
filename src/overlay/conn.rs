//! Connections that cannot be held open for nothing (issue #10: 1,000 slowloris
//! connections or 10,000 idle kept-alive ones must get closed).
//!
//! - A request must arrive whole, head and body, within `header_read_timeout` of its
//!   first byte; on a new connection, of the accept.
//! - A kept-alive connection that waits longer than `idle_timeout` for its next
//!   request is closed.
//! - A request being handled has no deadline: a login may wait in the unbounded queue
//!   as long as the model keeps it there, which is the behaviour under test.
//! - A connection upgraded to a WebSocket (the gateway) is held open: no deadline and
//!   no timer of its own (the gateway's heartbeat sweep judges it), and the gateway may
//!   ask for it to be reset when dropped (SO_LINGER 0: an RST, no FIN).
//!
//! axum's `serve` sets no timeout. hyper's `header_read_timeout` also runs over the
//! wait between requests (so the two timeouts could not differ) and ends at the head
//! (a body sent a byte at a time would hold the connection). So the socket enforces
//! them: a read or write still pending at the deadline fails, and hyper drops the
//! connection. The requests on it tell the socket when one is being handled.
//!
//! An HTTP/2 connection carries many requests at once and its own frames (SETTINGS,
//! PING, WINDOW_UPDATE) between them: it waits for nothing while any request on it is
//! handled, and once idle its bytes do not start the header-read clock, so that it is
//! closed `idle_timeout` after its last answer (a client that keeps it must use it).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// Bodies here are a few dozen bytes of JSON; a larger one is refused (413) unread.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
}

/// Where one connection is in its life, shared by its socket and its requests.
/// Instants are nanoseconds since the accept; the socket's task is the only writer.
pub struct ConnClock {
    accepted: Instant,
    /// When the server began waiting for the next request; `NEVER` while one is handled.
    waiting_since: AtomicU64,
    /// When the first byte of the awaited request came; `NEVER` until it does.
    first_byte: AtomicU64,
    /// Close with an RST (SO_LINGER 0) rather than a FIN when the socket is dropped.
    reset: AtomicBool,
    /// Requests being handled (more than one on HTTP/2).
    busy: AtomicU32,
    /// HTTP/2: its bytes between requests are frames of its own, not a request's start.
    multiplexed: AtomicBool,
}

const NEVER: u64 = u64::MAX;
/// `waiting_since` of a connection held open (upgraded): it never waits for a request.
const HELD: u64 = u64::MAX - 1;

impl ConnClock {
    fn new() -> Self {
        ConnClock {
            accepted: Instant::now(),
            waiting_since: AtomicU64::new(0),
            // A new connection owes its first request at once: nothing to keep alive yet.
            first_byte: AtomicU64::new(0),
            reset: AtomicBool::new(false),
            busy: AtomicU32::new(0),
            multiplexed: AtomicBool::new(false),
        }
    }

    fn since_accept(&self) -> u64 {
        self.accepted.elapsed().as_nanos().min(NEVER as u128 - 1) as u64
    }

    /// When the connection is closed if nothing changes; `None` while a request is handled.
    fn deadline(&self, t: &Timeouts) -> Option<Instant> {
        let waiting = self.waiting_since.load(Relaxed);
        if waiting == NEVER || waiting == HELD {
            return None;
        }
        let first = self.first_byte.load(Relaxed);
        Some(match first {
            NEVER => self.accepted + Duration::from_nanos(waiting) + t.idle,
            at => self.accepted + Duration::from_nanos(at) + t.header_read,
        })
    }

    fn bytes_read(&self) {
        if self.first_byte.load(Relaxed) == NEVER && !self.multiplexed.load(Relaxed) {
            self.first_byte.store(self.since_accept(), Relaxed);
        }
    }

    /// The connection speaks HTTP/2 (see the module's text).
    pub fn multiplexed(&self) {
        self.multiplexed.store(true, Relaxed);
    }

    /// The connection was upgraded: from now on it has no deadline here.
    pub fn hold_open(&self) {
        self.waiting_since.store(HELD, Relaxed);
    }

    fn held_open(&self) -> bool {
        self.waiting_since.load(Relaxed) == HELD
    }

    /// When its socket is dropped, reset the connection (an abrupt drop, as when a
    /// machine goes away) instead of closing it.
    pub fn reset_on_drop(&self) {
        self.reset.store(true, Relaxed);
    }

    /// The connection is handling a request (its head and body are in) until the guard drops.
    pub fn handling(self: &Arc<Self>) -> Handling {
        self.busy.fetch_add(1, SeqCst);
        self.waiting_since.store(NEVER, SeqCst);
        self.first_byte.store(NEVER, Relaxed);
        Handling(self.clone())
    }
}

pub struct Handling(Arc<ConnClock>);

impl Drop for Handling {
    fn drop(&mut self) {
        let c = &self.0;
        if c.busy.fetch_sub(1, SeqCst) > 1 || c.held_open() {
            return; // another request on it is still handled
        }
        let now = c.since_accept();
        c.waiting_since.store(now, SeqCst);
        if c.busy.load(SeqCst) > 0 {
            // One began meanwhile (HTTP/2), and may have stored NEVER before us.
            c.waiting_since.store(NEVER, SeqCst);
            return;
        }
        // Bytes of a pipelined request came while handling: its time starts now.
        if c.first_byte.load(Relaxed) != NEVER {
            c.first_byte.store(now, Relaxed);
        }
    }
}

/// A TCP stream whose pending reads and writes fail at the connection's deadline.
pub struct Guarded {
    tcp: TcpStream,
    clock: Arc<ConnClock>,
    timeouts: Timeouts,
    /// Made at the first wait, then reset: one timer per connection.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    /// Whether the connection is past its deadline; if not, `cx` is woken at it.
    ///
    /// Called on pending reads, and on every write: hyper, once it has written an
    /// answer, may wait on a read it registered while the request was being handled (no
    /// deadline then), so the write is where the idle deadline gets armed. Reads that
    /// return bytes skip it: a busy connection then pays no timer work per request.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.clock.deadline(&self.timeouts) else {
            if self.clock.held_open() {
                self.timer = None; // a held connection keeps no timer
            }
            return false;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }

    /// `polled` as it is, unless it is pending past the deadline: then a timeout error.
    fn guard<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        let expired = self.expired(cx);
        match polled {
            Poll::Pending if expired => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client kept the connection waiting past its timeout",
            ))),
            other => other,
        }
    }
}

impl Guarded {
    pub fn clock(&self) -> &Arc<ConnClock> {
        &self.clock
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.clock.reset.load(Relaxed) {
            let _ = socket2::SockRef::from(&self.tcp).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Pending => this.guard(cx, Poll::Pending),
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.clock.bytes_read();
                Poll::Ready(Ok(()))
            }
            done => done,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write(cx, data);
        this.guard(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        this.guard(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_flush(cx);
        this.guard(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Listens on `addr` with a deep accept queue (the kernel caps it at
/// `net.core.somaxconn`): a reconnect storm arrives as a burst of connects.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(65_535)
}

/// A TCP listener whose connections are [`Guarded`].
pub struct GuardedListener {
    inner: TcpListener,
    timeouts: Timeouts,
}

impl GuardedListener {
    pub fn new(inner: TcpListener, timeouts: Timeouts) -> Self {
        GuardedListener { inner, timeouts }
    }
}

impl Listener for GuardedListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        // axum's accept: it retries, and waits out a lack of file descriptors.
        let (tcp, addr) = Listener::accept(&mut self.inner).await;
        // An answer is one small write; HTTP/2's frames must not wait for an ACK either.
        let _ = tcp.set_nodelay(true);
        let io = Guarded {
            tcp,
            clock: Arc::new(ConnClock::new()),
            timeouts: self.timeouts,
            timer: None,
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Who is at the other end of a request's connection, and that connection's clock.
#[derive(Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub clock: Arc<ConnClock>,
}

/// Middleware: reads the body whole while the read deadline still runs, then marks the
/// connection busy (no deadline) until the answer is ready.
pub async fn read_then_handle(ConnectInfo(peer): ConnectInfo<Peer>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        // A chunked body over the limit, or a connection cut or timed out meanwhile.
        Err(e) => return (StatusCode::BAD_REQUEST, format!("cannot read the body: {e}\n")).into_response(),
    };
    let _busy = peer.clock.handling();
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn too_large() -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("a body is at most {MAX_BODY} bytes\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header_read: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };

    #[tokio::test]
    async fn an_http2_connection_waits_for_nothing_while_any_stream_is_handled() {
        let clock = Arc::new(ConnClock::new());
        clock.multiplexed();
        let (a, b) = (clock.handling(), clock.handling());
        drop(a);
        assert_eq!(clock.deadline(&T), None, "a stream is still handled");
        clock.bytes_read(); // a PING or a WINDOW_UPDATE between requests
        drop(b);
        let idle = clock.deadline(&T).unwrap();
        clock.bytes_read();
        assert_eq!(
            clock.deadline(&T),
            Some(idle),
            "its own frames do not start a request's clock"
        );
        assert!(idle - clock.accepted >= T.idle);
    }

    #[tokio::test]
    async fn an_http1_connection_owes_its_next_request_from_its_first_byte() {
        let clock = Arc::new(ConnClock::new());
        drop(clock.handling());
        let idle = clock.deadline(&T).unwrap();
        clock.bytes_read();
        let head = clock.deadline(&T).unwrap();
        assert!(head < idle, "header_read (5 s) from the first byte, not idle (60 s)");
    }
}
