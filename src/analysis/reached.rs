//! Which requests reached the target, by the target's own count: its counter of the
//! requests it received (`target.metrics.received`), read before the first request and
//! after the last answer, against the requests the run put on the wire. What the run
//! alone cannot tell apart, a request that never reached the target and one it saw and
//! did not answer in time (both a `timeout` with no byte of an answer), the count does.

use serde::{Deserialize, Serialize};

use crate::outcome::TIMEOUT_MIDANSWER;
use crate::record::{WarmupStats, Window};

/// Classes that fail while the connection is being opened, before a byte of the
/// request is written: at a flow's first step only (later steps ride its connection).
const BEFORE_SEND: [&str; 5] = ["refused", "connect", "ports", "fds", "tls"];

/// The target's count beside the run's, as report.json's `target_received` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reached {
    /// The counter's selector, as the profile wrote it.
    pub series: String,
    /// The login step compared; absent: every step of the flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The counter (its matching label sets added up) before the run's first request,
    /// and after its last answer (and the target-drain watch, if any).
    pub before: f64,
    pub after: f64,
    /// `after − before`: the requests the target counted during the run.
    pub received: u64,
    /// The requests the run put on the wire for the compared step(s): attempted, less
    /// the attempts that failed opening their connection (refused, connect, ports, fds,
    /// tls), warm-up logins included.
    pub sent: u64,
    /// `sent − received`, when positive: requests the target's own count never saw.
    pub never_seen: u64,
    /// `received − sent`, when positive: the counter also counts requests this run did
    /// not send (another client, another step, a health check): `never_seen` then
    /// understates.
    pub counted_beyond: u64,
    /// The counter went down during the run (the target restarted): nothing can be
    /// said of what it saw, and `received`, `never_seen` and `counted_beyond` are 0.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counter_reset: bool,
    /// Attempts that timed out before a byte of the answer (`timeout`).
    pub timeouts: u64,
    /// Attempts that timed out with the answer begun (`timeout_midanswer`).
    pub timeouts_midanswer: u64,
}

impl Reached {
    /// Compares the counter's readings with what `windows` (and the warm-up) sent.
    /// `steps` are the login flow's step names; `step` the one compared, if any.
    pub fn of(
        series: &str,
        step: Option<&str>,
        steps: &[String],
        (before, after): (f64, f64),
        windows: &[Window],
        warmup: &WarmupStats,
    ) -> Reached {
        let compared: Vec<usize> = match step {
            Some(name) => steps.iter().position(|s| s == name).into_iter().collect(),
            None => (0..steps.len()).collect(),
        };
        let mut sent: u64 = 0;
        for w in windows {
            for &i in &compared {
                if let Some(s) = w.steps.get(i) {
                    sent = sent.saturating_add(s.ok).saturating_add(s.failed);
                }
            }
            if compared.first() == Some(&0) {
                let unsent: u64 = BEFORE_SEND.iter().filter_map(|c| w.outcomes.get(*c)).sum();
                sent = sent.saturating_sub(unsent);
            }
        }
        // A warm-up login that succeeded sent every step; one that failed at least its
        // first (how far it got is not kept: counted at its first step only).
        let warm = compared
            .iter()
            .map(|&i| if i == 0 { warmup.ok + warmup.failed } else { warmup.ok })
            .fold(0u64, u64::saturating_add);
        sent = sent.saturating_add(warm);
        let counter_reset = !(after >= before && (after - before).is_finite());
        let received = if counter_reset {
            0
        } else {
            (after - before).round() as u64
        };
        let class = |name: &str| windows.iter().filter_map(|w| w.outcomes.get(name)).sum::<u64>();
        Reached {
            series: series.to_string(),
            step: step.map(str::to_string),
            before,
            after,
            received,
            sent,
            never_seen: if counter_reset {
                0
            } else {
                sent.saturating_sub(received)
            },
            counted_beyond: received.saturating_sub(sent),
            counter_reset,
            timeouts: class("timeout"),
            timeouts_midanswer: class(TIMEOUT_MIDANSWER),
        }
    }

    /// Of the unanswered timeouts, how many the target's count says it saw (and did not
    /// answer in time) at least: the rest may be the requests it never saw.
    pub fn timeouts_seen_at_least(&self) -> u64 {
        self.timeouts.saturating_sub(self.never_seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StepWindow;

    fn window(steps: &[(u64, u64)], outcomes: &[(&str, u64)]) -> Window {
        Window {
            steps: steps
                .iter()
                .map(|&(ok, failed)| StepWindow {
                    ok,
                    failed,
                    ..StepWindow::default()
                })
                .collect(),
            outcomes: outcomes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Window::default()
        }
    }

    #[test]
    fn requests_refused_at_connect_were_never_sent_and_the_rest_is_the_targets_to_count() {
        let steps = ["auth".to_string(), "me".to_string()];
        // Window 0: 10 attempts, 2 refused at connect, 3 timed out unanswered at step 0,
        // 5 passed step 0, 1 of those timed out mid-answer at step 1.
        let w = [
            window(
                &[(5, 5), (4, 1)],
                &[("refused", 2), ("timeout", 3), (TIMEOUT_MIDANSWER, 1), ("ok", 4)],
            ),
            window(&[(1, 0), (1, 0)], &[("ok", 1)]),
        ];
        let warm = WarmupStats::default();
        let r = Reached::of("req_total", None, &steps, (100.0, 111.0), &w, &warm);
        // Step 0: 11 attempted, 2 never written: 9; step 1: 6.
        assert_eq!((r.sent, r.received, r.never_seen, r.counted_beyond), (15, 11, 4, 0));
        assert_eq!((r.timeouts, r.timeouts_midanswer), (3, 1));
        assert_eq!(r.timeouts_seen_at_least(), 0);
        let only_me = Reached::of("me_total", Some("me"), &steps, (0.0, 6.0), &w, &warm);
        assert_eq!((only_me.sent, only_me.never_seen), (6, 0), "refusals are step 0's");
        let warm = WarmupStats {
            clients: 3,
            ok: 2,
            failed: 1,
            ..WarmupStats::default()
        };
        let r = Reached::of("req_total", Some("auth"), &steps, (0.0, 20.0), &w, &warm);
        assert_eq!((r.sent, r.counted_beyond), (12, 8), "warm-up logins sent too");
        let reset = Reached::of("req_total", None, &steps, (50.0, 3.0), &w, &WarmupStats::default());
        assert!(reset.counter_reset, "a counter that went down (a restart) says so");
        assert_eq!((reset.received, reset.never_seen), (0, 0));
    }
}
