//! The open-model scheduler. One task owns the plan cursor, a heap of due timers
//! (retries, keepalives), every client's compact state, the connection pools, the
//! requests in flight and the recorder: no locks and no channels on the hot path. Each
//! flow runs on a runner, a long-lived future polled by that task (in a
//! `FuturesUnordered`), so a completion is handled where it lands, without a task
//! spawn or a cross-thread wake-up.
//! Attempts are fired at their intended instants; the engine never slows its schedule
//! down: it measures its own send lag and counts what it could not start.
//!
//! `schedule` is what the task does with each event, `flow` the flows and pools it
//! polls, `runners` what runs them, `scrape` the target's metrics beside it, `timer`
//! its precise wake-up, `threads` runs one engine per thread, and `warmup` logs the
//! online clients in before time zero and fixes that instant for the engines side by
//! side.

mod deciding;
mod flow;
pub mod probe;
mod runners;
mod schedule;
mod scrape;
mod snapshot;
#[cfg(test)]
mod tests;
pub mod threads;
pub mod timer;
pub mod trial;
pub mod warmup;

pub use scrape::{counter_names, parse_key, parse_prometheus, selector_matches};
pub use snapshot::{HeldGauge, Snapshot, WarmupProgress};

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use governor::DefaultDirectRateLimiter;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::outcome::StopReason;
use crate::plan::{Part, Plan};
use crate::profile::Profile;
use crate::record::{EngineStats, Window};
use crate::transport::Transport;
use flow::{Flowed, run_job};
use probe::{ProbeBoard, ProbeRun, Seat};
use runners::{Runners, poll_completions, runner};
use schedule::Engine;
use scrape::{Scraped, scrape_loop};

/// Knobs of one run that are not part of the profile.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Safety ceiling on requests per second (governor). Delayed requests still count
    /// their latency from the intended instant.
    pub max_rate: Option<f64>,
    /// Flips to true to stop sending (Ctrl-C, SIGTERM). A second flip abandons the drain.
    pub stop: Option<watch::Receiver<u8>>,
    /// Scrape the target's Prometheus metrics from this URL every window.
    pub scrape: Option<(String, Vec<String>)>,
    /// The part of the clients this engine owns, when several engines (threads or
    /// machines) share a run: clients with `id % count == index`. The plan is already
    /// cut to them; this cuts the session timers and the client table.
    pub part: Part,
    /// How many engines run side by side in this process (threads): the profile's
    /// in-flight ceiling, connection pool and `max_rate` are split between them.
    pub share: u32,
    /// The agreed instant the run's time counts from (`--start-at`), whatever the
    /// warm-up took. None: a moment after the last engine's warm-up ended.
    pub start: Option<Instant>,
    /// Where the engines of this process meet after their warm-up and learn time zero
    /// (`start` is then the instant it must be). None: this engine alone.
    pub gate: Option<Arc<warmup::StartGate>>,
    /// The longest wait a `Retry-After` imposes on a client (a target may ask for any
    /// wait, days included): `--retry-after-cap`. None: the profile's
    /// `client.retry.retry_after_cap`.
    pub retry_after_cap: Option<Duration>,
    /// The confirmation probe's board, shared by every engine of the run (one per run,
    /// made for that many engines). None: no probe.
    pub probe: Option<Arc<ProbeBoard>>,
    /// Sends due within this of a pass leave in it (`--send-precision`): fewer
    /// wake-ups, less CPU per request, a send lag up to this. None: each send wakes
    /// the engine at its own instant while sends are sparse (`timer::Pace`).
    pub send_precision: Option<Duration>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_rate: None,
            stop: None,
            scrape: None,
            part: Part::WHOLE,
            share: 1,
            start: None,
            gate: None,
            retry_after_cap: None,
            probe: None,
            send_precision: None,
        }
    }
}

pub trait Progress: Send {
    fn update(&mut self, s: &Snapshot);
    /// A window closed (nothing intended in it is in flight any more), in index order.
    /// Called from the engine's loop once per window, never per request. With several
    /// engine threads, once per window merged from all of them; windows still open when
    /// the run ends are not announced (they are the report's last ones).
    fn window(&mut self, _w: &Window) {}
    /// Waiting for an agreed start instant (`--start-at`): `remaining` until it.
    fn countdown(&mut self, _remaining: Duration) {}
}

impl Progress for () {
    fn update(&mut self, _: &Snapshot) {}
}

pub struct EngineOutput {
    pub windows: Vec<Window>,
    pub stop: StopReason,
    pub started_at: SystemTime,
    /// Run time when sending stopped.
    pub ended: Duration,
    pub stats: EngineStats,
    /// The confirmation probe, if one ran (sending went on past the plan's end).
    pub probe: Option<ProbeRun>,
}

impl EngineOutput {
    /// An engine that failed before it recorded anything it could hand over.
    pub fn failed(why: String) -> EngineOutput {
        EngineOutput {
            windows: Vec::new(),
            stop: StopReason::Failed,
            started_at: SystemTime::now(),
            ended: Duration::ZERO,
            stats: EngineStats {
                threads: 1,
                failures: vec![why],
                ..EngineStats::default()
            },
            probe: None,
        }
    }
}

/// The warm-up's logins and connects were transient (their buffers, their futures);
/// what outlives them (sessions, held connections) is scattered among their freed
/// chunks, which glibc keeps mapped. Handing those pages back once, before the clock
/// starts, makes the process's RSS what the run holds (a held client's cost is read as
/// RSS ÷ held). Elsewhere a no-op.
fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it takes no
    // pointer and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A panic's message, as `panic!` was given it.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Runs the plan against the transport. All of the run's I/O happens in this one
/// future: the caller should poll it `unconstrained`, or tokio's per-task budget makes
/// it yield every 128 socket operations for no one's benefit (it still yields when
/// nothing is ready, and the flow set yields after a round of polls).
pub async fn run(
    p: &Profile,
    plan: &Plan,
    transport: Arc<Transport>,
    opts: EngineOptions,
    progress: &mut dyn Progress,
) -> EngineOutput {
    let (tx, rx) = mpsc::unbounded_channel::<Scraped>();
    let mut e = Engine::new(p, plan, transport, &opts);
    let gate = opts
        .gate
        .clone()
        .unwrap_or_else(|| warmup::StartGate::new(1, opts.start, None));
    let mut arrival = warmup::Arrival::new(&gate);
    let mut warm = e.warm_up(opts.stop.as_ref(), progress).await;
    arrival.arrive(&warm);
    e.start = gate.start().await;
    warm.overran_ms = match opts.start {
        Some(_) => Instant::now().saturating_duration_since(e.start).as_secs_f64() * 1000.0,
        None => 0.0,
    };
    if warm.clients > 0 {
        give_back_free_memory();
    }
    e.stats.warmup = warm;
    // Engines sharing a start wait for it together: a send before it would be early.
    warmup::until(e.start, progress).await;
    e.transport.clock_started();
    let started_at = SystemTime::now();
    e.start_sessions();
    let scraper = opts
        .scrape
        .clone()
        .map(|(url, series)| tokio::spawn(scrape_loop(url, series, p.observe.window, e.start, tx.clone())));
    let mut d = Driver {
        stop: opts.stop.clone(),
        stop_level: 0,
        stopped_at: None,
        // Falls back to tokio's millisecond timer where there is no timerfd.
        precise: timer::PreciseTimer::new().ok().map(|t| match opts.send_precision {
            Some(_) => t.without_lead(),
            None => t,
        }),
        pace: timer::Pace::with_floor(opts.send_precision),
        keep: timer::Keep::new(p.target.timeout),
        drain: p.target.timeout * (p.client.login.len() as u32 + 1) + Duration::from_millis(500),
        plan_end: plan.end,
        scraped: rx,
        seat: opts.probe.as_ref().map(|b| b.seat()),
        probe: None,
        late_since: None,
    };
    let limiter = flow::limiter(opts.max_rate, opts.share.max(1));
    // A panic anywhere on the engine path (the scheduler, a flow, the transport) must
    // not take what was recorded with it: the engine's state outlives the loop, and
    // the run ends there, failed, with what the recorder holds.
    let failed = AssertUnwindSafe(drive(&mut e, &mut d, limiter, progress))
        .catch_unwind()
        .await
        .err();
    if let Some(s) = scraper {
        s.abort();
    }
    let (stop, ended) = match failed {
        Some(panic) => {
            e.stats.abandoned = e.in_flight;
            let why = format!("the engine panicked: {}", panic_message(&*panic));
            e.stats.failures.push(why);
            (
                StopReason::Failed,
                d.stopped_at.unwrap_or(e.start.elapsed().min(plan.end)),
            )
        }
        None if d.stop_level >= 1 => (StopReason::Interrupted, d.stopped_at.unwrap_or(plan.end)),
        None => (StopReason::Completed, d.stopped_at.unwrap_or(plan.end)),
    };
    EngineOutput {
        probe: d.probe,
        ..e.finish(ended, stop, started_at)
    }
}

/// How a held connection's future ends: with the drop, or reset by the engine (a reboot).
type HeldEnd = Result<(u32, u16, crate::transport::Dropped), futures_util::future::Aborted>;

/// A held connection, held until it drops or the engine resets it.
fn hold<'a>(
    s: schedule::HeldStart,
    spec: &'a crate::profile::Connect,
    beats: &'a crate::transport::Beats,
) -> impl std::future::Future<Output = HeldEnd> + 'a {
    let (client, epoch) = (s.client, s.epoch);
    let from_reason = spec.retry_after_from_reason;
    futures_util::future::Abortable::new(
        async move {
            let dropped = s.held.hold(&spec.heartbeat, s.first_beat, from_reason, beats).await;
            (client, epoch, dropped)
        },
        s.reg,
    )
}

/// The loop's own state: whether and when sending stopped, and how it waits.
struct Driver {
    stop: Option<watch::Receiver<u8>>,
    /// 1: stop sending and drain; 2: abandon the drain.
    stop_level: u8,
    /// Run time when sending stopped.
    stopped_at: Option<Duration>,
    precise: Option<timer::PreciseTimer>,
    /// How long the wait before the next pass is at least, from the due rate.
    pace: timer::Pace,
    keep: timer::Keep,
    /// The longest the flows in flight are waited for once sending stopped.
    drain: Duration,
    /// When sending stops: the plan's end, then the probe's.
    plan_end: Duration,
    scraped: mpsc::UnboundedReceiver<Scraped>,
    /// This engine's place at the probe's board, when the run may probe.
    seat: Option<Seat>,
    /// The probe, once it has begun.
    probe: Option<ProbeRun>,
    /// When the baseline's logins sent while deciding on a probe began to drain, when
    /// none followed.
    late_since: Option<Duration>,
}

/// The engine's loop: send what is due, keep the books, wait for the next thing due,
/// a completion, a scrape or a stop; until the plan's end and the drain after it.
async fn drive(
    e: &mut Engine<'_>,
    d: &mut Driver,
    limiter: Option<DefaultDirectRateLimiter>,
    progress: &mut dyn Progress,
) {
    // Declared before the flow sets, which borrow them.
    let transport = e.transport.clone();
    let held_spec = e.held_spec();
    let connect = held_spec.as_ref().map(|(c, _)| *c);
    let runners = Runners::default();
    let mut flows = FuturesUnordered::new();
    let mut completed: Vec<Flowed> = Vec::new();
    // The held connections: one future each, polled by this same loop.
    let mut held = FuturesUnordered::new();
    loop {
        while let Ok(s) = d.scraped.try_recv() {
            e.scraped(s);
        }
        if let Some(s) = d.stop.as_mut()
            && s.has_changed().unwrap_or(false)
        {
            d.stop_level = *s.borrow_and_update();
        }
        // The pass's one clock read (see `Engine::clock`).
        e.clock = Instant::now();
        let now = e.clock.saturating_duration_since(e.start);
        let now_us = now.as_micros() as u64;
        if d.stopped_at.is_none() && d.stop_level >= 1 {
            d.stopped_at = Some(now.min(d.plan_end));
        }
        if d.stopped_at.is_none() && d.probe.is_some() && d.seat.as_ref().is_some_and(Seat::healed) {
            // The target held healthy for a hold with retries silenced: proven.
            d.stopped_at = Some(now);
        }
        if d.stopped_at.is_none() {
            // Up to the plan's end, however late this pass: what is due at the very end
            // (a plan that ends on its last login) is sent, late, never dropped.
            let due = e.send_due(now_us.min(d.plan_end.as_micros() as u64), now);
            d.pace.note(due, now_us);
            if now >= d.plan_end {
                d.stopped_at = Some(d.plan_end);
                if d.may_probe() {
                    e.hold_windows(d.plan_end);
                }
            }
        }
        if d.baseline_goes_on() {
            let due = e.send_baseline_due(now_us, now);
            d.pace.note(due, now_us);
        }
        let closed = e.housekeeping(now, d.stopped_at.is_some(), progress);
        if let (Some(_), Some(seat)) = (d.probe, &d.seat) {
            for w in e.rec.closed_tail(closed) {
                seat.window(w);
            }
        }
        let waiting = if d.baseline_goes_on() {
            e.in_flight_before()
        } else {
            e.in_flight
        };
        if let Some(s) = d.stopped_at
            && (waiting == 0 || now > d.late_since.unwrap_or(s) + d.drain || d.stop_level >= 2)
        {
            if d.may_probe() && s == d.plan_end {
                if let Some(run) = d.decide(e, now, progress).await {
                    e.begin_probe(run.plan_end, run.started, run.end());
                    d.probe = Some(run);
                    d.plan_end = run.end();
                    d.stopped_at = None;
                    continue;
                }
                // No probe: the baseline's logins sent meanwhile drain like any.
                d.seat = None;
                if e.in_flight > 0 && d.stop_level < 2 {
                    d.late_since = Some(now);
                    continue;
                }
            }
            e.stats.abandoned = e.in_flight;
            return;
        }
        let wake_us = d.arm(e, now_us);
        for (job, conn) in e.starts.drain(..) {
            let flow = |job, conn| run_job(&transport, limiter.as_ref(), connect, job, conn);
            let make = |r| runner(&runners, r, flow);
            runners::start(&runners, &mut flows, make, job, conn);
        }
        if let Some((spec, beats)) = &held_spec {
            for s in e.held_starts() {
                held.push(hold(s, spec, beats));
            }
        }
        d.wait(e, (&mut flows, &runners), &mut completed, &mut held, wake_us)
            .await;
    }
}

impl Driver {
    /// Arms the wake-up for what is due next (µs of run time), at most 100 ms away.
    fn arm(&mut self, e: &Engine<'_>, now_us: u64) -> u64 {
        let next_due = if self.baseline_goes_on() {
            e.next_baseline_due()
        } else if self.stopped_at.is_some() {
            None
        } else {
            Some(e.next_due())
        };
        let wake_us = next_due.unwrap_or(u64::MAX).min(now_us + 100_000);
        // No yield loop to beat tokio's millisecond timer: measured under load, it took
        // the core from the requests (32k against 53k logins/s on one core) and made
        // sends later, not earlier. The timer spins only the last few µs of a wait,
        // bounded (`timer::PreciseTimer`). Under load completions wake the loop far
        // more often than the timer does.
        // Sparse sends each get a wake-up at their own instant; the higher the rate, the
        // more fall due within the wait and leave in one pass (`Pace`), so an
        // over-offered run costs a few thousand wake-ups a second, not one per pass.
        let wake_at_us = wake_us.max(now_us + self.pace.gap_us());
        if let Some(t) = self.precise.as_mut() {
            t.set((e.start + Duration::from_micros(wake_at_us)).into_std());
        }
        wake_us
    }

    /// Waits for the first of: a stop signal, completions, a held connection's drop, a
    /// scrape, the wake-up.
    async fn wait<F: std::future::Future<Output = ()>, H: std::future::Future<Output = HeldEnd>>(
        &mut self,
        e: &mut Engine<'_>,
        (flows, runners): (&mut FuturesUnordered<F>, &Runners),
        completed: &mut Vec<Flowed>,
        held: &mut FuturesUnordered<H>,
        wake_us: u64,
    ) {
        let Driver {
            stop,
            stop_level,
            precise,
            scraped,
            keep,
            ..
        } = self;
        tokio::select! {
            biased;
            changed = async {
                match stop.as_mut() {
                    Some(s) => s.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                match stop.as_ref() {
                    Some(s) if changed => *stop_level = *s.borrow(),
                    _ => *stop = None,
                }
            }
            () = std::future::poll_fn(|cx| poll_completions(flows, runners, cx, completed, 512)) => {
                for f in completed.drain(..) {
                    e.complete(f);
                }
            }
            Some(end) = held.next(), if !held.is_empty() => {
                if let Ok((client, epoch, dropped)) = end {
                    e.held_dropped(client, epoch, dropped);
                }
            }
            Some(s) = scraped.recv() => e.scraped(s),
            () = keep.wait() => keep.renew(),
            _ = async {
                match precise.as_mut() {
                    Some(t) => t.wait().await,
                    None => tokio::time::sleep_until(e.start + Duration::from_micros(wake_us)).await,
                }
            } => {
                if let Some(t) = precise.as_mut() {
                    t.fired();
                }
            }
        }
    }
}
