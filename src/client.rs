//! A virtual client's life, as pure functions of its state, its policy, the outcome
//! and the time: reboot, downtime, login attempts, retry with backoff and jitter,
//! the two budgets real clients use (gRPC's retry token bucket, the SRE book's
//! adaptive throttle), and giving up. The engine only applies what this decides.

use std::time::Duration;

use crate::profile::{Jitter, RetryKind, RetryPolicy};
use crate::rng::{Stream, unit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Phase {
    /// Not online and not trying (before its reboot, or rebooting).
    #[default]
    Offline,
    /// Wants to log in; an attempt is scheduled or in flight.
    Wanting,
    LoggedIn,
    GaveUp,
    /// Logged in, its connection not held: an upgrade in flight, or a wait before the
    /// next (a held client after a drop, reconnecting under its retry policy).
    Connecting,
    /// Logged in and holding its connection.
    Connected,
}

/// Per-client state, kept compact (24 bytes): cost grows with clients that act, and
/// ten million of these fit in a quarter of a gigabyte.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClientState {
    pub phase: Phase,
    /// Index of the node a failover client uses now.
    pub node: u8,
    /// Attempts made in the current login, the first included.
    pub attempts: u16,
    /// Bumped whenever a session ends, so that stale keepalive timers are ignored.
    pub epoch: u16,
    /// Logins started by this client (first attempts), to number draws.
    pub logins: u16,
    /// The previous delay, milliseconds (decorrelated jitter).
    pub prev_delay_ms: u32,
    /// gRPC retry tokens spent (the bucket starts full: max_tokens − spent).
    pub tokens_spent: f32,
    /// Adaptive throttle: decayed request and accept counts, and when they were decayed.
    pub thr_requests: f32,
    pub thr_accepts: f32,
    pub thr_at_ms: u32,
}

/// What the client does after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    LoggedIn,
    RetryIn(Duration, Wait),
    GiveUp(GiveUpReason),
}

/// What set the wait before a retry: the client's own backoff, or the target's
/// `Retry-After` (as long as the backoff or longer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wait {
    Backoff,
    RetryAfter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    MaxAttempts,
    RetryBudget,
    NoRetries,
}

impl ClientState {
    /// The client starts a new login (after a reboot, or a lost session).
    pub fn begin_login(&mut self) {
        self.phase = Phase::Wanting;
        self.attempts = 0;
        self.prev_delay_ms = 0;
        self.logins = self.logins.wrapping_add(1);
    }

    /// A held client starts (re)connecting: after its login, or after a drop. Its
    /// attempts count afresh against `max_attempts`; draws are numbered anew.
    pub fn begin_connect(&mut self) {
        self.phase = Phase::Connecting;
        self.attempts = 0;
        self.prev_delay_ms = 0;
        self.logins = self.logins.wrapping_add(1);
    }

    /// Whether the client is online or trying to be (not rebooting, not yet come).
    pub fn wants_online(&self) -> bool {
        self.phase != Phase::Offline
    }

    /// The session ends (reboot): pending keepalives become stale.
    pub fn end_session(&mut self) {
        self.phase = Phase::Offline;
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Called before an attempt is sent; counts it. Returns false when the adaptive
    /// throttle refuses it locally (it is then not sent, and fails at once).
    pub fn admit(&mut self, policy: &RetryPolicy, now: Duration, seed: u64, client: u64) -> bool {
        self.attempts = self.attempts.saturating_add(1);
        let Some(t) = policy.throttle else {
            return true;
        };
        self.decay(now, t.window);
        let p = ((self.thr_requests - t.k as f32 * self.thr_accepts) / (self.thr_requests + 1.0)).max(0.0);
        self.thr_requests += 1.0;
        let u = unit(
            seed,
            Stream::Throttle,
            client,
            ((self.logins as u64) << 16) | self.attempts as u64,
        );
        (u as f32) >= p
    }

    fn decay(&mut self, now: Duration, window: Duration) {
        let now_ms = now.as_millis().min(u32::MAX as u128) as u32;
        let dt = now_ms.saturating_sub(self.thr_at_ms) as f32 / 1000.0;
        let f = (-dt / window.as_secs_f32().max(1e-3)).exp();
        self.thr_requests *= f;
        self.thr_accepts *= f;
        self.thr_at_ms = now_ms;
    }

    /// Applies the outcome of the attempt just made.
    pub fn on_result(
        &mut self,
        policy: &RetryPolicy,
        ok: bool,
        retry_after: Option<Duration>,
        now: Duration,
        seed: u64,
        client: u64,
    ) -> Next {
        if let Some(b) = policy.budget {
            self.tokens_spent = if ok {
                (self.tokens_spent - b.token_ratio as f32).max(0.0)
            } else {
                (self.tokens_spent + 1.0).min(b.max_tokens as f32)
            };
        }
        if let Some(t) = policy.throttle
            && ok
        {
            self.decay(now, t.window);
            self.thr_accepts += 1.0;
        }
        if ok {
            self.phase = Phase::LoggedIn;
            return Next::LoggedIn;
        }
        if policy.kind == RetryKind::None {
            self.phase = Phase::GaveUp;
            return Next::GiveUp(GiveUpReason::NoRetries);
        }
        if self.attempts as u32 >= policy.max_attempts {
            self.phase = Phase::GaveUp;
            return Next::GiveUp(GiveUpReason::MaxAttempts);
        }
        if let Some(b) = policy.budget
            && b.max_tokens - self.tokens_spent as f64 <= b.max_tokens / 2.0
        {
            self.phase = Phase::GaveUp;
            return Next::GiveUp(GiveUpReason::RetryBudget);
        }
        let u = unit(
            seed,
            Stream::Jitter,
            client,
            ((self.logins as u64) << 16) | self.attempts as u64,
        );
        let mut delay = backoff(
            policy,
            self.attempts as u32,
            Duration::from_millis(self.prev_delay_ms as u64),
            u,
        );
        self.prev_delay_ms = delay.as_millis().min(u32::MAX as u128) as u32;
        let mut wait = Wait::Backoff;
        if policy.honor_retry_after
            && let Some(ra) = retry_after
            && ra >= delay
        {
            delay = ra;
            wait = Wait::RetryAfter;
        }
        Next::RetryIn(delay, wait)
    }
}

/// The delay before retry number `n` (n = attempts made so far, ≥ 1), `u` uniform in
/// [0, 1). Full: U(0, d); equal: d/2 + U(0, d/2); decorrelated: min(cap, U(base, 3·prev))
/// with d = min(cap, base·2ⁿ⁻¹) (fixed: d = base).
pub fn backoff(p: &RetryPolicy, n: u32, prev: Duration, u: f64) -> Duration {
    let base = p.base.as_secs_f64();
    let cap = p.cap.as_secs_f64();
    let d = match p.kind {
        RetryKind::None | RetryKind::Immediate => return Duration::ZERO,
        RetryKind::Fixed => base,
        RetryKind::Exponential => (base * 2f64.powi(n.saturating_sub(1).min(60) as i32)).min(cap),
    };
    let secs = match p.jitter {
        Jitter::None => d,
        Jitter::Full => u * d,
        Jitter::Equal => d / 2.0 + u * d / 2.0,
        Jitter::Decorrelated => {
            let prev = if prev.is_zero() { base } else { prev.as_secs_f64() };
            let hi = (3.0 * prev).max(base);
            (base + u * (hi - base)).min(cap)
        }
    };
    // Cannot fail for a validated policy (secs ≤ cap); a wait that will not convert is
    // the cap, never a panic.
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(p.cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{AdaptiveThrottle, RetryBudget};

    fn policy(kind: RetryKind, jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            kind,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            jitter,
            max_attempts: 5,
            honor_retry_after: true,
            retry_after_cap: Duration::from_secs(30),
            budget: None,
            throttle: None,
        }
    }

    #[test]
    fn exponential_backoff_table() {
        let p = policy(RetryKind::Exponential, Jitter::None);
        let cases = [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)];
        for (n, want) in cases {
            assert_eq!(backoff(&p, n, Duration::ZERO, 0.5).as_secs_f64(), want, "n={n}");
        }
        let full = policy(RetryKind::Exponential, Jitter::Full);
        assert_eq!(backoff(&full, 3, Duration::ZERO, 0.25).as_secs_f64(), 1.0);
        let equal = policy(RetryKind::Exponential, Jitter::Equal);
        assert_eq!(backoff(&equal, 3, Duration::ZERO, 0.5).as_secs_f64(), 3.0);
        let dec = policy(RetryKind::Exponential, Jitter::Decorrelated);
        // U(base, 3·prev): prev 4 s, u = 0.5 → 1 + 0.5·11 = 6.5 s; capped at 30 s.
        assert_eq!(backoff(&dec, 3, Duration::from_secs(4), 0.5).as_secs_f64(), 6.5);
        assert_eq!(backoff(&dec, 9, Duration::from_secs(25), 0.99).as_secs_f64(), 30.0);
        assert_eq!(
            backoff(&policy(RetryKind::Immediate, Jitter::Full), 4, Duration::ZERO, 0.9),
            Duration::ZERO
        );
        assert_eq!(
            backoff(&policy(RetryKind::Fixed, Jitter::None), 4, Duration::ZERO, 0.9),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn gives_up_after_max_attempts_and_honours_retry_after() {
        let p = policy(RetryKind::Exponential, Jitter::None);
        let mut c = ClientState::default();
        c.begin_login();
        let mut delays = Vec::new();
        loop {
            assert!(c.admit(&p, Duration::ZERO, 1, 9));
            match c.on_result(&p, false, Some(Duration::from_secs(3)), Duration::ZERO, 1, 9) {
                Next::RetryIn(d, wait) => delays.push((d.as_secs(), wait)),
                Next::GiveUp(r) => {
                    assert_eq!(r, GiveUpReason::MaxAttempts);
                    break;
                }
                Next::LoggedIn => unreachable!(),
            }
        }
        // Retry-After 3 s lifts the first two delays (1 s, 2 s); 4 s and 8 s stand.
        let (ra, backoff) = (Wait::RetryAfter, Wait::Backoff);
        assert_eq!(delays, vec![(3, ra), (3, ra), (4, backoff), (8, backoff)]);
        assert_eq!(c.attempts, 5);
        assert_eq!(c.phase, Phase::GaveUp);
    }

    #[test]
    fn retry_budget_stops_retries_when_half_spent() {
        let mut p = policy(RetryKind::Immediate, Jitter::None);
        p.max_attempts = 100;
        p.budget = Some(RetryBudget {
            max_tokens: 4.0,
            token_ratio: 0.5,
        });
        let mut c = ClientState::default();
        c.begin_login();
        let mut tries = 0;
        loop {
            c.admit(&p, Duration::ZERO, 1, 1);
            tries += 1;
            if let Next::GiveUp(r) = c.on_result(&p, false, None, Duration::ZERO, 1, 1) {
                assert_eq!(r, GiveUpReason::RetryBudget);
                break;
            }
        }
        // 4 tokens; retries allowed while tokens > 2: failures take it to 3, then 2 (stop).
        assert_eq!(tries, 2);
    }

    #[test]
    fn adaptive_throttle_refuses_when_accepts_lag_requests() {
        let mut p = policy(RetryKind::Immediate, Jitter::None);
        p.throttle = Some(AdaptiveThrottle {
            k: 2.0,
            window: Duration::from_secs(120),
        });
        let mut c = ClientState::default();
        c.begin_login();
        let mut refused = 0;
        for i in 0..200u64 {
            if !c.admit(&p, Duration::from_millis(i * 10), 5, 5) {
                refused += 1;
            }
            c.attempts = 1;
        }
        // With no accepts the refusal probability approaches 1: most are refused.
        assert!(refused > 150, "{refused}");
        // Accepts bring it back: with requests ≤ 2·accepts nothing is refused.
        let mut c2 = ClientState::default();
        for i in 0..50u64 {
            assert!(c2.admit(&p, Duration::from_millis(i), 5, 6));
            c2.on_result(&p, true, None, Duration::from_millis(i), 5, 6);
        }
    }
}
