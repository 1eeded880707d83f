//! HTTP/2 (`target.http: 2`) with the `h2` crate, on the transport's own TCP
//! (TCP_NODELAY, the client's source address) and TLS (ALPN `h2`). h2c with prior
//! knowledge over `http://`.
//!
//! `fresh`: each client its own connection, opened by its login attempt and held while
//! it is online: every later step, keepalive and on-reboot request is a stream on it.
//! `reuse`: `max_connections` shared connections per node, streams multiplexed up to
//! the server's SETTINGS_MAX_CONCURRENT_STREAMS (h2's `ready` waits for room).
//!
//! Each connection's driver (h2's `Connection`, which must be polled for anything to
//! move) is a task of its own on the engine thread's runtime, beside a PING every
//! keepalive interval: the engine polls flows, and a held connection between flows
//! still has frames to answer. The driver notes why it ended (a GOAWAY by its code, a
//! PING not answered, a reset) for the windows.

mod classify;
mod flow;
mod link;
mod sniff;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

pub(super) use link::Link;

/// The most bytes of header block a client takes in one answer (64 KiB): a login's
/// answer carries a few hundred; an HPACK bomb is cut here (`h2_headers_too_big`).
pub const MAX_HEADER_LIST: u32 = 64 << 10;

/// What the connections did, drained by the engines into their windows.
#[derive(Debug, Default)]
pub struct Tally {
    connects: AtomicU64,
    streams: AtomicU64,
    goaway_retried: AtomicU64,
    drops: Mutex<Vec<(Instant, String)>>,
    /// Clients whose own connection the server dropped while they held it: their
    /// engine brings them back (`client.session.reconnect: at-once`).
    redials: Mutex<Vec<u64>>,
    /// The run's clock has started: until then connections and streams are the
    /// warm-up's (its logins are not in the windows, nor are their connections).
    started: std::sync::atomic::AtomicBool,
}

/// What happened since the last drain.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct H2Events {
    /// Connections opened (each a TCP connect, TLS when `https://`, the h2 handshake).
    pub connects: u64,
    /// Streams sent (every request is one).
    pub streams: u64,
    /// Streams above a GOAWAY's last-stream-id, sent again at once on a new connection.
    pub goaway_retried: u64,
    /// Connections the server dropped, when, and why (`goaway/NO_ERROR`, `ping_timeout`,
    /// `reset`, ...).
    pub drops: Vec<(Instant, String)>,
}

impl Tally {
    fn counting(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    fn count(&self, n: &AtomicU64) {
        if self.counting() {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// From now on connections and streams are the run's.
    pub fn start(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    fn redial(&self, client: u64) {
        self.redials.lock().unwrap_or_else(|p| p.into_inner()).push(client);
    }

    /// The clients of one engine (`client % count == index`) whose connection dropped
    /// since its last call; the others stay for their own engines.
    pub fn take_redials(&self, index: u32, count: u32) -> Vec<u64> {
        let mut all = self.redials.lock().unwrap_or_else(|p| p.into_inner());
        if all.is_empty() {
            return Vec::new();
        }
        let mine = |c: &u64| c % u64::from(count.max(1)) == u64::from(index);
        let taken: Vec<u64> = all.iter().copied().filter(mine).collect();
        all.retain(|c| !mine(c));
        taken
    }

    fn dropped(&self, why: String) {
        self.drops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((Instant::now(), why));
    }

    pub fn take(&self) -> H2Events {
        H2Events {
            connects: self.connects.swap(0, Ordering::Relaxed),
            streams: self.streams.swap(0, Ordering::Relaxed),
            goaway_retried: self.goaway_retried.swap(0, Ordering::Relaxed),
            drops: std::mem::take(&mut *self.drops.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }
}

/// The run's HTTP/2 connections.
#[derive(Debug)]
pub(super) struct H2 {
    reuse: bool,
    /// `fresh`: each online client's own connection, by client id. A slot, locked while
    /// its connection is opened: two streams of one client that find it gone (a
    /// keepalive and the redial after a GOAWAY, say) open one connection, not two.
    held: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<Option<Link>>>>>,
    /// `reuse`: per node, `max_connections` slots (None until first used, or dropped).
    pool: Vec<Vec<tokio::sync::Mutex<Option<Link>>>>,
    next: AtomicUsize,
    /// A held connection's PING interval in ms (the keepalive's; 0: none).
    ping_every_ms: AtomicU64,
    pub tally: Arc<Tally>,
}

impl H2 {
    pub fn new(reuse: bool, nodes: usize, max_connections: usize) -> H2 {
        let slots = if reuse { max_connections } else { 0 };
        H2 {
            reuse,
            held: Mutex::default(),
            pool: (0..nodes)
                .map(|_| (0..slots).map(|_| tokio::sync::Mutex::new(None)).collect())
                .collect(),
            next: AtomicUsize::new(0),
            ping_every_ms: AtomicU64::new(0),
            tally: Arc::default(),
        }
    }

    /// Held connections are PINGed every `every` (the keepalive interval), and dropped
    /// (`ping_timeout`) when one is not answered within the timeout.
    pub fn ping_held_every(&self, every: Option<Duration>) {
        let ms = every.map_or(0, |d| d.as_millis().clamp(1, u64::MAX as u128) as u64);
        self.ping_every_ms.store(ms, Ordering::Relaxed);
    }

    fn ping_every(&self) -> Option<Duration> {
        let ms = self.ping_every_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<tokio::sync::Mutex<Option<Link>>>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection a stream of `client` goes on: `fresh_login` opens a new one (and
    /// replaces the client's), otherwise the client's own (or, `reuse`, a pool slot's)
    /// while it lives, else a new one.
    pub async fn link<F, Fut>(
        &self,
        client: u64,
        node: usize,
        fresh_login: bool,
        open: F,
    ) -> Result<Link, crate::transport::failure::Failure>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Link, crate::transport::failure::Failure>>,
    {
        if self.reuse {
            let slots = &self.pool[node];
            let i = self.next.fetch_add(1, Ordering::Relaxed) % slots.len();
            let mut slot = slots[i].lock().await;
            if let Some(l) = slot.as_ref().filter(|l| l.usable()) {
                return Ok(l.clone());
            }
            let l = open().await?;
            self.tally.count(&self.tally.connects);
            *slot = Some(l.clone());
            return Ok(l);
        }
        let slot = self.held().entry(client).or_default().clone();
        let mut slot = slot.lock().await;
        if !fresh_login && let Some(l) = slot.as_ref().filter(|l| l.usable()) {
            return Ok(l.clone());
        }
        let l = open().await?;
        self.tally.count(&self.tally.connects);
        // A slot forgotten meanwhile (the client's session ended) keeps it no longer
        // than this stream needs it.
        *slot = Some(l.clone());
        Ok(l)
    }

    /// The client's connection ends with its session (a failed login, a reboot): closed
    /// once no stream needs it.
    pub fn forget(&self, client: u64) {
        if !self.reuse {
            self.held().remove(&client);
        }
    }

    pub fn streamed(&self) {
        self.tally.count(&self.tally.streams);
    }

    pub fn retried(&self) {
        self.tally.count(&self.tally.goaway_retried);
    }
}

impl super::Transport {
    /// The protocol the flows speak: `h2` (TLS, ALPN) or `h2c` where nodes speak
    /// HTTP/2, else `http/1.1` (also `auto` when the nodes' ALPN chose it).
    pub fn protocol(&self) -> &'static str {
        match self.dests.iter().find(|d| d.h2) {
            None => "http/1.1",
            Some(d) if d.tls.is_some() => "h2",
            Some(_) => "h2c",
        }
    }

    /// Whether every flow is a stream on a multiplexed connection (HTTP/2): flows then
    /// start at once, never queued for a connection of the engine's pool.
    pub fn multiplexes(&self) -> bool {
        self.h2.is_some() && self.dests.iter().any(|d| d.h2)
    }

    /// A client rebooted: HTTP/2 closes its connection (once no stream needs it).
    pub fn client_gone(&self, client: u64) {
        if let Some(h2) = &self.h2 {
            h2.forget(client);
        }
    }

    /// HTTP/2: held connections are PINGed every `every` (the keepalive interval).
    pub fn ping_held_every(&self, every: Option<Duration>) {
        if let Some(h2) = &self.h2 {
            h2.ping_held_every(every);
        }
    }

    /// The run's clock starts: HTTP/2 connections and streams count from here (the
    /// warm-up's logins are not in the windows, nor their connections).
    pub fn clock_started(&self) {
        if let Some(h2) = &self.h2 {
            h2.tally.start();
        }
    }

    /// HTTP/2: the clients of engine part `index` of `count` whose own connection the
    /// server dropped since the last call (never a pool's: no client holds one).
    pub fn take_redials(&self, index: u32, count: u32) -> Vec<u64> {
        self.h2
            .as_ref()
            .map(|h| h.tally.take_redials(index, count))
            .unwrap_or_default()
    }

    /// HTTP/2: what the connections did since the last call (connects, streams, drops
    /// by cause, streams sent again after a GOAWAY); nothing under HTTP/1.1.
    pub fn take_h2_events(&self) -> H2Events {
        self.h2.as_ref().map(|h| h.tally.take()).unwrap_or_default()
    }
}

/// `http: auto`: one TLS handshake per `https://` node before the run, offering `h2`
/// and `http/1.1`, settles what its flows speak (a server's choice does not change
/// from one connection to the next, and a storm's first attempts must not pay for
/// finding out). A node that cannot be reached is left to HTTP/1.1: the run's
/// preflight says why.
pub(super) async fn settle_auto(dests: &mut [super::Dest], tls: Option<&tokio_rustls::TlsConnector>) {
    for d in dests.iter_mut() {
        let Some(name) = &d.tls else { continue };
        let Some(connector) = tls else { continue };
        let open = super::conn::Io::open(d.addr, None, Some((connector, name)));
        if let Ok(Ok(super::conn::Io::Tls(s))) = tokio::time::timeout(Duration::from_secs(10), open).await {
            d.h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
        }
    }
}
