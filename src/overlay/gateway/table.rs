//! The held connections: a compact table (client → slot) that the server's side reads
//! to end connections (orphaning, operator actions, heartbeat timeouts), and the counters
//! behind the gateway's metrics. No tokio in here: a slot wakes its connection's task
//! through an `AtomicWaker`, and the tests drive the table with explicit time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use futures_util::task::AtomicWaker;
use strum::{EnumCount, FromRepr, IntoStaticStr, VariantArray};

use crate::rng::mix64;

/// Why a held connection ended: the `cause` label of `overlay_gateway_drops_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, FromRepr, VariantArray)]
#[strum(serialize_all = "snake_case")]
#[repr(u8)]
pub enum Cause {
    /// The client's supernode went (its host left or rebooted): dropped, no close frame.
    SupernodeLeft = 1,
    /// `drop_connections`: dropped, no close frame.
    DropAction,
    /// `restart_gateway`: closed with 1012.
    Restart,
    /// Nothing from the client for `heartbeat_timeout`: closed with 4009.
    HeartbeatTimeout,
    /// The client sent a close frame.
    ClientClosed,
    /// The client's side ended without a close frame (EOF or reset): its machine went.
    ClientReset,
    /// The same client upgraded again: the older connection is dropped.
    Replaced,
}

/// How the server ends a connection for a cause of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Drop the socket with an RST: what a machine that goes away looks like.
    Abrupt,
    Close(u16, &'static str),
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn ending(self) -> Ending {
        match self {
            Cause::Restart => Ending::Close(1012, "retry after 2"),
            Cause::HeartbeatTimeout => Ending::Close(4009, "heartbeat timeout"),
            _ => Ending::Abrupt,
        }
    }
}

/// How an upgrade was answered: the `result` label of `overlay_gateway_upgrades_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, VariantArray, EnumCount)]
#[strum(serialize_all = "snake_case")]
pub enum Upgrade {
    /// Held.
    Ok,
    /// 401: no token, or one unknown, replaced or expired.
    Unauthorized,
    /// Closed with 4004: the session was orphaned.
    SessionLost,
    /// Closed with 1013, or 503: the login server could not admit it.
    Overloaded,
}

/// One held connection as the server's side sees it: a few dozen bytes.
#[derive(Default)]
pub struct Slot {
    /// Overlay time of the client's last message, in milliseconds.
    last_seen_ms: AtomicU64,
    /// 0 while held; else the `Cause` it ended with, set once.
    cause: AtomicU8,
    waker: AtomicWaker,
}

impl Slot {
    fn new(now: Duration) -> Self {
        let s = Slot::default();
        s.touch(now);
        s
    }

    /// The client sent something at `now`.
    pub fn touch(&self, now: Duration) {
        self.last_seen_ms.store(now.as_millis() as u64, Relaxed);
    }

    /// Ends the connection for `cause` unless it has ended already; true if this did.
    fn end(&self, cause: Cause) -> bool {
        let ended = self.cause.compare_exchange(0, cause as u8, Relaxed, Relaxed).is_ok();
        if ended {
            self.waker.wake();
        }
        ended
    }

    pub fn cause(&self) -> Option<Cause> {
        Cause::from_repr(self.cause.load(Relaxed))
    }

    /// Resolves once the connection has been ended (by the server's side).
    pub fn ended(&self) -> impl Future<Output = Cause> + '_ {
        std::future::poll_fn(move |cx| {
            if let Some(c) = self.cause() {
                return Poll::Ready(c);
            }
            self.waker.register(cx.waker());
            match self.cause() {
                Some(c) => Poll::Ready(c),
                None => Poll::Pending,
            }
        })
    }
}

struct Inner {
    held: HashMap<u64, Arc<Slot>>,
    per_node: Vec<u64>,
    /// `drop_connections` calls so far: each one draws its own seeded choice.
    drops: u64,
    closed: bool,
}

/// What the gateway's metrics show at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySnapshot {
    pub held: u64,
    pub per_node: Vec<u64>,
    pub upgrades: Vec<(Upgrade, u64)>,
    pub drops: Vec<(Cause, u64)>,
    pub heartbeats: u64,
    pub ignored: u64,
}

pub struct Table {
    inner: Mutex<Inner>,
    seed: u64,
    upgrades: [AtomicU64; Upgrade::COUNT],
    /// Indexed by `Cause as usize - 1`.
    drops: [AtomicU64; Cause::VARIANTS.len()],
    heartbeats: AtomicU64,
    ignored: AtomicU64,
}

impl Table {
    pub fn new(nodes: u32, seed: u64) -> Self {
        Table {
            inner: Mutex::new(Inner {
                held: HashMap::new(),
                per_node: vec![0; nodes.max(1) as usize],
                drops: 0,
                closed: false,
            }),
            seed,
            upgrades: Default::default(),
            drops: Default::default(),
            heartbeats: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn node(inner: &Inner, client: u64) -> usize {
        (client % inner.per_node.len() as u64) as usize
    }

    /// `client`'s new connection is held from `now`; an older one of the same client
    /// ends (`Replaced`). None once the table is closed (the overlay stops).
    pub fn hold(&self, client: u64, now: Duration) -> Option<Arc<Slot>> {
        let slot = Arc::new(Slot::new(now));
        let mut inner = self.inner();
        if inner.closed {
            return None;
        }
        match inner.held.insert(client, slot.clone()) {
            Some(old) => {
                self.ended(&old, Cause::Replaced);
            }
            None => {
                let n = Self::node(&inner, client);
                inner.per_node[n] += 1;
            }
        }
        Some(slot)
    }

    /// The connection's own side ended it (`cause`: client closed or reset; `None`:
    /// not counted as a drop). True if it was still held, false if the server's side
    /// had already ended it.
    pub fn release(&self, client: u64, slot: &Arc<Slot>, cause: Option<Cause>) -> bool {
        let won = match cause {
            Some(c) => self.ended(slot, c),
            None => slot.end(Cause::Replaced), // any mark: it only must not be 0
        };
        let mut inner = self.inner();
        if inner.held.get(&client).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            inner.held.remove(&client);
            let n = Self::node(&inner, client);
            inner.per_node[n] -= 1;
        }
        won
    }

    /// Ends a slot and counts its drop, unless it had ended already.
    fn ended(&self, slot: &Slot, cause: Cause) -> bool {
        let won = slot.end(cause);
        if won {
            self.drops[cause as usize - 1].fetch_add(1, Relaxed);
        }
        won
    }

    /// Ends the held connections of `clients` for `cause`; how many were held.
    pub fn end(&self, clients: &[u64], cause: Cause) -> usize {
        let mut inner = self.inner();
        let mut n = 0;
        for c in clients {
            if let Some(slot) = inner.held.remove(c) {
                let node = Self::node(&inner, *c);
                inner.per_node[node] -= 1;
                n += usize::from(self.ended(&slot, cause));
            }
        }
        n
    }

    /// Ends every held connection for which `pick` says so, for `cause`.
    fn end_where(&self, inner: &mut Inner, cause: Cause, mut pick: impl FnMut(u64, &Slot) -> bool) -> usize {
        let mut n = 0;
        let mut gone = vec![0u64; inner.per_node.len()];
        let nodes = inner.per_node.len() as u64;
        inner.held.retain(|&c, slot| {
            if !pick(c, slot) {
                return true;
            }
            gone[(c % nodes) as usize] += 1;
            n += usize::from(self.ended(slot, cause));
            false
        });
        for (count, g) in inner.per_node.iter_mut().zip(gone) {
            *count -= g;
        }
        n
    }

    /// `drop_connections`: round(share × held) connections, a seeded choice that differs
    /// from call to call, drop abruptly. How many did.
    pub fn drop_share(&self, share: f64) -> usize {
        let mut inner = self.inner();
        let k = (share.clamp(0.0, 1.0) * inner.held.len() as f64).round() as usize;
        if k == 0 {
            return 0;
        }
        inner.drops += 1;
        let key = mix64(self.seed ^ mix64(inner.drops));
        let mut ranked: Vec<(u64, u64)> = inner.held.keys().map(|&c| (mix64(c ^ key), c)).collect();
        if k < ranked.len() {
            ranked.select_nth_unstable(k - 1);
            ranked.truncate(k);
        }
        let chosen: std::collections::HashSet<u64> = ranked.into_iter().map(|(_, c)| c).collect();
        self.end_where(&mut inner, Cause::DropAction, |c, _| chosen.contains(&c))
    }

    /// `restart_gateway`: every connection on `node` closes with 1012. How many did.
    pub fn restart(&self, node: u32) -> usize {
        let mut inner = self.inner();
        let nodes = inner.per_node.len() as u64;
        self.end_where(&mut inner, Cause::Restart, |c, _| c % nodes == node as u64)
    }

    /// Ends (4009) every connection whose client sent nothing for more than `timeout`
    /// before `now`; zero `timeout` never ends any. How many did.
    pub fn sweep(&self, now: Duration, timeout: Duration) -> usize {
        if timeout.is_zero() {
            return 0;
        }
        let now = now.as_millis() as u64;
        let timeout = timeout.as_millis() as u64;
        let mut inner = self.inner();
        self.end_where(&mut inner, Cause::HeartbeatTimeout, |_, slot| {
            now.saturating_sub(slot.last_seen_ms.load(Relaxed)) > timeout
        })
    }

    /// The overlay stops: every held connection drops, and no new one is held.
    pub fn close(&self) {
        let mut inner = self.inner();
        inner.closed = true;
        for (_, slot) in inner.held.drain() {
            slot.end(Cause::DropAction);
        }
        inner.per_node.iter_mut().for_each(|n| *n = 0);
    }

    pub fn held(&self) -> usize {
        self.inner().held.len()
    }

    pub fn count_upgrade(&self, result: Upgrade) {
        self.upgrades[result as usize].fetch_add(1, Relaxed);
    }

    pub fn count_heartbeat(&self) {
        self.heartbeats.fetch_add(1, Relaxed);
    }

    pub fn count_ignored(&self) {
        self.ignored.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> GatewaySnapshot {
        let (held, per_node) = {
            let inner = self.inner();
            (inner.held.len() as u64, inner.per_node.clone())
        };
        GatewaySnapshot {
            held,
            per_node,
            upgrades: Upgrade::VARIANTS
                .iter()
                .map(|&u| (u, self.upgrades[u as usize].load(Relaxed)))
                .collect(),
            drops: Cause::VARIANTS
                .iter()
                .map(|&c| (c, self.drops[c as usize - 1].load(Relaxed)))
                .collect(),
            heartbeats: self.heartbeats.load(Relaxed),
            ignored: self.ignored.load(Relaxed),
        }
    }
}
