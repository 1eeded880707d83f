//! Profiles: the YAML schema, its defaults, and the one validation step that turns a
//! raw document into a `Profile` or into every problem it has, each with file, line
//! and field.

mod dist;
mod lines;
mod node;
mod raw;
mod template;
mod trace;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

pub use dist::{Dist, DistError};
pub use lines::Lines;
pub use node::{Node, NodeError};
pub use raw::RawProfile;
pub use template::{Template, Vars};
pub use trace::parse_trace;

use crate::threshold::{Threshold, parse_all};
use crate::units::{Dur, Rate, Share, Text};

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
    /// The document as written (`${VAR}` not expanded: no secret in it), for the report.
    pub raw: RawProfile,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: Endpoint,
    pub pick: Pick,
    /// Per request.
    pub timeout: Duration,
    pub connection: ConnMode,
    /// Pool size in `reuse` mode.
    pub max_connections: usize,
    /// Safety ceiling on attempts in flight; beyond it attempts are counted as unstarted.
    pub max_in_flight: usize,
    pub metrics: Option<MetricsScrape>,
    /// For `https://` nodes.
    pub tls: TlsSpec,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pick {
    Random,
    RoundRobin,
    /// The client's id picks its node: the same client always lands on the same node.
    Hash,
    /// A client's host cache: first node first, the next one after a connection failure.
    Failover,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnMode {
    /// A new connection for every login attempt (a rebooted client has no pool).
    Fresh,
    /// A shared pool of keep-alive connections.
    Reuse,
}

#[derive(Debug, Clone)]
pub struct MetricsScrape {
    /// `None`: the embedded overlay's own `/metrics`.
    pub url: Option<String>,
    /// Series to keep (names as exposed); empty keeps all.
    pub series: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Population {
    /// The population being modelled ...
    pub modelled: u64,
    /// ... and the virtual clients driven.
    pub simulated: u32,
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
}

#[derive(Debug, Clone)]
pub struct Storm {
    pub source: StormSource,
    /// Modelled time between a reboot and its first login attempt.
    pub downtime: Dist,
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
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub login: Vec<Step>,
    pub retry: RetryPolicy,
    pub session: Option<Session>,
    pub on_reboot: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryKind {
    None,
    Immediate,
    Fixed,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
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
    pub keepalive: Step,
    pub every: Duration,
    /// Clients 0..simulated are logged in when the run starts.
    pub initially_online: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Observe {
    pub window: Duration,
    /// How long to keep observing after the storm's last first login was due.
    pub after_storm: Duration,
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
}

impl Default for Slo {
    /// Everything derived; 10 completed logins to judge a window.
    fn default() -> Self {
        Slo {
            success_rate: None,
            p99: None,
            hold: None,
            min_requests: 10,
        }
    }
}

/// One problem in a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

/// Everything wrong with one profile file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ProfileError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{}: {} problem{}",
            self.file.display(),
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            let at = match p.line {
                Some(l) => format!("{}:{}", self.file.display(), l),
                None => self.file.display().to_string(),
            };
            if p.field.is_empty() {
                writeln!(f, "  {at}: {}", p.message)?;
            } else {
                writeln!(f, "  {at}: {}: {}", p.field, p.message)?;
            }
        }
        Ok(())
    }
}

/// Checks the embedded overlay's settings (`target.overlay`) given the target's request
/// timeout and the simulated population; returns every problem as (path under
/// `target.overlay`, message). The overlay owns its settings, so the caller supplies
/// its check (`run::parse` does).
pub type OverlayCheck<'a> = &'a dyn Fn(&serde_yaml::Value, Duration, u64) -> Vec<(String, String)>;

/// Parses and validates profile text; `path` names it in errors and anchors relative
/// paths (traces); `env` resolves `${VAR}`. The overlay's settings are kept as written,
/// unchecked: use [`parse_with`] (or `run::parse`) to check them too.
pub fn parse(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Profile, ProfileError> {
    parse_with(text, path, env, &|_, _, _| Vec::new())
}

/// [`parse`], with the embedded overlay's settings checked by `overlay`.
pub fn parse_with(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    overlay: OverlayCheck<'_>,
) -> Result<Profile, ProfileError> {
    let fail = |problems| ProfileError {
        file: path.to_path_buf(),
        problems,
    };
    let lines = Lines::of(text);
    let mut unknown = Vec::new();
    let de = serde_yaml::Deserializer::from_str(text);
    let raw: RawProfile = match serde_ignored::deserialize(de, |p| unknown.push(path_string(&p))) {
        Ok(r) => r,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            return Err(fail(vec![Problem {
                line,
                field: String::new(),
                message: e.to_string(),
            }]));
        }
    };
    let mut v = Validator {
        lines: &lines,
        problems: Vec::new(),
        env,
        overlay,
        dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    for u in unknown {
        v.err(
            &u,
            "unknown field (check its spelling and its place; see the README's profile reference)",
        );
    }
    let profile = v.profile(&raw, path);
    if v.problems.is_empty() {
        Ok(profile.expect("no problems means a profile"))
    } else {
        v.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        Err(fail(v.problems))
    }
}

fn path_string(p: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", path_string(parent)),
        P::Map { parent, key } => {
            let parent = path_string(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => path_string(parent),
    }
}

struct Validator<'a> {
    lines: &'a Lines,
    problems: Vec<Problem>,
    env: &'a dyn Fn(&str) -> Option<String>,
    overlay: OverlayCheck<'a>,
    dir: PathBuf,
}

impl Validator<'_> {
    fn err(&mut self, field: &str, message: impl fmt::Display) {
        self.problems.push(Problem {
            line: self.lines.line(field),
            field: field.to_string(),
            message: message.to_string(),
        });
    }

    fn value<T: FromStr>(&mut self, field: &str, v: &Option<Text>, default: T) -> T
    where
        T::Err: fmt::Display,
    {
        match v {
            None => default,
            Some(Text(s)) => match s.replace('_', "").parse::<T>() {
                Ok(x) => x,
                Err(e) => {
                    self.err(field, e);
                    default
                }
            },
        }
    }

    /// A unit value whose own parser handles `_` (durations, rates).
    fn unit<T: FromStr>(&mut self, field: &str, v: &Option<Text>, default: T) -> T
    where
        T::Err: fmt::Display,
    {
        match v {
            None => default,
            Some(Text(s)) => s.parse::<T>().unwrap_or_else(|e| {
                self.err(field, e);
                default
            }),
        }
    }

    fn choice<T: Copy>(&mut self, field: &str, v: &Option<Text>, default: T, options: &[(&str, T)]) -> T {
        let Some(Text(s)) = v else { return default };
        match options.iter().find(|(name, _)| name == s) {
            Some((_, t)) => *t,
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.err(field, format!("`{s}` is not one of: {}", names.join(", ")));
                default
            }
        }
    }

    fn template(&mut self, field: &str, text: &str) -> Template {
        match Template::parse(text, self.env) {
            Ok(t) => t,
            Err(errs) => {
                for e in errs {
                    self.err(field, e);
                }
                Template::literal(text)
            }
        }
    }

    fn profile(&mut self, raw: &RawProfile, path: &Path) -> Option<Profile> {
        let name = match &raw.name {
            Some(n) if !n.trim().is_empty() => n.clone(),
            _ => {
                self.err("name", "every profile needs a name (it names the report folder)");
                String::new()
            }
        };
        let seed = self.value("seed", &raw.seed, 1u64);
        let population = self.population(raw.population.as_ref());
        let target = self.target(raw.target.as_ref(), &population);
        let time_scale = self.value("time_scale", &raw.time_scale, 1.0f64);
        if !(time_scale.is_finite() && time_scale > 0.0) {
            self.err(
                "time_scale",
                "must be a number above zero (60 replays an hour in a minute)",
            );
        }
        let b = raw.baseline.clone().unwrap_or_default();
        let baseline = Baseline {
            duration: self.unit("baseline.duration", &b.duration, Dur(Duration::ZERO)).0,
            rate: self.unit("baseline.rate", &b.rate, Rate(0.0)),
        };
        let storm = self.storm(raw.storm.as_ref(), &population);
        let client = self.client(raw.client.as_ref());
        let o = raw.observe.clone().unwrap_or_default();
        let observe = Observe {
            window: self.unit("observe.window", &o.window, Dur(Duration::from_secs(1))).0,
            after_storm: self
                .unit(
                    "observe.until_recovered",
                    &o.until_recovered,
                    Dur(Duration::from_secs(60)),
                )
                .0,
        };
        if observe.window < Duration::from_millis(10) {
            self.err("observe.window", "must be at least 10ms");
        }
        let s = raw.slo.clone().unwrap_or_default();
        let slo = Slo {
            success_rate: s
                .success_rate
                .as_ref()
                .map(|_| self.unit("slo.success_rate", &s.success_rate, Share(0.99)).0),
            p99: s.p99.as_ref().map(|_| self.unit("slo.p99", &s.p99, Dur::default()).0),
            hold: s
                .hold
                .as_ref()
                .map(|_| self.unit("slo.hold", &s.hold, Dur::default()).0),
            min_requests: self.value("slo.min_requests", &s.min_requests, 10u64),
        };
        if let Some(h) = slo.hold
            && h < observe.window
        {
            self.err(
                "slo.hold",
                format!("must be at least one window ({})", Dur(observe.window)),
            );
        }
        if let Some(sess) = &client.session
            && sess.initially_online
            && population.simulated == 0
        {
            self.err(
                "client.session.initially_online",
                "needs population.simulate above zero",
            );
        }
        let gate = self.gate(raw.gate.as_deref().unwrap_or_default(), &client);
        if !self.problems.is_empty() {
            return None;
        }
        Some(Profile {
            name,
            description: raw.description.clone().unwrap_or_default(),
            seed,
            target: target?,
            population,
            time_scale,
            baseline,
            storm,
            client,
            observe,
            slo,
            gate,
            raw: raw.clone(),
            path: path.to_path_buf(),
        })
    }

    fn gate(&mut self, exprs: &[String], client: &ClientSpec) -> Vec<Threshold> {
        let steps: Vec<String> = client.login.iter().map(|s| s.name.clone()).collect();
        match parse_all(exprs, &steps) {
            Ok(t) => t,
            Err(errors) => {
                for (i, e) in errors {
                    self.err(&format!("gate[{i}]"), e);
                }
                Vec::new()
            }
        }
    }

    fn target(&mut self, raw: Option<&raw::RawTarget>, population: &Population) -> Option<Target> {
        let Some(t) = raw else {
            self.err("target", "missing: say `overlay: embedded` or list `nodes`");
            return None;
        };
        let endpoint = match (&t.overlay, &t.nodes) {
            (Some(_), Some(_)) => {
                self.err("target.nodes", "give either `overlay` or `nodes`, not both");
                None
            }
            (Some(o), None) => {
                let timeout = self.unit("target.timeout", &t.timeout, Dur(Duration::from_secs(2))).0;
                let problems = (self.overlay)(o, timeout, population.simulated as u64);
                if problems.is_empty() {
                    Some(Endpoint::Embedded(o.clone()))
                } else {
                    for (path, msg) in problems {
                        let field = if path.is_empty() {
                            "target.overlay".to_string()
                        } else {
                            format!("target.overlay.{path}")
                        };
                        self.err(&field, msg);
                    }
                    None
                }
            }
            (None, Some(nodes)) if nodes.is_empty() => {
                self.err("target.nodes", "the list is empty");
                None
            }
            (None, Some(nodes)) => {
                let mut out = Vec::new();
                for (i, n) in nodes.iter().enumerate() {
                    let field = format!("target.nodes[{i}]");
                    let url = self.template(&field, n).render(Vars {
                        client: 0,
                        attempt: 0,
                        node: i,
                    });
                    match Node::parse(&url) {
                        Ok(node) => out.push(node),
                        Err(e) => self.err(&field, e),
                    }
                }
                Some(Endpoint::Nodes(out))
            }
            (None, None) => {
                self.err("target", "say `overlay: embedded` or list `nodes`");
                None
            }
        };
        let pick = self.choice(
            "target.pick",
            &t.pick,
            Pick::RoundRobin,
            &[
                ("random", Pick::Random),
                ("round-robin", Pick::RoundRobin),
                ("hash", Pick::Hash),
                ("failover", Pick::Failover),
            ],
        );
        let timeout = self.unit("target.timeout", &t.timeout, Dur(Duration::from_secs(2))).0;
        if timeout.is_zero() {
            self.err("target.timeout", "must be above zero");
        }
        let connection = self.choice(
            "target.connection",
            &t.connection,
            ConnMode::Fresh,
            &[("fresh", ConnMode::Fresh), ("reuse", ConnMode::Reuse)],
        );
        let max_connections = self.value("target.max_connections", &t.max_connections, 256usize);
        let max_in_flight = self.value("target.max_in_flight", &t.max_in_flight, 20_000usize);
        if max_connections == 0 {
            self.err("target.max_connections", "must be at least 1");
        }
        if max_in_flight == 0 {
            self.err("target.max_in_flight", "must be at least 1");
        }
        let metrics = t.metrics.as_ref().map(|m| MetricsScrape {
            url: m.url.clone(),
            series: m.series.clone().unwrap_or_default(),
        });
        if let (Some(m), Some(Endpoint::Nodes(_))) = (&metrics, &endpoint)
            && m.url.is_none()
        {
            self.err(
                "target.metrics.url",
                "needed when the target is not the embedded overlay",
            );
        }
        let tls = self.tls(t.tls.as_ref());
        Some(Target {
            endpoint: endpoint?,
            pick,
            timeout,
            connection,
            max_connections,
            max_in_flight,
            metrics,
            tls,
        })
    }

    fn tls(&mut self, raw: Option<&raw::RawTls>) -> TlsSpec {
        let Some(t) = raw else {
            return TlsSpec::default();
        };
        let verify = self.value("target.tls.verify", &t.verify, true);
        let ca = t.ca.as_ref().and_then(|file| {
            let path = self.dir.join(file);
            let pem = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    self.err("target.tls.ca", format!("cannot read `{}`: {e}", path.display()));
                    return None;
                }
            };
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs: Result<Vec<Vec<u8>>, _> = CertificateDer::pem_slice_iter(&pem)
                .map(|c| c.map(|c| c.as_ref().to_vec()))
                .collect();
            match certs {
                Ok(c) if !c.is_empty() => Some((file.clone(), c)),
                Ok(_) => {
                    self.err(
                        "target.tls.ca",
                        format!(
                            "`{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                            path.display()
                        ),
                    );
                    None
                }
                Err(e) => {
                    self.err("target.tls.ca", format!("`{}` is not valid PEM: {e}", path.display()));
                    None
                }
            }
        });
        if !verify && ca.is_some() {
            self.err("target.tls.ca", "has no use with `verify: false`: drop one of them");
        }
        TlsSpec { verify, ca }
    }

    fn population(&mut self, raw: Option<&raw::RawPopulation>) -> Population {
        let p = raw.cloned().unwrap_or_default();
        let simulated = self.value("population.simulate", &p.simulate, 1000u32);
        let modelled = self.value("population.clients", &p.clients, simulated as u64);
        if (modelled as f64) < simulated as f64 {
            self.err(
                "population.simulate",
                format!("drives more virtual clients ({simulated}) than the population it models ({modelled})"),
            );
        }
        Population { modelled, simulated }
    }

    fn storm(&mut self, raw: Option<&raw::RawStorm>, pop: &Population) -> Storm {
        let s = raw.cloned().unwrap_or_default();
        let downtime = self.unit("storm.downtime", &s.downtime, Dist::Fixed(0.0));
        if downtime.range().0 < 0.0 {
            self.err(
                "storm.downtime",
                "can be negative: a client cannot log in before it reboots",
            );
        }
        let source = match (&s.waves, &s.trace) {
            (Some(_), Some(_)) => {
                self.err("storm.trace", "give either `waves` or `trace`, not both");
                StormSource::None
            }
            (Some(waves), None) => {
                let mut out = Vec::new();
                let mut total = 0.0;
                for (i, w) in waves.iter().enumerate() {
                    let f = |k: &str| format!("storm.waves[{i}].{k}");
                    if w.share.is_none() {
                        self.err(
                            &f("share"),
                            "missing: the share of the population that reboots in this wave, e.g. 35%",
                        );
                    }
                    let wave = Wave {
                        name: w.name.clone().unwrap_or_else(|| format!("wave {}", i + 1)),
                        at: self.unit(&f("at"), &w.at, Dur::default()).0,
                        share: self.unit(&f("share"), &w.share, Share(0.0)),
                        spread: self.unit(&f("spread"), &w.spread, Dist::Fixed(0.0)),
                    };
                    total += wave.share.0;
                    out.push(wave);
                }
                if total > 1.0 + 1e-9 {
                    self.err(
                        "storm.waves",
                        format!(
                            "the shares add up to {}: more than the whole population",
                            Share(total.min(9.99))
                        ),
                    );
                }
                StormSource::Waves(out)
            }
            (None, Some(trace)) => self.trace(trace, pop),
            (None, None) => StormSource::None,
        };
        Storm { source, downtime }
    }

    fn trace(&mut self, raw: &raw::RawTrace, pop: &Population) -> StormSource {
        let (file, counts) = match raw {
            raw::RawTrace::File(f) => (f.clone(), None),
            raw::RawTrace::Spec { file, counts } => (file.clone(), counts.clone()),
        };
        let modelled = self.choice(
            "storm.trace.counts",
            &counts,
            true,
            &[("modelled", true), ("simulated", false)],
        );
        let path = self.dir.join(&file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.err("storm.trace", format!("cannot read `{}`: {e}", path.display()));
                return StormSource::None;
            }
        };
        let scale = if modelled { 1.0 / pop.weight() } else { 1.0 };
        match parse_trace(&text) {
            Ok(rows) => StormSource::Trace {
                path,
                events: rows.into_iter().map(|(t, n)| (t, n * scale)).collect(),
            },
            Err((line, msg)) => {
                self.err("storm.trace", format!("{}:{line}: {msg}", path.display()));
                StormSource::None
            }
        }
    }

    fn step(&mut self, field: &str, s: &raw::RawStep, default_expect: &[u16]) -> Step {
        let name = s
            .name
            .clone()
            .unwrap_or_else(|| field.rsplit('.').next().unwrap_or(field).to_string());
        let (method, path) = match s.request.as_deref().map(str::trim) {
            None => {
                self.err(
                    &format!("{field}.request"),
                    "missing: write the method and path, e.g. `POST /login`",
                );
                (http::Method::GET, Template::literal("/"))
            }
            Some(r) => {
                let (m, p) = r.split_once(char::is_whitespace).unwrap_or(("GET", r));
                let method = match http::Method::from_bytes(m.as_bytes()) {
                    Ok(m) if m.as_str().chars().all(|c| c.is_ascii_uppercase()) => m,
                    _ => {
                        self.err(
                            &format!("{field}.request"),
                            format!("`{m}` is not an HTTP method (GET, POST, PUT, ...)"),
                        );
                        http::Method::GET
                    }
                };
                let p = p.trim();
                if !p.starts_with('/') {
                    self.err(
                        &format!("{field}.request"),
                        format!("the path `{p}` must start with `/`"),
                    );
                }
                (method, self.template(&format!("{field}.request"), p))
            }
        };
        let mut headers = Vec::new();
        for (k, val) in s.headers.clone().unwrap_or_default() {
            let hf = format!("{field}.headers.{k}");
            match http::header::HeaderName::from_bytes(k.as_bytes()) {
                Ok(h) => {
                    let t = self.template(&hf, &val);
                    headers.push((h, t));
                }
                Err(_) => self.err(&hf, format!("`{k}` is not a valid header name")),
            }
        }
        let body = s.body.as_ref().map(|b| self.template(&format!("{field}.body"), b));
        let expect = match &s.expect {
            None => default_expect.to_vec(),
            Some(raw::RawExpect::One(t)) => vec![self.status(&format!("{field}.expect"), t)],
            Some(raw::RawExpect::Many(ts)) => ts
                .iter()
                .enumerate()
                .map(|(i, t)| self.status(&format!("{field}.expect[{i}]"), t))
                .collect(),
        };
        Step {
            name,
            method,
            path,
            headers,
            body,
            expect,
        }
    }

    fn status(&mut self, field: &str, t: &Text) -> u16 {
        match t.0.parse::<u16>() {
            Ok(s) if (100..=599).contains(&s) => s,
            _ => {
                self.err(field, format!("`{}` is not an HTTP status (100 to 599)", t.0));
                200
            }
        }
    }

    fn client(&mut self, raw: Option<&raw::RawClient>) -> ClientSpec {
        let c = raw.cloned().unwrap_or_default();
        let login: Vec<Step> = match &c.login {
            None => {
                self.err(
                    "client.login",
                    "missing: list the login flow's steps, e.g. `- { name: auth, request: POST /login, expect: 200 }`",
                );
                Vec::new()
            }
            Some(steps) if steps.is_empty() => {
                self.err("client.login", "the flow has no step");
                Vec::new()
            }
            Some(steps) => steps
                .iter()
                .enumerate()
                .map(|(i, s)| self.step(&format!("client.login[{i}]"), s, &[200]))
                .collect(),
        };
        let mut seen = std::collections::HashSet::new();
        for (i, s) in login.iter().enumerate() {
            if !seen.insert(s.name.clone()) {
                self.err(
                    &format!("client.login[{i}].name"),
                    format!("`{}` names two steps", s.name),
                );
            }
            if s.name == "login" {
                self.err(
                    &format!("client.login[{i}].name"),
                    "`login` is the whole flow's name in thresholds; name the step otherwise",
                );
            }
        }
        let r = c.retry.clone().unwrap_or_default();
        let kind = self.choice(
            "client.retry.policy",
            &r.policy,
            RetryKind::Exponential,
            &[
                ("none", RetryKind::None),
                ("immediate", RetryKind::Immediate),
                ("fixed", RetryKind::Fixed),
                ("exponential", RetryKind::Exponential),
            ],
        );
        let retry = RetryPolicy {
            kind,
            base: self.unit("client.retry.base", &r.base, Dur(Duration::from_secs(1))).0,
            cap: self.unit("client.retry.cap", &r.cap, Dur(Duration::from_secs(60))).0,
            jitter: self.choice(
                "client.retry.jitter",
                &r.jitter,
                Jitter::Full,
                &[
                    ("none", Jitter::None),
                    ("full", Jitter::Full),
                    ("equal", Jitter::Equal),
                    ("decorrelated", Jitter::Decorrelated),
                ],
            ),
            max_attempts: self.value(
                "client.retry.max_attempts",
                &r.max_attempts,
                if kind == RetryKind::None { 1 } else { 10u32 },
            ),
            honor_retry_after: self.value("client.retry.honor_retry_after", &r.honor_retry_after, true),
            budget: r.budget.as_ref().map(|b| RetryBudget {
                max_tokens: self.value("client.retry.budget.max_tokens", &b.max_tokens, 10.0),
                token_ratio: self.value("client.retry.budget.token_ratio", &b.token_ratio, 0.1),
            }),
            throttle: r.throttle.as_ref().map(|t| AdaptiveThrottle {
                k: self.value("client.retry.throttle.k", &t.k, 2.0),
                window: self
                    .unit("client.retry.throttle.window", &t.window, Dur(Duration::from_secs(120)))
                    .0,
            }),
        };
        if retry.max_attempts == 0 {
            self.err(
                "client.retry.max_attempts",
                "must be at least 1 (the first attempt counts)",
            );
        }
        if retry.cap < retry.base {
            self.err(
                "client.retry.cap",
                format!("is below the base delay ({})", Dur(retry.base)),
            );
        }
        if let Some(b) = retry.budget
            && !(b.max_tokens > 0.0 && b.token_ratio > 0.0)
        {
            self.err("client.retry.budget", "max_tokens and token_ratio must be above zero");
        }
        if let Some(t) = retry.throttle
            && t.k < 1.0
        {
            self.err(
                "client.retry.throttle.k",
                "must be at least 1 (2 is the SRE book's choice)",
            );
        }
        let session = c.session.as_ref().map(|s| {
            let keepalive = match &s.keepalive {
                Some(k) => self.step("client.session.keepalive", k, &[200]),
                None => {
                    self.err(
                        "client.session.keepalive",
                        "missing: the request that keeps a session alive, e.g. `{ request: POST /keepalive }`",
                    );
                    Step {
                        name: "keepalive".into(),
                        method: http::Method::POST,
                        path: Template::literal("/"),
                        headers: vec![],
                        body: None,
                        expect: vec![200],
                    }
                }
            };
            let every = self
                .unit("client.session.every", &s.every, Dur(Duration::from_secs(30)))
                .0;
            if every < Duration::from_millis(100) {
                self.err("client.session.every", "must be at least 100ms");
            }
            Session {
                keepalive,
                every,
                initially_online: self.value("client.session.initially_online", &s.initially_online, true),
            }
        });
        let on_reboot = c.on_reboot.as_ref().map_or_else(Vec::new, |steps| {
            steps
                .iter()
                .enumerate()
                .map(|(i, s)| self.step(&format!("client.on_reboot[{i}]"), s, &[200, 202, 204]))
                .collect()
        });
        ClientSpec {
            login,
            retry,
            session,
            on_reboot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const GOOD: &str = r#"
name: patch-tuesday
seed: 7
target:
  nodes: [http://127.0.0.1:8080]
  timeout: 2s
  connection: fresh
population: { clients: 200_000_000, simulate: 50_000 }
time_scale: 60
baseline: { duration: 20s, rate: 100/s }
storm:
  waves:
    - { name: americas, at: 0s, share: 35%, spread: normal(sd 8m) }
    - { name: europe, at: 6h, share: 40%, spread: normal(sd 8m) }
  downtime: uniform(30s, 3m)
client:
  login:
    - { name: auth, request: POST /login, body: '{"client":"{{client}}"}', expect: 200 }
    - { name: join, request: POST /join, expect: [200, 204] }
  retry: { policy: exponential, base: 1s, cap: 2m, jitter: full, max_attempts: 12, honor_retry_after: true }
observe: { window: 1s, until_recovered: 5m }
slo: { success_rate: 99%, p99: 500ms, hold: 10s }
gate: [ "recovery_time < 3m" ]
"#;

    #[test]
    fn the_design_sketch_loads() {
        let p = parse(GOOD, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.population.modelled, 200_000_000);
        assert_eq!(p.population.simulated, 50_000);
        assert_eq!(p.client.login.len(), 2);
        assert_eq!(p.client.login[1].expect, vec![200, 204]);
        assert_eq!(p.client.retry.cap, Duration::from_secs(120));
        assert_eq!(p.slo.success_rate, Some(0.99));
        let StormSource::Waves(w) = &p.storm.source else {
            panic!("waves")
        };
        assert_eq!(w[1].at, Duration::from_secs(6 * 3600));
        assert_eq!(w[1].share.0, 0.4);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let bad = GOOD
            .replace("timeout: 2s", "timeout: 2 parsecs")
            .replace("share: 40%", "share: 140%")
            .replace("jitter: full", "jitter: some")
            .replace("seed: 7", "seed: 7\ncolour: blue")
            .replace("expect: [200, 204]", "expect: [200, 999]");
        let e = parse(&bad, Path::new("bad.yaml"), &no_env).unwrap_err();
        let fields: Vec<&str> = e.problems.iter().map(|p| p.field.as_str()).collect();
        for want in [
            "colour",
            "target.timeout",
            "storm.waves[1].share",
            "client.login[1].expect[1]",
            "client.retry.jitter",
        ] {
            assert!(fields.contains(&want), "{want} missing from {fields:?}");
        }
        let colour = e.problems.iter().find(|p| p.field == "colour").unwrap();
        assert_eq!(colour.line, Some(4));
        let timeout = e.problems.iter().find(|p| p.field == "target.timeout").unwrap();
        assert_eq!(timeout.line, Some(7));
        let text = e.to_string();
        assert!(text.contains("bad.yaml:7: target.timeout:"), "{text}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse("name: x\ntarget: [unclosed\n", Path::new("s.yaml"), &no_env).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert!(e.problems[0].line.is_some());
    }

    #[test]
    fn environment_variables_fill_templates_but_not_the_report() {
        let text = GOOD.replace(r#"body: '{"client":"{{client}}"}'"#, r#"body: '{"token":"${TOKEN}"}'"#);
        let env = |k: &str| (k == "TOKEN").then(|| "hunter2".to_string());
        let p = parse(&text, Path::new("p.yaml"), &env).unwrap();
        let body = p.client.login[0].body.as_ref().unwrap().render(Vars {
            client: 1,
            attempt: 1,
            node: 0,
        });
        assert!(body.contains("hunter2"));
        let raw = serde_json::to_string(&p.raw).unwrap();
        assert!(!raw.contains("hunter2") && raw.contains("${TOKEN}"));
        let e = parse(&text, Path::new("p.yaml"), &no_env).unwrap_err();
        assert!(e.to_string().contains("TOKEN"));
    }
}
