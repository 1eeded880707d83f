//! The overlay's accept loop: HTTP/1.1 and HTTP/2 over cleartext (h2c with prior
//! knowledge) on one port, told apart by the connection's first bytes (hyper-util's
//! auto builder), through the same router, admission and model: a login is a login
//! whichever protocol carried it.
//!
//! The loop is the overlay's own rather than `axum::serve` for one reason: a **drain**
//! (`POST /admin/drain`, a gateway's reload) must reach every open connection and
//! leave the listener serving. Each HTTP/2 connection then gets a GOAWAY (NO_ERROR; the
//! streams it has accepted finish) and each HTTP/1.1 one closes after the answer in
//! progress, or at once when idle. A connection upgraded to a WebSocket (the gateway)
//! has left this loop by then: the gateway's own admin endpoints drop those.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Version};
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::{oneshot, watch};
use tower_service::Service;

use super::conn::{GuardedListener, Peer};
use super::metrics::metric;

/// The HTTP connections of the accept loop: counts for `/metrics`, and the drain signal.
pub struct Conns {
    /// Served now (a WebSocket upgrade leaves this count for the gateway's).
    open: AtomicU64,
    /// By the protocol of their first request.
    http1: AtomicU64,
    h2c: AtomicU64,
    /// Told to drain: a GOAWAY sent (HTTP/2) or a close after the answer (HTTP/1.1).
    drained: AtomicU64,
    /// Bumped by each drain; every connection task watches it.
    drain: watch::Sender<u64>,
}

impl Default for Conns {
    fn default() -> Self {
        Conns {
            open: AtomicU64::new(0),
            http1: AtomicU64::new(0),
            h2c: AtomicU64::new(0),
            drained: AtomicU64::new(0),
            drain: watch::Sender::new(0),
        }
    }
}

impl Conns {
    /// Drains every HTTP connection open now; returns how many there are (the one
    /// asking included).
    pub fn drain(&self) -> u64 {
        self.drain.send_modify(|generation| *generation += 1);
        self.open.load(Relaxed)
    }

    pub fn render(&self, out: &mut String) {
        metric(
            out,
            "overlay_http_connections_open",
            "gauge",
            "HTTP connections being served (WebSocket upgrades are the gateway's).",
            &[("", self.open.load(Relaxed) as f64)],
        );
        metric(
            out,
            "overlay_http_connections_total",
            "counter",
            "HTTP connections that sent a request, by the protocol of their first one.",
            &[
                ("{protocol=\"http/1.1\"}", self.http1.load(Relaxed) as f64),
                ("{protocol=\"h2c\"}", self.h2c.load(Relaxed) as f64),
            ],
        );
        metric(
            out,
            "overlay_http_drained_total",
            "counter",
            "HTTP connections drained (GOAWAY for HTTP/2, a close for HTTP/1.1).",
            &[("", self.drained.load(Relaxed) as f64)],
        );
    }

    /// Counts a connection's protocol at its first request; an HTTP/2 connection's
    /// clock then stops reading bytes as the start of a request (`conn`).
    fn first_request(&self, version: Version, peer: &Peer) {
        if version == Version::HTTP_2 {
            peer.clock.multiplexed();
            self.h2c.fetch_add(1, Relaxed);
        } else {
            self.http1.fetch_add(1, Relaxed);
        }
    }
}

/// Serves `router` on `listener` until `stop`; then stops accepting, drains every
/// connection and returns once they have all ended.
pub async fn run(mut listener: GuardedListener, router: Router, conns: Arc<Conns>, mut stop: oneshot::Receiver<()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut watching = conns.drain.subscribe();
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => break,
        };
        let peer = Peer {
            addr,
            clock: io.clock().clone(),
        };
        conns.open.fetch_add(1, Relaxed);
        let counted = Arc::new(AtomicBool::new(false));
        let (router, c) = (router.clone(), conns.clone());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            if !counted.swap(true, Relaxed) {
                c.first_request(req.version(), &peer);
            }
            req.extensions_mut().insert(ConnectInfo(peer.clone()));
            let mut router = router.clone();
            async move { Ok::<_, Infallible>(router.call(req.map(Body::new)).await.unwrap_or_else(|e| match e {})) }
        });
        let builder = builder.clone();
        let (conns, mut drain) = (conns.clone(), watching.clone());
        drain.mark_unchanged();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                Ok(()) = drain.changed() => {
                    conns.drained.fetch_add(1, Relaxed);
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            conns.open.fetch_sub(1, Relaxed);
            drop(drain); // after the count: `closed` below waits for every task's
        });
    }
    drop(listener);
    conns.drain();
    watching.mark_unchanged();
    drop(watching);
    conns.drain.closed().await;
}
