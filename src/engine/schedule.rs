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
use crate::plan::{EventKind, Part, Plan};
use crate::profile::{Profile, Step, Values, Vars};
use crate::record::{AttemptRecord, Counter, EngineStats, Recorder};
use crate::rng::{Stream, unit};
use crate::transport::{Conn, FlowResult, Transport};
use crate::units::micros;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// A retry, after the wait that `Wait` says set it.
    Retry(Wait),
    Keepalive,
}

/// (due µs, client, kind, epoch): 16 bytes.
type Timer = Reverse<(u64, u32, TimerKind, u16)>;

pub(super) struct Engine<'a> {
    p: &'a Profile,
    plan: &'a Plan,
    /// The next plan event to send.
    cursor: usize,
    pub start: Instant,
    clients: Vec<ClientState>,
    sessions: Sessions,
    heap: BinaryHeap<Timer>,
    pub rec: Recorder,
    pub transport: Arc<Transport>,
    login: Arc<[Step]>,
    keepalive: Arc<[Step]>,
    on_reboot: Arc<[Step]>,
    pools: Vec<NodePool>,
    /// Flows to start on the next pass, with their pooled connection if one was idle.
    pub starts: Vec<(Job, Option<Conn>)>,
    pub in_flight: u64,
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
            (plan.background_first as usize + plan.background_clients as usize).max(p.population.simulated as usize);
        let part = opts.part;
        let share = opts.share.max(1);
        Engine {
            p,
            plan,
            cursor: 0,
            start: opts.start.unwrap_or_else(Instant::now),
            // Only this part's clients: client `id` lives at `id / part.count`.
            clients: vec![ClientState::default(); n_clients.div_ceil(part.count as usize)],
            sessions: Sessions::new(p.client.captures.len(), p.client.data.clone(), p.client.cookies),
            heap: BinaryHeap::new(),
            rec: Recorder::new(
                p.observe.window,
                p.client.login.iter().map(|s| s.name.clone()).collect(),
            ),
            login: p.client.login.clone().into(),
            keepalive: p
                .client
                .session
                .iter()
                .map(|s| s.keepalive.clone())
                .collect::<Vec<_>>()
                .into(),
            on_reboot: p.client.on_reboot.clone().into(),
            pools: (0..transport.nodes()).map(|_| NodePool::default()).collect(),
            starts: Vec::new(),
            in_flight: 0,
            max_in_flight: (p.target.max_in_flight as u64).div_ceil(share as u64),
            max_connections: transport.max_connections().div_ceil(share as usize),
            transport,
            part,
            retry_after_cap: opts.retry_after_cap.unwrap_or(p.client.retry.cap),
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
    pub async fn warm_up(&mut self, stop: Option<&tokio::sync::watch::Receiver<u8>>) -> crate::record::WarmupStats {
        let max = self.max_in_flight as usize;
        super::warmup::warm_up(self.p, self.part, max, &self.transport, &mut self.sessions, stop).await
    }

    pub fn start_sessions(&mut self) {
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

    /// Sends everything due by `now_us`, plan events and timers in time order: lateness
    /// is measured, never absorbed.
    pub fn send_due(&mut self, now_us: u64, now: Duration) {
        loop {
            let plan_due = self.plan.events.get(self.cursor).map(|ev| ev.at_us);
            let heap_due = self.heap.peek().map(|t| t.0.0);
            match (plan_due, heap_due) {
                (Some(a), h) if a <= now_us && h.is_none_or(|h| a <= h) => {
                    let ev = self.plan.events[self.cursor];
                    self.cursor += 1;
                    self.plan_event(ev.client, ev.kind, ev.at(), now);
                }
                (_, Some(h)) if h <= now_us => {
                    let Reverse((at, client, kind, epoch)) = self.heap.pop().expect("peeked");
                    self.timer(client, kind, epoch, Duration::from_micros(at), now);
                }
                _ => break,
            }
        }
    }

    /// When something is next due (µs), the plan's end included.
    pub fn next_due(&self) -> u64 {
        let a = self.plan.events.get(self.cursor).map(|ev| ev.at_us);
        let h = self.heap.peek().map(|t| t.0.0);
        let end = self.plan.end.as_micros() as u64;
        [a, h, Some(end)].into_iter().flatten().min().unwrap_or(end)
    }

    /// Once a millisecond, not once a pass: the locked-out gauge, closing windows, and
    /// the live display a few times a second.
    pub fn housekeeping(&mut self, now: Duration, stopping: bool, progress: &mut dyn Progress) {
        if now < self.last_housekeeping + Duration::from_millis(1) {
            return;
        }
        self.last_housekeeping = now;
        self.rec.set_locked_out(now, self.locked_out);
        let closed = self.rec.close_ready(now);
        for w in self.rec.closed_tail(closed) {
            progress.window(w);
        }
        if now >= self.last_progress + Duration::from_millis(200) {
            self.last_progress = now;
            self.snapshot(now, stopping);
            progress.update(&self.totals);
        }
    }

    /// What the run recorded, once it has drained (or given up on the drain).
    pub fn finish(mut self, ended: Duration, stop: StopReason, started_at: SystemTime) -> EngineOutput {
        self.count_waiting();
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
                TimerKind::Keepalive => {}
            }
        }
    }

    fn plan_event(&mut self, client: u32, kind: EventKind, at: Duration, now: Duration) {
        match kind {
            EventKind::Reboot => {
                let c = &mut self.clients[(client / self.part.count) as usize];
                c.end_session();
                self.rec.count(at, Counter::Reboot);
                // Rendered with the values the client held, then dropped with its process.
                let values = self.sessions.end(client);
                if !self.on_reboot.is_empty() {
                    self.stats.on_reboot_sent += 1;
                    let vars = session_vars(&self.transport, client, c);
                    self.dispatch(JobKind::OnReboot, self.on_reboot.clone(), vars, values, true);
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
            TimerKind::Retry(_) => {
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
                self.dispatch(kind, self.keepalive.clone(), vars, self.sessions.copy(client), true);
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
                retry_after_invalid: false,
                started: now,
                sent: now,
                done: now,
                steps: Vec::new(),
                node: 0,
            };
            self.finish_attempt(client, at, first, res, None);
            return;
        }
        self.in_flight += 1;
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
            intended: at,
            first,
        };
        let pooled = self.transport.reuses();
        let values = self.sessions.fresh(client);
        self.dispatch(kind, self.login.clone(), vars, values, pooled);
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
            started: Instant::now(),
        };
        if !pooled {
            self.starts.push((job, None));
            return;
        }
        if let Some(start) = self.pools[vars.node].check_out(job, self.max_connections) {
            self.starts.push(start);
        }
    }

    pub fn complete(&mut self, f: Flowed) {
        if f.pooled
            && let Some(start) = self.pools[f.res.node].check_in(f.conn)
        {
            self.starts.push(start);
        }
        match f.kind {
            JobKind::Login {
                client,
                intended,
                first,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.finish_attempt(client, intended, first, f.res, f.values);
            }
            JobKind::OnReboot => {}
            JobKind::Keepalive {
                client,
                epoch,
                intended,
            } => self.keepalive_done(client, epoch, intended, f.res.class.is_ok(), f.values),
        }
    }

    fn keepalive_done(&mut self, client: u32, epoch: u16, intended: Duration, ok: bool, values: Option<Box<Values>>) {
        let now = self.start.elapsed();
        let c = &mut self.clients[(client / self.part.count) as usize];
        if c.epoch != epoch || c.phase != Phase::LoggedIn {
            return;
        }
        if ok {
            self.sessions.hold(client, values);
            self.rec.count(intended, Counter::KeepaliveOk);
            let every = self
                .p
                .client
                .session
                .as_ref()
                .map_or(Duration::from_secs(30), |s| s.every);
            let due = (intended + every).max(now);
            self.heap
                .push(Reverse((micros(due), client, TimerKind::Keepalive, epoch)));
        } else {
            // The session is gone (orphaned, or the target is down): log in again.
            self.rec.count(intended, Counter::KeepaliveFailed);
            self.rec.count(now, Counter::Relogin);
            self.sessions.end(client); // the relogin starts from an empty session
            c.end_session();
            c.begin_login();
            self.locked_out += 1;
            self.attempt(client, now, true, now);
        }
    }

    pub fn scraped(&mut self, s: Scraped) {
        match s.series {
            Some(series) => self.rec.set_target(s.at, series),
            None => self.stats.scrape_errors += 1,
        }
    }

    fn finish_attempt(
        &mut self,
        client: u32,
        intended: Duration,
        first: bool,
        res: FlowResult,
        values: Option<Box<Values>>,
    ) {
        #[cfg(test)]
        super::tests::inject_panic(self.p, self.part, intended);
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
        let retry_after = self.retry_after(intended, res.retry_after, res.retry_after_invalid);
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
            retry_after,
            now,
            p.seed,
            client as u64,
        );
        match next {
            Next::LoggedIn => {
                self.sessions.hold(client, values);
                self.locked_out = self.locked_out.saturating_sub(1);
                if let Some(s) = &p.client.session {
                    let due = now.saturating_add(s.every);
                    self.heap
                        .push(Reverse((micros(due), client, TimerKind::Keepalive, c.epoch)));
                }
            }
            Next::RetryIn(d, wait) => {
                let due = now.saturating_add(d);
                self.heap
                    .push(Reverse((micros(due), client, TimerKind::Retry(wait), c.epoch)));
            }
            Next::GiveUp(_) => self.rec.count(intended, Counter::GaveUp),
        }
    }

    /// The `Retry-After` the client goes by: as told, up to the cap. Waits that could
    /// not be read and waits cut to the cap are counted in the attempt's window.
    fn retry_after(&mut self, intended: Duration, told: Option<Duration>, invalid: bool) -> Option<Duration> {
        if invalid {
            self.rec.count(intended, Counter::RetryAfterInvalid);
        }
        let told = told?;
        self.rec.retry_after(intended, told);
        if told > self.retry_after_cap {
            self.rec.count(intended, Counter::RetryAfterCapped);
        }
        Some(told.min(self.retry_after_cap))
    }

    fn snapshot(&mut self, now: Duration, stopping: bool) {
        let t = &mut self.totals;
        t.elapsed = now;
        t.counts = self.rec.counts_so_far();
        t.in_flight = self.in_flight;
        t.locked_out = self.locked_out;
        t.stopping = stopping;
        if let Some(w) = self.rec.last_closed() {
            let secs = w.len_ms as f64 / 1000.0;
            t.offered_rate = w.counts.attempts as f64 / secs;
            t.achieved_rate = w.counts.logins_ok as f64 / secs;
            t.last_p99_ms = (w.latency_ms.count > 0).then_some(w.latency_ms.p99);
            t.last_success = w.success_rate();
        }
    }
}
