//! The one validation step: raw document → `Profile`, or every problem it has, each
//! with its line and field. The sections live beside this file (target, storm,
//! client); the helpers every section uses and the profile's top level live here.

mod actions;
mod budget;
mod capture;
#[cfg(test)]
mod capture_tests;
mod client;
mod connect;
#[cfg(test)]
mod connect_tests;
mod files;
#[cfg(test)]
mod hostile;
mod storm;
mod target;
#[cfg(test)]
mod tests;
mod yaml;

use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use strum::VariantNames;

use super::depth::{MAX_DEPTH, too_deep};
use super::spec::{Arrivals, Baseline, ClientSpec, HttpVersion, Observe, Profile, Slo};
use super::{Lines, Problem, ProfileError, RawProfile, Template, limits};
use crate::threshold::{AbortWhen, Threshold, parse_aborts, parse_all};
use crate::units::{Dur, Rate, Share, Text, UnitError};

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
    // A byte-order mark is no part of the document; serde_yaml would read it as the
    // start of a second one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // serde_yaml (YAML 1.1) breaks lines at NEL, LS and PS, the walk that places fields
    // (YAML 1.2) does not: the two would read different documents, and problems would
    // lose their lines. No profile needs them outside a quoted body.
    if let Some((line, c)) = odd_line_break(text) {
        return Err(fail(vec![Problem {
            line: Some(line),
            field: String::new(),
            message: format!(
                "holds a Unicode line break (U+{:04X}) that YAML parsers disagree on: use a plain newline, or `\\u{:04X}` inside a double-quoted string",
                c as u32, c as u32
            ),
        }]));
    }
    // Depth first, before any parser: deep nesting is where YAML parsers go quadratic.
    let deep = |line| {
        fail(vec![Problem {
            line: Some(line),
            field: String::new(),
            message: format!("nested deeper than {MAX_DEPTH} levels: a profile needs five or six; flatten it"),
        }])
    };
    if let Some(line) = too_deep(text) {
        return Err(deep(line));
    }
    let lines = Lines::of(text);
    if let Some(line) = lines.too_deep() {
        return Err(deep(line));
    }
    if let Some(line) = lines.second_document() {
        return Err(fail(vec![Problem {
            line: Some(line),
            field: String::new(),
            message: format!("one profile per file; a second document starts at line {line}"),
        }]));
    }
    let mut unknown = Vec::new();
    let de = serde_yaml::Deserializer::from_str(text);
    let raw: RawProfile = match serde_ignored::deserialize(de, |p| unknown.push(path_string(&p))) {
        Ok(r) => r,
        Err(e) => return Err(fail(vec![yaml::problem(&e, &lines, text)])),
    };
    let mut v = Validator {
        lines: &lines,
        problems: Vec::new(),
        env,
        overlay,
        // A bare file name's parent is "": the current folder, which `canonicalize`
        // (the data file's containment check) must be given as ".".
        dir: path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        slots: Vec::new(),
        seed: 1,
        data_failed: false,
    };
    let tree = serde_json::to_value(&raw).unwrap_or_default();
    for u in unknown {
        v.err(&u, yaml::unknown_field(&tree, &u));
    }
    let mut profile = v.profile(&raw, path);
    if let Some(p) = &mut profile {
        v.budget(p);
        let bound = crate::profile::budget::PlanSize::of(p).client_ids(p.population.simulated);
        if let Some(d) = &mut p.client.data {
            d.keep(bound);
        }
    }
    if v.problems.is_empty() {
        Ok(profile.expect("no problems means a profile"))
    } else {
        v.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        Err(fail(v.problems))
    }
}

/// The first NEL (U+0085), LINE SEPARATOR (U+2028) or PARAGRAPH SEPARATOR (U+2029),
/// with its line as a newline counts them.
fn odd_line_break(text: &str) -> Option<(usize, char)> {
    let at = text.find(['\u{85}', '\u{2028}', '\u{2029}'])?;
    let c = text[at..].chars().next()?;
    Some((text[..at].matches('\n').count() + 1, c))
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
    /// The names captured so far, by slot: the template variables a step may use are
    /// those captured by the steps before it.
    slots: Vec<String>,
    /// The profile's seed, once read: generated template values draw from it.
    seed: u64,
    /// `client.data` was named and could not be loaded (its problem said why).
    data_failed: bool,
}

impl Validator<'_> {
    /// A problem at `field`'s line, or its nearest written ancestor's; a field whose
    /// whole section is missing (a required `name`, `client.login`) goes at line 1, the
    /// top level where it would be written.
    /// A problem at `field`'s line. On one line: every line of the list a person reads
    /// starts with its file:line.
    fn err(&mut self, field: &str, message: impl fmt::Display) {
        let message = message.to_string();
        let message = if message.contains('\n') {
            message.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            message
        };
        self.problems.push(Problem {
            line: Some(self.lines.line(field).unwrap_or(1)),
            field: field.to_string(),
            message,
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

    /// The confirmation probe must outlast the hold it is judged by: a probe shorter than
    /// `slo.hold` could never see the target hold healthy, and would call every target down.
    fn confirm_span(&mut self, observe: &Observe, slo: &Slo) {
        let Some(c) = observe.confirm else { return };
        let least = slo.hold.unwrap_or(Duration::ZERO).max(observe.window);
        if c < least {
            let what = if slo.hold.is_some_and(|h| h >= observe.window) {
                "slo.hold"
            } else {
                "one window (observe.window)"
            };
            self.err(
                "observe.confirm",
                format!(
                    "`{}` is shorter than {what} ({}): the probe could never see the target hold healthy",
                    Dur(c),
                    Dur(least)
                ),
            );
        }
    }

    /// A duration that must lie in `range` (see [`limits`]); one outside it, or too long
    /// to be a duration at all, is a problem that names the range.
    fn span(&mut self, field: &str, v: &Option<Text>, default: Duration, range: RangeInclusive<Duration>) -> Duration {
        let Some(Text(s)) = v else { return default };
        match s.parse::<Dur>() {
            Ok(Dur(d)) if range.contains(&d) => d,
            Ok(_) | Err(UnitError::TooLong(_)) => {
                let (lo, hi) = (Dur(*range.start()), Dur(*range.end()));
                self.err(field, format!("`{s}` is out of range: write from {lo} to {hi}"));
                default
            }
            Err(e) => {
                self.err(field, e);
                default
            }
        }
    }

    /// A plain number that must lie in `range`; `hint` follows the range in the problem.
    fn number_in(
        &mut self,
        field: &str,
        v: &Option<Text>,
        default: f64,
        range: RangeInclusive<f64>,
        hint: &str,
    ) -> f64 {
        let Some(Text(s)) = v else { return default };
        match s.replace('_', "").parse::<f64>() {
            Ok(x) if range.contains(&x) => x,
            _ => {
                let (lo, hi) = (range.start(), range.end());
                self.err(
                    field,
                    format!("`{s}` is out of range: write a number from {lo} to {hi}{hint}"),
                );
                default
            }
        }
    }

    /// One of an enum's names as profiles write them (`T::VARIANTS`, derived by strum).
    fn choice<T: FromStr + VariantNames>(&mut self, field: &str, v: &Option<Text>, default: T) -> T {
        let Some(Text(s)) = v else { return default };
        s.parse::<T>().unwrap_or_else(|_| {
            self.err(field, format!("`{s}` is not one of: {}", T::VARIANTS.join(", ")));
            default
        })
    }

    fn template(&mut self, field: &str, text: &str) -> Template {
        let known: Vec<&str> = self.slots.iter().map(String::as_str).collect();
        let slot = |n: &str| self.slots.iter().position(|s| s == n);
        let scope = super::template::Scope {
            slot: &slot,
            known: &known,
            seed: self.seed,
        };
        match Template::parse_scoped(text, self.env, &scope) {
            Ok(t) => t,
            Err(errs) => {
                let failed = self.data_failed;
                let cascade = |e: &String| failed && e.starts_with("unknown template variable `{{data.");
                for e in errs.into_iter().filter(|e| !cascade(e)) {
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
        self.seed = seed;
        let population = self.population(raw.population.as_ref());
        let target = self.target(raw.target.as_ref(), &population);
        let time_scale = self.number_in(
            "time_scale",
            &raw.time_scale,
            1.0,
            limits::TIME_SCALE,
            " (60 replays an hour in a minute)",
        );
        let b = raw.baseline.clone().unwrap_or_default();
        let baseline = Baseline {
            duration: self.span("baseline.duration", &b.duration, Duration::ZERO, limits::RUN),
            rate: self.unit("baseline.rate", &b.rate, Rate(0.0)),
            arrivals: self.choice("baseline.arrivals", &b.arrivals, Arrivals::Poisson),
        };
        let storm = self.storm(raw.storm.as_ref(), &population);
        self.storm_length(&storm, time_scale);
        let client = self.client(raw.client.as_ref(), seed);
        self.received_step(target.as_ref(), &client);
        let o = raw.observe.clone().unwrap_or_default();
        let observe = Observe {
            window: self.span("observe.window", &o.window, Duration::from_secs(1), limits::WINDOW),
            after_storm: self.span(
                "observe.until_recovered",
                &o.until_recovered,
                Duration::from_secs(60),
                limits::RUN,
            ),
            confirm: o
                .confirm
                .as_ref()
                .map(|_| self.span("observe.confirm", &o.confirm, Duration::ZERO, limits::RUN)),
        };
        let s = raw.slo.clone().unwrap_or_default();
        let slo = Slo {
            success_rate: s
                .success_rate
                .as_ref()
                .map(|_| self.unit("slo.success_rate", &s.success_rate, Share(0.99)).0),
            p99: s
                .p99
                .as_ref()
                .map(|_| self.span("slo.p99", &s.p99, Duration::ZERO, limits::LATENCY)),
            hold: s
                .hold
                .as_ref()
                .map(|_| self.span("slo.hold", &s.hold, Duration::ZERO, limits::RUN)),
            min_requests: self.value("slo.min_requests", &s.min_requests, 10u64),
            tolerate: self.value("slo.tolerate", &s.tolerate, super::spec::DEFAULT_TOLERATE),
            noise: self.unit("slo.noise", &s.noise, Share(super::spec::DEFAULT_NOISE)).0,
            connected: self.connected_slo(s.connected.as_ref(), &client),
        };
        if !(0.0..0.5).contains(&slo.noise) {
            self.err("slo.noise", "must be at least 0% and below 50% (0% counts every miss)");
        }
        if let Some(h) = slo.hold
            && h < observe.window
        {
            self.err(
                "slo.hold",
                format!("must be at least one window ({})", Dur(observe.window)),
            );
        }
        self.confirm_span(&observe, &slo);
        if let Some(sess) = &client.session
            && sess.initially_online
            && population.simulated == 0
        {
            self.err(
                "client.session.initially_online",
                "needs population.simulate above zero",
            );
        }
        // A choice that does nothing is a trap: only an HTTP/2 client's keepalives ride a
        // connection of its own, which a server can drop.
        if raw
            .client
            .as_ref()
            .and_then(|c| c.session.as_ref())
            .is_some_and(|s| s.reconnect.is_some())
            && target.as_ref().is_some_and(|t| t.http == HttpVersion::Http1)
        {
            self.err(
                "client.session.reconnect",
                "only an HTTP/2 client (`target.http: 2`) holds a connection its keepalives ride; \
                 over HTTP/1.1 each keepalive takes a connection from the pool, and a held \
                 WebSocket (`connect`) always comes back under `client.retry`",
            );
        }
        let gate = self.gate(raw.gate.as_deref().unwrap_or_default(), &client);
        let abort = self.abort(raw.abort.as_deref().unwrap_or_default(), &client);
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
            abort,
            raw: raw.clone(),
            path: path.to_path_buf(),
        })
    }

    fn abort(&mut self, exprs: &[String], client: &ClientSpec) -> Vec<AbortWhen> {
        let steps: Vec<String> = client.login.iter().map(|s| s.name.clone()).collect();
        parse_aborts(exprs, &steps).unwrap_or_else(|errors| {
            for (i, e) in errors {
                self.err(&format!("abort[{i}]"), e);
            }
            Vec::new()
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
}
