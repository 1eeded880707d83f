//! The warm-up and the start gate. Clients online when a run starts logged in long
//! before it (real ones did): with a flow that holds a session (captures, cookies),
//! each engine logs its own online clients in before the run's clock starts, at its
//! share of `population.warmup.rate`, and keeps their sessions. These logins are not
//! the storm: they are counted (`WarmupStats`), never put in a window. A client whose
//! warm-up login fails starts without a session, as it would have without a warm-up.
//!
//! The gate fixes time zero once every engine of the process has warmed up: a shared
//! start a little ahead of the last one (threads), or the agreed instant
//! (`--start-at`), which the warm-up may overrun (then it says by how much).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::flow::Sessions;
use super::{Progress, timer};
use crate::plan::Part;
use crate::profile::{Connect, Profile, Step, Values, Vars};
use crate::record::WarmupStats;
use crate::transport::{Held, Transport};

/// How far ahead of the last engine's arrival time zero lies, so that no engine
/// begins late on its first sends.
pub const LEAD: Duration = Duration::from_millis(20);

/// Called with time zero once it is fixed (the embedded overlay starts its clock).
pub type OnStart = Box<dyn FnOnce(Instant) + Send>;

/// Where the engines of one process meet before time zero.
pub struct StartGate {
    engines: u32,
    agreed: Option<Instant>,
    state: Mutex<GateState>,
    fixed: watch::Sender<Option<Instant>>,
}

struct GateState {
    arrived: u32,
    warmup: WarmupStats,
    on_start: Option<OnStart>,
}

impl std::fmt::Debug for StartGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartGate")
            .field("engines", &self.engines)
            .field("agreed", &self.agreed)
            .field("fixed", &*self.fixed.borrow())
            .finish()
    }
}

impl StartGate {
    /// A gate for `engines` engines; `agreed`: the instant time zero must be.
    pub fn new(engines: u32, agreed: Option<Instant>, on_start: Option<OnStart>) -> Arc<StartGate> {
        Arc::new(StartGate {
            engines: engines.max(1),
            agreed,
            state: Mutex::new(GateState {
                arrived: 0,
                warmup: WarmupStats::default(),
                on_start,
            }),
            fixed: watch::channel(None).0,
        })
    }

    /// An engine finished its warm-up. The last to arrive fixes time zero.
    pub fn arrive(&self, w: &WarmupStats) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        crate::record::Tally::tally(&mut s.warmup, w);
        s.arrived += 1;
        if s.arrived != self.engines {
            return;
        }
        let at = self.agreed.unwrap_or_else(|| Instant::now() + LEAD);
        if let Some(f) = s.on_start.take() {
            f(at);
        }
        self.fixed.send_replace(Some(at));
    }

    /// Time zero, once every engine has arrived.
    pub async fn start(&self) -> Instant {
        let mut rx = self.fixed.subscribe();
        let fixed = rx.wait_for(Option::is_some).await.map(|v| *v);
        // The sender lives as long as the gate, which we borrow: it cannot be gone.
        fixed.ok().flatten().unwrap_or_else(Instant::now)
    }

    /// Time zero if fixed yet.
    pub fn fixed(&self) -> Option<Instant> {
        *self.fixed.borrow()
    }

    /// The warm-ups of the engines that arrived, added up.
    pub fn warmup(&self) -> WarmupStats {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).warmup
    }
}

/// Arrives at the gate when dropped without having arrived: an engine that panicked
/// in its warm-up must not keep the others waiting for ever.
pub(super) struct Arrival<'a> {
    gate: &'a StartGate,
    done: bool,
}

impl<'a> Arrival<'a> {
    pub fn new(gate: &'a StartGate) -> Arrival<'a> {
        Arrival { gate, done: false }
    }

    pub fn arrive(&mut self, w: &WarmupStats) {
        self.done = true;
        self.gate.arrive(w);
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.gate.arrive(&WarmupStats::default());
        }
    }
}

/// Waits until `start`, telling `progress` the time left once a second while more than
/// a second remains (an agreed start may lie minutes ahead).
pub(super) async fn until(start: Instant, progress: &mut dyn Progress) {
    const STEP: Duration = Duration::from_secs(1);
    loop {
        let left = start.saturating_duration_since(Instant::now());
        if left <= STEP {
            break;
        }
        progress.countdown(left);
        tokio::time::sleep(STEP.min(left - STEP)).await;
    }
    tokio::time::sleep_until(start).await;
}

/// The clients of `part` that log in before time zero.
pub fn clients(p: &Profile, part: Part) -> impl Iterator<Item = u32> {
    (part.index..p.warmup_clients()).step_by(part.count.max(1) as usize)
}

/// How often the warm-up tells the live display how far it has come.
const WARMUP_PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What the warm-up answers to while it runs: a stop (Ctrl-C) and the live display.
pub(super) struct Warming<'a> {
    stop: Option<&'a watch::Receiver<u8>>,
    progress: &'a mut dyn Progress,
    planned: Duration,
    last: Option<Instant>,
}

impl<'a> Warming<'a> {
    pub(super) fn new(
        stop: Option<&'a watch::Receiver<u8>>,
        progress: &'a mut dyn Progress,
        planned: Duration,
    ) -> Self {
        Warming {
            stop,
            progress,
            planned,
            last: None,
        }
    }

    fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| *s.borrow() >= 1)
    }

    /// Tells the display how far the warm-up is, a few times a second (and always
    /// when `now`: its start and its end).
    fn tell(&mut self, w: &WarmupStats, now: bool) {
        if !now && self.last.is_some_and(|l| l.elapsed() < WARMUP_PROGRESS_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        self.progress.update(&super::Snapshot {
            planned: self.planned,
            warmup: Some(super::WarmupProgress {
                clients: w.clients,
                answered: w.ok + w.failed,
                ok: w.ok,
            }),
            ..Default::default()
        });
    }
}

/// Logs in this engine's online clients (`part`), at most its share of the warm-up
/// rate per second and `max_in_flight` at once, each on a fresh connection, and
/// leaves the sessions of those that succeeded in `sessions`. Stops early when a stop
/// is raised (Ctrl-C): the clients not tried are counted as skipped. Tells the live
/// display how far it has come a few times a second.
pub(super) async fn warm_up(
    p: &Profile,
    part: Part,
    max_in_flight: usize,
    t: &Transport,
    sessions: &mut Sessions,
    warming: &mut Warming<'_>,
    held: &mut Vec<(u32, Held)>,
) -> WarmupStats {
    let mut w = WarmupStats::default();
    if p.warmup_clients() == 0 {
        return w;
    }
    let connect = p.client.session.as_ref().and_then(|s| s.connect.as_ref());
    let mine: Vec<u32> = clients(p, part).collect();
    w.clients = mine.len() as u64;
    // Told even with none of its own: the display sums every engine's warm-up.
    warming.tell(&w, true);
    if mine.is_empty() {
        return w;
    }
    let rate = p.population.warmup.rate.0 / part.count.max(1) as f64;
    let steps: &[Step] = &p.client.login;
    let begin = Instant::now();
    let mut flows = FuturesUnordered::new();
    for (k, &client) in mine.iter().enumerate() {
        if warming.stopped() {
            w.skipped = (mine.len() - k) as u64;
            break;
        }
        let due = begin + Duration::from_secs_f64(k as f64 / rate);
        // Collect answers until this login is due and there is room for it.
        loop {
            let now = Instant::now();
            if now + timer::RESOLUTION >= due && flows.len() < max_in_flight.max(1) {
                break;
            }
            tokio::select! {
                Some(r) = flows.next(), if !flows.is_empty() => answered(&mut w, sessions, held, r),
                _ = tokio::time::sleep_until(due), if now < due => {}
            }
            warming.tell(&w, false);
        }
        let values = sessions.fresh(client);
        flows.push(login(t, steps, connect, client, values));
    }
    while let Some(r) = flows.next().await {
        answered(&mut w, sessions, held, r);
        warming.tell(&w, false);
    }
    w.duration_ms = begin.elapsed().as_secs_f64() * 1000.0;
    warming.tell(&w, true);
    w
}

/// A warm-up login answered: the client keeps its session (and its connection, for a
/// connected population), or starts without one.
fn answered(w: &mut WarmupStats, sessions: &mut Sessions, held: &mut Vec<(u32, Held)>, r: Warmed) {
    let (client, ok, values, conn) = r;
    if ok {
        w.ok += 1;
        sessions.hold(client, values);
    } else {
        w.failed += 1;
    }
    if let Some(c) = conn {
        w.connected += 1;
        held.push((client, c));
    }
}

/// A warm-up login's client, whether it logged in, its session, its connection.
type Warmed = (u32, bool, Option<Box<Values>>, Option<Held>);

/// One warm-up login: the profile's login flow, as a first attempt; for a connected
/// population, then the client's connection.
async fn login(
    t: &Transport,
    steps: &[Step],
    connect: Option<&Connect>,
    client: u32,
    mut values: Option<Box<Values>>,
) -> Warmed {
    let vars = Vars {
        client: client as u64,
        attempt: 1,
        node: t.pick(client as u64, 1, 0),
        values: None,
    };
    let (res, _) = t
        .flow(steps, vars, values.as_deref_mut(), None, true, Instant::now())
        .await;
    let ok = res.class.is_ok();
    let mut conn = None;
    if let (true, Some(c)) = (ok, connect) {
        let vars = Vars {
            values: values.as_deref(),
            ..vars
        };
        conn = t.connect_held(c, vars, Instant::now()).await.2;
    }
    (client, ok, values, conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_engine_fixes_time_zero_and_the_warmups_add_up() {
        let started = Arc::new(Mutex::new(None));
        let s = started.clone();
        let gate = StartGate::new(2, None, Some(Box::new(move |at| *s.lock().unwrap() = Some(at))));
        let w = WarmupStats {
            clients: 3,
            ok: 2,
            failed: 1,
            duration_ms: 40.0,
            ..Default::default()
        };
        gate.arrive(&w);
        assert_eq!(gate.fixed(), None, "one engine still warming up");
        let before = Instant::now();
        // A panicking engine: its arrival dropped without arriving.
        drop(Arrival::new(&gate));
        let at = gate.start().await;
        assert!(at >= before + LEAD, "fixed after the last warm-up, not before");
        assert_eq!(*started.lock().unwrap(), Some(at), "the overlay's clock hook saw it");
        assert_eq!(gate.warmup().clients, 3);
        assert_eq!(gate.warmup().failed, 1);
    }

    #[tokio::test]
    async fn an_agreed_instant_stays_the_start() {
        let agreed = Instant::now() + Duration::from_secs(30);
        let gate = StartGate::new(1, Some(agreed), None);
        gate.arrive(&WarmupStats::default());
        assert_eq!(gate.start().await, agreed);
    }
}
