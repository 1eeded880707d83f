//! One whole run as a library call: load the profile (with the overlay's own check of
//! its settings), start the target if it is embedded, build the plan, drive the engine,
//! and assemble the report.

pub mod abort;
pub mod actions;
pub mod confirm;
pub mod descriptors;
mod drain;
pub mod embedded;
pub mod guard;
pub mod metrics;
pub mod metrics_server;
mod not_started;
mod observe;
pub mod probe;
pub mod series;
pub mod shard;
pub mod start;
pub mod stream;
pub mod sweep;
pub mod vary;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::analysis::reached::Reached;
use crate::analysis::{Timeline, Totals, analyze_probed, evaluate};
use crate::engine::{EngineOptions, Progress, threads, warmup};
use crate::outcome::StopReason;
use crate::plan::{Part, Plan};
use crate::profile::{self, Endpoint, Profile, ProfileError, RetryKind, RetryPolicy};
use crate::record::{HistError, HistSummary, merge};
use crate::report::{EngineFacts, PlanFacts, Report, SCHEMA};
use crate::transport::{Transport, TransportError};

pub use not_started::not_started;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Intensity(#[from] sweep::IntensityError),
    #[error(transparent)]
    Overlay(#[from] embedded::EmbeddedError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("the target does not answer: {0}")]
    Unreachable(String),
    #[error("the recorded histograms are inconsistent: {0}")]
    Record(#[from] HistError),
    #[error(transparent)]
    Threads(#[from] threads::ThreadsError),
    #[error(transparent)]
    Start(#[from] start::StartError),
    #[error(transparent)]
    Unconfirmed(#[from] confirm::ConfirmError),
    #[error("{}", actions::refusal(.0))]
    ActionsNotAllowed(Vec<String>),
}

impl RunError {
    /// The run failed before its first attempt: the target, its confirmation or the
    /// agreed start refused it. The other errors come after sending began.
    pub fn nothing_sent(&self) -> bool {
        match self {
            RunError::Intensity(_)
            | RunError::Overlay(_)
            | RunError::Transport(_)
            | RunError::Unreachable(_)
            | RunError::Start(_)
            | RunError::Unconfirmed(_)
            | RunError::ActionsNotAllowed(_) => true,
            RunError::Record(_) | RunError::Threads(_) => false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub engine: Option<EngineOptions>,
    /// Run only this part of the clients (a shard of a distributed run).
    pub shard: Option<Part>,
    /// Engine threads; None: `threads::default_threads`.
    pub threads: Option<u32>,
    /// The agreed wall-clock instant of time zero (`--start-at`); None: at once.
    pub start_at: Option<SystemTime>,
    /// Hosts outside loopback the caller confirmed (`--allow-target`, the environment,
    /// a prompt); without it only loopback nodes are stormed.
    pub confirmed: Option<confirm::Confirmed>,
    /// Serve stampede's own metrics while the run goes (`--metrics-listen`).
    pub metrics: Option<Arc<metrics::Exporter>>,
    /// Write each window as it closes (`--stream`). The caller finishes it with the
    /// report's windows ([`stream::Stream::finish`]): the last ones close as the run ends.
    pub stream: Option<Arc<Mutex<stream::Stream>>>,
    /// Do not watch the target drain after sending stops (`run::drain`): a sweep keeps
    /// only each run's recovery, and up to 30 s per run would add up.
    pub skip_drain: bool,
    /// The preflight guard: stop when the first N completed logins before the trigger
    /// all failed with one class ([`guard`]); None: no guard.
    pub preflight: Option<u64>,
    /// The profile's `storm.actions` may run (`--allow-actions`); without it a profile
    /// with actions is refused before anything is sent.
    pub allow_actions: bool,
}

/// Reads, parses and validates a profile file, the embedded overlay's settings included.
pub fn load(path: &Path) -> Result<Profile, ProfileError> {
    let text = profile::read_profile(path)?;
    parse(&text, path, &|k| std::env::var(k).ok())
}

/// [`profile::parse`] with the embedded overlay's settings checked by the overlay.
pub fn parse(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Profile, ProfileError> {
    profile::parse_with(text, path, env, &|settings, timeout, population| {
        crate::overlay::config::from_profile(settings, timeout, population)
            .err()
            .unwrap_or_default()
    })
}

/// The plan this run will follow (the shard's part of it, if sharded).
pub fn plan_for(p: &Profile, shard: Option<Part>) -> Plan {
    let plan = Plan::new(p);
    match shard {
        Some(s) if s != Part::WHOLE => plan.part(s),
        _ => plan,
    }
}

pub async fn run(p: &Profile, opts: RunOptions, progress: &mut dyn Progress) -> Result<Report, RunError> {
    if !p.storm.actions.is_empty() && !opts.allow_actions {
        return Err(RunError::ActionsNotAllowed(
            p.storm.actions.iter().map(|a| a.shown_line()).collect(),
        ));
    }
    if descriptors::needed(p, 0).is_some() {
        descriptors::raise();
    }
    // Shared with the engine thread (see `threads::run`).
    let plan = Arc::new(plan_for(p, opts.shard));
    let mut engine_opts = opts.engine.clone().unwrap_or_default();
    engine_opts.part = opts.shard.unwrap_or(Part::WHOLE);
    let mut tee = observe::Tee::new(p, &opts, &mut engine_opts, plan.trigger_start, progress);
    let progress: &mut dyn Progress = &mut tee;
    let threads = opts
        .threads
        .unwrap_or_else(|| threads::default_threads(matches!(p.target.endpoint, Endpoint::Embedded(_))));
    let (nodes, target_name, overlay) = match &p.target.endpoint {
        Endpoint::Nodes(nodes) => (
            nodes.clone(),
            nodes.iter().map(|n| n.shown.as_str()).collect::<Vec<_>>().join(", "),
            None,
        ),
        Endpoint::Embedded(settings) => {
            let cfg = crate::overlay::config::from_profile(settings, p.target.timeout, p.population.simulated as u64)
                .map_err(embedded::EmbeddedError::Settings)?;
            let (node, name, handle) = embedded::start(&cfg).await?;
            (vec![node], name, Some(handle))
        }
    };
    // Before any lookup or connection: a node outside loopback must have been confirmed.
    let allowed: Vec<String> = match &opts.confirmed {
        Some(confirm::Confirmed::Allowed { hosts } | confirm::Confirmed::Prompt { hosts }) => hosts.clone(),
        _ => Vec::new(),
    };
    let confirmation = confirm::confirm(&nodes, &allowed, None)?;
    let confirmation = match (confirmation, opts.confirmed.clone()) {
        (confirm::Confirmed::Loopback, _) => confirm::Confirmed::Loopback,
        (c, Some(asked @ confirm::Confirmed::Prompt { .. })) if c != confirm::Confirmed::Loopback => asked,
        (c, _) => c,
    };
    engine_opts.scrape = p.target.metrics.as_ref().map(|m| series::scrape(m, &nodes[0]));
    let transport = Transport::new(&nodes, &p.target, p.seed).await?;
    let protocol = transport.protocol();
    if let Some(m) = &opts.metrics {
        m.set_protocol(protocol);
    }
    if let Some(s) = &opts.stream {
        s.lock().unwrap_or_else(|p| p.into_inner()).set_protocol(protocol);
    }
    transport.ping_held_every(
        p.client
            .session
            .as_ref()
            .filter(|s| s.keepalive.is_some())
            .map(|s| s.every),
    );
    preflight(&nodes, p.target.timeout).await?;
    let target_counters = match &engine_opts.scrape {
        Some((url, _)) => series::declared_counters(url, p.target.timeout).await,
        None => Vec::new(),
    };
    // The target's own request count, before the first request (warm-up included).
    let received = p.target.metrics.as_ref().and_then(|m| m.received.as_ref());
    let received = match (received, &engine_opts.scrape) {
        (Some(r), Some((url, _))) if opts.shard.is_none_or(|s| s == Part::WHOLE) => Some((
            r,
            url.clone(),
            series::read_counter(url, &r.series, p.target.timeout).await,
        )),
        _ => None,
    };
    if let Some(at) = opts.start_at {
        // Checked before the run; again after the set-up, which may have taken time. The
        // warm-up comes before the wait and must fit in it.
        let left = start::wait(at, SystemTime::now(), p.observe.window)?;
        start::warmup_fits(p.warmup_clients(), p.population.warmup.rate, left, at)?;
        engine_opts.start = Some(tokio::time::Instant::now() + left);
    }
    let retry_after_cap = p
        .client
        .retry
        .honor_retry_after
        .then(|| engine_opts.retry_after_cap.unwrap_or(p.client.retry.retry_after_cap));
    let send_precision_ms = engine_opts.send_precision.map(|d| d.as_secs_f64() * 1000.0);
    let scrape = engine_opts.scrape.clone();
    let stop = engine_opts.stop.clone();
    engine_opts.probe = probe::board(
        p.observe.confirm,
        &plan,
        &p.slo,
        backoff_cap(&p.client.retry),
        opts.shard,
        threads.max(1),
    );
    // The embedded overlay's timeline and the actions' clock begin at the run's time
    // zero, after the warm-up. Only the first shard of a distributed run acts.
    let acts = opts.shard.is_none_or(|s| s.index == 0) && !p.storm.actions.is_empty();
    let (zero_tx, zero_rx) = tokio::sync::oneshot::channel();
    let runner = acts.then(|| actions::start(actions::schedule(p, &plan), zero_rx));
    let clock = overlay.as_ref().map(|o| o.clock.clone());
    let on_start: Option<warmup::OnStart> = (clock.is_some() || acts).then(|| {
        Box::new(move |at: tokio::time::Instant| {
            if let Some(c) = clock {
                c.start(at.into_std());
            }
            let _ = zero_tx.send(at);
        }) as warmup::OnStart
    });
    engine_opts.gate = Some(warmup::StartGate::new(threads.max(1), engine_opts.start, on_start));
    let out = threads::run(p, &plan, transport, engine_opts, threads, progress).await;
    // The run is over (completed, interrupted, braked or failed): what still runs ends.
    let action_facts = match runner {
        Some(r) => r.finish().await,
        None => Vec::new(),
    };
    // Before the embedded overlay stops: its queue is what may still be draining.
    let after_run = match (&out, &scrape) {
        (Ok(o), Some((url, keep)))
            if !opts.skip_drain && matches!(o.stop, StopReason::Completed | StopReason::Aborted) =>
        {
            drain::watch(drain::Watch {
                url,
                keep,
                windows: &o.windows,
                trigger: plan.trigger_start,
                window: p.observe.window,
                started_at: o.started_at,
                stop,
            })
            .await
        }
        _ => None,
    };
    // After the last answer and the drain watch: what the target counted meanwhile.
    let received = match received {
        Some((r, url, before)) => {
            let after = series::read_counter(&url, &r.series, p.target.timeout).await;
            Some((r, before, after))
        }
        None => None,
    };
    if let Some(h) = overlay {
        h.shutdown().await;
    }
    let mut out = out?;
    if let Some(m) = &opts.metrics {
        m.finish(&out.windows);
    }
    let abort = tee.brake.as_ref().and_then(|b| b.fired().cloned());
    if abort.is_some() && out.stop == StopReason::Interrupted {
        out.stop = StopReason::Aborted;
    }
    let preflight = tee.guard.as_ref().and_then(|g| g.fired().cloned()).map(|mut f| {
        f.example = out.stats.failure_examples.get(&f.class).cloned();
        f
    });
    if preflight.is_some() && out.stop == StopReason::Interrupted {
        out.stop = StopReason::Preflight;
    }
    let totals = Totals::of(&out.windows)?;
    let lag = HistSummary::of(&merge(out.windows.iter().map(|w| &w.send_lag_ms))?);
    let generator_failed: u64 = out.windows.iter().map(|w| w.counts.generator_failed).sum();
    let behind = crate::record::fell_behind(lag.p99, out.stats.unstarted.saturating_add(generator_failed));
    let missing_series = match &p.target.metrics {
        Some(m) => {
            series::derive(&mut out.windows, &m.derived);
            series::missing(&m.series, &out.windows)
        }
        None => Vec::new(),
    };
    let missing_series_nearest = missing_series
        .iter()
        .map(|s| (s.clone(), series::nearest(s, &out.windows)))
        .filter(|(_, near)| !near.is_empty())
        .collect();
    let window = p.observe.window;
    let timeline = Timeline {
        trigger_start: plan.trigger_start,
        storm_end: plan.storm_end,
        observe_end: out.ended,
    };
    let mut recovery = analyze_probed(
        &out.windows,
        &timeline,
        out.probe.as_ref().map(probe::span),
        &p.slo,
        backoff_cap(&p.client.retry),
    );
    if p.observe.confirm.is_some() && opts.shard.is_some_and(|s| s != Part::WHOLE) {
        recovery.notes.push(
            "No confirmation probe in a shard of a distributed run: deciding on it needs every shard's windows.".into(),
        );
    }
    let target_received = match received {
        Some((r, Some(before), Some(after))) => Some(Reached::of(
            &r.series,
            r.step.as_deref(),
            &p.client.login.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            (before, after),
            &out.windows,
            &out.stats.warmup,
        )),
        Some((r, before, _)) => {
            recovery.notes.push(format!(
                "The target's own count `{}` could not be read {} the run: no comparison of what it received.",
                r.series,
                if before.is_none() { "before" } else { "after" }
            ));
            None
        }
        None => None,
    };
    let thresholds = evaluate(&p.gate, &out.windows, &recovery, plan.first_logins());
    Ok(Report {
        schema: SCHEMA.to_string(),
        stampede_version: env!("CARGO_PKG_VERSION").to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        seed: p.seed,
        started_at: humantime::format_rfc3339_seconds(out.started_at).to_string(),
        // A failed engine, like an interrupted one, covers only part of the plan.
        interrupted: out.stop != StopReason::Completed,
        stop_reason: out.stop,
        stop_detail: None,
        abort,
        preflight,
        target: target_name,
        protocol: protocol.into(),
        profile: p.raw.shown(),
        plan: plan_facts(p, &plan, window, out.ended),
        engine: EngineFacts {
            stats: out.stats,
            send_lag_ms: lag,
            missing_series,
            missing_series_nearest,
            target_counters,
            retry_after_cap_ms: retry_after_cap.map(|d| d.as_millis() as u64),
            send_precision_ms,
            behind,
        },
        shard: opts.shard,
        profile_digest: profile_digest(&p.raw),
        confirmed: confirmation,
        start: Some(start::facts(opts.start_at, out.started_at)),
        windows: out.windows,
        totals,
        recovery: Some(recovery),
        thresholds,
        after_run,
        target_received,
        actions: action_facts,
    })
}

/// What the report says of the plan (the run's own part of it ended at `ended`).
fn plan_facts(p: &Profile, plan: &Plan, window: Duration, ended: Duration) -> PlanFacts {
    PlanFacts {
        window_ms: window.as_millis() as u64,
        trigger_start_ms: plan.trigger_start.as_millis() as u64,
        storm_end_ms: plan.storm_end.as_millis() as u64,
        end_ms: plan.end.as_millis() as u64,
        ended_ms: ended.as_millis() as u64,
        storm_clients: plan.storm_clients as u64,
        background_clients: plan.background_clients as u64,
        planned_first_attempts: plan.first_logins(),
        population_modelled: p.population.modelled,
        population_simulated: p.population.simulated as u64,
        time_scale: p.time_scale,
        first_logins_per_window: plan.logins_per_window(window),
        sources: source_spread(plan, p.target.source_addresses.len()),
        data: data_facts(&p.client),
        captures: capture_names(&p.client),
    }
}

/// The data file's name and row count (never a value).
fn data_facts(c: &profile::ClientSpec) -> Option<crate::report::DataFacts> {
    c.data.as_ref().map(|d| crate::report::DataFacts {
        file: d.file.clone(),
        rows: d.rows as u64,
    })
}

/// The names of captured values: the template slots after the data file's columns.
fn capture_names(c: &profile::ClientSpec) -> Vec<String> {
    let columns = c.data.as_ref().map_or(0, |d| d.columns.len());
    c.captures.iter().skip(columns).cloned().collect()
}

/// Clients per source address: every client logs in first once in the plan, and keeps
/// the address `id mod addresses` (the transport's rule) for its life.
fn source_spread(plan: &Plan, addresses: usize) -> Option<crate::report::SourceSpread> {
    if addresses == 0 {
        return None;
    }
    let mut per = vec![0u64; addresses];
    for e in plan.events.iter().filter(|e| e.kind == crate::plan::EventKind::Login) {
        per[e.client as usize % addresses] += 1;
    }
    Some(crate::report::SourceSpread {
        addresses: addresses as u64,
        min_clients: per.iter().copied().min().unwrap_or(0),
        max_clients: per.iter().copied().max().unwrap_or(0),
    })
}

/// SHA-256 (hex) of the profile as written, `${VAR}` unexpanded: what makes two shard
/// reports parts of one run, whatever the machines' environments held.
pub fn profile_digest(raw: &profile::RawProfile) -> String {
    use sha2::Digest as _;
    let json = serde_json::to_vec(raw).unwrap_or_default();
    sha2::Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
}

/// The longest wait a client's retry policy can add between two attempts: `hold` must
/// be long enough that a wave of retries is not mistaken for recovery.
pub fn backoff_cap(r: &RetryPolicy) -> Duration {
    match r.kind {
        RetryKind::Exponential => r.cap,
        RetryKind::Fixed => r.base,
        RetryKind::Immediate | RetryKind::None => Duration::ZERO,
    }
}

/// One TCP connect to each node before anything is sent: a target that is not there
/// is an error of the run (exit 3), not a storm of refused connections.
async fn preflight(nodes: &[crate::profile::Node], timeout: Duration) -> Result<(), RunError> {
    for n in nodes {
        let addr = (n.host.as_str(), n.port);
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(RunError::Unreachable(format!("{}: {e}", n.shown))),
            Err(_) => {
                return Err(RunError::Unreachable(format!(
                    "{}: no answer within {}",
                    n.shown,
                    crate::units::Dur(timeout)
                )));
            }
        }
    }
    Ok(())
}
