//! The vocabulary of outcomes shared by the transport (what became of a request), the
//! recorder (which counts them), the analysis (which judges a run) and the reports: the
//! class of a request, a step's result, a run's verdict and how a run stopped.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What became of one request (or one login attempt, which takes the class of the step
/// that decided it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Ok,
    /// A status the flow did not expect.
    Status(u16),
    /// 429 or 503 carrying a `Retry-After`.
    RetryAfter(u16),
    /// No byte of the answer arrived before the deadline (the connect, the TLS
    /// handshake, or the wait for the answer's first byte took it all): the target
    /// answered nothing in time. Whether it ever saw the request, its own request
    /// count tells (`target.metrics.received`).
    Timeout,
    /// The answer had begun (at least one byte arrived) but did not end before the
    /// deadline: the target saw the request and answered too slowly.
    TimeoutMidAnswer,
    Refused,
    Reset,
    Tls,
    /// The response head could not be read (not HTTP, too long, too many fields, a bad
    /// length, endless 1xx answers).
    Head,
    /// The response body could not be read.
    Body,
    /// The answer did not hold a value a step captures (a token, a session id).
    Capture,
    /// The answer failed a check beyond its status (`expect: { json, body_contains }`).
    Check,
    /// Any other connection-level failure (DNS, unreachable, ...).
    Connect,
    /// The client ran out of local ports (EADDRNOTAVAIL / EADDRINUSE at connect): the
    /// generator's own limit, not the target's.
    Ports,
    /// The generator ran out of file descriptors (EMFILE / ENFILE): its own limit (or
    /// someone holding its descriptors), never the target's.
    Fds,
    /// Rejected by the client's own adaptive throttle: never sent.
    Throttled,
    /// The engine could not start it (in-flight ceiling reached): never sent.
    Unstarted,
    /// A WebSocket upgrade answered with something that is not one (a 101 without a
    /// valid accept key, a malformed answer).
    WsHandshake,
    /// A held connection closed by the server with this close code (or a connect whose
    /// server closed before it was ready).
    WsClose(u16),
    /// A frame that breaks RFC 6455 (reserved bits, a bad opcode, an unmasked frame ...).
    WsProtocol,
    /// A frame or message over the client's size limit (a 1 GB fragmented message).
    WsTooBig,
    /// A text message that is not UTF-8.
    WsUtf8,
    /// A heartbeat not answered within `expect_within`.
    HeartbeatTimeout,
    /// The server sent pings faster than a client answers them (more than 100 a second).
    PingFlood,
    /// `target.http: 2` over `https://`: the server did not select ALPN `h2`.
    H2NotNegotiated,
    /// A stream lost to a GOAWAY with an error code, at or below its last-stream-id
    /// (the server may have processed it). Streams above it are retried, not counted.
    GoAway,
    /// RST_STREAM REFUSED_STREAM: the server did not process the stream.
    RefusedStream,
    /// RST_STREAM or GOAWAY with ENHANCE_YOUR_CALM: the server's own brake.
    EnhanceYourCalm,
    /// RST_STREAM with any other code.
    StreamReset,
    /// The connection's PING was not answered within `target.timeout`.
    PingTimeout,
    /// The server broke HTTP/2 (a bad frame, a frame too big, a bad header block).
    H2Protocol,
    /// A stream's or the connection's flow-control window stayed shut until the timeout.
    H2FlowStall,
    /// A header block over the client's limit (an HPACK bomb, endless CONTINUATION).
    H2HeadersTooBig,
    /// SETTINGS or PING frames faster than any keepalive would send them.
    H2SettingsFlood,
}

impl Class {
    pub fn is_ok(self) -> bool {
        self == Class::Ok
    }
    /// A failure of the generator itself (out of ports or file descriptors): the target
    /// never saw it. Not a login that failed: the window it falls in is not judged, and
    /// the run is marked as one whose generator fell behind.
    pub fn is_generator_side(self) -> bool {
        matches!(self, Class::Ports | Class::Fds)
    }
    /// Was a request actually put on the wire?
    pub fn was_sent(self) -> bool {
        !matches!(self, Class::Throttled | Class::Unstarted)
    }
    /// Either kind of timeout: no answer in time, or an answer cut by the deadline.
    pub fn is_timeout(self) -> bool {
        matches!(self, Class::Timeout | Class::TimeoutMidAnswer)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Class::Ok => f.write_str("ok"),
            Class::Status(s) => write!(f, "http_{s}"),
            Class::RetryAfter(s) => write!(f, "http_{s}_retry_after"),
            Class::Timeout => f.write_str("timeout"),
            Class::TimeoutMidAnswer => f.write_str(TIMEOUT_MIDANSWER),
            Class::Refused => f.write_str("refused"),
            Class::Reset => f.write_str("reset"),
            Class::Tls => f.write_str("tls"),
            Class::Head => f.write_str("head"),
            Class::Body => f.write_str("body"),
            Class::Capture => f.write_str("capture"),
            Class::Check => f.write_str("check"),
            Class::Connect => f.write_str("connect"),
            Class::Ports => f.write_str("ports"),
            Class::Fds => f.write_str("fds"),
            Class::Throttled => f.write_str("throttled"),
            Class::Unstarted => f.write_str("unstarted"),
            Class::WsHandshake => f.write_str("ws_handshake"),
            Class::WsClose(code) => write!(f, "ws_close_{code}"),
            Class::WsProtocol => f.write_str("ws_protocol"),
            Class::WsTooBig => f.write_str("ws_too_big"),
            Class::WsUtf8 => f.write_str("ws_utf8"),
            Class::HeartbeatTimeout => f.write_str("heartbeat_timeout"),
            Class::PingFlood => f.write_str("ping_flood"),
            Class::H2NotNegotiated => f.write_str("h2_not_negotiated"),
            Class::GoAway => f.write_str("goaway"),
            Class::RefusedStream => f.write_str("refused_stream"),
            Class::EnhanceYourCalm => f.write_str("enhance_your_calm"),
            Class::StreamReset => f.write_str("stream_reset"),
            Class::PingTimeout => f.write_str("ping_timeout"),
            Class::H2Protocol => f.write_str("h2_protocol"),
            Class::H2FlowStall => f.write_str("h2_flow_stall"),
            Class::H2HeadersTooBig => f.write_str("h2_headers_too_big"),
            Class::H2SettingsFlood => f.write_str("h2_settings_flood"),
        }
    }
}

/// The class name of a timeout whose answer had begun.
pub const TIMEOUT_MIDANSWER: &str = "timeout_midanswer";
/// Both timeout classes by name, for analyses that read report.json's outcome maps.
pub const TIMEOUT_CLASSES: [&str; 2] = ["timeout", TIMEOUT_MIDANSWER];

/// A flow's steps' results, inline up to two (most login flows): no allocation per
/// request for them (#27).
pub type Steps = smallvec::SmallVec<[StepResult; 2]>;

/// The result of one step of one attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepResult {
    pub class: Class,
    /// Intended instant of the step (for step 0 the attempt's; later steps start when
    /// the previous one ends) to its end.
    pub latency: Duration,
    pub service: Duration,
}

/// Whether, and how, the target recovered: the analysis's answer about a run. The
/// kebab-case names are the ones thresholds, report.json and the pages use.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
    strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Verdict {
    /// No unhealthy window after the trigger.
    NeverDegraded,
    Recovered,
    /// Recovered, then fell back for at least half a hold.
    RecoveredThenRelapsed,
    /// No recovery before the observation limit, and no evidence of metastability.
    NotRecovered,
    /// Not recovered although the offered load had been back at baseline for a hold:
    /// held down by its own feedback (retries, relogins), not by the trigger.
    Metastable,
    /// No window after the trigger had enough completed logins to be judged.
    InsufficientData,
    /// Not recovered, and no feedback loop to blame: the storm did not raise the load,
    /// yet the target stayed down (an outage, failing whatever the load).
    Down,
    /// The target never met its SLO, not even at baseline: nothing to recover to.
    NeverHealthy,
    /// Not recovered yet, but getting there: the locked-out clients fell and success
    /// rose over the run's end (a limiter working off its queue).
    Improving,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Was the target healthy at the end, having been so for a hold (or throughout)?
    pub fn stayed_recovered(self) -> bool {
        matches!(self, Verdict::NeverDegraded | Verdict::Recovered)
    }

    /// 0 is best. Not recovered, metastable and insufficient data rank alike: none
    /// of them shows a recovery.
    pub fn rank(self) -> u8 {
        match self {
            Verdict::NeverDegraded => 0,
            Verdict::Recovered => 1,
            Verdict::RecoveredThenRelapsed => 2,
            Verdict::NotRecovered
            | Verdict::Metastable
            | Verdict::InsufficientData
            | Verdict::Down
            | Verdict::NeverHealthy
            | Verdict::Improving => 3,
        }
    }

    /// Takes the kebab-case name; snake_case and any letter case are accepted too.
    pub fn parse(s: &str) -> Result<Verdict, UnknownVerdict> {
        let k = s.trim().to_ascii_lowercase().replace('_', "-");
        k.parse().map_err(|_| UnknownVerdict(s.trim().to_string()))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict name not known.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{0}` is not a verdict: write one of {names}", names = <Verdict as strum::VariantNames>::VARIANTS.join(", "))]
pub struct UnknownVerdict(pub String);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    Completed,
    Interrupted,
    /// An engine failed (a panic on the engine path): the report holds what it had
    /// recorded until then, and `engine.failures` says what happened.
    Failed,
    /// An abort condition (`abort:`, `--abort-when`) held: sending stopped and what was
    /// in flight drained, as on a first Ctrl-C. The report's `abort` says which and when.
    Aborted,
    /// The preflight guard stopped it: the first logins before the trigger all failed
    /// the same way (a flow that cannot work, not a storm). The report's `preflight`
    /// says how, with the first example.
    Preflight,
    /// The run was refused or failed before its first attempt (the target did not
    /// answer, a host was not confirmed, the agreed start had passed): nothing was sent.
    /// The report's `stop_detail` says why; it has no windows and no verdict.
    NotStarted,
}

/// The abort condition that stopped a run, and when it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbortFacts {
    /// The condition as written, `for` part included.
    pub expr: String,
    /// Run time (ms) at the end of the last window in which it held.
    pub at_ms: u64,
    /// That window's index.
    pub window: u32,
}

/// The preflight guard's finding: the first `logins` completed logins, all before the
/// trigger, all failed with `class`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightFacts {
    /// Completed logins judged (at least the guard's N: it judges whole windows).
    pub logins: u64,
    /// The one outcome class they all had (`capture`, `http_401`, ...).
    pub class: String,
    /// The transport's first example of that class, as the terminal shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// Run time (ms) at the end of the window that decided.
    pub at_ms: u64,
    pub window: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn verdict_names_are_serdes_and_parse_back() {
        for v in Verdict::VARIANTS {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(Verdict::parse(v.as_str()).unwrap(), *v);
            assert_eq!(
                Verdict::parse(&v.as_str().replace('-', "_").to_uppercase()).unwrap(),
                *v
            );
        }
        let e = Verdict::parse("bogus").unwrap_err().to_string();
        assert!(e.contains("`bogus`") && e.contains("never-degraded, recovered,"), "{e}");
    }
}
