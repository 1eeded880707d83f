//! `stampede try`: one client's login flow, once, against the real target, through the
//! engine's own transport and the same session values a storm's client keeps; then its
//! keepalive once (if the profile has one), or its held connection's connect and first
//! heartbeat. Everything it returns is already masked ([`Mask`]): a `Trial` can be
//! printed, logged or kept without a secret in it.

mod mask;
mod show;

pub use mask::Mask;
pub use show::render;

use std::time::Duration;

use tokio::time::Instant;

use super::flow::Sessions;
use crate::outcome::Class;
use crate::profile::{CaptureFrom, Connect, Endpoint, Node, Profile, Step, Values, Vars};
use crate::run::{confirm, embedded};
use crate::transport::{Beats, FlowResult, Transport, TransportError};

/// Bytes of a body shown: enough for a login's JSON answer, short enough for a terminal.
pub const BODY_EXCERPT: usize = 600;

#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error(transparent)]
    Unconfirmed(#[from] confirm::ConfirmError),
    #[error(transparent)]
    Overlay(#[from] embedded::EmbeddedError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("--data-row {row}: {file} has {rows} row(s); pick one from 1 to {rows}")]
    NoSuchRow { row: u64, file: String, rows: usize },
}

impl TrialError {
    /// The input must change (the row, the confirmation, the overlay's settings) rather
    /// than the target: exit 2.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, TrialError::Transport(_))
    }
}

/// Which client to try, and the hosts outside loopback the caller confirmed.
#[derive(Debug, Clone, Default)]
pub struct TrialOptions {
    /// The data row (1-based, in the order clients take rows); the client id is one less.
    pub data_row: u64,
    pub allowed: Vec<String>,
    /// The profile's text, for the `${VAR}` names whose values are masked.
    pub profile_text: String,
}

/// What one `try` did: each flow in order, stopping at the first that failed.
#[derive(Debug, Clone)]
pub struct Trial {
    pub profile: String,
    /// The target as written (`${VAR}` unexpanded), or the embedded overlay's address.
    pub target: String,
    pub client: u64,
    /// `file, row`: the data row the client took.
    pub data: Option<(String, u64)>,
    pub flows: Vec<FlowShown>,
}

impl Trial {
    /// Every flow tried passed.
    pub fn ok(&self) -> bool {
        !self.flows.is_empty() && self.flows.iter().all(|f| f.class.is_ok())
    }
}

/// One flow: the login, the keepalive, or the held connection's connect.
#[derive(Debug, Clone)]
pub struct FlowShown {
    pub what: &'static str,
    pub steps: Vec<StepShown>,
    pub class: Class,
    /// Why it failed, in the transport's words (masked).
    pub why: Option<String>,
    pub took: Duration,
}

/// One request and its answer, masked.
#[derive(Debug, Clone, Default)]
pub struct StepShown {
    pub name: String,
    /// `POST /login`.
    pub request_line: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    /// `HTTP/1.1 200 OK`; None when no answer came.
    pub status_line: Option<String>,
    pub answer_headers: Vec<(String, String)>,
    pub answer_body: Option<String>,
    pub class: Option<Class>,
    pub took: Duration,
    /// Each check and capture with what it found, one line each.
    pub findings: Vec<String>,
}

/// Runs the trial. Nodes outside loopback need to be in `opts.allowed`, as for a run.
pub async fn trial(p: &Profile, opts: TrialOptions) -> Result<Trial, TrialError> {
    let (nodes, target, overlay) = match &p.target.endpoint {
        Endpoint::Nodes(nodes) => {
            confirm::confirm(nodes, &opts.allowed, None)?;
            let shown = nodes.iter().map(|n| n.shown.as_str()).collect::<Vec<_>>().join(", ");
            (nodes.clone(), shown, None)
        }
        Endpoint::Embedded(settings) => {
            let cfg = crate::overlay::config::from_profile(settings, p.target.timeout, p.population.simulated as u64)
                .map_err(embedded::EmbeddedError::Settings)?;
            let (node, name, handle): (Node, String, embedded::Embedded) = embedded::start(&cfg).await?;
            handle.clock.start(std::time::Instant::now());
            (vec![node], name, Some(handle))
        }
    };
    let client = opts.data_row.max(1) - 1;
    if let Some(d) = &p.client.data
        && client >= d.rows as u64
    {
        return Err(TrialError::NoSuchRow {
            row: opts.data_row,
            file: d.file.clone(),
            rows: d.rows,
        });
    }
    let t = Transport::new_traced(&nodes, &p.target, p.seed).await?;
    let mut mask = Mask::from_profile(&opts.profile_text, &|k| std::env::var(k).ok());
    let sessions = Sessions::new(p.client.captures.len(), p.client.data.clone(), p.client.cookies);
    if let Some(d) = &p.client.data {
        mask.data_row(d, client);
    }
    let mut values = sessions.fresh(client as u32);
    let vars = Vars {
        client,
        attempt: 1,
        node: t.pick(client, 0, 0),
        values: None,
    };
    let scheme = if nodes[vars.node].tls { "https" } else { "http" };
    let on = On { t: &t, p, scheme };
    let mut flows = vec![on.flow("login", &p.client.login, vars, &mut values, &mut mask).await];
    let session = p.client.session.as_ref();
    if flows[0].class.is_ok()
        && let Some(ka) = session.and_then(|s| s.keepalive.as_ref())
    {
        let steps = std::slice::from_ref(ka);
        flows.push(on.flow("keepalive", steps, vars, &mut values, &mut mask).await);
    }
    if flows.iter().all(|f| f.class.is_ok())
        && let Some(c) = session.and_then(|s| s.connect.as_ref())
    {
        flows.push(
            held(
                &t,
                c,
                Vars {
                    values: values.as_deref(),
                    ..vars
                },
                &mask,
            )
            .await,
        );
    }
    if let Some(o) = overlay {
        o.shutdown().await;
    }
    Ok(Trial {
        profile: p.name.clone(),
        target,
        client,
        data: p
            .client
            .data
            .as_ref()
            .map(|d| (d.file.clone(), client % d.rows.max(1) as u64 + 1)),
        flows,
    })
}

/// What every flow of a trial goes through: the traced transport, the profile, the
/// node's scheme.
struct On<'a> {
    t: &'a Transport,
    p: &'a Profile,
    scheme: &'a str,
}

impl On<'_> {
    /// One HTTP flow through the engine's transport, each step shown with what its checks
    /// and captures found.
    async fn flow(
        &self,
        what: &'static str,
        steps: &[Step],
        vars: Vars<'_>,
        values: &mut Option<Box<Values>>,
        mask: &mut Mask,
    ) -> FlowShown {
        let (t, p, scheme) = (self.t, self.p, self.scheme);
        let (res, _) = t
            .flow(steps, vars, values.as_deref_mut(), None, true, Instant::now())
            .await;
        if let Some(v) = values.as_deref() {
            // Before anything is shown: the captured token is in the answer's body.
            mask.captured(&p.client.captures, v);
        }
        let exchanges = t.take_trace();
        for x in &exchanges {
            mask.json_body(&x.request[body_start(&x.request)..]);
            mask.json_body(&x.body);
        }
        let why = failure(t, &res, mask);
        let shown = steps
            .iter()
            .zip(&res.steps)
            .zip(exchanges)
            .map(|((step, r), x)| {
                let mut s = show::exchange(&x, scheme, mask);
                s.class = Some(r.class);
                s.took = r.latency;
                s.findings = findings(
                    step,
                    r.class,
                    s.status_line.as_deref(),
                    values.as_deref(),
                    why.as_deref(),
                );
                s
            })
            .collect();
        FlowShown {
            what,
            steps: shown,
            class: res.class,
            why,
            took: res.done - res.started,
        }
    }
}

/// Where a request's body begins (after its head's blank line).
fn body_start(request: &[u8]) -> usize {
    request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |i| i + 4)
}

/// The transport's words for a failed flow (its first example of that class: a trial's
/// transport sends one flow at a time and stops at the first failure), or the status.
fn failure(t: &Transport, res: &FlowResult, mask: &Mask) -> Option<String> {
    if res.class.is_ok() {
        return None;
    }
    let said = t.failure_examples().remove(&res.class.to_string());
    Some(mask.text(&said.unwrap_or_else(|| format!("the answer was {}", res.class))))
}

/// The step's status check, then its captures, each with what it found.
fn findings(
    step: &Step,
    class: Class,
    status: Option<&str>,
    values: Option<&Values>,
    why: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    let code = status.and_then(|l| l.split_whitespace().nth(1)).unwrap_or("no answer");
    let expect = step.expect.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    let verdict = if step.expect.iter().any(|e| e.to_string() == code) {
        "ok"
    } else {
        "FAILED"
    };
    out.push(format!("check `status` {expect}: got {code} ({verdict})"));
    let answered = matches!(class, Class::Ok | Class::Capture | Class::Check);
    if !step.checks.is_empty() && answered {
        out.push(match class {
            Class::Check => format!("check body: FAILED: {}", why.unwrap_or("")),
            _ => "check body: ok".to_string(),
        });
    }
    let mut failed_one = false;
    for c in &step.captures {
        let place = match &c.from {
            CaptureFrom::Json(p) => format!("at {p}"),
            CaptureFrom::Header(h) => format!("from header `{h}`"),
            CaptureFrom::Regex(re) => format!("by regex `{re}`"),
        };
        let found = values.and_then(|v| v.get(c.slot));
        let what = match found {
            Some(v) if class.is_ok() || !failed_one && class != Class::Capture => {
                format!("found ({} chars)", v.chars().count())
            }
            None if class == Class::Capture && !failed_one => {
                failed_one = true;
                format!("NOT FOUND: {}", why.unwrap_or("no value"))
            }
            _ => "not evaluated (the step failed before it)".to_string(),
        };
        out.push(format!("capture `{}` {place}: {what}", c.name));
    }
    out
}

/// The held connection: its upgrade, and its first heartbeat answered (or why not);
/// then the connection is dropped (a reset, as a rebooting client's).
async fn held(t: &Transport, c: &Connect, vars: Vars<'_>, mask: &Mask) -> FlowShown {
    let (res, closed, held) = t.connect_held(c, vars, Instant::now()).await;
    let mut step = StepShown {
        name: "connect".into(),
        request_line: mask.text(&format!("GET {} (WebSocket upgrade)", c.upgrade.path.render(vars))),
        request_headers: c
            .upgrade
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), mask.header(n.as_str(), &v.render(vars))))
            .collect(),
        class: Some(res.class),
        took: res.done - res.started,
        ..StepShown::default()
    };
    let mut why = failure(t, &res, mask);
    if let Some(code) = closed.code {
        step.findings.push(format!("closed by the server with code {code}"));
    }
    let Some(h) = held else {
        return FlowShown {
            what: "connect",
            steps: vec![step],
            class: res.class,
            why,
            took: res.done - res.started,
        };
    };
    step.status_line = Some("HTTP/1.1 101 Switching Protocols".into());
    step.findings.push("connected".into());
    let beats = Beats::default();
    let began = Instant::now();
    let hb = &c.heartbeat;
    let answered = async {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Some((_, rtt)) = beats.take().answered.first() {
                return *rtt;
            }
        }
    };
    let class = tokio::select! {
        dropped = h.hold(hb, began, c.retry_after_from_reason, &beats) => {
            step.findings.push(format!("first heartbeat: dropped before an answer ({})", dropped.class));
            why = Some(format!("the connection dropped before its first heartbeat was answered: {}", dropped.class));
            dropped.class
        }
        rtt = answered => {
            step.findings.push(format!("first heartbeat: answered in {}", crate::units::Dur(rtt)));
            Class::Ok
        }
    };
    FlowShown {
        what: "connect",
        steps: vec![step],
        class,
        why,
        took: began.elapsed() + res.done.saturating_duration_since(res.started),
    }
}
