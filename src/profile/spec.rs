//! The validated profile: what a run reads once validation has turned the raw document
//! into types with their units. The choice enums derive their kebab-case names once
//! (strum), for serde and for validation alike.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::{Capture, Checks, Dist, Node, RawProfile, Template};
use crate::threshold::{AbortWhen, Threshold};
use crate::units::{Rate, Share};

/// A validated profile. Durations are run (wall-clock) time except where a field
/// says it is modelled time, which `time_scale` compresses.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub target: Target,
    pub population: Population,
    /// Modelled seconds per run second for the storm's shape (waves, spreads, downtime,
    /// trace timestamps).
    pub time_scale: f64,
    pub baseline: Baseline,
    pub storm: Storm,
    pub client: ClientSpec,
    pub observe: Observe,
    pub slo: Slo,
    /// Thresholds, parsed and checked against the flow's step names.
    pub gate: Vec<Threshold>,
    /// Abort conditions (the brake), checked like the gate.
    pub abort: Vec<AbortWhen>,
    /// The document as written (`${VAR}` not expanded: no secret in it), for the report.
    pub raw: RawProfile,
    pub path: PathBuf,
}

impl Profile {
    /// How many clients (of the whole run, all parts) log in during the warm-up: those
    /// online at the start, when the login flow holds a session (a capture or cookies)
    /// and the warm-up is on; 0 otherwise (a flow without a session has nothing to get).
    pub fn warmup_clients(&self) -> u32 {
        let online = self.client.session.as_ref().is_some_and(|s| s.initially_online);
        // A connected population opens its connections before the clock too.
        let held = self.client.session.as_ref().is_some_and(|s| s.connect.is_some());
        let holds = held || self.client.cookies || self.client.login.iter().any(|s| !s.captures.is_empty());
        if online && holds && self.population.warmup.enabled {
            self.population.simulated
        } else {
            0
        }
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: Endpoint,
    pub pick: Pick,
    /// Per request.
    pub timeout: Duration,
    pub connection: ConnMode,
    /// The HTTP version the flows speak (`target.http`).
    pub http: HttpVersion,
    /// Pool size in `reuse` mode.
    pub max_connections: usize,
    /// Safety ceiling on attempts in flight; beyond it attempts are counted as unstarted.
    pub max_in_flight: usize,
    pub metrics: Option<MetricsScrape>,
    /// For `https://` nodes.
    pub tls: TlsSpec,
    /// The source addresses clients connect from, expanded (ranges to their
    /// addresses); each client keeps one, `id mod len`. Empty: the kernel chooses.
    pub source_addresses: Vec<std::net::IpAddr>,
}

impl Target {
    /// The protocol the flows speak, as reports name it: `http/1.1`, `h2` (over
    /// `https://`, ALPN) or `h2c` (over `http://`, prior knowledge).
    pub fn protocol(&self) -> &'static str {
        let tls = matches!(&self.endpoint, Endpoint::Nodes(n) if n.iter().any(|n| n.tls));
        match self.http {
            HttpVersion::Http1 => "http/1.1",
            HttpVersion::Http2 | HttpVersion::Auto if tls => "h2",
            HttpVersion::Http2 | HttpVersion::Auto => "h2c",
        }
    }
}

/// How `https://` nodes are trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// Check the server's certificate chain and name (the default). `false` accepts
    /// any certificate, for test targets with self-signed ones.
    pub verify: bool,
    /// Extra trusted certificates (PEM, read when the profile loads), beside the
    /// machine's own roots: the file as given, and its certificates in DER.
    pub ca: Option<(String, Vec<Vec<u8>>)>,
}

impl Default for TlsSpec {
    fn default() -> Self {
        TlsSpec { verify: true, ca: None }
    }
}

#[derive(Debug, Clone)]
pub enum Endpoint {
    /// The reference overlay, started in-process, with its settings as written under
    /// `target.overlay` (the overlay's own config checks them: see [`parse_with`]).
    Embedded(serde_yaml::Value),
    Nodes(Vec<Node>),
}

pub use super::choices::{ConnMode, HttpVersion, Pick, Reconnect};

#[derive(Debug, Clone)]
pub struct MetricsScrape {
    /// `None`: the embedded overlay's own `/metrics`.
    pub url: Option<String>,
    /// Series to keep (names as exposed); empty keeps all.
    pub series: Vec<String>,
    /// Series computed from two scraped ones in each window.
    pub derived: Vec<Derived>,
    /// The target's own count of the login requests it received, read before and after
    /// the run: how many requests never reached it.
    pub received: Option<Received>,
}

/// `target.metrics.received`: a counter the target keeps of the requests it received
/// (a selector; the label sets it matches are added up), compared with the requests
/// of the login flow (or of its `step`) the run put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub series: String,
    /// A login step's name: only its requests are compared. None: every step's.
    pub step: Option<String>,
}

/// `name: a / b` or `name: a - b`, over two scraped series (each read as
/// `series` is: a labelled name exactly, a bare name summed over its label sets).
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub name: String,
    pub a: String,
    pub op: DerivedOp,
    pub b: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerivedOp {
    /// A ratio; undefined (left out) when `b` is zero.
    Div,
    Sub,
}

#[derive(Debug, Clone, Copy)]
pub struct Population {
    /// The population being modelled ...
    pub modelled: u64,
    /// ... and the virtual clients driven.
    pub simulated: u32,
    /// How the clients online at the start get their session before the clock starts.
    pub warmup: Warmup,
}

/// `population.warmup`: clients online when the run starts logged in long before it
/// (real ones did), so with a flow that holds a session (captures, cookies) each logs
/// in once before time zero, at most `rate` per second, unmeasured. Without it, their
/// first keepalive would find no session and the baseline would carry a login storm of
/// its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warmup {
    pub enabled: bool,
    /// Warm-up logins per second, the whole run's (engines and shards share it).
    pub rate: crate::units::Rate,
}

impl Warmup {
    /// The rate when the profile gives none: 10,000 online clients in 5 s.
    pub const DEFAULT_RATE: crate::units::Rate = crate::units::Rate(2000.0);
}

impl Default for Warmup {
    fn default() -> Self {
        Warmup {
            enabled: true,
            rate: Warmup::DEFAULT_RATE,
        }
    }
}

impl Population {
    /// How many real clients one virtual client stands for.
    pub fn weight(&self) -> f64 {
        self.modelled as f64 / self.simulated.max(1) as f64
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Baseline {
    /// Run time before the trigger.
    pub duration: Duration,
    /// Background first logins per run second, for the whole run.
    pub rate: Rate,
    /// How those logins are spaced.
    pub arrivals: Arrivals,
}

/// How background logins are spaced in time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Arrivals {
    /// Independent arrivals (exponential gaps of mean 1/rate): many clients that do not
    /// know of each other, as a real population's logins are. The default.
    Poisson,
    /// One every 1/rate exactly, from a seeded phase: a steady load whose every window
    /// holds the same count, so a baseline reads without Poisson noise.
    Uniform,
}

#[derive(Debug, Clone)]
pub struct Storm {
    pub source: StormSource,
    /// Modelled time between a reboot and its first login attempt.
    pub downtime: Dist,
    /// Commands run on the target at instants of the storm (`storm.actions`).
    pub actions: Vec<super::Action>,
}

#[derive(Debug, Clone)]
pub enum StormSource {
    Waves(Vec<Wave>),
    /// Reboot events: (modelled offset from the trigger, simulated clients).
    Trace {
        path: PathBuf,
        events: Vec<(Duration, f64)>,
    },
    None,
}

#[derive(Debug, Clone)]
pub struct Wave {
    pub name: String,
    /// Modelled offset from the trigger.
    pub at: Duration,
    pub share: Share,
    /// Modelled offsets around `at`.
    pub spread: Dist,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub method: http::Method,
    pub path: Template,
    pub headers: Vec<(http::header::HeaderName, Template)>,
    pub body: Option<Template>,
    pub expect: Vec<u16>,
    /// Checked in order after the status; the first that fails decides (`check`).
    pub checks: Checks,
    pub captures: Vec<Capture>,
    /// Sends the client's cookies and stores what the answer sets (`client.cookies`).
    pub cookies: bool,
}

impl Step {
    /// A step with only a status to check: what the built-in defaults need.
    pub fn plain(name: &str, method: http::Method, path: Template, expect: Vec<u16>) -> Step {
        Step {
            name: name.to_string(),
            method,
            path,
            headers: Vec::new(),
            body: None,
            expect,
            checks: Checks::default(),
            captures: Vec::new(),
            cookies: false,
        }
    }

    /// Whether the answer's body must be kept (captures, body checks). A step that
    /// needs neither reads and drops its body, as it always did.
    pub fn keeps_body(&self) -> bool {
        !self.captures.is_empty() || !self.checks.is_empty()
    }

    /// Whether the answer's head must be kept (header captures, cookies).
    pub fn keeps_head(&self) -> bool {
        self.cookies
            || self
                .captures
                .iter()
                .any(|c| matches!(c.from, super::CaptureFrom::Header(_)))
    }
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub login: Vec<Step>,
    pub retry: RetryPolicy,
    pub session: Option<Session>,
    pub on_reboot: Vec<Step>,
    /// Every template value's name, by slot (`data.<column>` first, then captures):
    /// each client of a flow with any keeps this many values.
    pub captures: Vec<String>,
    /// `client.data`: its columns hold slots 0.. in the order of `captures`.
    pub data: Option<super::DataFile>,
    /// One cookie jar per client (`client.cookies: true`).
    pub cookies: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum DataOrder {
    /// Client N takes row N mod rows.
    InOrder,
    /// The rows shuffled once by the profile's seed, then as `in-order`.
    Shuffle,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum RetryKind {
    None,
    Immediate,
    Fixed,
    Exponential,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Jitter {
    None,
    /// U(0, min(cap, base·2ⁿ))
    Full,
    /// d/2 + U(0, d/2) with d = min(cap, base·2ⁿ)
    Equal,
    /// min(cap, U(base, 3·previous))
    Decorrelated,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub kind: RetryKind,
    pub base: Duration,
    pub cap: Duration,
    pub jitter: Jitter,
    /// Attempts per login, the first included.
    pub max_attempts: u32,
    pub honor_retry_after: bool,
    /// The longest wait a `Retry-After` imposes (a target may ask for days); longer
    /// waits are cut to it and counted. Default: `cap`.
    pub retry_after_cap: Duration,
    pub budget: Option<RetryBudget>,
    pub throttle: Option<AdaptiveThrottle>,
}

/// gRPC retry throttling: tokens start at `max_tokens`, a failure takes one, a success
/// gives back `token_ratio`; a retry is allowed only while tokens > max_tokens / 2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    pub max_tokens: f64,
    pub token_ratio: f64,
}

/// SRE book: refuse locally with probability max(0, (requests − k·accepts)/(requests + 1)),
/// counts decaying over `window`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveThrottle {
    pub k: f64,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct Session {
    /// The request that keeps an HTTP session alive, every `every`; None for a held
    /// connection, whose heartbeats do that.
    pub keepalive: Option<Step>,
    pub every: Duration,
    /// Each online client holds its own connection (`client.session.connect`).
    pub connect: Option<Connect>,
    /// Clients 0..simulated are logged in when the run starts.
    pub initially_online: bool,
    /// HTTP/2: when a client whose connection dropped connects again.
    pub reconnect: Reconnect,
}

/// A held connection: after its login, each online client opens its own WebSocket and
/// holds it while it is online; a drop sends it back under `client.retry`.
#[derive(Debug, Clone)]
pub struct Connect {
    /// The upgrade request: `GET` the WebSocket path, with the profile's headers.
    pub upgrade: Step,
    pub heartbeat: Heartbeat,
    /// Close codes after which the client logs in again instead of resuming (an HTTP 401
    /// on the upgrade always does).
    pub relogin_on: Vec<u16>,
    /// A back-off close (1012, 1013) names its wait in its reason (`retry after 5`).
    pub retry_after_from_reason: bool,
    /// The connection counts as connected once a first message containing this arrives
    /// (within `target.timeout`); None: at the upgrade's 101.
    pub ready: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub every: Duration,
    pub send: HeartbeatSend,
    /// A heartbeat not answered (any message, or the pong of a ping) within this drops
    /// the connection.
    pub expect_within: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeartbeatSend {
    /// A text message.
    Text(String),
    /// A WebSocket ping frame, answered by a pong.
    Ping,
}

#[derive(Debug, Clone, Copy)]
pub struct Observe {
    pub window: Duration,
    /// How long to keep observing after the storm's last first login was due.
    pub after_storm: Duration,
    /// The confirmation probe's longest run (`observe.confirm`): when the run ends not
    /// recovered, retries and relogins are silenced this long at most while the
    /// baseline goes on. None: no probe.
    pub confirm: Option<Duration>,
}

/// The SLO a window is judged by. What the profile leaves out (None) the analysis
/// derives from the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    pub success_rate: Option<f64>,
    pub p99: Option<Duration>,
    pub hold: Option<Duration>,
    /// Fewer completed logins than this in a window: the window is not judged.
    pub min_requests: u64,
    /// How many consecutive unhealthy windows, with healthy ones on both sides, are an
    /// isolated blip rather than an outage (0: none).
    pub tolerate: u32,
    /// The significance level of the one-sided binomial test that tells a window's miss
    /// from the sampling noise of its count (0: every miss counts).
    pub noise: f64,
    /// A connected population: the share of the clients that should be online who are
    /// connected, for a window to be healthy (its heartbeats' p99 then meets `p99`).
    pub connected: Option<f64>,
}

/// One isolated unhealthy window is tolerated by default.
pub const DEFAULT_TOLERATE: u32 = 1;
/// A miss a target at the SLO would show at least 5 % of the time is noise.
pub const DEFAULT_NOISE: f64 = 0.05;

impl Default for Slo {
    /// Everything derived; 10 completed logins to judge a window.
    fn default() -> Self {
        Slo {
            success_rate: None,
            p99: None,
            hold: None,
            min_requests: 10,
            tolerate: DEFAULT_TOLERATE,
            noise: DEFAULT_NOISE,
            connected: None,
        }
    }
}
