//! What the failure looked like while the target stayed down: an outage and a feedback
//! loop can both keep it down under retries, and only their shape tells them apart
//! without a probe. A target held down by its own load still works, too slowly or for
//! too few (some logins succeed, or answers come late or not at all: a queue); an
//! outage answers nothing successfully, fast, at any load: nothing listening, or
//! refusing even the load it served before the trigger. Refusals that come fast under a
//! load that never fell to the baseline fit both: then the evidence cannot tell.

use super::{EPS, Health, SloUsed, WindowHealth};
use crate::record::Window;
use crate::units::fmt_ms;

/// Outcome classes of a connection that never reached a listening target.
const NOT_LISTENING: [&str; 2] = ["refused", "connect"];
/// Attempts per window count as "the baseline's load" up to
/// `LOAD_FACTOR × baseline mean + LOAD_SLACK` (as the fresh arrivals do).
const LOAD_FACTOR: f64 = 1.5;
const LOAD_SLACK: f64 = 2.0;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shape {
    /// The target still worked, too slowly or for too few: a feedback loop fits.
    Feedback,
    /// An outage; why, in words.
    Outage(String),
    /// Fast refusals, nothing succeeding, under a load above the baseline's: an outage
    /// and a target held down by its retries look alike; why, in words.
    CannotTell(String),
}

/// The shape of the failure over `health` and `windows` (index for index): the
/// windows from the load's return to baseline to the end, in whose last stretch the
/// target stayed down. `baseline_attempts`: attempts per window
/// before the trigger.
pub(super) fn shape(health: &[WindowHealth], windows: &[&Window], slo: &SloUsed, baseline_attempts: f64) -> Shape {
    if slo.connected.is_some() {
        // A connected population is judged on its connections, which hold the load's
        // shape themselves (drops, reconnects, relogins): the login shape says nothing.
        return Shape::Feedback;
    }
    // The stretch it stayed down in to the end (unjudged windows skipped), less its first
    // window, which may still hold answers from before the failure began.
    let mut down: Vec<usize> = (0..health.len())
        .rev()
        .filter(|&i| health[i].state != Health::Unjudged)
        .take_while(|&i| health[i].state == Health::Unhealthy)
        .collect();
    down.reverse();
    if down.len() > 1 {
        down.remove(0);
    }
    if down.is_empty() {
        return Shape::Feedback;
    }
    let goodput: u64 = down.iter().map(|&i| windows[i].counts.logins_ok).sum();
    let failed: u64 = down.iter().map(|&i| windows[i].counts.logins_failed).sum();
    let class = |name: &str| -> u64 { down.iter().filter_map(|&i| windows[i].outcomes.get(name)).sum() };
    let not_listening: u64 = NOT_LISTENING.iter().map(|c| class(c)).sum();
    if goodput > 0 {
        return Shape::Feedback;
    }
    if failed > 0 && not_listening >= failed {
        return Shape::Outage(format!(
            "none of {failed} logins succeeded and every one found nothing listening (connection refused)"
        ));
    }
    let timeouts: u64 = crate::outcome::TIMEOUT_CLASSES.iter().map(|c| class(c)).sum();
    let slowest = down.iter().filter_map(|&i| health[i].p99_ms).fold(0.0, f64::max);
    if timeouts > 0 || slowest > slo.p99_ms + EPS {
        // Answers late or never: a queue, a target that works through the load.
        return Shape::Feedback;
    }
    let served = LOAD_FACTOR * baseline_attempts + LOAD_SLACK;
    let quiet = down
        .iter()
        .filter(|&&i| windows[i].counts.attempts as f64 <= served + EPS)
        .count();
    let fast = format!(
        "none of {failed} logins succeeded, every one refused fast (p99 at most {}, no timeout)",
        fmt_ms(slowest)
    );
    if quiet > 0 {
        Shape::Outage(format!(
            "{fast}, also in {quiet} window(s) whose load was the baseline's (at most {served:.0} attempts): it fails at a load it served before"
        ))
    } else {
        Shape::CannotTell(format!(
            "{fast} under a load that never fell to the baseline's ({served:.0} attempts a window)"
        ))
    }
}
