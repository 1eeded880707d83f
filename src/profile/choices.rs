//! The target's named choices: how a client picks its node, whether it keeps a
//! connection, and which HTTP version it speaks.

use serde::Serialize;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Pick {
    Random,
    RoundRobin,
    /// The client's id picks its node: the same client always lands on the same node.
    Hash,
    /// A client's host cache: first node first, the next one after a connection failure.
    Failover,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ConnMode {
    /// A new connection for every login attempt (a rebooted client has no pool).
    Fresh,
    /// A shared pool of keep-alive connections.
    Reuse,
}

/// When a client whose HTTP/2 connection dropped (a GOAWAY, a reset, a PING not
/// answered) connects again.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Reconnect {
    /// At the drop: its keepalive goes out at once on a new connection, as a client
    /// that holds its connection for pushes would come back (the reconnect storm).
    #[default]
    AtOnce,
    /// On its next request (its next keepalive), as a browser's idle connection would:
    /// the wave spreads over `client.session.every`.
    NextRequest,
}

/// The HTTP version of the login flow, its keepalives and on-reboot requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::EnumString, strum::IntoStaticStr, strum::VariantNames)]
pub enum HttpVersion {
    /// HTTP/1.1: the crate's own client (one request in flight per connection).
    #[default]
    #[strum(serialize = "1.1")]
    Http1,
    /// HTTP/2 only: ALPN `h2` over `https://` (a server that does not take it fails the
    /// attempt, `h2_not_negotiated`), h2c with prior knowledge over `http://`.
    #[strum(serialize = "2")]
    Http2,
    /// Over `https://`: offer `h2` and `http/1.1`, speak what the server picks.
    #[strum(serialize = "auto")]
    Auto,
}
