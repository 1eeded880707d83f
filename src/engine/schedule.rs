//! The scheduler's state and what it does with each event: the plan cursor, the heap
//! of due timers (retries, keepalives), every client's compact state, the pools, the
//! flows to start, and the recorder. One owner, the engine's task: no locks.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::flow::{Flowed, Job, JobKind, NodePool, Sessions, session_vars};
use super::scrape::Scraped;
use super::{EngineOptions, EngineOutput, Progress, Snapshot};
use crate::client::{ClientState, Next, Phase, Wait};
use crate::outcome::{Class, StepResult, StopReason};
use crate::plan::{Event, EventKind, Part, Plan};
use crate::profile::{Profile, Step, Values, Vars};
use crate::record::{AttemptRecord, Counter, EngineStats, Recorder};
use crate::rng::{Stream, unit};
use crate::transport::{Conn, FlowResult, Transport};
use crate::units::micros;

mod answers;
mod h2;
mod held;
mod plan_end;
#[cfg(test)]
mod session_tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// A retry, after the wait that `Wait` says set it.
    Retry(Wait),
    Keepalive,
    /// An HTTP/2 client's keepalive at once after its connection dropped (a one-off).
    Redial,
    /// A held client's next connect after a drop or a failed connect.
    Reconnect(Wait),
}

pub(super) use held::HeldStart;

/// (due µs, client, kind, epoch): 16 bytes.
type Timer = Reverse<(u64, u32, TimerKind, u16)>;

pub(super) struct Engine<'a> {
    p: &'a Profile,
    plan: &'a Plan,
    /// The next plan event to send.
    cursor: usize,
    /// The next probe event to send, and how far (µs) the probe's events are shifted:
    /// Some once the probe has begun.
    probe_cursor: usize,
    probe_shift_us: Option<u64>,
    /// When nothing more is due: the plan's end, then the probe's.
    end: Duration,
    /// The confirmation probe is on: a failed login gives up instead of retrying and a
    /// failed keepalive leaves its client offline instead of logging in again.
    silenced: bool,
    /// Windows from here on stay open: set at the plan's end while the engines decide
    /// on a probe, whose attempts will land in them.
    close_cap: Option<Duration>,
    pub start: Instant,
    /// The engine's instant: read once at the top of each pass of its loop, moved on
    /// to each completion's own end (`complete`). What is dispatched, counted or
    /// scheduled in a pass goes by it: one clock read per pass, where one per request
    /// and per decision cost a tenth of the generator's user time (measured, #27).
    pub clock: Instant,
    clients: Vec<ClientState>,
    sessions: Sessions,
    heap: BinaryHeap<Timer>,
    pub rec: Recorder,
    pub transport: Arc<Transport>,
    login: Arc<[Step]>,
    keepalive: Arc<[Step]>,
    on_reboot: Arc<[Step]>,
    /// A connected population's state, when the clients hold connections.
    held: Option<held::HeldPop<'a>>,
    pools: Vec<NodePool>,
    /// Flows to start on the next pass, with their pooled connection if one was idle.
    pub starts: Vec<(Job, Option<Conn>)>,
    pub in_flight: u64,
    /// Of them, login attempts intended at or after `close_cap` (the baseline going on
    /// while the engines drain and decide on a probe).
    in_flight_after: u64,
    max_in_flight: u64,
    /// Pooled connections per node this engine may use at once.
    max_connections: usize,
    part: Part,
    /// The longest `Retry-After` a client waits: a target may ask for any wait.
    retry_after_cap: Duration,
    pub locked_out: u64,
    totals: Snapshot,
    pub stats: EngineStats,
    last_housekeeping: Duration,
    last_progress: Duration,
}

impl<'a> Engine<'a> {
    pub fn new(p: &'a Profile, plan: &'a Plan, transport: Arc<Transport>, opts: &EngineOptions) -> Engine<'a> {
        let n_clients =
            (plan.background_first as usize + plan.background_clients as usize + plan.probe_clients as usize)
                .max(p.population.simulated as usize);
        let part = opts.part;
        let share = opts.share.max(1);
        let start = opts.start.unwrap_or_else(Instant::now);
        Engine {
            p,
            plan,
            cursor: 0,
            probe_cursor: 0,
            probe_shift_us: None,
            end: plan.end,
            silenced: false,
            close_cap: None,
            start,
            clock: start,
            // Only this part's clients: client `id` lives at `id / part.count`.
            clients: vec![ClientState::default(); n_clients.div_ceil(part.count as usize)],
            sessions: Sessions::new(p.client.captures.len(), p.client.data.clone(), p.client.cookies)
                .keeping(p.client.session.is_some() || !p.client.on_reboot.is_empty()),
            heap: BinaryHeap::new(),
            rec: {
                let mut rec = Recorder::new(
                    p.observe.window,
                    p.client.login.iter().map(|s| s.name.clone()).collect(),
                );
                if transport.multiplexes() {
                    rec.record_h2();
                }
                rec
            },
            login: p.client.login.clone().into(),
            keepalive: p
                .client
                .session
                .iter()
                .filter_map(|s| s.keepalive.clone())
                .collect::<Vec<_>>()
                .into(),
            on_reboot: p.client.on_reboot.clone().into(),
            held: p
                .client
                .session
                .as_ref()
                .and_then(|s| s.connect.as_ref())
                .map(held::HeldPop::new),
            pools: (0..transport.nodes()).map(|_| NodePool::default()).collect(),
            starts: Vec::new(),
            in_flight: 0,
            in_flight_after: 0,
            max_in_flight: (p.target.max_in_flight as u64).div_ceil(share as u64),
            max_connections: transport.max_connections().div_ceil(share as usize),
            transport,
            part,
            retry_after_cap: opts.retry_after_cap.unwrap_or(p.client.retry.retry_after_cap),
            locked_out: 0,
            totals: Snapshot {
                planned: plan.end,
                ..Default::default()
            },
            stats: EngineStats {
                threads: 1,
                ..EngineStats::default()
            },
            last_housekeeping: Duration::ZERO,
            last_progress: Duration::ZERO,
        }
    }

    /// Logs in the online clients before time zero (see `warmup`), keeping their sessions.
    pub async fn warm_up(
        &mut self,
        stop: Option<&tokio::sync::watch::Receiver<u8>>,
        progress: &mut dyn super::Progress,
    ) -> crate::record::WarmupStats {
        let max = self.max_in_flight as usize;
        let planned = self.totals.planned;
        let w = &mut super::warmup::Warming::new(stop, progress, planned);
        let mut held = Vec::new();
        let stats = super::warmup::warm_up(
            self.p,
            self.part,
            max,
            &self.transport,
            &mut self.sessions,
            w,
            &mut held,
        )
        .await;
        if let Some(h) = self.held.as_mut() {
            h.warm = held;
        }
        stats
    }

    pub fn start_sessions(&mut self) {
        let Some(s) = &self.p.client.session else {
            return;
        };
        if !s.initially_online {
            return;
        }
        if self.held.is_some() {
            let online = (self.part.index..self.p.population.simulated).step_by(self.part.count as usize);
            self.start_held(online);
            return;
        }
        let every = s.every.as_micros() as f64;
        for c in (self.part.index..self.p.population.simulated).step_by(self.part.count as usize) {
            self.clients[(c / self.part.count) as usize].phase = Phase::LoggedIn;
            let phase = unit(self.p.seed, Stream::KeepalivePhase, c as u64, 0) * every;
            self.heap.push(Reverse((phase as u64, c, TimerKind::Keepalive, 0)));
        }
    }

    /// Sends everything due by `now_us`, plan events and timers in time order: lateness
    /// is measured, never absorbed. Returns how many fell due.
    pub fn send_due(&mut self, now_us: u64, now: Duration) -> u64 {
        let mut due = 0;
        loop {
            due += 1;
            let next = self.next_event();
            let heap_due = self.heap.peek().map(|t| t.0.0);
            match (next, heap_due) {
                (Some(ev), h) if ev.at_us <= now_us && h.is_none_or(|h| ev.at_us <= h) => {
                    if self.cursor < self.plan.events.len() {
                        self.cursor += 1;
                    } else {
                        self.probe_cursor += 1;
                    }
                    self.plan_event(ev.client, ev.kind, ev.at(), now);
                }
                (_, Some(h)) if h <= now_us => {
                    let Reverse((at, client, kind, epoch)) = self.heap.pop().expect("peeked");
                    self.timer(client, kind, epoch, Duration::from_micros(at), now);
                }
                _ => return due - 1,
            }
        }
    }

    /// The next planned event: the plan's, then (once the probe has begun) the probe's,
    /// at the instant the probe gives it.
    fn next_event(&self) -> Option<Event> {
        if let Some(ev) = self.plan.events.get(self.cursor) {
            return Some(*ev);
        }
        let shift = self.probe_shift_us?;
        let ev = self.plan.probe.get(self.probe_cursor)?;
        Some(Event {
            at_us: ev.at_us.saturating_add(shift),
            ..*ev
        })
    }

    /// When something is next due (µs), the end (the plan's, or the probe's) included.
    pub fn next_due(&self) -> u64 {
        let a = self.next_event().map(|ev| ev.at_us);
        let h = self.heap.peek().map(|t| t.0.0);
        let end = micros(self.end);
        [a, h, Some(end)].into_iter().flatten().min().unwrap_or(end)
    }

    /// Once a millisecond, not once a pass: the locked-out gauge, closing windows, and
    /// the live display a few times a second.
    /// Returns how many windows it closed.
    pub fn housekeeping(&mut self, now: Duration, stopping: bool, progress: &mut dyn Progress) -> usize {
        if now < self.last_housekeeping + Duration::from_millis(1) {
            return 0;
        }
        self.last_housekeeping = now;
        self.rec.set_locked_out(now, self.locked_out);
        self.held_books(now);
        self.h2_books(now);
        let closed = self.rec.close_ready(self.close_cap.map_or(now, |cap| now.min(cap)));
        for w in self.rec.closed_tail(closed) {
            progress.window(w);
        }
        if now >= self.last_progress + Duration::from_millis(200) {
            self.last_progress = now;
            self.snapshot(now, stopping);
            progress.update(&self.totals);
        }
        closed
    }

    /// What the run recorded, once it has drained (or given up on the drain).
    pub fn finish(mut self, ended: Duration, stop: StopReason, started_at: SystemTime) -> EngineOutput {
        self.count_waiting();
        self.h2_books(ended.saturating_sub(Duration::from_micros(1)));
        let mut rec = self.rec;
        // The gauge as it stands after the drain, in the last window of the run.
        rec.set_locked_out(ended.saturating_sub(Duration::from_micros(1)), self.locked_out);
        EngineOutput {
            windows: rec.finish(ended),
            stop,
            started_at,
            ended,
            stats: EngineStats {
                failure_examples: self.transport.failure_examples(),
                ..self.stats
            },
            probe: None,
        }
    }

    /// Clients whose next attempt is still scheduled when the run ends: the report says
    /// how many wait on a `Retry-After` and how many on their own backoff.
    fn count_waiting(&mut self) {
        for Reverse((_, client, kind, epoch)) in self.heap.iter() {
            let c = &self.clients[(client / self.part.count) as usize];
            if c.phase != Phase::Wanting || c.epoch != *epoch {
                continue;
            }
            match kind {
                TimerKind::Retry(Wait::RetryAfter) => self.stats.waiting_retry_after += 1,
                TimerKind::Retry(Wait::Backoff) => self.stats.waiting_backoff += 1,
                TimerKind::Keepalive | TimerKind::Redial | TimerKind::Reconnect(_) => {}
            }
        }
    }

    fn plan_event(&mut self, client: u32, kind: EventKind, at: Duration, now: Duration) {
        match kind {
            EventKind::Reboot => {
                let c = &mut self.clients[(client / self.part.count) as usize];
                // Rebooting, it is offline, not locked out: its login after the downtime
                // counts it again (counted twice, the end-of-run split did not add up).
                if matches!(c.phase, Phase::Wanting | Phase::GaveUp) {
                    self.locked_out = self.locked_out.saturating_sub(1);
                }
                // Only a client that was logged in has a session to leave: one locked
                // out (or never online) sends no logout, which would carry an empty token
                // and only add refusals to the target's logs.
                let online = matches!(c.phase, Phase::LoggedIn | Phase::Connecting | Phase::Connected);
                self.held_reboot(client, at);
                let c = &mut self.clients[(client / self.part.count) as usize];
                c.end_session();
                self.rec.count(at, Counter::Reboot);
                // Rendered with the values the client held, then dropped with its process.
                let values = self.sessions.end(client);
                if !online || self.on_reboot.is_empty() {
                    // Its connection goes with the process (with one, the on-reboot
                    // requests still go on it, and its next login replaces it).
                    self.transport.client_gone(client as u64);
                }
                if online && !self.on_reboot.is_empty() {
                    self.stats.on_reboot_sent += 1;
                    let vars = session_vars(&self.transport, client, c);
                    self.dispatch(JobKind::OnReboot, self.on_reboot.clone(), vars, values, true);
                }
            }
            EventKind::Login => {
                let c = &mut self.clients[(client / self.part.count) as usize];
                if matches!(c.phase, Phase::LoggedIn | Phase::Connecting | Phase::Connected) {
                    return;
                }
                let arrives = c.phase == Phase::Offline;
                c.begin_login();
                if arrives {
                    self.held_comes_online();
                }
                self.locked_out += 1;
                self.attempt(client, at, true, now);
            }
        }
    }

    fn timer(&mut self, client: u32, kind: TimerKind, epoch: u16, at: Duration, now: Duration) {
        let c = self.clients[(client / self.part.count) as usize];
        match kind {
            TimerKind::Retry(_) => {
                // A retry from before the client's session ended (a reboot) is stale.
                if c.phase == Phase::Wanting && c.epoch == epoch {
                    self.attempt(client, at, false, now);
                }
            }
            TimerKind::Reconnect(_) => self.reconnect_due(client, epoch, at, now),
            TimerKind::Keepalive | TimerKind::Redial => {
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
                    redial: kind == TimerKind::Redial,
                };
                self.dispatch(kind, self.keepalive.clone(), vars, self.sessions.copy(client), true);
            }
        }
    }

    /// What became of an attempt (a login or a connect) that did not leave: refused by
    /// the client's own throttle, or (`admitted`) over the in-flight ceiling. Counted.
    fn never_sent(&mut self, admitted: bool) -> FlowResult {
        let class = if admitted { Class::Unstarted } else { Class::Throttled };
        if admitted {
            self.stats.unstarted += 1;
        } else {
            self.stats.throttled += 1;
        }
        FlowResult::unsent(class, self.clock)
    }

    /// Sends one login attempt of `client`, intended at `at`.
    fn attempt(&mut self, client: u32, at: Duration, first: bool, now: Duration) {
        let p = self.p;
        let c = &mut self.clients[(client / self.part.count) as usize];
        let admitted = c.admit(&p.client.retry, at, p.seed, client as u64);
        let attempt_no = c.attempts as u32;
        if !admitted || self.in_flight >= self.max_in_flight {
            let epoch = c.epoch;
            let res = self.never_sent(admitted);
            self.finish_attempt(client, epoch, at, first, res, None, Duration::ZERO);
            return;
        }
        self.in_flight += 1;
        if self.close_cap.is_some_and(|c| at >= c) {
            self.in_flight_after += 1;
        }
        self.rec.attempt_started(at, now);
        let node = self.transport.pick(client as u64, attempt_no, c.node as usize);
        let vars = Vars {
            client: client as u64,
            attempt: attempt_no,
            node,
            values: None,
        };
        let kind = JobKind::Login {
            client,
            epoch: c.epoch,
            intended: at,
            first,
        };
        let pooled = self.transport.reuses();
        self.dispatch(kind, self.login.clone(), vars, self.sessions.fresh(client), pooled);
    }

    /// Starts a flow on the next pass: at once for a fresh connection, or with a pooled
    /// one (idle, or opened if the pool has room), or queued until one is handed back.
    fn dispatch(
        &mut self,
        kind: JobKind,
        steps: Arc<[Step]>,
        vars: Vars<'static>,
        values: Option<Box<Values>>,
        pooled: bool,
    ) {
        let job = Job {
            kind,
            steps,
            vars,
            values,
            pooled,
            started: self.clock,
            queued: Duration::ZERO,
        };
        // HTTP/2 multiplexes: a flow is a stream, and the transport finds its connection.
        if !pooled || self.transport.multiplexes() {
            self.starts.push((job, None));
            return;
        }
        if let Some(start) = self.pools[vars.node].check_out(job, self.max_connections, self.clock) {
            self.starts.push(start);
        }
    }

    fn snapshot(&mut self, now: Duration, stopping: bool) {
        let t = &mut self.totals;
        t.elapsed = now;
        t.counts = self.rec.counts_so_far();
        t.in_flight = self.in_flight;
        t.locked_out = self.locked_out;
        t.stopping = stopping;
        t.probing = self.silenced;
        t.held = self.held.as_ref().map(held::HeldPop::gauge);
        if let Some(w) = self.rec.last_closed() {
            let secs = w.len_ms as f64 / 1000.0;
            t.offered_rate = w.counts.attempts as f64 / secs;
            t.achieved_rate = w.counts.logins_ok as f64 / secs;
            t.last_p99_ms = (w.latency_ms.count > 0).then_some(w.latency_ms.p99);
            t.last_success = w.success_rate();
        }
    }
}
