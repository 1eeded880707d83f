//! The overlay's login path as a pure, deterministic state machine. Time is an explicit
//! `now` (time since overlay start); nothing here reads a clock, sleeps or does I/O.
//!
//! - The login server completes at most `capacity × dt` queued logins per `tick`.
//! - A completed login needs a free supernode slot. Supernodes are hosted by eligible
//!   clients; when a host leaves (or self-shuts-down) its members lose their sessions
//!   at once (orphaned), so their next keepalive is refused and they must log in again.
//! - The allocator promotes logged-in eligible clients to replace lost slots: always
//!   (`healthy`) or only while recent logins are not flooded with failures
//!   (`bug-2007`: a failure ratio over `bug_threshold` at a failure rate over
//!   `bug_flood` × capacity).
//!
//! - A held gateway connection's upgrade is a *resume*: it waits in the same queue as the
//!   logins and costs `gateway.resume_cost` of a login's work; it finds its session
//!   valid or lost. When a supernode goes, its members are handed out
//!   ([`Model::take_orphans`]) so that the gateway drops their connections.
//!
//! The model is generic over the ticket `T` a queued login carries (a reply channel in
//! the server, anything in tests) and hands it back with the login's result.

mod admission;
mod failures;
mod stats;
#[cfg(test)]
mod storm_tests;
mod supernodes;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use strum::IntoStaticStr;

use self::failures::FailureWindow;
pub use self::stats::{Snapshot, Stats};
pub use self::supernodes::MegaRefused;
use self::supernodes::{MegaBudget, Supernode};
use super::config::{ActionKind, Allocation, OverlayConfig, QueuePolicy};
use crate::rng::mix64;

/// Why a login was answered 503; its name is the `error` of the 503's body and the
/// `reason` label of the rejection counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Reject {
    /// The bounded queue was full when the login arrived.
    QueueFull,
    /// The bounded queue dropped it: its client had waited longer than `client_timeout`.
    Expired,
    /// Admission control (`admission`) did not let it in: it never reached the queue.
    Admission,
    /// The login server did the work but no supernode had a free slot.
    NoSlot,
}

impl Reject {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    Ok {
        supernode: u64,
    },
    Rejected(Reject),
    /// A resume (never a login) whose session was gone when its turn came.
    SessionLost,
}

struct Pending<T> {
    client: u64,
    enqueued: Duration,
    ticket: T,
    /// A gateway upgrade rather than a login.
    resume: bool,
}

/// A login's work in the queue's unit (thousandths of a login), so that cheaper resumes
/// add up exactly.
const LOGIN_WORK: u64 = 1000;

/// The overlay at one instant; see the module's description. `T` is the ticket a queued
/// login carries back to its caller.
pub struct Model<T> {
    capacity: f64,
    queue_policy: QueuePolicy,
    queue_bound: usize,
    client_timeout: Duration,
    eligible_below: u64,
    seed_hash: u64,
    slots_per_host: u32,
    spare: f64,
    promotion_delay: Duration,
    promotion_rate: f64,
    allocation: Allocation,
    bug_threshold: f64,
    /// Failed logins per second above which `bug-2007` suspends promotion.
    bug_flood: f64,
    shutdown_load: Option<f64>,
    keepalive_cost: f64,
    /// A resume's work, in thousandths of a login.
    resume_work: u64,

    queue: VecDeque<Pending<T>>,
    /// Work waiting in `queue`, in thousandths of a login.
    queued_work: u64,
    /// Logged-in client → its supernode. Orphaning removes the entry.
    sessions: HashMap<u64, u64>,
    /// Machines that are up: logged in, orphaned, or trying to log in; not left.
    up: HashSet<u64>,
    supernodes: HashMap<u64, Supernode>,
    hosting: HashMap<u64, u64>,
    /// Supernodes with a free slot, most free first (logins go to the least loaded).
    free: BTreeSet<(Reverse<u32>, u64)>,
    /// Eligible, logged in, not hosting, not warming: who can be promoted.
    candidates: BTreeSet<u64>,
    warming: VecDeque<(Duration, u64)>,
    warming_until: HashMap<u64, Duration>,
    doomed: Vec<u64>,
    next_supernode: u64,
    mega: MegaBudget,
    slots_total: u64,
    slots_used: u64,

    last: Duration,
    budget: f64,
    burst: f64,
    promotion_tokens: f64,
    window: FailureWindow,
    shed: bool,
    actions: Vec<(Duration, ActionKind)>,
    next_action: usize,
    admission: admission::Gate,
    /// When the last login turned away by bucket may try again (for its Retry-After).
    admission_wait: Option<Duration>,
    /// Due actions on the gateway's connections, for the server to carry out.
    gateway_due: Vec<ActionKind>,
    /// Clients whose supernode went since the last `take_orphans`.
    orphans: Vec<u64>,
    stats: Stats,
}

impl<T> Model<T> {
    /// A model at t=0 with clients `0..initial_online` logged in. `config` must be valid.
    pub fn new(config: &OverlayConfig) -> Self {
        let capacity = config.capacity.per_sec();
        let mut actions: Vec<(Duration, ActionKind)> = config
            .actions
            .iter()
            .filter_map(|a| a.kind().map(|k| (a.at.0, k)))
            .collect();
        actions.sort_by_key(|a| a.0);
        let share = config.supernode_share.0.clamp(0.0, 1.0);
        let promotion_rate = config.promotion_rate.per_sec();
        let mut m = Model {
            capacity,
            queue_policy: config.queue,
            queue_bound: config.queue_bound(),
            client_timeout: config.client_timeout.0,
            eligible_below: if share >= 1.0 {
                u64::MAX
            } else {
                (share * u64::MAX as f64) as u64
            },
            seed_hash: mix64(config.seed),
            slots_per_host: config.supernode_slots.max(1),
            spare: config.spare_slots.0,
            promotion_delay: config.promotion_delay.0,
            promotion_rate,
            allocation: config.allocation,
            bug_threshold: config.bug_threshold.0,
            bug_flood: config.bug_flood.0 * capacity,
            shutdown_load: config.self_shutdown.map(|s| s.load.0),
            keepalive_cost: config.keepalive_cost.0,
            resume_work: (config.gateway.resume_cost.0.clamp(0.0, 1.0) * LOGIN_WORK as f64).round() as u64,
            queue: VecDeque::new(),
            queued_work: 0,
            sessions: HashMap::new(),
            up: HashSet::new(),
            supernodes: HashMap::new(),
            hosting: HashMap::new(),
            free: BTreeSet::new(),
            candidates: BTreeSet::new(),
            warming: VecDeque::new(),
            warming_until: HashMap::new(),
            doomed: Vec::new(),
            next_supernode: 1,
            mega: MegaBudget::new(config),
            slots_total: 0,
            slots_used: 0,
            last: Duration::ZERO,
            budget: 0.0,
            // Unused capacity does not pile up while idle beyond 20 ms of work.
            burst: (capacity * 0.020).max(1.0),
            promotion_tokens: promotion_rate,
            window: FailureWindow::new(config.failure_window.0),
            shed: false,
            actions,
            next_action: 0,
            admission: admission::Gate::new(config.admission, Duration::ZERO, mix64(config.seed)),
            admission_wait: None,
            gateway_due: Vec::new(),
            orphans: Vec::new(),
            stats: Stats::default(),
        };
        // Self-shutdown judges load under traffic, not the initial layout.
        let load = m.shutdown_load.take();
        m.populate(config.initial_online);
        m.shutdown_load = load;
        m
    }

    /// A login arrives. `Err` is answered at once (503); `Ok` means `ticket` comes back
    /// from a later `tick` with the result.
    pub fn enqueue(&mut self, client: u64, now: Duration, ticket: T) -> Result<(), (Reject, T)> {
        self.up.insert(client);
        self.admission_wait = None;
        if let Err(wait) = self.admission.admit(client, now) {
            self.stats.rejected_admission += 1;
            self.admission_wait = wait;
            return Err((Reject::Admission, ticket));
        }
        self.admit(client, now, ticket, false)
    }

    /// The wait to tell the login `enqueue` just turned away by admission bucket: until
    /// its bucket opens (None: the configured Retry-After).
    pub fn admission_wait(&self) -> Option<Duration> {
        self.admission_wait
    }

    /// Sets admission control from `now` on (an operator's action or admin call).
    pub fn set_admission(&mut self, spec: crate::overlay::config::Admission, now: Duration) {
        self.admission = admission::Gate::new(spec, now, self.seed_hash);
    }

    /// A gateway upgrade arrives: it waits for the login server like a login, at
    /// `resume_cost` of a login's work, and comes back `Ok` (the session is valid),
    /// `SessionLost`, or `Rejected` (`QueueFull` at once, `Expired` later). Its failures
    /// are not login failures: `bug-2007` does not count them.
    pub fn enqueue_resume(&mut self, client: u64, now: Duration, ticket: T) -> Result<(), (Reject, T)> {
        self.admit(client, now, ticket, true)
    }

    fn admit(&mut self, client: u64, now: Duration, ticket: T, resume: bool) -> Result<(), (Reject, T)> {
        let work = self.work(resume);
        let bound = self.queue_bound as u64 * LOGIN_WORK;
        if self.queue_policy == QueuePolicy::Bounded && self.queued_work + work > bound {
            if resume {
                self.stats.resumes_rejected += 1;
            } else {
                self.stats.rejected_queue_full += 1;
                self.window.record(now, false);
            }
            return Err((Reject::QueueFull, ticket));
        }
        self.queued_work += work;
        self.queue.push_back(Pending {
            client,
            enqueued: now,
            ticket,
            resume,
        });
        Ok(())
    }

    fn work(&self, resume: bool) -> u64 {
        if resume { self.resume_work } else { LOGIN_WORK }
    }

    /// Whether the client's session is valid. Costs `keepalive_cost` of a login unless shedding.
    pub fn keepalive(&mut self, client: u64) -> bool {
        if !self.shed {
            self.budget -= self.keepalive_cost;
        }
        if self.sessions.contains_key(&client) {
            self.stats.keepalive_ok += 1;
            true
        } else {
            self.stats.keepalive_gone += 1;
            false
        }
    }

    /// The client goes offline (reboots). If it hosts a supernode, its members are orphaned.
    pub fn leave(&mut self, client: u64) {
        self.stats.leaves += 1;
        self.up.remove(&client);
        self.warming_until.remove(&client);
        self.detach(client);
        if let Some(sn) = self.hosting.get(&client).copied() {
            self.remove_supernode(sn);
            self.stats.shutdowns_leave += 1;
        }
        self.candidates.remove(&client);
    }

    pub fn set_shed(&mut self, on: bool) {
        self.shed = on;
    }

    /// Advances the model to `now`: due actions, login processing, self-shutdowns,
    /// promotion. Results of finished or dropped logins are pushed to `out`.
    pub fn tick(&mut self, now: Duration, out: &mut Vec<(T, LoginResult)>) {
        let dt = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        while let Some(&(at, kind)) = self.actions.get(self.next_action) {
            if at > now {
                break;
            }
            self.next_action += 1;
            match kind {
                ActionKind::InjectMega { count, slots } => {
                    self.mega.reserved.0 -= count as u64;
                    self.mega.reserved.1 -= count as u64 * slots as u64;
                    self.add_mega(count, slots);
                }
                ActionKind::Shed(on) => self.set_shed(on),
                ActionKind::Admission(a) => self.set_admission(a, at),
                ActionKind::DropConnections(_) | ActionKind::RestartGateway(_) | ActionKind::Drain => {
                    self.gateway_due.push(kind)
                }
            }
        }

        self.budget += self.capacity * dt;
        while let Some(front) = self.queue.front() {
            let late = now.saturating_sub(front.enqueued) > self.client_timeout;
            let work = self.work(front.resume);
            if late && self.queue_policy == QueuePolicy::Bounded {
                let p = self.queue.pop_front().expect("front exists");
                self.queued_work -= work;
                if p.resume {
                    self.stats.resumes_rejected += 1;
                } else {
                    self.stats.rejected_expired += 1;
                    self.window.record(now, false);
                }
                out.push((p.ticket, LoginResult::Rejected(Reject::Expired)));
                continue;
            }
            let cost = work as f64 / LOGIN_WORK as f64;
            if self.budget < cost {
                break;
            }
            self.budget -= cost;
            let p = self.queue.pop_front().expect("front exists");
            self.queued_work -= work;
            if p.resume {
                self.stats.resumes += 1;
                let result = match self.sessions.get(&p.client) {
                    Some(&supernode) => LoginResult::Ok { supernode },
                    None => LoginResult::SessionLost,
                };
                out.push((p.ticket, result));
                continue;
            }
            self.stats.completed += 1;
            if late {
                self.stats.wasted += 1;
            }
            let result = self.complete_login(p.client);
            self.window.record(now, matches!(result, LoginResult::Ok { .. }));
            out.push((p.ticket, result));
        }
        if self.queue.is_empty() {
            self.budget = self.budget.min(self.burst);
        }

        for sn in std::mem::take(&mut self.doomed) {
            if self.supernodes.contains_key(&sn) {
                self.remove_supernode(sn);
                self.stats.shutdowns_self += 1;
            }
        }
        self.promote(now, dt);
    }

    fn complete_login(&mut self, client: u64) -> LoginResult {
        if !self.up.contains(&client) {
            // It left while queued; the work is done but there is nobody to attach.
            self.stats.rejected_no_slot += 1;
            return LoginResult::Rejected(Reject::NoSlot);
        }
        if let Some(&sn) = self.sessions.get(&client) {
            self.stats.ok += 1;
            return LoginResult::Ok { supernode: sn };
        }
        match self.free.first() {
            Some(&(_, sn)) => {
                self.attach(client, sn);
                self.stats.ok += 1;
                LoginResult::Ok { supernode: sn }
            }
            None => {
                self.stats.rejected_no_slot += 1;
                LoginResult::Rejected(Reject::NoSlot)
            }
        }
    }

    pub fn promotion_suspended(&mut self, now: Duration) -> bool {
        self.allocation == Allocation::Bug2007
            && self.window.ratio(now) > self.bug_threshold
            && self.window.failed_per_sec(now) > self.bug_flood
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    pub fn online(&self) -> usize {
        self.sessions.len()
    }

    pub fn supernodes(&self) -> usize {
        self.supernodes.len()
    }

    pub fn session_of(&self, client: u64) -> Option<u64> {
        self.sessions.get(&client).copied()
    }

    /// Whether `client` hosts a supernode now.
    pub fn hosts(&self, client: u64) -> bool {
        self.hosting.contains_key(&client)
    }

    /// Moves into `out` the clients orphaned since the last call: their supernode went
    /// (its host left or shut it down), so their held connections must drop.
    pub fn take_orphans(&mut self, out: &mut Vec<u64>) {
        out.append(&mut self.orphans);
    }

    /// Moves into `out` the configured connection actions (`drop_connections`,
    /// `restart_gateway`, `drain`) that came due since the last call, in order.
    pub fn take_gateway_actions(&mut self, out: &mut Vec<ActionKind>) {
        out.append(&mut self.gateway_due);
    }

    pub fn snapshot(&mut self, now: Duration) -> Snapshot {
        Snapshot {
            now,
            stats: self.stats,
            queue_depth: self.queue.len(),
            online: self.sessions.len(),
            up: self.up.len(),
            supernodes: self.supernodes.len(),
            mega_supernodes: self.mega.count as usize,
            warming: self.warming_until.len(),
            slots_total: self.slots_total,
            slots_free: self
                .supernodes
                .values()
                .filter(|s| !s.doomed)
                .map(|s| s.free() as u64)
                .sum(),
            failure_ratio: self.window.ratio(now),
            promotion_suspended: self.promotion_suspended(now),
            shed: self.shed,
            admission_limit: self.admission.limit(now),
            admission_buckets: self
                .admission
                .open_buckets(now)
                .map(|open| match self.admission.spec() {
                    crate::overlay::config::Admission::Buckets { count, .. } => (open, count),
                    _ => (open, open),
                }),
        }
    }
}
