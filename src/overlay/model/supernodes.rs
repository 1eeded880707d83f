//! The supernode graph: who hosts which supernode, who is attached where, and the
//! allocator that promotes eligible clients to replace lost slots.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::time::Duration;

use super::Model;
use crate::overlay::config::{MAX_MEGA_PER_CALL, OverlayConfig};
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

/// Why an admin call's mega-supernodes were refused: bad input (400) or beyond the
/// configured totals (409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MegaRefused {
    #[error("count must be between 1 and {MAX_MEGA_PER_CALL}, got {0}")]
    Count(u32),
    #[error("slots must be at least 1")]
    NoSlots,
    #[error(
        "{count} more mega-supernodes would make {total}, over max_mega_supernodes ({max}, \
         {reserved} of them kept for configured actions)"
    )]
    TooMany {
        count: u32,
        total: u64,
        max: u64,
        reserved: u64,
    },
    #[error(
        "{slots} more mega-supernode slots would make {total}, over max_mega_slots ({max}, \
         {reserved} of them kept for configured actions)"
    )]
    TooManySlots {
        slots: u64,
        total: u64,
        max: u64,
        reserved: u64,
    },
}

impl MegaRefused {
    /// A request that no state of the overlay would accept, as opposed to one over a total.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, MegaRefused::Count(_) | MegaRefused::NoSlots)
    }
}

/// What mega-supernodes exist and may still come: their memory is the overlay's to bound.
pub(super) struct MegaBudget {
    pub(super) count: u64,
    slots: u64,
    /// (count, slots) the configured actions have yet to inject.
    pub(super) reserved: (u64, u64),
    max: (u64, u64),
}

impl MegaBudget {
    pub(super) fn new(config: &OverlayConfig) -> Self {
        MegaBudget {
            count: 0,
            slots: 0,
            reserved: config.mega_of_actions(),
            max: (config.max_mega_supernodes as u64, config.max_mega_slots),
        }
    }

    fn admits(&self, count: u32, slots: u32) -> Result<(), MegaRefused> {
        if count == 0 || count > MAX_MEGA_PER_CALL {
            return Err(MegaRefused::Count(count));
        }
        if slots == 0 {
            return Err(MegaRefused::NoSlots);
        }
        let total = self.count + self.reserved.0 + count as u64;
        if total > self.max.0 {
            return Err(MegaRefused::TooMany {
                count,
                total,
                max: self.max.0,
                reserved: self.reserved.0,
            });
        }
        let more = count as u64 * slots as u64;
        let total = self.slots + self.reserved.1 + more;
        if total > self.max.1 {
            return Err(MegaRefused::TooManySlots {
                slots: more,
                total,
                max: self.max.1,
                reserved: self.reserved.1,
            });
        }
        Ok(())
    }
}

impl<T> Model<T> {
    /// Adds `count` dedicated supernodes of `slots` each, within the configured totals
    /// less what the configured actions will inject; returns their ids.
    pub fn inject_mega(&mut self, count: u32, slots: u32) -> Result<Vec<u64>, MegaRefused> {
        self.mega.admits(count, slots)?;
        Ok(self.add_mega(count, slots))
    }

    /// Injection without the bounds: the configured actions', validated with the config.
    pub(super) fn add_mega(&mut self, count: u32, slots: u32) -> Vec<u64> {
        self.stats.mega_injected += count as u64;
        self.mega.count += count as u64;
        self.mega.slots += count as u64 * slots as u64;
        (0..count).map(|_| self.add_supernode(None, slots.max(1))).collect()
    }

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
        self.orphans.extend(sn.members.iter().copied());
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
