//! The overlay's login path as a pure, deterministic state machine. Time is an explicit
//! `now` (time since overlay start); nothing here reads a clock, sleeps or does I/O.
//!
//! - The login server completes at most `capacity × dt` queued logins per `tick`.
//! - A completed login needs a free supernode slot. Supernodes are hosted by eligible
//!   clients; when a host leaves (or self-shuts-down) its members lose their sessions
//!   at once (orphaned), so their next keepalive is refused and they must log in again.
//! - The allocator promotes logged-in eligible clients to replace lost slots: always
//!   (`healthy`) or only while recent logins mostly succeed (`bug-2007`).
//!
//! The model is generic over the ticket `T` a queued login carries (a reply channel in
//! the server, anything in tests) and hands it back with the login's result.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use super::config::{ActionKind, Allocation, OverlayConfig, QueuePolicy};
use crate::rng::mix64;

/// Why a login was answered 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The bounded queue was full when the login arrived.
    QueueFull,
    /// The bounded queue dropped it: its client had waited longer than `client_timeout`.
    Expired,
    /// The login server did the work but no supernode had a free slot.
    NoSlot,
}

impl Reject {
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::QueueFull => "queue_full",
            Reject::Expired => "expired",
            Reject::NoSlot => "no_slot",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    Ok { supernode: u64 },
    Rejected(Reject),
}

/// Cumulative counters (Prometheus counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Logins the login server did the work for (throughput), successful or not.
    pub completed: u64,
    /// Completed logins that answered 200.
    pub ok: u64,
    /// Completed logins whose client had already waited longer than `client_timeout`.
    pub wasted: u64,
    pub rejected_queue_full: u64,
    pub rejected_expired: u64,
    pub rejected_no_slot: u64,
    pub keepalive_ok: u64,
    pub keepalive_gone: u64,
    pub leaves: u64,
    /// Sessions lost because their supernode disappeared.
    pub orphaned: u64,
    pub promotions: u64,
    pub shutdowns_leave: u64,
    pub shutdowns_self: u64,
    pub mega_injected: u64,
}

impl Stats {
    pub fn rejected(&self) -> u64 {
        self.rejected_queue_full + self.rejected_expired + self.rejected_no_slot
    }
}

/// Gauges and counters at one instant, for /metrics.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub now: Duration,
    pub stats: Stats,
    pub queue_depth: usize,
    pub online: usize,
    pub up: usize,
    pub supernodes: usize,
    pub mega_supernodes: usize,
    pub warming: usize,
    pub slots_total: u64,
    pub slots_free: u64,
    pub failure_ratio: f64,
    pub promotion_suspended: bool,
    pub shed: bool,
}

struct Pending<T> {
    client: u64,
    enqueued: Duration,
    ticket: T,
}

struct Supernode {
    /// `None` for an injected mega-supernode: it never leaves and never shuts down.
    host: Option<u64>,
    slots: u32,
    members: HashSet<u64>,
    /// Chosen for self-shutdown; removed at the end of the tick.
    doomed: bool,
}

impl Supernode {
    fn free(&self) -> u32 {
        self.slots.saturating_sub(self.members.len() as u32)
    }
}

/// Login outcomes in buckets of 100 ms over the failure window.
struct FailureWindow {
    bucket: Duration,
    buckets: u64,
    ring: VecDeque<(u64, u64, u64)>,
    ok: u64,
    failed: u64,
}

impl FailureWindow {
    fn new(window: Duration) -> Self {
        let bucket = Duration::from_millis(100);
        let buckets = (window.as_millis() / bucket.as_millis()).max(1) as u64;
        FailureWindow {
            bucket,
            buckets,
            ring: VecDeque::new(),
            ok: 0,
            failed: 0,
        }
    }

    fn index(&self, now: Duration) -> u64 {
        (now.as_millis() / self.bucket.as_millis()) as u64
    }

    fn expire(&mut self, now: Duration) {
        let oldest = self.index(now).saturating_sub(self.buckets - 1);
        while let Some(&(i, ok, failed)) = self.ring.front() {
            if i >= oldest {
                break;
            }
            self.ok -= ok;
            self.failed -= failed;
            self.ring.pop_front();
        }
    }

    fn record(&mut self, now: Duration, ok: bool) {
        let i = self.index(now);
        match self.ring.back_mut() {
            Some(b) if b.0 >= i => {
                if ok {
                    b.1 += 1
                } else {
                    b.2 += 1
                }
            }
            _ => self.ring.push_back(if ok { (i, 1, 0) } else { (i, 0, 1) }),
        }
        if ok {
            self.ok += 1
        } else {
            self.failed += 1
        }
        self.expire(now);
    }

    fn ratio(&mut self, now: Duration) -> f64 {
        self.expire(now);
        let n = self.ok + self.failed;
        if n == 0 { 0.0 } else { self.failed as f64 / n as f64 }
    }
}

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
    shutdown_load: Option<f64>,
    keepalive_cost: f64,

    queue: VecDeque<Pending<T>>,
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
    mega: usize,
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
            shutdown_load: config.self_shutdown.map(|s| s.load.0),
            keepalive_cost: config.keepalive_cost.0,
            queue: VecDeque::new(),
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
            mega: 0,
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
            stats: Stats::default(),
        };
        // Self-shutdown judges load under traffic, not the initial layout.
        let load = m.shutdown_load.take();
        m.populate(config.initial_online);
        m.shutdown_load = load;
        m
    }

    /// Logs in `0..n` at t=0 over enough supernodes (capacity `n × (1 + spare)`) hosted
    /// by the first eligible clients among them. The harness relies on every one of
    /// `0..n` being logged in, so if too few of them are eligible (small `n`), the first
    /// non-eligible ones host the rest of the initial supernodes.
    fn populate(&mut self, n: u64) {
        let k = self.slots_per_host as u64;
        let wanted = ((n as f64 * (1.0 + self.spare)) / k as f64).ceil() as u64;
        let mut hosts = 0;
        for pass_eligible in [true, false] {
            for c in 0..n {
                if hosts >= wanted {
                    break;
                }
                if self.is_eligible(c) == pass_eligible {
                    self.add_supernode(Some(c), self.slots_per_host);
                    hosts += 1;
                }
            }
        }
        for c in 0..n {
            self.up.insert(c);
            if let Some(&(_, sn)) = self.free.first() {
                self.attach(c, sn);
            }
        }
    }

    /// Whether `client` may host a supernode: a fixed function of id and seed.
    pub fn is_eligible(&self, client: u64) -> bool {
        self.eligible_below == u64::MAX || mix64(client ^ self.seed_hash) < self.eligible_below
    }

    /// A login arrives. `Err` is answered at once (503); `Ok` means `ticket` comes back
    /// from a later `tick` with the result.
    pub fn enqueue(&mut self, client: u64, now: Duration, ticket: T) -> Result<(), (Reject, T)> {
        self.up.insert(client);
        if self.queue_policy == QueuePolicy::Bounded && self.queue.len() >= self.queue_bound {
            self.stats.rejected_queue_full += 1;
            self.window.record(now, false);
            return Err((Reject::QueueFull, ticket));
        }
        self.queue.push_back(Pending {
            client,
            enqueued: now,
            ticket,
        });
        Ok(())
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

    /// Adds `count` dedicated supernodes of `slots` each; returns their ids.
    pub fn inject_mega(&mut self, count: u32, slots: u32) -> Vec<u64> {
        self.stats.mega_injected += count as u64;
        self.mega += count as usize;
        (0..count).map(|_| self.add_supernode(None, slots.max(1))).collect()
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
                    self.inject_mega(count, slots);
                }
                ActionKind::Shed(on) => self.set_shed(on),
            }
        }

        self.budget += self.capacity * dt;
        while let Some(front) = self.queue.front() {
            let late = now.saturating_sub(front.enqueued) > self.client_timeout;
            if late && self.queue_policy == QueuePolicy::Bounded {
                let p = self.queue.pop_front().expect("front exists");
                self.stats.rejected_expired += 1;
                self.window.record(now, false);
                out.push((p.ticket, LoginResult::Rejected(Reject::Expired)));
                continue;
            }
            if self.budget < 1.0 {
                break;
            }
            self.budget -= 1.0;
            let p = self.queue.pop_front().expect("front exists");
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

    fn promote(&mut self, now: Duration, dt: f64) {
        let cap = self.promotion_rate.max(1.0);
        self.promotion_tokens = (self.promotion_tokens + self.promotion_rate * dt).min(cap);
        // The 2007 bug holds the whole pipeline: no host is chosen, and hosts that have
        // finished warming up wait instead of serving.
        if self.promotion_suspended(now) {
            return;
        }
        while let Some(&(ready, c)) = self.warming.front() {
            if ready > now {
                break;
            }
            self.warming.pop_front();
            if self.warming_until.get(&c) != Some(&ready) {
                continue; // left (and maybe came back) while warming
            }
            self.warming_until.remove(&c);
            if self.sessions.contains_key(&c) && !self.hosting.contains_key(&c) {
                self.add_supernode(Some(c), self.slots_per_host);
                self.stats.promotions += 1;
            }
            self.refresh_candidate(c);
        }
        let desired = (self.up.len() as f64 * (1.0 + self.spare)).ceil() as u64;
        let mut have = self.slots_total + self.warming_until.len() as u64 * self.slots_per_host as u64;
        while have < desired && self.promotion_tokens >= 1.0 {
            let Some(c) = self.candidates.pop_first() else {
                break;
            };
            let ready = now + self.promotion_delay;
            self.warming.push_back((ready, c));
            self.warming_until.insert(c, ready);
            self.promotion_tokens -= 1.0;
            have += self.slots_per_host as u64;
        }
    }

    /// `bug-2007`: no new promotions while the recent failure ratio is above the threshold.
    pub fn promotion_suspended(&mut self, now: Duration) -> bool {
        self.allocation == Allocation::Bug2007 && self.window.ratio(now) > self.bug_threshold
    }

    fn add_supernode(&mut self, host: Option<u64>, slots: u32) -> u64 {
        let id = self.next_supernode;
        self.next_supernode += 1;
        self.supernodes.insert(
            id,
            Supernode {
                host,
                slots,
                members: HashSet::new(),
                doomed: false,
            },
        );
        self.free.insert((Reverse(slots), id));
        self.slots_total += slots as u64;
        if let Some(h) = host {
            self.hosting.insert(h, id);
            self.candidates.remove(&h);
        }
        id
    }

    fn remove_supernode(&mut self, id: u64) {
        let Some(sn) = self.supernodes.remove(&id) else {
            return;
        };
        self.free.remove(&(Reverse(sn.free()), id));
        self.slots_total -= sn.slots as u64;
        self.slots_used -= sn.members.len() as u64;
        self.stats.orphaned += sn.members.len() as u64;
        if let Some(h) = sn.host {
            self.hosting.remove(&h);
            self.refresh_candidate(h);
        }
        for c in sn.members {
            self.sessions.remove(&c);
            self.refresh_candidate(c);
        }
    }

    fn attach(&mut self, client: u64, id: u64) {
        let Some(sn) = self.supernodes.get_mut(&id) else {
            return;
        };
        let before = sn.free();
        if before == 0 || !sn.members.insert(client) {
            return;
        }
        self.free.remove(&(Reverse(before), id));
        if let Some(load) = self.shutdown_load
            && sn.host.is_some()
            && sn.members.len() as f64 > load * sn.slots as f64
        {
            sn.doomed = true;
            self.doomed.push(id);
        } else if sn.free() > 0 {
            self.free.insert((Reverse(sn.free()), id));
        }
        self.sessions.insert(client, id);
        self.slots_used += 1;
        self.refresh_candidate(client);
    }

    fn detach(&mut self, client: u64) {
        let Some(id) = self.sessions.remove(&client) else {
            return;
        };
        self.slots_used -= 1;
        if let Some(sn) = self.supernodes.get_mut(&id) {
            let before = sn.free();
            sn.members.remove(&client);
            if !sn.doomed {
                self.free.remove(&(Reverse(before), id));
                self.free.insert((Reverse(sn.free()), id));
            }
        }
        self.refresh_candidate(client);
    }

    fn refresh_candidate(&mut self, c: u64) {
        let can = self.sessions.contains_key(&c)
            && !self.hosting.contains_key(&c)
            && !self.warming_until.contains_key(&c)
            && self.is_eligible(c);
        if can {
            self.candidates.insert(c);
        } else {
            self.candidates.remove(&c);
        }
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

    /// The host of a supernode (`None` for mega-supernodes and unknown ids).
    pub fn host_of(&self, supernode: u64) -> Option<u64> {
        self.supernodes.get(&supernode).and_then(|s| s.host)
    }

    /// Members of a supernode, sorted.
    pub fn members_of(&self, supernode: u64) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .supernodes
            .get(&supernode)
            .map(|s| s.members.iter().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Hosted supernode ids, sorted.
    pub fn hosted_supernodes(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.hosting.values().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn snapshot(&mut self, now: Duration) -> Snapshot {
        Snapshot {
            now,
            stats: self.stats,
            queue_depth: self.queue.len(),
            online: self.sessions.len(),
            up: self.up.len(),
            supernodes: self.supernodes.len(),
            mega_supernodes: self.mega,
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
        }
    }
}
