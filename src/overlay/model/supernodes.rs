//! The supernode graph: who hosts which supernode, who is attached where, and the
//! allocator that promotes eligible clients to replace lost slots.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::time::Duration;

use super::Model;
use crate::rng::mix64;

pub(super) struct Supernode {
    /// `None` for an injected mega-supernode: it never leaves and never shuts down.
    pub(super) host: Option<u64>,
    pub(super) slots: u32,
    pub(super) members: HashSet<u64>,
    /// Chosen for self-shutdown; removed at the end of the tick.
    pub(super) doomed: bool,
}

impl Supernode {
    pub(super) fn free(&self) -> u32 {
        self.slots.saturating_sub(self.members.len() as u32)
    }
}

impl<T> Model<T> {
    /// Logs in `0..n` at t=0 over enough supernodes (capacity `n × (1 + spare)`) hosted
    /// by the first eligible clients among them. The harness relies on every one of
    /// `0..n` being logged in, so if too few of them are eligible (small `n`), the first
    /// non-eligible ones host the rest of the initial supernodes.
    pub(super) fn populate(&mut self, n: u64) {
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

    pub(super) fn promote(&mut self, now: Duration, dt: f64) {
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

    pub(super) fn add_supernode(&mut self, host: Option<u64>, slots: u32) -> u64 {
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

    pub(super) fn remove_supernode(&mut self, id: u64) {
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

    pub(super) fn attach(&mut self, client: u64, id: u64) {
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

    pub(super) fn detach(&mut self, client: u64) {
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

    pub(super) fn refresh_candidate(&mut self, c: u64) {
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
}
