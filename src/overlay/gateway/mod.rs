//! The WebSocket gateway: `GET /gateway` holds a logged-in client's connection for as
//! long as its session lasts; each connection belongs to its client's supernode.
//!
//! - Auth: `Authorization: Bearer <session token>` (scheme in any case). No token, or
//!   one unknown, replaced or expired → 401 before the upgrade.
//! - Admission: the upgrade is a *resume* in the login server's queue, at
//!   `gateway.resume_cost` of a login's work, so a reconnect flood competes with logins.
//!   Not admitted (queue full or past `client_timeout`) → the upgrade is accepted and
//!   closed with 1013 `retry after N`, or (`gateway.overload: http-503`) refused with
//!   503 + `Retry-After: N`; N is the logins' Retry-After.
//! - Admitted but the session is orphaned → accepted and closed at once with 4004
//!   `session lost: log in again`.
//! - Held: the first message is `{"op":"ready"}` (the connection is usable); `{"op":"hb"}` is answered `{"op":"hb_ack"}` at no cost; other messages are
//!   counted and ignored; pings get pongs. Nothing from the client for
//!   `gateway.heartbeat_timeout` → closed with 4009 `heartbeat timeout` (a shared sweep,
//!   no timer per connection).
//! - The 2007 mechanism: when a supernode goes (its host leaves by `POST /leave`, its
//!   host's own connection ends without a close frame, or it shuts itself down), every
//!   held connection of its members drops at once with an RST (no close frame).
//! - Operators: `drop_connections` drops a share (seeded choice) abruptly; sessions stay
//!   valid. `restart_gateway: N` closes node N's connections (node = client id mod
//!   `gateway.nodes`) with 1012 `retry after 2`.

mod held;
pub mod metrics;
#[cfg(test)]
mod storm_tests;
pub mod table;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use self::table::{Cause, Table, Upgrade};
use super::config::{ActionKind, GatewayConfig, Overload};
use super::conn::Peer;
use super::model::{LoginResult, Reject};
use super::server::{Shared, bearer, one_line, unavailable};

/// A client message the gateway answers, and its answer.
pub const HEARTBEAT: &str = r#"{"op":"hb"}"#;
pub const HEARTBEAT_ACK: &str = r#"{"op":"hb_ack"}"#;
/// The first message of an admitted, held connection.
pub const READY: &str = r#"{"op":"ready"}"#;

/// Read buffer per connection: a heartbeat is 17 bytes on the wire, and a larger
/// message grows it for its own length. tungstenite's default (128 KiB) would cost that
/// much per held client; 1 KiB measured 1,000 bytes more per held connection than this.
const READ_BUFFER: usize = 256;
/// Largest message a client may send: nothing it sends needs more.
const MAX_MESSAGE: usize = 16 * 1024;

pub struct Gateway {
    pub table: Table,
    config: GatewayConfig,
    retry_after: u64,
}

impl Gateway {
    pub fn new(config: &GatewayConfig, seed: u64, retry_after: u64) -> Self {
        Gateway {
            table: Table::new(config.nodes, seed),
            config: config.clone(),
            retry_after,
        }
    }

    /// Carries out what the model handed over: drops the orphans' connections, then
    /// the due operator actions.
    pub fn apply(&self, orphans: &mut Vec<u64>, actions: &mut Vec<ActionKind>) {
        if !orphans.is_empty() {
            self.table.end(orphans, Cause::SupernodeLeft);
            orphans.clear();
        }
        for a in actions.drain(..) {
            match a {
                ActionKind::DropConnections(share) => self.table.drop_share(share.0),
                ActionKind::RestartGateway(node) => self.table.restart(node),
                // The HTTP connections' drain is the accept loop's (`Shared::apply_due`).
                ActionKind::InjectMega { .. } | ActionKind::Shed(_) | ActionKind::Admission(_) | ActionKind::Drain => 0,
            };
        }
    }

    /// How often the heartbeat sweep runs: a tenth of the timeout, 10 ms to 1 s.
    pub fn sweep_every(&self) -> Duration {
        (self.config.heartbeat_timeout.0 / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    pub fn heartbeat_timeout(&self) -> Duration {
        self.config.heartbeat_timeout.0
    }

    pub fn nodes(&self) -> u32 {
        self.config.nodes
    }
}

/// What the login server said to an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Held,
    SessionLost,
    Overloaded(Reject),
}

/// `GET /gateway`.
pub(super) async fn upgrade(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let client = match s.bearer_client(bearer(&headers)) {
        Ok(c) => c,
        Err(why) => {
            s.gateway.table.count_upgrade(Upgrade::Unauthorized);
            return one_line(StatusCode::UNAUTHORIZED, why);
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(r) => return r.into_response(),
    };
    let admission = admit(&s, client).await;
    if let Admission::Overloaded(reason) = admission
        && s.gateway.config.overload == Overload::Http503
    {
        s.gateway.table.count_upgrade(Upgrade::Overloaded);
        return unavailable(&s, reason);
    }
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_MESSAGE)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| held::run(socket, s, client, admission, peer.clock))
        .into_response()
}

/// The upgrade waits for the login server as a resume; while the overlay's clock is
/// held (set-up) it is free, like a set-up login.
async fn admit(s: &Shared, client: u64) -> Admission {
    let Some(now) = s.now() else {
        return match s.model().session_of(client) {
            Some(_) => Admission::Held,
            None => Admission::SessionLost,
        };
    };
    let (tx, rx) = oneshot::channel();
    let queued = s.model().enqueue_resume(client, now, tx);
    if let Err((reason, _)) = queued {
        return Admission::Overloaded(reason);
    }
    match rx.await {
        Ok(LoginResult::Ok { .. }) => Admission::Held,
        Ok(LoginResult::SessionLost) => Admission::SessionLost,
        Ok(LoginResult::Rejected(reason)) => Admission::Overloaded(reason),
        // The processing loop is gone: the overlay is stopping.
        Err(_) => Admission::Overloaded(Reject::Expired),
    }
}
