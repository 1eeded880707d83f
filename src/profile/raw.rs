//! The profile as written: loose types (scalars kept as text) so that one validation
//! pass can report every problem. Unknown fields are caught by `serde_ignored`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::units::Text;

/// The overlay's `admin_token` as every output shows it: a `${VAR}` as written, any
/// other value masked.
pub const MASKED: &str = "<masked>";

/// Is `v` one whole `${VAR}` (a name the environment supplies when the profile loads)?
pub fn env_name(v: &str) -> Option<&str> {
    let name = v.trim().strip_prefix("${")?.strip_suffix('}')?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then_some(name)
}

/// Overlay settings (a profile's `target.overlay`, or `stampede overlay --config`) with
/// an `admin_token: ${VAR}` read from `env`; the settings as written keep `${VAR}`, so
/// what is echoed never holds the token. Err: the variable is not set (its name).
pub fn admin_token_env(
    o: &serde_yaml::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<serde_yaml::Value, String> {
    let mut o = o.clone();
    if let Some(t) = o.get_mut("admin_token")
        && let Some(name) = t.as_str().and_then(env_name).map(str::to_string)
    {
        match env(&name) {
            Some(v) => *t = serde_yaml::Value::String(v),
            None => return Err(format!("`${{{name}}}` is not set in the environment")),
        }
    }
    Ok(o)
}

impl RawProfile {
    /// The profile as outputs echo it (report.json's `profile`, the page): as written,
    /// the overlay's `admin_token` masked unless it is a `${VAR}`.
    pub fn shown(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(t) = v.pointer_mut("/target/overlay/admin_token")
            && t.as_str().is_none_or(|s| env_name(s).is_none())
        {
            *t = serde_json::Value::String(MASKED.into());
        }
        v
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawProfile {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<Text>,
    pub target: Option<RawTarget>,
    pub population: Option<RawPopulation>,
    pub time_scale: Option<Text>,
    pub baseline: Option<RawBaseline>,
    pub storm: Option<RawStorm>,
    pub client: Option<RawClient>,
    pub observe: Option<RawObserve>,
    pub slo: Option<RawSlo>,
    pub gate: Option<Vec<String>>,
    /// The brake: `success_rate < 5% for 30s`, ...
    pub abort: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawTarget {
    /// `embedded`, a preset name, or a mapping of overlay settings.
    pub overlay: Option<serde_yaml::Value>,
    pub nodes: Option<Vec<String>>,
    pub pick: Option<Text>,
    pub timeout: Option<Text>,
    pub connection: Option<Text>,
    /// `1.1` (the default), `2` or `auto`: the HTTP version the login flow speaks.
    pub http: Option<Text>,
    pub max_connections: Option<Text>,
    pub max_in_flight: Option<Text>,
    pub metrics: Option<RawMetrics>,
    pub tls: Option<RawTls>,
    /// Addresses and CIDR ranges the clients connect from.
    pub source_addresses: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawTls {
    pub verify: Option<Text>,
    pub ca: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawMetrics {
    pub url: Option<String>,
    pub series: Option<Vec<String>>,
    pub derived: Option<Vec<RawDerived>>,
    pub received: Option<RawReceived>,
}

/// `target.metrics.received`: the target's own count of the requests it received.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawReceived {
    pub series: Option<String>,
    pub step: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawDerived {
    pub name: Option<String>,
    pub expr: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawPopulation {
    pub clients: Option<Text>,
    pub simulate: Option<Text>,
    /// Absent from the report when absent from the profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<RawWarmup>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawWarmup {
    pub enabled: Option<Text>,
    pub rate: Option<Text>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawBaseline {
    pub duration: Option<Text>,
    pub rate: Option<Text>,
    /// Absent from the report when absent from the profile: reports of profiles that
    /// predate it stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<Text>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawStorm {
    pub waves: Option<Vec<RawWave>>,
    pub trace: Option<RawTrace>,
    pub downtime: Option<Text>,
    pub actions: Option<Vec<RawAction>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawAction {
    pub at: Option<Text>,
    pub run: Option<Vec<Text>>,
    pub timeout: Option<Text>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawWave {
    pub name: Option<String>,
    pub at: Option<Text>,
    pub share: Option<Text>,
    pub spread: Option<Text>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawTrace {
    File(String),
    Spec {
        file: String,
        #[serde(default)]
        counts: Option<Text>,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawClient {
    pub login: Option<Vec<RawStep>>,
    pub retry: Option<RawRetry>,
    pub session: Option<RawSession>,
    pub on_reboot: Option<Vec<RawStep>>,
    pub data: Option<RawData>,
    pub cookies: Option<Text>,
}

/// `data: users.csv` or `data: { file: users.csv, order: shuffle }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawData {
    File(String),
    Spec {
        file: String,
        #[serde(default)]
        order: Option<Text>,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawStep {
    pub name: Option<String>,
    /// `POST /login`
    pub request: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    pub expect: Option<RawExpect>,
    /// name → where the value is in the answer.
    pub capture: Option<BTreeMap<String, RawCapture>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawExpect {
    One(Text),
    Many(Vec<Text>),
    Checks(RawChecks),
}

/// `expect: { status: [200, 204], json: { /ok: true }, body_contains: welcome }`
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawChecks {
    pub status: Option<RawStatus>,
    pub json: Option<BTreeMap<String, serde_json::Value>>,
    pub body_contains: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawStatus {
    One(Text),
    Many(Vec<Text>),
}

/// One of `json: /pointer`, `header: name`, `regex: '...(group)...'`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawCapture {
    pub json: Option<String>,
    pub header: Option<String>,
    pub regex: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawRetry {
    pub policy: Option<Text>,
    pub base: Option<Text>,
    pub cap: Option<Text>,
    pub jitter: Option<Text>,
    pub max_attempts: Option<Text>,
    pub honor_retry_after: Option<Text>,
    pub retry_after_cap: Option<Text>,
    pub budget: Option<RawBudget>,
    pub throttle: Option<RawThrottle>,
}

/// gRPC's retry throttling: a token bucket per client.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawBudget {
    pub max_tokens: Option<Text>,
    pub token_ratio: Option<Text>,
}

/// The SRE book's client-side adaptive throttling.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawThrottle {
    pub k: Option<Text>,
    pub window: Option<Text>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawSession {
    pub keepalive: Option<RawStep>,
    pub every: Option<Text>,
    pub initially_online: Option<Text>,
    /// HTTP/2: `at-once` (default) or `next-request`, after a dropped connection.
    pub reconnect: Option<Text>,
    /// A held connection per online client (a WebSocket), instead of keepalives.
    pub connect: Option<RawConnect>,
}

/// `connect: { websocket: /gateway, headers: {..}, heartbeat: {..}, relogin_on: [4004] }`
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawConnect {
    pub websocket: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub heartbeat: Option<RawHeartbeat>,
    pub relogin_on: Option<Vec<Text>>,
    /// `reason`: a back-off close (1012, 1013) carries its wait in its reason text.
    pub retry_after_from: Option<Text>,
    /// The server's first message that makes the connection usable (`{"op":"ready"}`).
    pub ready: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawHeartbeat {
    pub every: Option<Text>,
    pub send: Option<String>,
    pub expect_within: Option<Text>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawObserve {
    pub window: Option<Text>,
    pub until_recovered: Option<Text>,
    pub confirm: Option<Text>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct RawSlo {
    pub success_rate: Option<Text>,
    pub p99: Option<Text>,
    pub hold: Option<Text>,
    pub min_requests: Option<Text>,
    pub tolerate: Option<Text>,
    pub noise: Option<Text>,
    /// A connected population: the share of the clients that should be online who hold
    /// their connection.
    pub connected: Option<Text>,
}
