//! The reference target overlay: a login service whose failure is known by construction.
//!
//! It models an overlay network's login path in real time: a login server of fixed
//! capacity behind a bounded (deadline-aware) or unbounded FIFO queue, supernodes hosted
//! by a share of the clients, orphaning when a host leaves, and self-healing by promotion
//! that is either healthy or suspended by recent failures (the August 2007 bug). The
//! pure core is [`model::Model`]; [`spawn`] serves it over HTTP.
//!
//! Endpoints (bodies are JSON; a client id is a number or a string of digits):
//! - `POST /login {"client":id}` → 200 `{"supernode":id,"session":"<token>"}`, or 503 +
//!   `Retry-After` with `{"error":"queue_full"|"expired"|"no_slot"}`.
//! - `POST /keepalive` → 200 if the session is valid, 410 if orphaned/unknown.
//! - `POST /join` → 200 `{"supernode":id}` if the session is valid, 410 otherwise.
//! - `POST /leave` → 204; a supernode it hosts goes, its clients are orphaned.
//! - keepalive, join and leave name the client by `Authorization: Bearer <token>` (the
//!   login's session; 401 for a token unknown, replaced or idle past 10 minutes) or,
//!   without one, by `{"client":id}` in the body.
//! - `GET /gateway`: a WebSocket upgrade with `Authorization: Bearer <token>` (the
//!   scheme in any case) that holds the client's connection under its supernode
//!   ([`gateway`]): 401 before the upgrade for a token missing, unknown, replaced or
//!   expired; accepted and closed at once with 4004 `session lost: log in again` for an
//!   orphaned session, or with 1013 `retry after N` when the login server cannot admit
//!   the upgrade (a resume at `gateway.resume_cost` of a login; `gateway.overload:
//!   http-503` answers 503 + `Retry-After` instead). Held: `{"op":"hb"}` → `{"op":"hb_ack"}`;
//!   silent for `gateway.heartbeat_timeout` → 4009 `heartbeat timeout`. When a supernode
//!   goes (its host leaves, or its host's connection ends without a close frame) its
//!   members' connections drop at once, without a close frame.
//! - `GET /metrics` (Prometheus text), `GET /healthz`.
//! - `POST /admin/mega-supernodes {"count":n,"slots":k}` → 200 `{"supernodes":[ids]}`;
//!   400 for `n` outside 1..=1000 or `k` = 0, 409 beyond `max_mega_supernodes` or
//!   `max_mega_slots` in all.
//! - `POST /admin/shed {"enabled":bool}` → 200 `{"shed":bool}`.
//! - `POST /admin/drop-connections {"share":0.3}` → 200 `{"dropped":n}`: that share of
//!   the held connections (a seeded choice) drops without a close frame; sessions stay.
//!   `POST /admin/restart-gateway {"node":n}` → 200 `{"dropped":n}`: node n's
//!   connections (client id mod `gateway.nodes`) close with 1012 `retry after 2`. 400
//!   for a share outside 0..=1 or a node not below `gateway.nodes`.
//! - `POST /admin/drain` → 200 `{"draining":n}`: every open HTTP connection (n, the
//!   one asking included) drains as at a gateway's reload: an HTTP/2 one gets a GOAWAY
//!   (NO_ERROR) and finishes the streams it has, an HTTP/1.1 one closes after the
//!   answer in progress; new connections are served as before. The action
//!   `{ at, drain: true }` does the same at an instant of the overlay's timeline.
//! - `/admin/*` answer loopback peers; others get 403 unless `admin_token` is set and
//!   they send it as `Authorization: Bearer <token>` ([`listen_warning`] says so to an
//!   operator who listens beyond loopback).
//!
//! HTTP/1.1 and HTTP/2 over cleartext (h2c, prior knowledge) share one port (`serve`);
//! there is no TLS listener, so no h2 over TLS here. Bad input is answered 400 with a one-line reason, unknown paths 404. Bodies are at
//! most 64 KiB (413). A connection that keeps the server waiting is closed: a request
//! must arrive within `header_read_timeout`, and a kept-alive connection may wait
//! `idle_timeout` for its next request (`conn`).

mod admin;
pub mod clock;
pub mod config;
mod conn;
pub mod gateway;
pub mod metrics;
pub mod model;
mod serve;
mod server;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use admin::listen_warning;
pub use clock::Clock;
pub use config::{
    Action, ActionKind, AdminToken, Allocation, ConfigError, GatewayConfig, OverlayConfig, Overload, QueuePolicy,
    SelfShutdown,
};

/// A running overlay. Dropping it stops it abruptly; `shutdown` stops it gracefully.
pub struct OverlayHandle {
    pub addr: SocketAddr,
    /// The overlay's clock: start it when it was spawned held ([`spawn_held`]).
    pub clock: Arc<Clock>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    processing: Option<JoinHandle<()>>,
    shared: Arc<server::Shared>,
}

impl OverlayHandle {
    /// Stops accepting connections, drops the held gateway connections, lets requests
    /// in flight finish (at most 2 s), then stops the processing loop.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.gateway.table.close();
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server).await.is_err() {
                abort.abort();
            }
        }
        if let Some(p) = self.processing.take() {
            p.abort();
        }
    }
}

impl Drop for OverlayHandle {
    fn drop(&mut self) {
        self.shared.gateway.table.close();
        if let Some(s) = self.server.take() {
            s.abort();
        }
        if let Some(p) = self.processing.take() {
            p.abort();
        }
    }
}

/// Starts the overlay on `listen` (port 0 allowed) in the current tokio runtime.
/// An invalid config is an `InvalidInput` error that lists every problem.
pub async fn spawn(config: OverlayConfig, listen: SocketAddr) -> std::io::Result<OverlayHandle> {
    spawn_with(config, listen, Clock::running()).await
}

/// As [`spawn`], with the clock held: the overlay is in set-up (see [`clock`]) until
/// `handle.clock.start(at)`.
pub async fn spawn_held(config: OverlayConfig, listen: SocketAddr) -> std::io::Result<OverlayHandle> {
    spawn_with(config, listen, Clock::held()).await
}

async fn spawn_with(config: OverlayConfig, listen: SocketAddr, clock: Clock) -> std::io::Result<OverlayHandle> {
    let problems = config.validate();
    if !problems.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            ConfigError::Invalid(problems),
        ));
    }
    let timeouts = conn::Timeouts {
        header_read: config.header_read_timeout.0,
        idle: config.idle_timeout.0,
    };
    let listener = conn::GuardedListener::new(conn::bind(listen)?, timeouts);
    let addr = listener.local_addr()?;
    let clock = Arc::new(clock);
    let shared = Arc::new(server::Shared::new(config, clock.clone()));
    let app = server::router(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve::run(listener, app, shared.conns.clone(), stopped));
    let processing = tokio::spawn(server::run_processing(shared.clone()));
    Ok(OverlayHandle {
        addr,
        clock,
        stop: Some(stop),
        server: Some(server),
        processing: Some(processing),
        shared,
    })
}

#[cfg(test)]
mod tests {
    /// The target knows nothing of the harness: besides itself it may use only the
    /// shared vocabularies `crate::units` and `crate::rng`.
    #[test]
    fn imports_nothing_of_the_harness() {
        fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    rust_files(&path, out);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        rust_files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/overlay"),
            &mut files,
        );
        assert!(files.len() >= 5, "{files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let needle = concat!("crate", "::"); // not itself a match
            for (n, line) in text.lines().enumerate() {
                for (at, _) in line.match_indices(needle) {
                    let module = line[at + needle.len()..]
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next();
                    assert!(
                        matches!(module, Some("units" | "rng" | "overlay")),
                        "{}:{}: {line}",
                        file.display(),
                        n + 1
                    );
                }
            }
        }
    }
}
