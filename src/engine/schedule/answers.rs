//! What the engine does with an answer: a login's outcome (retry, back off, give up,
//! hold the session), a keepalive's, a scrape's. The scheduler's other half: `schedule`
//! sends, this books what came back.

use super::*;

impl Engine<'_> {
    pub fn complete(&mut self, f: Flowed) {
        // The answer's own end: what it leads to goes from there.
        self.clock = self.clock.max(f.res.done);
        if f.pooled
            && let Some(start) = self.pools[f.res.node].check_in(f.conn, self.clock)
        {
            self.starts.push(start);
        }
        match f.kind {
            JobKind::Login {
                client,
                epoch,
                intended,
                first,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if self.close_cap.is_some_and(|c| intended >= c) {
                    self.in_flight_after = self.in_flight_after.saturating_sub(1);
                }
                self.finish_attempt(client, epoch, intended, first, f.res, f.values, f.queued);
            }
            JobKind::OnReboot => {}
            JobKind::Connect {
                client,
                epoch,
                intended,
                resume,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.connect_done(client, epoch, intended, resume, f.res, f.closed, f.held.map(|h| *h));
            }
            JobKind::Keepalive {
                client,
                epoch,
                intended,
                redial,
            } => self.keepalive_done(client, epoch, intended, f.res.class.is_ok(), f.values, redial),
        }
    }

    pub(super) fn keepalive_done(
        &mut self,
        client: u32,
        epoch: u16,
        intended: Duration,
        ok: bool,
        values: Option<Box<Values>>,
        redial: bool,
    ) {
        let now = self.clock.saturating_duration_since(self.start);
        let c = &mut self.clients[(client / self.part.count) as usize];
        if c.epoch != epoch || c.phase != Phase::LoggedIn {
            return;
        }
        if ok {
            self.sessions.hold(client, values);
            self.rec.count(intended, Counter::KeepaliveOk);
            if redial {
                return;
            }
            let every = self
                .p
                .client
                .session
                .as_ref()
                .map_or(Duration::from_secs(30), |s| s.every);
            let due = (intended + every).max(now);
            self.heap
                .push(Reverse((micros(due), client, TimerKind::Keepalive, epoch)));
        } else if self.silenced {
            // The probe: the session is gone and the client stays offline, given up.
            self.rec.count(intended, Counter::KeepaliveFailed);
            self.sessions.end(client);
            c.end_session();
            c.phase = Phase::GaveUp;
            self.locked_out += 1;
            self.rec.count(now, Counter::GaveUp);
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

    // The login's four facts (as `JobKind::Login` carries them) and its answer's three.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_attempt(
        &mut self,
        client: u32,
        epoch: u16,
        intended: Duration,
        first: bool,
        res: FlowResult,
        values: Option<Box<Values>>,
        queued: Duration,
    ) {
        #[cfg(test)]
        crate::engine::tests::inject_panic(self.p, self.part, intended);
        let p = self.p;
        let intended_at = self.start + intended;
        let sent = res.sent.max(intended_at);
        // The generator's own lateness: from the intended instant to the request's
        // hand-off to its connection (the flow's first poll, which writes it), less any
        // wait for a pooled connection: that is the target side's doing and shows in
        // latency, not here.
        let lag = res.sent.saturating_duration_since(intended_at).saturating_sub(queued);
        let mut steps = res.steps;
        if let Some(s0) = steps.first_mut() {
            // The first step's user-felt latency starts at the intended instant (it
            // was timed from the dispatch).
            *s0 = StepResult {
                latency: s0.latency + res.started.saturating_duration_since(intended_at),
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
        let (retry_after, cut) = self.retry_after(intended, res.retry_after, res.retry_after_invalid);
        let now = self.clock.saturating_duration_since(self.start);
        let c = &mut self.clients[(client / self.part.count) as usize];
        if c.epoch != epoch {
            // Sent before the client rebooted: counted as an attempt, but nobody waits
            // for it (the gauge of locked-out clients must not move for it).
            return;
        }
        if matches!(
            res.class,
            Class::Refused | Class::Connect | Class::Timeout | Class::TimeoutMidAnswer | Class::Reset | Class::Tls
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
                if self.held.is_some() {
                    self.first_connect(client, now);
                } else if let Some(s) = &p.client.session {
                    let due = now.saturating_add(s.every);
                    self.heap
                        .push(Reverse((micros(due), client, TimerKind::Keepalive, c.epoch)));
                }
            }
            Next::RetryIn(..) if self.silenced => {
                // The probe: no retry; the client gives up at once.
                c.phase = Phase::GaveUp;
                self.rec.count(intended, Counter::GaveUp);
                if let Some(h) = self.held.as_mut() {
                    h.silence_one();
                }
            }
            Next::RetryIn(d, wait) => {
                if cut {
                    // A wait cut to the cap: counted when the client waits, not when an
                    // answer asked for it (a last attempt that gives up waits for nothing).
                    self.rec.count(intended, Counter::RetryAfterCapped);
                }
                let due = now.saturating_add(d);
                self.heap
                    .push(Reverse((micros(due), client, TimerKind::Retry(wait), c.epoch)));
            }
            Next::GiveUp(_) => self.rec.count(intended, Counter::GaveUp),
        }
    }

    /// The `Retry-After` the client goes by: as told, up to the cap, and whether it was
    /// cut to it. Waits that could not be read are counted in the attempt's window.
    pub(super) fn retry_after(
        &mut self,
        intended: Duration,
        told: Option<Duration>,
        invalid: bool,
    ) -> (Option<Duration>, bool) {
        if invalid {
            self.rec.count(intended, Counter::RetryAfterInvalid);
        }
        let Some(told) = told else { return (None, false) };
        self.rec.retry_after(intended, told);
        (Some(told.min(self.retry_after_cap)), told > self.retry_after_cap)
    }
}
