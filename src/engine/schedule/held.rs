//! A connected population (`client.session.connect`): each online client holds its own
//! connection. After its login a client connects; a drop sends it back under its retry
//! policy, first trying to resume with its session and logging in again when the
//! target refuses that; a reboot resets its connection. The connections themselves are
//! futures the engine's loop polls (`held`), each with its own heartbeat timer; the
//! engine decides what a client does next, as it does for logins.

use std::collections::HashMap;

use futures_util::future::{AbortHandle, AbortRegistration};

use super::*;
use crate::profile::Connect;
use crate::transport::{Beats, Closed, Dropped, Held};

/// The engine's side of a connected population.
pub(in crate::engine) struct HeldPop<'a> {
    pub spec: &'a Connect,
    /// How to reset a client's connection (a reboot): its future's abort handle.
    handles: HashMap<u32, AbortHandle>,
    /// When each reconnecting client's connection dropped (run time): its outage.
    dropped_at: HashMap<u32, Duration>,
    pub connected: u64,
    /// Clients that should be online: logged in, or trying to be.
    pub online: u64,
    /// Connections to start holding on the next pass.
    pub starts: Vec<HeldStart>,
    /// Connections opened in the warm-up, held from time zero.
    pub warm: Vec<(u32, Held)>,
    pub beats: Arc<Beats>,
}

/// A connection to hold: whose, from which session, and its first heartbeat.
pub(in crate::engine) struct HeldStart {
    pub client: u32,
    pub epoch: u16,
    pub held: Held,
    pub first_beat: Instant,
    pub reg: AbortRegistration,
}

impl<'a> HeldPop<'a> {
    /// The gauges the live display and the exporter show.
    pub fn gauge(&self) -> crate::engine::HeldGauge {
        crate::engine::HeldGauge {
            connected: self.connected,
            online: self.online,
        }
    }

    pub fn new(spec: &'a Connect) -> HeldPop<'a> {
        HeldPop {
            spec,
            handles: HashMap::new(),
            dropped_at: HashMap::new(),
            connected: 0,
            online: 0,
            starts: Vec::new(),
            warm: Vec::new(),
            beats: Arc::new(Beats::default()),
        }
    }
}

impl HeldPop<'_> {
    /// The probe told a client to stay off (its reconnect, relogin or retry silenced):
    /// it is no longer expected online, so the connected share during the probe is of
    /// the clients still trying, as a probe's success rate is of the logins still sent.
    pub fn silence_one(&mut self) {
        self.online = self.online.saturating_sub(1);
    }
}

impl Engine<'_> {
    /// Starts holding a connection that is ready: the client is connected.
    fn hold(&mut self, client: u32, epoch: u16, held: Held, at: Instant) {
        let seed = self.p.seed;
        let c = &mut self.clients[(client / self.part.count) as usize];
        c.phase = Phase::Connected;
        let Some(h) = self.held.as_mut() else { return };
        h.connected += 1;
        // A seeded phase within one period: 200,000 clients do not beat in lockstep.
        let every = h.spec.heartbeat.every;
        let u = unit(seed, Stream::HeartbeatPhase, client as u64, c.logins as u64);
        let first_beat = at + every.mul_f64(u.max(1e-3));
        let (handle, reg) = AbortHandle::new_pair();
        if let Some(old) = h.handles.insert(client, handle) {
            old.abort();
        }
        h.starts.push(HeldStart {
            client,
            epoch,
            held,
            first_beat,
            reg,
        });
    }

    /// Time zero: the clients online at the start hold the connections they opened in
    /// the warm-up; those without one (no warm-up, or its connect failed) connect now.
    pub(super) fn start_held(&mut self, online: impl Iterator<Item = u32>) {
        let Some(h) = self.held.as_mut() else { return };
        let warm: HashMap<u32, Held> = std::mem::take(&mut h.warm).into_iter().collect();
        let mut warm = warm;
        let start = self.start;
        for client in online {
            if let Some(h) = self.held.as_mut() {
                h.online += 1;
            }
            match warm.remove(&client) {
                Some(held) => {
                    self.clients[(client / self.part.count) as usize].begin_connect();
                    self.hold(client, 0, held, start);
                }
                // Its warm-up login failed: an upgrade without a session would only be
                // refused. It logs in first, as a client that lost its session does.
                None if self.sessions.lacks(client) => {
                    let c = &mut self.clients[(client / self.part.count) as usize];
                    c.begin_login();
                    self.locked_out += 1;
                    self.attempt(client, Duration::ZERO, true, Duration::ZERO);
                }
                None => {
                    self.clients[(client / self.part.count) as usize].begin_connect();
                    self.connect(client, Duration::ZERO, false, Duration::ZERO);
                }
            }
        }
    }

    /// A client's login succeeded: it connects at once.
    pub(super) fn first_connect(&mut self, client: u32, now: Duration) {
        self.clients[(client / self.part.count) as usize].begin_connect();
        self.connect(client, now, false, now);
    }

    /// Sends one connect of `client`, intended at `at`; `resume`: after a drop, with the
    /// session it held.
    pub(super) fn connect(&mut self, client: u32, at: Duration, resume: bool, now: Duration) {
        let p = self.p;
        let c = &mut self.clients[(client / self.part.count) as usize];
        let admitted = c.admit(&p.client.retry, at, p.seed, client as u64);
        if !admitted || self.in_flight >= self.max_in_flight {
            let epoch = c.epoch;
            let res = self.never_sent(admitted);
            self.connect_done(client, epoch, at, resume, res, Closed::default(), None);
            return;
        }
        self.in_flight += 1;
        let vars = session_vars(&self.transport, client, c);
        let kind = JobKind::Connect {
            client,
            epoch: c.epoch,
            intended: at,
            resume,
        };
        let _ = now;
        self.dispatch(kind, Arc::from([]), vars, self.sessions.copy(client), false);
    }

    /// A connect ended: the client holds its connection, or tries again (a resume the
    /// target refused logs in again; a back-off answer or close waits as told).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn connect_done(
        &mut self,
        client: u32,
        epoch: u16,
        intended: Duration,
        resume: bool,
        res: FlowResult,
        closed: Closed,
        held: Option<Held>,
    ) {
        let now = self.clock.saturating_duration_since(self.start);
        let latency = res.done.saturating_duration_since(self.start + intended);
        self.rec.connect_done(now, res.class, latency, resume);
        let p = self.p;
        let c = &mut self.clients[(client / self.part.count) as usize];
        if c.epoch != epoch || c.phase != Phase::Connecting {
            // Rebooted meanwhile: the connection (if any) resets as it is dropped here.
            return;
        }
        if let Some(held) = held {
            c.on_result(&p.client.retry, true, None, now, p.seed, client as u64);
            if let Some(h) = self.held.as_mut()
                && let Some(since) = h.dropped_at.remove(&client)
            {
                self.rec.reconnected(now, now.saturating_sub(since));
            }
            self.hold(client, epoch, held, res.done);
            return;
        }
        let relogin = match res.class {
            Class::Status(401) => true,
            Class::WsClose(code) => self.held.as_ref().is_some_and(|h| h.spec.relogin_on.contains(&code)),
            _ => false,
        };
        if relogin {
            if resume {
                self.rec.resume_refused(now);
            }
            self.relogin(client, now);
            return;
        }
        let told = res.retry_after.or(closed.reason_wait);
        let (retry_after, cut) = self.retry_after(intended, told, res.retry_after_invalid);
        if cut {
            // The client waits (it reconnects after it): a wait cut to the cap.
            self.rec.count(intended, Counter::RetryAfterCapped);
        }
        self.reconnect_after(client, false, retry_after, now);
    }

    /// The probe silenced what the client would do next: it stays off, given up, and is
    /// no longer expected online.
    fn silenced_gives_up(&mut self, client: u32, now: Duration) {
        self.clients[(client / self.part.count) as usize].phase = Phase::GaveUp;
        self.rec.count(now, Counter::GaveUp);
        if let Some(h) = self.held.as_mut() {
            h.silence_one();
        }
    }

    /// The target refused the client's session: it logs in again, from no session.
    fn relogin(&mut self, client: u32, now: Duration) {
        let c = &mut self.clients[(client / self.part.count) as usize];
        if self.silenced {
            self.silenced_gives_up(client, now);
            return;
        }
        self.rec.count(now, Counter::Relogin);
        self.sessions.end(client);
        c.end_session();
        c.begin_login();
        self.locked_out += 1;
        self.attempt(client, now, true, now);
    }

    /// The client tries to connect again: at once after a drop (`fresh`: a drop, not
    /// a failed connect), otherwise after its backoff or the wait the target named.
    fn reconnect_after(&mut self, client: u32, fresh: bool, told: Option<Duration>, now: Duration) {
        let p = self.p;
        let c = &mut self.clients[(client / self.part.count) as usize];
        if self.silenced {
            // The probe: reconnects are silenced; the client stays off, given up.
            self.silenced_gives_up(client, now);
            return;
        }
        if fresh {
            c.begin_connect();
            match told {
                Some(d) => {
                    let due = now.saturating_add(d);
                    self.heap.push(Reverse((
                        micros(due),
                        client,
                        TimerKind::Reconnect(Wait::RetryAfter),
                        c.epoch,
                    )));
                }
                None => self.connect(client, now, true, now),
            }
            return;
        }
        match c.on_result(&p.client.retry, false, told, now, p.seed, client as u64) {
            Next::RetryIn(d, wait) => {
                c.phase = Phase::Connecting;
                let due = now.saturating_add(d);
                self.heap
                    .push(Reverse((micros(due), client, TimerKind::Reconnect(wait), c.epoch)));
            }
            Next::GiveUp(_) => self.rec.count(now, Counter::GaveUp),
            Next::LoggedIn => unreachable!("a failed connect is not a login"),
        }
    }

    /// A reconnect's wait is over.
    pub(super) fn reconnect_due(&mut self, client: u32, epoch: u16, at: Duration, now: Duration) {
        let c = self.clients[(client / self.part.count) as usize];
        if c.phase == Phase::Connecting && c.epoch == epoch {
            self.connect(client, at, true, now);
        }
    }

    /// A held connection dropped (the future that held it ended).
    pub fn held_dropped(&mut self, client: u32, epoch: u16, d: Dropped) {
        // The drop's own instant: what it leads to goes from there (see `Engine::clock`).
        self.clock = self.clock.max(d.at);
        let now = d.at.saturating_duration_since(self.start);
        let c = &mut self.clients[(client / self.part.count) as usize];
        if c.epoch != epoch || c.phase != Phase::Connected {
            return;
        }
        c.phase = Phase::Connecting;
        let Some(h) = self.held.as_mut() else { return };
        h.handles.remove(&client);
        h.connected = h.connected.saturating_sub(1);
        h.dropped_at.insert(client, now);
        let relogin = matches!(d.class, Class::WsClose(code) if h.spec.relogin_on.contains(&code));
        self.rec.dropped(now, &d.class.to_string());
        if relogin {
            self.relogin(client, now);
            return;
        }
        let told = d.closed.reason_wait.map(|w| {
            self.rec.retry_after(now, w);
            if w > self.retry_after_cap {
                self.rec.count(now, Counter::RetryAfterCapped);
            }
            w.min(self.retry_after_cap)
        });
        self.reconnect_after(client, d.proven, told, now);
    }

    /// A client reboots: its connection resets (a machine that vanishes sends no close).
    pub(super) fn held_reboot(&mut self, client: u32, at: Duration) {
        let c = self.clients[(client / self.part.count) as usize];
        let Some(h) = self.held.as_mut() else { return };
        h.dropped_at.remove(&client);
        if c.wants_online() {
            h.online = h.online.saturating_sub(1);
        }
        if c.phase == Phase::Connected {
            if let Some(handle) = h.handles.remove(&client) {
                handle.abort();
            }
            h.connected = h.connected.saturating_sub(1);
            self.rec.dropped(at, "reboot");
        }
    }

    /// A client begins to log in from offline: it should be online from now on.
    pub(super) fn held_comes_online(&mut self) {
        if let Some(h) = self.held.as_mut() {
            h.online += 1;
        }
    }

    /// What held connections reported since the last pass, and the gauges.
    pub(super) fn held_books(&mut self, now: Duration) {
        let Some(h) = self.held.as_ref() else { return };
        let (connected, online) = (h.connected, h.online);
        let log = h.beats.take();
        let start = self.start;
        for t in log.sent {
            self.rec.heartbeat_sent(t.saturating_duration_since(start));
        }
        for (t, rtt) in log.answered {
            self.rec.heartbeat_answered(t.saturating_duration_since(start), rtt);
        }
        if log.messages > 0 {
            self.rec.messages(now, log.messages);
        }
        self.rec.set_held(now, connected, online);
    }

    /// The connections to start holding, with what their futures need.
    pub fn held_starts(&mut self) -> Vec<HeldStart> {
        self.held
            .as_mut()
            .map(|h| std::mem::take(&mut h.starts))
            .unwrap_or_default()
    }
}

impl<'a> Engine<'a> {
    /// The held connections' spec and report board, for the loop that polls them.
    pub fn held_spec(&self) -> Option<(&'a Connect, Arc<Beats>)> {
        self.held.as_ref().map(|h| (h.spec, h.beats.clone()))
    }
}
