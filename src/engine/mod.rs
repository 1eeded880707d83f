//! The open-model scheduler. One task owns the plan cursor, a heap of due timers
//! (retries, keepalives), every client's compact state, the connection pools, the
//! requests in flight and the recorder: no locks and no channels on the hot path. Each
//! flow is a future polled by that task (a `FuturesUnordered`), so a completion is
//! handled where it lands, without a task spawn or a cross-thread wake-up.
//! Attempts are fired at their intended instants; the engine never slows its schedule
//! down: it measures its own send lag and counts what it could not start.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::stream::{FuturesUnordered, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub mod threads;
pub mod timer;

use crate::client::{ClientState, Next, Phase};
use crate::outcome::{Class, StepResult, StopReason};
use crate::plan::{EventKind, Part, Plan};
use crate::profile::{Profile, Step, Vars};
use crate::record::{AttemptRecord, Counter, EngineStats, Recorder, Window};
use crate::rng::{Stream, unit};
use crate::transport::{Conn, FlowResult, Transport};

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
    /// The instant the run's time counts from, shared by engines running side by side.
    /// None: when this engine starts.
    pub start: Option<Instant>,
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
        }
    }
}

/// What the live display is told a few times a second.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub planned: Duration,
    pub attempts: u64,
    pub logins_ok: u64,
    pub failed: u64,
    pub in_flight: u64,
    pub locked_out: u64,
    pub gave_up: u64,
    /// Attempts sent per second over the last closed window.
    pub offered_rate: f64,
    /// Logins completed per second over the last closed window.
    pub achieved_rate: f64,
    pub last_p99_ms: Option<f64>,
    pub last_success: Option<f64>,
    pub stopping: bool,
}

pub trait Progress: Send {
    fn update(&mut self, s: &Snapshot);
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
}

/// What a flow is for, carried through it to its completion.
#[derive(Debug, Clone, Copy)]
enum JobKind {
    Login {
        client: u32,
        intended: Duration,
        first: bool,
    },
    Keepalive {
        client: u32,
        epoch: u16,
        intended: Duration,
    },
    /// Fire and forget: a rebooting machine does not wait for the answer.
    OnReboot,
}

/// A flow ready to go, or waiting in its node's pool for a connection.
struct Job {
    kind: JobKind,
    steps: Arc<[Step]>,
    vars: Vars,
    pooled: bool,
    /// Dispatch: a wait for a pooled connection counts from here.
    started: Instant,
}

/// A finished flow, with its connection if that can carry another request.
struct Flowed {
    kind: JobKind,
    pooled: bool,
    res: FlowResult,
    conn: Option<Conn>,
}

/// Keep-alive connections to one node; at most `max_connections` in use at once. An
/// attempt that waits for a connection waits on its own clock: its latency counts from
/// its intended instant, so a saturated pool shows instead of hiding.
#[derive(Default)]
struct NodePool {
    idle: Vec<Conn>,
    busy: usize,
    waiting: VecDeque<Job>,
}

struct Scraped {
    at: Duration,
    series: Option<Vec<(String, f64)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Retry,
    Keepalive,
}

/// (due µs, client, kind, epoch): 16 bytes.
type Timer = Reverse<(u64, u32, TimerKind, u16)>;

struct Engine<'a> {
    p: &'a Profile,
    start: Instant,
    clients: Vec<ClientState>,
    heap: BinaryHeap<Timer>,
    rec: Recorder,
    transport: Arc<Transport>,
    login: Arc<[Step]>,
    keepalive: Arc<[Step]>,
    on_reboot: Arc<[Step]>,
    pools: Vec<NodePool>,
    /// Flows to start on the next pass, with their pooled connection if one was idle.
    starts: Vec<(Job, Option<Conn>)>,
    in_flight: u64,
    max_in_flight: u64,
    /// Pooled connections per node this engine may use at once.
    max_connections: usize,
    part: Part,
    locked_out: u64,
    totals: Snapshot,
    stats: EngineStats,
}

/// Polls the flow set for completions: at most `max` of them, and for about the
/// timer's resolution at most (a completion may carry CPU work, a TLS handshake say,
/// and the schedule must not wait behind a long batch of them). Only ever returns
/// pending when none is ready (the waker is then registered).
fn poll_completions<F: std::future::Future<Output = Flowed>>(
    flows: &mut FuturesUnordered<F>,
    cx: &mut std::task::Context<'_>,
    out: &mut Vec<Flowed>,
    max: usize,
) -> std::task::Poll<()> {
    use std::task::Poll;
    let began = std::time::Instant::now();
    while out.len() < max {
        match flows.poll_next_unpin(cx) {
            Poll::Ready(Some(f)) => out.push(f),
            Poll::Ready(None) | Poll::Pending => break,
        }
        if began.elapsed() >= timer::RESOLUTION {
            break;
        }
    }
    if out.is_empty() { Poll::Pending } else { Poll::Ready(()) }
}

/// One flow. It borrows the transport and the limiter, which outlive the flow set: a
/// clone of their `Arc` per request would write the reference count that every engine
/// thread shares, on every request.
async fn run_job(t: &Transport, limiter: Option<&DefaultDirectRateLimiter>, job: Job, conn: Option<Conn>) -> Flowed {
    if let (Some(l), JobKind::Login { .. }) = (limiter, job.kind) {
        l.until_ready().await;
    }
    let (res, conn) = t.flow(&job.steps, job.vars, conn, job.started).await;
    Flowed {
        kind: job.kind,
        pooled: job.pooled,
        res,
        conn,
    }
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
    let (tx, mut rx) = mpsc::unbounded_channel::<Scraped>();
    let n_clients =
        (plan.background_first as usize + plan.background_clients as usize).max(p.population.simulated as usize);
    let part = opts.part;
    let share = opts.share.max(1);
    let limiter = opts
        .max_rate
        .and_then(|r| NonZeroU32::new((r / share as f64).round().max(1.0) as u32))
        .map(|r| {
            // A ceiling, not a budget: at most 10 ms worth of requests in a burst.
            let burst = NonZeroU32::new((r.get() / 100).max(1)).expect("at least 1");
            Arc::new(RateLimiter::direct(Quota::per_second(r).allow_burst(burst)))
        });
    let transport_nodes = transport.nodes();
    let max_connections = transport.max_connections();
    // Declared before the flow set, which borrows them.
    let (shared_transport, shared_limiter) = (transport.clone(), limiter);
    let mut flows = FuturesUnordered::new();
    let mut completed: Vec<Flowed> = Vec::new();
    let mut e = Engine {
        p,
        start: opts.start.unwrap_or_else(Instant::now),
        // Only this part's clients: client `id` lives at `id / part.count`.
        clients: vec![ClientState::default(); n_clients.div_ceil(part.count as usize)],
        heap: BinaryHeap::new(),
        rec: Recorder::new(
            p.observe.window,
            p.client.login.iter().map(|s| s.name.clone()).collect(),
        ),
        transport,
        login: p.client.login.clone().into(),
        keepalive: p
            .client
            .session
            .iter()
            .map(|s| s.keepalive.clone())
            .collect::<Vec<_>>()
            .into(),
        on_reboot: p.client.on_reboot.clone().into(),
        pools: (0..transport_nodes).map(|_| NodePool::default()).collect(),
        starts: Vec::new(),
        in_flight: 0,
        max_in_flight: (p.target.max_in_flight as u64).div_ceil(share as u64),
        max_connections: max_connections.div_ceil(share as usize),
        part,
        locked_out: 0,
        totals: Snapshot {
            planned: plan.end,
            ..Default::default()
        },
        stats: EngineStats {
            threads: 1,
            ..EngineStats::default()
        },
    };
    // Engines sharing a start wait for it together: a send before it would be early.
    tokio::time::sleep_until(e.start).await;
    let started_at = SystemTime::now();
    e.start_sessions();
    let scraper = opts
        .scrape
        .clone()
        .map(|(url, series)| tokio::spawn(scrape_loop(url, series, p.observe.window, e.start, tx.clone())));
    let mut stop = opts.stop.clone();
    let mut stop_level = 0u8;
    let mut cursor = 0usize;
    let mut last_progress = Duration::ZERO;
    let mut stopped_at: Option<Duration> = None;
    // Falls back to tokio's millisecond timer where there is no timerfd.
    let mut precise = timer::PreciseTimer::new().ok();
    let drain = p.target.timeout * (p.client.login.len() as u32 + 1) + Duration::from_millis(500);
    let mut last_housekeeping = Duration::ZERO;
    let plan_end_us = plan.end.as_micros() as u64;
    loop {
        while let Ok(s) = rx.try_recv() {
            e.scraped(s);
        }
        if let Some(s) = stop.as_mut()
            && s.has_changed().unwrap_or(false)
        {
            stop_level = *s.borrow_and_update();
        }
        let now = e.start.elapsed();
        let now_us = now.as_micros() as u64;
        if stopped_at.is_none() && (stop_level >= 1 || now_us >= plan_end_us) {
            stopped_at = Some(now.min(plan.end));
        }
        if stopped_at.is_none() {
            // Everything due by now leaves now; lateness is measured, never absorbed.
            loop {
                let plan_due = plan.events.get(cursor).map(|ev| ev.at_us);
                let heap_due = e.heap.peek().map(|t| t.0.0);
                match (plan_due, heap_due) {
                    (Some(a), h) if a <= now_us && h.is_none_or(|h| a <= h) => {
                        let ev = plan.events[cursor];
                        cursor += 1;
                        e.plan_event(ev.client, ev.kind, ev.at(), now);
                    }
                    (_, Some(h)) if h <= now_us => {
                        let Reverse((at, client, kind, epoch)) = e.heap.pop().expect("peeked");
                        e.timer(client, kind, epoch, Duration::from_micros(at), now);
                    }
                    _ => break,
                }
            }
        }
        // Housekeeping once a millisecond, not once a pass.
        if now >= last_housekeeping + Duration::from_millis(1) {
            last_housekeeping = now;
            e.rec.set_locked_out(now, e.locked_out);
            e.rec.close_ready(now);
            if now >= last_progress + Duration::from_millis(200) {
                last_progress = now;
                e.snapshot(now, stopped_at.is_some());
                progress.update(&e.totals);
            }
        }
        if let Some(s) = stopped_at
            && (e.in_flight == 0 || now > s + drain || stop_level >= 2)
        {
            e.stats.abandoned = e.in_flight;
            break;
        }
        let next_due = if stopped_at.is_some() {
            None
        } else {
            let a = plan.events.get(cursor).map(|ev| ev.at_us);
            let h = e.heap.peek().map(|t| t.0.0);
            [a, h, Some(plan_end_us)].into_iter().flatten().min()
        };
        let wake_us = next_due.unwrap_or(u64::MAX).min(now_us + 100_000);
        // No spinning to beat tokio's millisecond timer: measured under load, a yield
        // loop took the core from the requests (32k against 53k logins/s on one core)
        // and made sends later, not earlier. Under load completions wake the loop far
        // more often than the timer does.
        // Never wait less than the timer's resolution: what falls due meanwhile leaves
        // in one pass, at most that late, and an over-offered run costs at most a few
        // thousand wake-ups a second instead of one per pass.
        let wake_at_us = wake_us.max(now_us + timer::RESOLUTION.as_micros() as u64);
        if let Some(t) = precise.as_mut() {
            t.set((e.start + Duration::from_micros(wake_at_us)).into_std());
        }
        for (job, conn) in e.starts.drain(..) {
            flows.push(run_job(&shared_transport, shared_limiter.as_deref(), job, conn));
        }
        tokio::select! {
            biased;
            changed = async {
                match stop.as_mut() {
                    Some(s) => s.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                match stop.as_ref() {
                    Some(s) if changed => stop_level = *s.borrow(),
                    _ => stop = None,
                }
            }
            () = std::future::poll_fn(|cx| poll_completions(&mut flows, cx, &mut completed, 512)) => {
                for f in completed.drain(..) {
                    e.complete(f);
                }
            }
            Some(s) = rx.recv() => e.scraped(s),
            _ = async {
                match &precise {
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
    if let Some(s) = scraper {
        s.abort();
    }
    let interrupted = stop_level >= 1;
    let ended = stopped_at.unwrap_or(plan.end);
    // The gauge as it stands after the drain, in the last window of the run.
    e.rec
        .set_locked_out(ended.saturating_sub(Duration::from_micros(1)), e.locked_out);
    let windows = e.rec.finish(ended);
    e.stats.failure_examples = e.transport.failure_examples();
    EngineOutput {
        windows,
        stop: if interrupted {
            StopReason::Interrupted
        } else {
            StopReason::Completed
        },
        started_at,
        ended,
        stats: e.stats,
    }
}

impl Engine<'_> {
    fn start_sessions(&mut self) {
        let Some(s) = &self.p.client.session else {
            return;
        };
        if !s.initially_online {
            return;
        }
        let every = s.every.as_micros() as f64;
        for c in (self.part.index..self.p.population.simulated).step_by(self.part.count as usize) {
            self.clients[(c / self.part.count) as usize].phase = Phase::LoggedIn;
            let phase = unit(self.p.seed, Stream::KeepalivePhase, c as u64, 0) * every;
            self.heap.push(Reverse((phase as u64, c, TimerKind::Keepalive, 0)));
        }
    }

    fn plan_event(&mut self, client: u32, kind: EventKind, at: Duration, now: Duration) {
        match kind {
            EventKind::Reboot => {
                let c = &mut self.clients[(client / self.part.count) as usize];
                c.end_session();
                self.rec.count(at, Counter::Reboot);
                if !self.on_reboot.is_empty() {
                    self.stats.on_reboot_sent += 1;
                    let vars = session_vars(&self.transport, client, c);
                    self.dispatch(JobKind::OnReboot, self.on_reboot.clone(), vars, true);
                }
            }
            EventKind::Login => {
                let c = &mut self.clients[(client / self.part.count) as usize];
                if c.phase == Phase::LoggedIn {
                    return;
                }
                c.begin_login();
                self.locked_out += 1;
                self.attempt(client, at, true, now);
            }
        }
    }

    fn timer(&mut self, client: u32, kind: TimerKind, epoch: u16, at: Duration, now: Duration) {
        let c = self.clients[(client / self.part.count) as usize];
        match kind {
            TimerKind::Retry => {
                if c.phase == Phase::Wanting {
                    self.attempt(client, at, false, now);
                }
            }
            TimerKind::Keepalive => {
                if c.phase != Phase::LoggedIn || c.epoch != epoch {
                    return;
                }
                if self.keepalive.is_empty() {
                    return;
                }
                self.stats.keepalives_sent += 1;
                let vars = session_vars(&self.transport, client, &c);
                let kind = JobKind::Keepalive {
                    client,
                    epoch,
                    intended: at,
                };
                self.dispatch(kind, self.keepalive.clone(), vars, true);
            }
        }
    }

    /// Sends one login attempt of `client`, intended at `at`.
    fn attempt(&mut self, client: u32, at: Duration, first: bool, now: Duration) {
        let p = self.p;
        let c = &mut self.clients[(client / self.part.count) as usize];
        let admitted = c.admit(&p.client.retry, at, p.seed, client as u64);
        let attempt_no = c.attempts as u32;
        if !admitted || self.in_flight >= self.max_in_flight {
            let class = if admitted { Class::Unstarted } else { Class::Throttled };
            if admitted {
                self.stats.unstarted += 1;
            } else {
                self.stats.throttled += 1;
            }
            let now = Instant::now();
            let res = FlowResult {
                class,
                retry_after: None,
                started: now,
                sent: now,
                done: now,
                steps: Vec::new(),
                node: 0,
            };
            self.finish_attempt(client, at, first, res);
            return;
        }
        self.in_flight += 1;
        self.rec.attempt_started(at, now);
        let node = self.transport.pick(client as u64, attempt_no, c.node as usize);
        let vars = Vars {
            client: client as u64,
            attempt: attempt_no,
            node,
        };
        let kind = JobKind::Login {
            client,
            intended: at,
            first,
        };
        let pooled = self.transport.reuses();
        self.dispatch(kind, self.login.clone(), vars, pooled);
    }

    /// Starts a flow on the next pass: at once for a fresh connection, or with a pooled
    /// one (idle, or opened if the pool has room), or queued until one is handed back.
    fn dispatch(&mut self, kind: JobKind, steps: Arc<[Step]>, vars: Vars, pooled: bool) {
        let job = Job {
            kind,
            steps,
            vars,
            pooled,
            started: Instant::now(),
        };
        if !pooled {
            self.starts.push((job, None));
            return;
        }
        let pool = &mut self.pools[vars.node];
        if pool.busy < self.max_connections {
            pool.busy += 1;
            let conn = take_idle(&mut pool.idle, job.started);
            self.starts.push((job, conn));
        } else {
            pool.waiting.push_back(job);
        }
    }

    fn complete(&mut self, f: Flowed) {
        if f.pooled {
            let pool = &mut self.pools[f.res.node];
            pool.busy = pool.busy.saturating_sub(1);
            if let Some(c) = f.conn {
                pool.idle.push(c);
            }
            if let Some(job) = pool.waiting.pop_front() {
                pool.busy += 1;
                let conn = take_idle(&mut pool.idle, Instant::now());
                self.starts.push((job, conn));
            }
        }
        match f.kind {
            JobKind::Login {
                client,
                intended,
                first,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.finish_attempt(client, intended, first, f.res);
            }
            JobKind::OnReboot => {}
            JobKind::Keepalive {
                client,
                epoch,
                intended,
            } => {
                let ok = f.res.class.is_ok();
                let now = self.start.elapsed();
                let c = &mut self.clients[(client / self.part.count) as usize];
                if c.epoch != epoch || c.phase != Phase::LoggedIn {
                    return;
                }
                if ok {
                    self.rec.count(intended, Counter::KeepaliveOk);
                    let every = self
                        .p
                        .client
                        .session
                        .as_ref()
                        .map_or(Duration::from_secs(30), |s| s.every);
                    let due = (intended + every).max(now);
                    self.heap
                        .push(Reverse((due.as_micros() as u64, client, TimerKind::Keepalive, epoch)));
                } else {
                    // The session is gone (orphaned, or the target is down): log in again.
                    self.rec.count(intended, Counter::KeepaliveFailed);
                    self.rec.count(now, Counter::Relogin);
                    c.end_session();
                    c.begin_login();
                    self.locked_out += 1;
                    self.attempt(client, now, true, now);
                }
            }
        }
    }

    fn scraped(&mut self, s: Scraped) {
        match s.series {
            Some(series) => self.rec.set_target(s.at, series),
            None => self.stats.scrape_errors += 1,
        }
    }

    fn finish_attempt(&mut self, client: u32, intended: Duration, first: bool, res: FlowResult) {
        let p = self.p;
        let intended_at = self.start + intended;
        let sent = res.sent.max(intended_at);
        // The generator's own lateness: dispatch − intended (a wait for a pooled
        // connection is the target side's doing and shows in latency, not here).
        let lag = res.started.saturating_duration_since(intended_at);
        let mut steps = res.steps;
        if let Some(s0) = steps.first_mut() {
            // The first step's user-felt latency starts at the intended instant.
            *s0 = StepResult {
                latency: s0.latency + lag,
                ..*s0
            };
        }
        self.rec.attempt_done(&AttemptRecord {
            intended,
            first,
            class: res.class,
            send_lag: lag,
            latency: res.done.saturating_duration_since(intended_at),
            service: res.done.saturating_duration_since(sent),
            steps,
        });
        let now = self.start.elapsed();
        let c = &mut self.clients[(client / self.part.count) as usize];
        if matches!(
            res.class,
            Class::Refused | Class::Connect | Class::Timeout | Class::Reset | Class::Tls
        ) {
            // A failover client moves to its next host.
            c.node = c.node.wrapping_add(1);
        }
        let next = c.on_result(
            &p.client.retry,
            res.class.is_ok(),
            res.retry_after,
            now,
            p.seed,
            client as u64,
        );
        match next {
            Next::LoggedIn => {
                self.locked_out = self.locked_out.saturating_sub(1);
                if let Some(s) = &p.client.session {
                    let due = now + s.every;
                    self.heap
                        .push(Reverse((due.as_micros() as u64, client, TimerKind::Keepalive, c.epoch)));
                }
            }
            Next::RetryIn(d) => {
                let due = now + d;
                self.heap
                    .push(Reverse((due.as_micros() as u64, client, TimerKind::Retry, c.epoch)));
            }
            Next::GiveUp(_) => {
                self.rec.count(intended, Counter::GaveUp);
                self.totals.gave_up += 1;
            }
        }
        if res.class.was_sent() {
            self.totals.attempts += 1;
            if res.class.is_ok() {
                self.totals.logins_ok += 1;
            } else {
                self.totals.failed += 1;
            }
        }
    }

    fn snapshot(&mut self, now: Duration, stopping: bool) {
        let t = &mut self.totals;
        t.elapsed = now;
        t.in_flight = self.in_flight;
        t.locked_out = self.locked_out;
        t.stopping = stopping;
        if let Some(w) = self.rec.last_closed() {
            let secs = w.len_ms as f64 / 1000.0;
            t.offered_rate = w.attempts as f64 / secs;
            t.achieved_rate = w.logins_ok as f64 / secs;
            t.last_p99_ms = (w.latency_ms.count > 0).then_some(w.latency_ms.p99);
            t.last_success = w.success_rate();
        }
    }
}

/// The most recently returned idle connection that is still open.
fn take_idle(idle: &mut Vec<Conn>, now: Instant) -> Option<Conn> {
    while let Some(c) = idle.pop() {
        if c.still_open(now) {
            return Some(c);
        }
    }
    None
}

/// Template variables of a session request (keepalive, on-reboot): not a login attempt,
/// sent to the node the client's own host cache points at.
fn session_vars(t: &Transport, client: u32, c: &ClientState) -> Vars {
    Vars {
        client: client as u64,
        attempt: 1,
        node: t.pick(client as u64, 0, c.node as usize),
    }
}

async fn scrape_loop(
    url: String,
    series: Vec<String>,
    every: Duration,
    start: Instant,
    tx: mpsc::UnboundedSender<Scraped>,
) {
    let client = match reqwest::Client::builder()
        .timeout(every.max(Duration::from_millis(500)))
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let at = start.elapsed();
        let got = match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.text().await.ok().map(|t| parse_prometheus(&t, &series)),
            _ => None,
        };
        if tx.send(Scraped { at, series: got }).is_err() {
            return;
        }
    }
}

/// Samples of the Prometheus text format: `name{labels} value`. Keeps the named series
/// (by metric name, labels included in the key), or all of them when none is named.
pub fn parse_prometheus(text: &str, keep: &[String]) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let split = if let Some(close) = l.find('}') {
                close + 1
            } else {
                l.find(char::is_whitespace)?
            };
            let (key, rest) = l.split_at(split);
            let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
            let name = key.split('{').next().unwrap_or(key);
            (keep.is_empty() || keep.iter().any(|k| k == name || k == key)).then(|| (key.to_string(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_is_read() {
        let text = "# HELP q queue\n# TYPE q gauge\nq 12\nlogins_total{result=\"ok\"} 3e3\nother 1\n";
        let all = parse_prometheus(text, &[]);
        assert_eq!(all.len(), 3);
        let some = parse_prometheus(text, &["logins_total".to_string()]);
        assert_eq!(some, vec![("logins_total{result=\"ok\"}".to_string(), 3000.0)]);
    }
}
