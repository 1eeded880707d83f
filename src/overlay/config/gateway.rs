//! The WebSocket gateway's settings (`gateway:` in the overlay's config).

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantNames};

use super::{UnknownName, named};
use crate::units::{Dur, Share};

/// How the gateway refuses an upgrade the login server cannot take (queue full, or
/// queued past `client_timeout`). Named like `QueuePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoStaticStr, EnumString, VariantNames)]
#[serde(into = "&'static str", try_from = "String")]
#[strum(serialize_all = "kebab-case")]
pub enum Overload {
    /// Accept the upgrade, then close at once with 1013 (try again later) and the
    /// reason `retry after N`.
    #[strum(serialize = "close-1013")]
    Close1013,
    /// Refuse the upgrade with HTTP 503 and `Retry-After: N`.
    #[strum(serialize = "http-503")]
    Http503,
}

impl TryFrom<String> for Overload {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        named("gateway overload answer", s)
    }
}

impl Overload {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Upper bound on `gateway.nodes`: the per-node gauge has one series each.
pub const MAX_GATEWAY_NODES: u32 = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Work one upgrade (a resume) costs the login server, as a fraction of one login's
    /// work: a reconnect flood competes with logins for the same capacity.
    pub resume_cost: Share,
    /// The answer to an upgrade the login server cannot admit.
    pub overload: Overload,
    /// A held connection the client sent nothing on for this long is closed with 4009;
    /// 0 = never.
    pub heartbeat_timeout: Dur,
    /// Gateway nodes; a connection's node is its client id mod `nodes`
    /// (`restart_gateway: N` closes node N's connections).
    pub nodes: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            resume_cost: Share(0.2),
            overload: Overload::Close1013,
            heartbeat_timeout: Dur::from_secs_f64(90.0),
            nodes: 4,
        }
    }
}

impl GatewayConfig {
    /// Problems as (field under `gateway.`, message).
    pub(super) fn problems(&self, bad: &mut impl FnMut(&str, String)) {
        if !(0.0..=1.0).contains(&self.resume_cost.0) {
            bad(
                "gateway.resume_cost",
                format!("must be between 0% and 100% of a login, got {}", self.resume_cost.0),
            );
        }
        if self.nodes == 0 || self.nodes > MAX_GATEWAY_NODES {
            bad(
                "gateway.nodes",
                format!("must be between 1 and {MAX_GATEWAY_NODES}, got {}", self.nodes),
            );
        }
    }

    /// The gateway node that holds `client`'s connection.
    pub fn node_of(&self, client: u64) -> u32 {
        (client % self.nodes.max(1) as u64) as u32
    }
}
