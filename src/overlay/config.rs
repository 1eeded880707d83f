//! The overlay's settings: plain data with defaults, a `validate` that reports every
//! problem at once, presets for the named failure modes, and YAML loading.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use strum::{EnumString, IntoStaticStr, VariantNames};

use crate::units::{Dur, Rate, Share};

/// What the login server does with a login it cannot start at once.
///
/// Its names (`bounded`, `unbounded`) come from strum's derive alone: serde, the
/// metrics' labels and the CLI's text all read them from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoStaticStr, EnumString, VariantNames)]
#[serde(into = "&'static str", try_from = "String")]
#[strum(serialize_all = "kebab-case")]
pub enum QueuePolicy {
    /// At most `capacity × client_timeout` waiting; over that, 503 + Retry-After. A login
    /// whose client has waited longer than `client_timeout` is dropped, not worked on.
    Bounded,
    /// Plain FIFO without a deadline check: overloaded, it spends all its capacity on
    /// clients that have given up (throughput = capacity, goodput = 0).
    Unbounded,
}

/// How new supernodes are promoted to replace lost ones. Named like [`QueuePolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoStaticStr, EnumString, VariantNames)]
#[serde(into = "&'static str", try_from = "String")]
#[strum(serialize_all = "kebab-case")]
pub enum Allocation {
    /// Promotion keeps up with the slot deficit whatever the load.
    Healthy,
    /// Promotion is suspended while the recent login failure ratio is above
    /// `bug_threshold` and failed logins arrive faster than `bug_flood` × `capacity`:
    /// the shortage causes failures and a flood of failures stops the healing. The
    /// retries keep the flood going; the baseline's failures alone are not one, so the
    /// overlay heals once retries stop (a metastable state, not an outage).
    #[strum(serialize = "bug-2007")]
    Bug2007,
}

/// A mode name that is none of its enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{got}`: use one of {}", .expected.join(", "))]
pub struct UnknownName {
    pub what: &'static str,
    pub got: String,
    pub expected: &'static [&'static str],
}

fn named<T: FromStr + VariantNames>(what: &'static str, got: String) -> Result<T, UnknownName> {
    got.parse().map_err(|_| UnknownName {
        what,
        got,
        expected: T::VARIANTS,
    })
}

impl TryFrom<String> for QueuePolicy {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        named("queue policy", s)
    }
}

impl TryFrom<String> for Allocation {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        named("allocation", s)
    }
}

impl Allocation {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl QueuePolicy {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// December 2010 variant: a hosted supernode whose slot load goes over `load` shuts
/// itself down and orphans its clients.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfShutdown {
    pub load: Share,
}

/// An operator action at a time from overlay start. Exactly one of
/// `inject_mega_supernodes` (with `slots`), `shed`, `drop_connections`,
/// `restart_gateway` or `drain` is given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Action {
    pub at: Dur,
    /// Number of dedicated supernodes to add (they never leave nor shut down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inject_mega_supernodes: Option<u32>,
    /// Slots of each injected mega-supernode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    /// Turn shedding of optional work (keepalive processing cost) on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shed: Option<bool>,
    /// Drop this share of the held gateway connections (a seeded choice), abruptly: no
    /// close frame. Their sessions stay valid, so a resume succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_connections: Option<Share>,
    /// Restart this gateway node: each of its connections is closed with 1012.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_gateway: Option<u32>,
    /// Set the login admission control from now on (a limit, a ramp from now, buckets
    /// opening from now, or `off`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission: Option<Admission>,
    /// `true`: drain every open HTTP connection, as a gateway's reload does (GOAWAY to
    /// HTTP/2 ones, a close to HTTP/1.1 ones), as `POST /admin/drain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain: Option<bool>,
}

/// What an action does, once validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActionKind {
    InjectMega { count: u32, slots: u32 },
    Shed(bool),
    DropConnections(Share),
    RestartGateway(u32),
    Admission(Admission),
    Drain,
}

impl Action {
    /// `None` when the action is not valid (see `OverlayConfig::validate`).
    pub fn kind(&self) -> Option<ActionKind> {
        if self.what().len() != 1 {
            return None;
        }
        match (self.inject_mega_supernodes, self.slots) {
            (Some(count), Some(slots)) if count > 0 && slots > 0 => Some(ActionKind::InjectMega { count, slots }),
            (Some(_), _) | (None, Some(_)) => None,
            (None, None) => self
                .shed
                .map(ActionKind::Shed)
                .or(self.drop_connections.map(ActionKind::DropConnections))
                .or(self.restart_gateway.map(ActionKind::RestartGateway))
                .or(self.admission.map(ActionKind::Admission))
                .or(self.drain.filter(|on| *on).map(|_| ActionKind::Drain)),
        }
    }

    /// The names of what this action says to do (one is valid).
    pub(crate) fn what(&self) -> Vec<&'static str> {
        let given = [
            ("inject_mega_supernodes", self.inject_mega_supernodes.is_some()),
            ("shed", self.shed.is_some()),
            ("drop_connections", self.drop_connections.is_some()),
            ("restart_gateway", self.restart_gateway.is_some()),
            ("admission", self.admission.is_some()),
            ("drain", self.drain.is_some()),
        ];
        given.into_iter().filter(|g| g.1).map(|g| g.0).collect()
    }
}

/// Upper bound on `initial_online`: every online client costs about 100 bytes of model.
pub const MAX_INITIAL_ONLINE: u64 = 20_000_000;
/// Upper bound on mega-supernodes per action or admin call (the call's answer lists
/// their ids).
pub const MAX_MEGA_PER_CALL: u32 = 1_000;
/// Upper bound on `max_mega_supernodes`: a mega-supernode costs about 200 bytes of
/// model, so 100,000 stay under 20 MB.
pub const MAX_MEGA_SUPERNODES: u32 = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OverlayConfig {
    /// Seed of the deterministic choice of supernode-capable hosts.
    pub seed: u64,
    /// μ: logins the login server completes per second, whatever the concurrency.
    pub capacity: Rate,
    pub queue: QueuePolicy,
    /// How long a client waits for a login answer before giving up. Sets the bounded
    /// queue's bound (capacity × client_timeout) and its deadline, and what counts as wasted.
    pub client_timeout: Dur,
    /// Sent as `Retry-After` (whole seconds, rounded up, at least 1) with every 503.
    pub retry_after: Dur,
    /// Fraction of client ids eligible to host a supernode (chosen by hash of id and seed).
    pub supernode_share: Share,
    /// Clients one hosted supernode serves.
    pub supernode_slots: u32,
    /// Slots the allocator keeps above demand (logged-in clients + queued logins).
    pub spare_slots: Share,
    /// Warm-up between choosing a host for promotion and its supernode serving.
    pub promotion_delay: Dur,
    /// At most this many promotions start per second.
    pub promotion_rate: Rate,
    pub allocation: Allocation,
    /// Window of the login failure ratio that `bug-2007` looks at.
    pub failure_window: Dur,
    /// `bug-2007` suspends promotion while the failure ratio is above this ...
    pub bug_threshold: Share,
    /// ... and failed logins arrive faster than this share of `capacity` per second.
    pub bug_flood: Share,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_shutdown: Option<SelfShutdown>,
    /// Work one keepalive costs, as a fraction of one login's work. Shedding sets it to 0.
    pub keepalive_cost: Share,
    /// Clients `0..initial_online` are logged in at t=0, spread over supernodes formed
    /// from the eligible hosts among them.
    pub initial_online: u64,
    pub actions: Vec<Action>,
    /// Mega-supernodes there may be in all, from actions and admin calls together
    /// (they never leave). The actions' share is kept for them; an admin call beyond
    /// the rest is refused with 409.
    pub max_mega_supernodes: u32,
    /// Slots all mega-supernodes may have together, kept and refused the same way.
    pub max_mega_slots: u64,
    /// A request must arrive whole, head and body, within this of its first byte (on a
    /// new connection, of the accept); else its connection is closed (slowloris).
    pub header_read_timeout: Dur,
    /// A kept-alive connection that waits longer than this for its next request is
    /// closed. A request being handled has no deadline.
    pub idle_timeout: Dur,
    /// Lets peers beyond loopback use `/admin/*` with `Authorization: Bearer <token>`.
    /// Without it only loopback peers may.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<AdminToken>,
    /// The WebSocket gateway (`GET /gateway`): what an upgrade costs, how overload is
    /// answered, the heartbeat timeout, the nodes.
    pub gateway: GatewayConfig,
    /// Login admission control from overlay start (`off`: none); operator actions and
    /// `POST /admin/admission` change it.
    pub admission: Admission,
}

/// The admin endpoints' bearer token. Debug output never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdminToken(pub String);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl Default for OverlayConfig {
    /// A healthy overlay with spare capacity: 2000 logins/s, a bounded deadline-aware
    /// queue, 5% of hosts eligible with 50 slots each (2.5 slots per client if all host).
    fn default() -> Self {
        OverlayConfig {
            seed: 1,
            capacity: Rate(2000.0),
            queue: QueuePolicy::Bounded,
            client_timeout: Dur::from_secs_f64(2.0),
            retry_after: Dur::from_secs_f64(2.0),
            supernode_share: Share(0.05),
            supernode_slots: 50,
            spare_slots: Share(0.25),
            promotion_delay: Dur::from_secs_f64(5.0),
            promotion_rate: Rate(100.0),
            allocation: Allocation::Healthy,
            failure_window: Dur::from_secs_f64(10.0),
            bug_threshold: Share(0.20),
            bug_flood: Share(0.20),
            self_shutdown: None,
            keepalive_cost: Share(0.0),
            initial_online: 10_000,
            actions: Vec::new(),
            max_mega_supernodes: 1_000,
            max_mega_slots: MAX_INITIAL_ONLINE,
            header_read_timeout: Dur::from_secs_f64(10.0),
            idle_timeout: Dur::from_secs_f64(60.0),
            admin_token: None,
            gateway: GatewayConfig::default(),
            admission: Admission::Off,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown overlay mode `{0}`: use one of {presets}", presets = OverlayConfig::PRESETS.join(", "))]
    UnknownMode(String),
    #[error("overlay config is not valid YAML for the schema: {0}")]
    Parse(#[from] serde_yaml::Error),
    #[error("overlay config has {} problem(s): {}", .0.len(), join_problems(.0))]
    Invalid(Vec<(String, String)>),
}

fn join_problems(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl OverlayConfig {
    /// The named presets the CLI's `--mode` picks from.
    pub fn preset(name: &str) -> Option<OverlayConfig> {
        let base = OverlayConfig::default();
        Some(match name {
            "healthy" => base,
            "bug-2007" => OverlayConfig {
                allocation: Allocation::Bug2007,
                ..base
            },
            "unbounded" => OverlayConfig {
                queue: QueuePolicy::Unbounded,
                ..base
            },
            "december-2010" => OverlayConfig {
                self_shutdown: Some(SelfShutdown { load: Share(0.9) }),
                ..base
            },
            _ => return None,
        })
    }

    pub const PRESETS: [&'static str; 4] = ["healthy", "bug-2007", "unbounded", "december-2010"];

    /// Parses YAML (fields absent take their defaults) and validates.
    pub fn from_yaml_str(text: &str) -> Result<OverlayConfig, ConfigError> {
        serde_yaml::from_str::<OverlayConfig>(text)?.validated()
    }

    /// What `stampede overlay --mode M [--config FILE]` runs: the preset `mode`, with the
    /// fields the YAML file gives replacing the preset's, validated.
    /// The preset `mode` with the settings of `over` (a config file's document, read by
    /// the caller: the CLI reads it bounded and expands its `${VAR}`) replacing its own.
    pub fn load(mode: &str, over: Option<Value>) -> Result<OverlayConfig, ConfigError> {
        let base = Self::preset(mode).ok_or_else(|| ConfigError::UnknownMode(mode.into()))?;
        match over {
            None => Ok(base),
            Some(v) => base.over_value(v),
        }
    }

    /// Parses YAML whose top-level fields replace those of `base`, and validates.
    pub fn from_yaml_over(base: &OverlayConfig, text: &str) -> Result<OverlayConfig, ConfigError> {
        base.over_value(serde_yaml::from_str::<Value>(text)?)
    }

    /// `self` with the top-level fields of the document `over` replaced, validated.
    fn over_value(&self, over: Value) -> Result<OverlayConfig, ConfigError> {
        let over = match over {
            Value::Mapping(over) => over,
            Value::Null => Mapping::new(),
            other => {
                return Err(ConfigError::Invalid(vec![(
                    String::new(),
                    format!(
                        "expected a mapping of settings, found {}",
                        crate::units::yaml_kind(&other)
                    ),
                )]));
            }
        };
        self.overridden_by(over)
    }

    /// `self` with each top-level field that `over` gives replaced, validated. The one
    /// merge behind `from_yaml_over` and [`from_profile`].
    fn overridden_by(&self, over: Mapping) -> Result<OverlayConfig, ConfigError> {
        let mut merged = serde_yaml::to_value(self)?;
        let m = merged.as_mapping_mut().expect("a struct serializes to a mapping");
        for (k, v) in over {
            m.insert(k, v);
        }
        let cfg: OverlayConfig = serde_yaml::from_value(merged)?;
        cfg.validated()
    }

    fn validated(self) -> Result<OverlayConfig, ConfigError> {
        let problems = self.validate();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The bounded queue's bound: μ × client_timeout, at least 1.
    pub fn queue_bound(&self) -> usize {
        let b = (self.capacity.per_sec() * self.client_timeout.as_secs_f64()).ceil();
        if b.is_finite() && b >= 1.0 { b as usize } else { 1 }
    }

    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        (self.retry_after.as_secs_f64().ceil() as u64).max(1)
    }
}

/// The overlay a profile's `target.overlay` asks for: `embedded` (the healthy preset),
/// a preset's name, or a mapping of settings with an optional `preset` (healthy when
/// absent) whose fields replace the preset's. Unless the profile says otherwise, the
/// overlay's `client_timeout` is the target's request timeout and the simulated
/// `population` is online at t=0. Problems come back all at once as (path under
/// `target.overlay`, empty for the value itself; message).
pub fn from_profile(
    settings: &Value,
    client_timeout: Duration,
    population: u64,
) -> Result<OverlayConfig, Vec<(String, String)>> {
    let (preset, mut over) = match settings {
        Value::String(s) if s == "embedded" => ("healthy".to_string(), Mapping::new()),
        Value::String(s) => (s.clone(), Mapping::new()),
        Value::Mapping(m) => {
            let mut m = m.clone();
            let preset = match m.remove("preset") {
                None => "healthy".to_string(),
                Some(Value::String(s)) => s,
                Some(_) => return Err(vec![("preset".into(), "must be a preset name".into())]),
            };
            (preset, m)
        }
        _ => {
            return Err(vec![(
                String::new(),
                "write `embedded`, a preset name, or a mapping of overlay settings".into(),
            )]);
        }
    };
    let Some(base) = OverlayConfig::preset(&preset) else {
        return Err(vec![(
            "preset".into(),
            format!(
                "`{preset}` is not a preset: use one of {}",
                OverlayConfig::PRESETS.join(", ")
            ),
        )]);
    };
    if !over.contains_key("client_timeout") {
        over.insert("client_timeout".into(), Value::String(Dur(client_timeout).to_string()));
    }
    if !over.contains_key("initial_online") {
        over.insert("initial_online".into(), Value::Number(population.into()));
    }
    base.overridden_by(over).map_err(|e| match e {
        ConfigError::Invalid(problems) => problems,
        // serde's own text: it names the field, and the profile says whose settings.
        ConfigError::Parse(e) => vec![(String::new(), e.to_string())],
        other => vec![(String::new(), other.to_string())],
    })
}

mod admission;
mod gateway;
mod validate;

pub use admission::{Admission, MAX_BUCKETS};
pub use gateway::{GatewayConfig, MAX_GATEWAY_NODES, Overload};

#[cfg(test)]
mod tests;
