//! Flows: one client's requests (a login, a keepalive, an on-reboot call) as a future
//! that one of the engine's runners polls (`runners`), and the keep-alive pools that
//! pooled flows take their connection from.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::client::ClientState;
use crate::profile::Connect;
use crate::profile::{DataFile, Step, Values, Vars};
use crate::transport::{Closed, Conn, FlowResult, Held, Transport};

/// What a flow is for, carried through it to its completion.
#[derive(Debug, Clone, Copy)]
pub(super) enum JobKind {
    Login {
        client: u32,
        /// The client's session epoch when it was sent: a reboot meanwhile makes the
        /// answer stale (the process that waited for it is gone).
        epoch: u16,
        intended: Duration,
        first: bool,
    },
    Keepalive {
        client: u32,
        epoch: u16,
        intended: Duration,
        /// Sent at once after the client's HTTP/2 connection dropped, on a new one: a
        /// one-off, its answer schedules no further keepalive (the client's own round
        /// goes on at its phase).
        redial: bool,
    },
    /// Fire and forget: a rebooting machine does not wait for the answer.
    OnReboot,
    /// A held client opens its connection: after its login, or (`resume`) after a drop.
    Connect {
        client: u32,
        epoch: u16,
        intended: Duration,
        resume: bool,
    },
}

/// A flow ready to go, or waiting in its node's pool for a connection.
pub(super) struct Job {
    pub kind: JobKind,
    pub steps: Arc<[Step]>,
    pub vars: Vars<'static>,
    /// The client's captured values, for a flow with captures; handed back in `Flowed`.
    pub values: Option<Box<Values>>,
    pub pooled: bool,
    /// Dispatch: a wait for a pooled connection counts from here.
    pub started: Instant,
    /// How long it waited in its node's pool for a connection: the target's doing (its
    /// connections were all busy), so not the generator's send lag.
    pub queued: Duration,
}

/// A finished flow, with its connection if that can carry another request.
pub(super) struct Flowed {
    pub kind: JobKind,
    pub pooled: bool,
    pub res: FlowResult,
    pub conn: Option<Conn>,
    pub values: Option<Box<Values>>,
    pub queued: Duration,
    /// A connect's connection, ready to hold. Boxed: inline, its size was every
    /// completion's, copied at each move of one.
    pub held: Option<Box<Held>>,
    /// A connect's close by the server (its code and named wait).
    pub closed: Closed,
}

/// Keep-alive connections to one node; at most `max_connections` in use at once. An
/// attempt that waits for a connection waits on its own clock: its latency counts from
/// its intended instant, so a saturated pool shows instead of hiding.
#[derive(Default)]
pub(super) struct NodePool {
    idle: Vec<Conn>,
    busy: usize,
    waiting: VecDeque<Job>,
}

impl NodePool {
    /// The job with a connection (idle, or none: it opens one) if fewer than `max` are
    /// in use; otherwise it queues until one is handed back.
    pub fn check_out(&mut self, job: Job, max: usize, now: Instant) -> Option<(Job, Option<Conn>)> {
        if self.busy < max {
            self.busy += 1;
            let conn = take_idle(&mut self.idle, now);
            Some((job, conn))
        } else {
            self.waiting.push_back(job);
            None
        }
    }

    /// A pooled flow ended at `now`, handing back its connection if reusable; the next
    /// job waiting, if any, goes with a connection.
    pub fn check_in(&mut self, conn: Option<Conn>, now: Instant) -> Option<(Job, Option<Conn>)> {
        self.busy = self.busy.saturating_sub(1);
        if let Some(c) = conn {
            self.idle.push(c);
        }
        let mut job = self.waiting.pop_front()?;
        self.busy += 1;
        job.queued = now.saturating_duration_since(job.started);
        let conn = take_idle(&mut self.idle, now);
        Some((job, conn))
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

/// The run's safety ceiling on login requests per second, this engine's share of it.
pub(super) fn limiter(max_rate: Option<f64>, share: u32) -> Option<DefaultDirectRateLimiter> {
    let r = NonZeroU32::new((max_rate? / share as f64).round().max(1.0) as u32)?;
    // A ceiling, not a budget: at most 10 ms worth of requests in a burst.
    let burst = NonZeroU32::new((r.get() / 100).max(1)).expect("at least 1");
    Some(RateLimiter::direct(Quota::per_second(r).allow_burst(burst)))
}

/// One flow. It borrows the transport and the limiter, which outlive the flow set: a
/// clone of their `Arc` per request would write the reference count that every engine
/// thread shares, on every request.
pub(super) async fn run_job(
    t: &Transport,
    limiter: Option<&DefaultDirectRateLimiter>,
    connect: Option<&Connect>,
    job: Job,
    conn: Option<Conn>,
) -> Flowed {
    if let (Some(l), JobKind::Login { .. } | JobKind::Connect { .. }) = (limiter, job.kind) {
        // Boxed: only a run with a ceiling pays for its wait's state.
        Box::pin(l.until_ready()).await;
    }
    let mut values = job.values;
    if let (JobKind::Connect { .. }, Some(spec)) = (job.kind, connect) {
        let vars = Vars {
            values: values.as_deref(),
            ..job.vars
        };
        // Boxed: a held connect (TLS, the upgrade) is large and rare; inline, it would
        // make every request's future as large (copied whole into the flow set).
        let (res, closed, held) = Box::pin(t.connect_held(spec, vars, job.started)).await;
        return Flowed {
            kind: job.kind,
            pooled: false,
            res,
            conn: None,
            values,
            queued: job.queued,
            held: held.map(Box::new),
            closed,
        };
    }
    let (res, conn) = t
        .flow(
            &job.steps,
            job.vars,
            values.as_deref_mut(),
            conn,
            !job.pooled,
            job.started,
        )
        .await;
    Flowed {
        kind: job.kind,
        pooled: job.pooled,
        res,
        conn,
        values,
        queued: job.queued,
        held: None,
        closed: Closed::default(),
    }
}

/// Every logged-in client's captured values, for a flow with captures or a data file:
/// only clients that hold a session have an entry, so a storm of millions of clients
/// pays for those logged in, and a flow with neither pays nothing.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    enabled: bool,
    slots: usize,
    data: Option<DataFile>,
    held: std::collections::HashMap<u32, Box<Values>>,
    /// Something after a login reads a client's values (keepalives, a held connection,
    /// on-reboot requests): only then are they kept. Without, a login's values died
    /// with it, and keeping them grew the map by every login of the run (a background
    /// login is a client of its own: 175,000 entries in 6 s at 30,000/s, their cookie
    /// jars and tokens held to the end and freed in one burst there).
    keep: bool,
}

impl Sessions {
    /// `cookies`: every client needs values to hold its jar, even with no slot.
    pub fn new(slots: usize, data: Option<DataFile>, cookies: bool) -> Sessions {
        Sessions {
            enabled: slots > 0 || cookies,
            slots,
            data,
            held: Default::default(),
            keep: true,
        }
    }

    /// Whether anything after a login reads the client's values.
    pub fn keeping(mut self, keep: bool) -> Sessions {
        self.keep = keep;
        self
    }

    /// A login attempt's values: the client's data row and nothing captured (a login
    /// starts from no session).
    pub fn fresh(&self, client: u32) -> Option<Box<Values>> {
        if !self.enabled {
            return None;
        }
        let mut v = Values::new(self.slots);
        if let Some(d) = &self.data {
            // The data columns hold the first slots.
            for (slot, x) in d.row(client as u64).enumerate() {
                v.set(slot, x.to_string());
            }
        }
        Some(Box::new(v))
    }

    /// A copy for a keepalive: the session stays with the client while it is in flight
    /// (a reboot meanwhile must find it, for its on-reboot requests).
    pub fn copy(&self, client: u32) -> Option<Box<Values>> {
        self.held.get(&client).cloned().or_else(|| self.fresh(client))
    }

    /// The client's session ends (reboot, failed keepalive): its values go with it,
    /// returned for the on-reboot requests (the data row alone if it held none).
    pub fn end(&mut self, client: u32) -> Option<Box<Values>> {
        self.held.remove(&client).or_else(|| self.fresh(client))
    }

    /// The flow keeps sessions and this client holds none (its warm-up login failed):
    /// it must log in before anything that needs one.
    pub fn lacks(&self, client: u32) -> bool {
        self.enabled && !self.held.contains_key(&client)
    }

    /// Whether the client holds a session (values a login or keepalive captured).
    #[cfg(test)]
    pub fn holds(&self, client: u32) -> bool {
        self.held.contains_key(&client)
    }

    /// The client holds a session with these values (after a login, or a keepalive
    /// that may have captured fresher ones).
    pub fn hold(&mut self, client: u32, values: Option<Box<Values>>) {
        if !self.keep {
            return;
        }
        if let Some(v) = values {
            self.held.insert(client, v);
        }
    }
}

/// Template variables of a session request (keepalive, on-reboot): not a login attempt,
/// sent to the node the client's own host cache points at.
pub(super) fn session_vars(t: &Transport, client: u32, c: &ClientState) -> Vars<'static> {
    Vars {
        client: client as u64,
        attempt: 1,
        node: t.pick(client as u64, 0, c.node as usize),
        values: None,
    }
}
