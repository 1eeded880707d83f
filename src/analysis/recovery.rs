//! Recovery of a run, exactly as DESIGN.md defines it: the baseline, a per-window
//! health judgement against the SLO, the time until the target held the SLO again, and
//! a verdict on whether it recovered at all once the storm had passed.
//!
//! The rules (also in `RECOVERY.md`, for the README):
//!
//! - **Baseline**: the windows that end at or before the trigger. It is *usable* when
//!   it holds at least `min_requests` (and at least one) completed logins.
//! - **SLO** (each part taken from the profile when given, otherwise derived):
//!   - success rate ≥ `min(99 %, baseline success rate − 1 point)`;
//!   - p99 ≤ `max(3 × baseline p99, baseline p99 + 50 ms)`;
//!   - without a usable baseline: the fixed defaults 99 % and 1 s (the result says so);
//!   - hold = `max(30 s, 3 × backoff cap)`; a hold from the profile or derived is
//!     rounded up to whole windows.
//! - **Window health**: a window with fewer than `min_requests` completed logins (ok +
//!   failed; throttled and unstarted attempts were never sent) is *unjudged*. Otherwise
//!   it is *healthy* when its success rate and its p99 both meet the SLO, else
//!   *unhealthy*.
//! - **Recovered at**: the start of the first run of windows after the trigger that
//!   holds `hold` healthy windows, is not broken by an unhealthy one, and whose last
//!   healthy window ends at or after the storm's end. Unjudged windows inside a run
//!   neither break it nor count towards it, so a run always holds `hold` worth of
//!   *judged* healthy time, and silence is never taken for recovery.
//! - **Verdicts**, in this order: `insufficient-data` (no judged window after the
//!   trigger); `never-degraded` (no unhealthy window after the trigger);
//!   `recovered-then-relapsed` (recovered, and later `ceil(hold / 2)` unhealthy windows
//!   with no healthy one between them); `recovered`; `metastable` (not recovered,
//!   although the fresh arrivals per window — first attempts less relogins — stayed at
//!   or below `1.5 × baseline mean + 2` from some window to the end of the observation
//!   for at least `hold`, with at least `ceil(hold / 2)` unhealthy windows and some
//!   retries or relogins in that time); `not-recovered`.
//! - **Figures** (after the trigger): retry amplification = attempts ÷ first attempts
//!   (per window and overall); goodput = successful logins, also as a share of
//!   attempts; down share = unhealthy ÷ judged windows; peak locked-out clients (whole
//!   run). Recovery time from the storm's end is 0 when the target was already healthy
//!   then.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{merge_hists, us_to_ms};
use crate::outcome::Verdict;
use crate::profile::Slo;
use crate::record::Window;
use crate::units::format_duration;
use crate::units::{fmt_ms, pct};

/// Success rate used when there is neither an SLO in the profile nor a baseline.
pub const FIXED_SUCCESS_RATE: f64 = 0.99;
/// p99 used when there is neither an SLO in the profile nor a baseline.
pub const FIXED_P99: Duration = Duration::from_secs(1);
/// The shortest hold DESIGN.md allows for a derived hold.
pub const MIN_HOLD: Duration = Duration::from_secs(30);
/// Derived success rate is at most this, and this much below the baseline's.
const SUCCESS_CEILING: f64 = 0.99;
const SUCCESS_MARGIN: f64 = 0.01;
/// Derived p99 = max(P99_FACTOR × baseline p99, baseline p99 + P99_MARGIN).
const P99_FACTOR: f64 = 3.0;
const P99_MARGIN: Duration = Duration::from_millis(50);
/// Fresh arrivals per window count as "back at baseline" up to
/// `LOAD_FACTOR × baseline mean + LOAD_SLACK`.
const LOAD_FACTOR: f64 = 1.5;
const LOAD_SLACK: f64 = 2.0;
/// Floating-point slack when comparing a rate with its bound.
const EPS: f64 = 1e-9;

/// When things happened in the run, from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// End of the baseline phase: the storm's trigger.
    pub trigger_start: Duration,
    /// When the last planned first login of the storm was due.
    pub storm_end: Duration,
    /// End of the run or of the observation limit; windows starting later are ignored.
    pub observe_end: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Healthy,
    Unhealthy,
    /// Too few completed logins to say.
    Unjudged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Ends at or before the trigger.
    Baseline,
    /// Starts before the storm's end.
    Storm,
    /// Starts at or after the storm's end.
    After,
}

/// One window as the analysis judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowHealth {
    pub index: u32,
    pub start_ms: u64,
    pub phase: Phase,
    pub state: Health,
    /// Why, in short: `p99 812ms > 500ms`, `success 80% < 99%`, `3 completed < 10 needed`.
    pub reason: String,
    /// Completed logins (ok + failed).
    pub completed: u64,
    pub success_rate: Option<f64>,
    pub p99_ms: Option<f64>,
    pub attempts: u64,
    pub first_attempts: u64,
    /// First attempts less relogins: clients arriving from outside the feedback loop.
    pub fresh_arrivals: u64,
    /// Attempts ÷ first attempts.
    pub retry_amplification: Option<f64>,
    /// Successful logins.
    pub goodput: u64,
    pub locked_out: u64,
}

/// The SLO the analysis actually applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloUsed {
    pub success_rate: f64,
    pub p99_ms: f64,
    /// The hold, rounded up to whole windows.
    pub hold_ms: u64,
    pub hold_windows: u32,
    pub min_requests: u64,
    /// Was any part derived rather than taken from the profile?
    pub derived: bool,
    /// Were the fixed defaults used for lack of a baseline?
    pub fixed_defaults: bool,
    /// One line: where each figure came from.
    pub how: String,
}

impl SloUsed {
    pub fn p99(&self) -> Duration {
        Duration::from_secs_f64(self.p99_ms / 1000.0)
    }
    pub fn hold(&self) -> Duration {
        Duration::from_millis(self.hold_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub windows: u32,
    /// Completed logins in the baseline.
    pub completed: u64,
    pub success_rate: Option<f64>,
    pub p99_ms: Option<f64>,
    pub first_attempts_per_window: f64,
    /// First attempts less relogins, per window: the offered load a metastable target
    /// is compared against.
    pub fresh_arrivals_per_window: f64,
    /// Enough completed logins to derive an SLO from.
    pub usable: bool,
}

/// The recovery of one run. Times are milliseconds from the run's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub verdict: Verdict,
    /// One sentence for a person.
    pub summary: String,
    pub trigger_start_ms: u64,
    pub storm_end_ms: u64,
    pub observe_end_ms: u64,
    pub window_ms: u64,
    /// Start of the recovering run; null when not recovered or never degraded.
    pub recovered_at_ms: Option<u64>,
    /// Recovered at − trigger start; 0 when never degraded, null when not recovered.
    pub recovery_time_ms: Option<u64>,
    /// Recovered at − storm end (0 when already healthy then); null when not recovered.
    pub recovery_time_from_storm_end_ms: Option<u64>,
    /// Start of the relapse, for `recovered-then-relapsed`.
    pub relapsed_at_ms: Option<u64>,
    /// For `metastable`: since when the offered load had been back at baseline while
    /// the target stayed down.
    pub metastable_since_ms: Option<u64>,
    /// Login attempts sent after the trigger.
    pub attempts: u64,
    /// Clients that wanted to log in after the trigger.
    pub first_attempts: u64,
    pub retries: u64,
    /// Successful logins after the trigger.
    pub goodput: u64,
    /// Goodput ÷ attempts.
    pub goodput_share: Option<f64>,
    /// Attempts ÷ first attempts after the trigger.
    pub retry_amplification: Option<f64>,
    /// Unhealthy ÷ judged windows after the trigger.
    pub down_share: Option<f64>,
    pub peak_locked_out: u64,
    pub peak_locked_out_at_ms: Option<u64>,
    pub slo: SloUsed,
    pub baseline: Baseline,
    /// Things a reader should know (fixed defaults, observation cut short, ...).
    pub notes: Vec<String>,
    pub health: Vec<WindowHealth>,
}

impl Recovery {
    pub fn recovery_time(&self) -> Option<Duration> {
        self.recovery_time_ms.map(Duration::from_millis)
    }
    pub fn recovery_time_from_storm_end(&self) -> Option<Duration> {
        self.recovery_time_from_storm_end_ms.map(Duration::from_millis)
    }
    pub fn recovered_at(&self) -> Option<Duration> {
        self.recovered_at_ms.map(Duration::from_millis)
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn human_ms(v: u64) -> String {
    format_duration(Duration::from_millis(v))
}

fn fresh(w: &Window) -> u64 {
    w.first_attempts.saturating_sub(w.relogins)
}

fn baseline_of(windows: &[&Window], min_requests: u64) -> Baseline {
    let completed: u64 = windows.iter().map(|w| w.logins_ok + w.logins_failed).sum();
    let ok: u64 = windows.iter().map(|w| w.logins_ok).sum();
    let n = windows.len();
    let per_window = |f: &dyn Fn(&Window) -> u64| {
        if n == 0 {
            0.0
        } else {
            windows.iter().map(|w| f(w)).sum::<u64>() as f64 / n as f64
        }
    };
    let (hist, _) = merge_hists(windows.iter().map(|w| &w.latency_ms));
    Baseline {
        windows: n as u32,
        completed,
        success_rate: (completed > 0).then(|| ok as f64 / completed as f64),
        p99_ms: (!hist.is_empty()).then(|| us_to_ms(hist.value_at_quantile(0.99))),
        first_attempts_per_window: per_window(&|w| w.first_attempts),
        fresh_arrivals_per_window: per_window(&fresh),
        usable: completed >= min_requests.max(1) && !hist.is_empty(),
    }
}

fn slo_used(spec: &Slo, base: &Baseline, backoff_cap: Duration, window_ms: u64) -> SloUsed {
    let derive = base.usable;
    let fixed = !derive && (spec.success_rate.is_none() || spec.p99.is_none());
    let mut how = Vec::new();

    let success_rate = match (spec.success_rate, base.success_rate) {
        (Some(s), _) => {
            how.push(format!("success ≥ {} (profile)", pct(s)));
            s
        }
        (None, Some(b)) if derive => {
            let s = (b - SUCCESS_MARGIN).clamp(0.0, SUCCESS_CEILING);
            how.push(format!(
                "success ≥ {} (min(99%, baseline {} − 1 point))",
                pct(s),
                pct(b)
            ));
            s
        }
        _ => {
            how.push(format!("success ≥ {} (fixed default)", pct(FIXED_SUCCESS_RATE)));
            FIXED_SUCCESS_RATE
        }
    };
    let p99_ms = match (spec.p99, base.p99_ms) {
        (Some(p), _) => {
            let v = p.as_secs_f64() * 1000.0;
            how.push(format!("p99 ≤ {} (profile)", fmt_ms(v)));
            v
        }
        (None, Some(b)) if derive => {
            let v = (P99_FACTOR * b).max(b + P99_MARGIN.as_secs_f64() * 1000.0);
            how.push(format!(
                "p99 ≤ {} (max(3 × baseline {}, baseline + 50ms))",
                fmt_ms(v),
                fmt_ms(b)
            ));
            v
        }
        _ => {
            let v = FIXED_P99.as_secs_f64() * 1000.0;
            how.push(format!("p99 ≤ {} (fixed default)", fmt_ms(v)));
            v
        }
    };
    let (hold, hold_src) = match spec.hold {
        Some(h) => (h, "profile".to_string()),
        None => (
            MIN_HOLD.max(backoff_cap * 3),
            format!("max(30s, 3 × backoff cap {})", format_duration(backoff_cap)),
        ),
    };
    let window_ms = window_ms.max(1);
    let hold_windows = ms(hold).div_ceil(window_ms).max(1);
    let hold_ms = hold_windows * window_ms;
    how.push(format!(
        "hold {} = {} windows ({})",
        human_ms(hold_ms),
        hold_windows,
        hold_src
    ));
    let mut how = how.join(", ");
    if fixed {
        how = format!("no usable baseline, so fixed defaults: {how}");
    }
    SloUsed {
        success_rate,
        p99_ms,
        hold_ms,
        hold_windows: hold_windows.min(u32::MAX as u64) as u32,
        min_requests: spec.min_requests,
        derived: spec.success_rate.is_none() || spec.p99.is_none() || spec.hold.is_none(),
        fixed_defaults: fixed,
        how,
    }
}

fn judge(w: &Window, slo: &SloUsed, timeline: (u64, u64)) -> WindowHealth {
    let (trigger_ms, storm_end_ms) = timeline;
    let completed = w.logins_ok + w.logins_failed;
    let success_rate = w.success_rate();
    let p99_ms = (w.latency_ms.count > 0).then_some(w.latency_ms.p99);
    let need = slo.min_requests.max(1);
    let (state, reason) = if completed < need {
        (Health::Unjudged, format!("{completed} completed < {need} needed"))
    } else {
        let sr = success_rate.unwrap_or(0.0);
        let p99 = p99_ms.unwrap_or(0.0);
        let mut bad = Vec::new();
        if sr + EPS < slo.success_rate {
            bad.push(format!("success {} < {}", pct(sr), pct(slo.success_rate)));
        }
        if p99 > slo.p99_ms + EPS {
            bad.push(format!("p99 {} > {}", fmt_ms(p99), fmt_ms(slo.p99_ms)));
        }
        if bad.is_empty() {
            (Health::Healthy, format!("success {}, p99 {}", pct(sr), fmt_ms(p99)))
        } else {
            (Health::Unhealthy, bad.join("; "))
        }
    };
    let end = w.start_ms + w.len_ms;
    let phase = if end <= trigger_ms {
        Phase::Baseline
    } else if w.start_ms < storm_end_ms {
        Phase::Storm
    } else {
        Phase::After
    };
    WindowHealth {
        index: w.index,
        start_ms: w.start_ms,
        phase,
        state,
        reason,
        completed,
        success_rate,
        p99_ms,
        attempts: w.attempts,
        first_attempts: w.first_attempts,
        fresh_arrivals: fresh(w),
        retry_amplification: (w.first_attempts > 0).then(|| w.attempts as f64 / w.first_attempts as f64),
        goodput: w.logins_ok,
        locked_out: w.locked_out,
    }
}

/// The first run that recovers: `(first window, one past the run's last window)`.
fn recovering_run(post: &[WindowHealth], hold: usize, storm_end_ms: u64, window_ms: u64) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < post.len() {
        if post[i].state != Health::Healthy {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut healthy = 0;
        let mut last_healthy_end = 0;
        while j < post.len() && post[j].state != Health::Unhealthy {
            if post[j].state == Health::Healthy {
                healthy += 1;
                last_healthy_end = post[j].start_ms + window_ms;
            }
            j += 1;
        }
        if healthy >= hold && last_healthy_end >= storm_end_ms {
            return Some((i, j));
        }
        // Every run starting inside [i, j) ends where this one does, with fewer
        // healthy windows: none of them can qualify either.
        i = j;
    }
    None
}

/// The first run of `len` unhealthy windows (unjudged ones between them allowed, a
/// healthy one breaks it) at or after `from`.
fn unhealthy_run(post: &[WindowHealth], from: usize, len: usize) -> Option<usize> {
    let mut start = None;
    let mut count = 0;
    for (k, w) in post.iter().enumerate().skip(from) {
        match w.state {
            Health::Unhealthy => {
                start.get_or_insert(k);
                count += 1;
                if count >= len {
                    return start;
                }
            }
            Health::Healthy => {
                start = None;
                count = 0;
            }
            Health::Unjudged => {}
        }
    }
    None
}

/// Judges the recovery of a run from its windows. See the module doc for every rule.
pub fn analyze(windows: &[Window], timeline: &Timeline, slo: &Slo, backoff_cap: Duration) -> Recovery {
    let window_ms = windows.iter().map(|w| w.len_ms).find(|&l| l > 0).unwrap_or(1000);
    let trigger_ms = ms(timeline.trigger_start);
    let storm_end_ms = ms(timeline.storm_end).max(trigger_ms);
    let observe_end_ms = ms(timeline.observe_end);
    let observed: Vec<&Window> = windows.iter().filter(|w| w.start_ms < observe_end_ms).collect();
    let base_windows: Vec<&Window> = observed
        .iter()
        .copied()
        .filter(|w| w.start_ms + w.len_ms <= trigger_ms)
        .collect();
    let baseline = baseline_of(&base_windows, slo.min_requests);
    let slo = slo_used(slo, &baseline, backoff_cap, window_ms);
    let health: Vec<WindowHealth> = observed
        .iter()
        .map(|w| judge(w, &slo, (trigger_ms, storm_end_ms)))
        .collect();
    let first_post = health
        .iter()
        .position(|h| h.phase != Phase::Baseline)
        .unwrap_or(health.len());
    let post = &health[first_post..];
    let post_windows = &observed[first_post..];

    let hold = slo.hold_windows as usize;
    let relapse_len = hold.div_ceil(2).max(1);
    let judged = post.iter().filter(|h| h.state != Health::Unjudged).count();
    let unhealthy = post.iter().filter(|h| h.state == Health::Unhealthy).count();

    let mut notes = Vec::new();
    if slo.fixed_defaults {
        notes.push(format!(
            "No usable baseline before the trigger: fixed SLO defaults used ({}).",
            slo.how
        ));
    }
    let observed_end_ms = post_windows
        .last()
        .map(|w| (w.start_ms + w.len_ms).min(observe_end_ms))
        .unwrap_or(trigger_ms);
    if observed_end_ms < storm_end_ms {
        notes.push(format!(
            "The observation ended {} before the storm did.",
            human_ms(storm_end_ms - observed_end_ms)
        ));
    }
    let unjudged = post.len() - judged;
    if unjudged > 0 {
        notes.push(format!(
            "{unjudged} window(s) after the trigger had fewer than {} completed logins and were not judged.",
            slo.min_requests.max(1)
        ));
    }

    let mut recovered_at_ms = None;
    let mut recovery_time_ms = None;
    let mut from_storm_end_ms = None;
    let mut relapsed_at_ms = None;
    let mut metastable_since_ms = None;
    let verdict = if judged == 0 {
        Verdict::InsufficientData
    } else if unhealthy == 0 {
        recovery_time_ms = Some(0);
        from_storm_end_ms = Some(0);
        Verdict::NeverDegraded
    } else if let Some((start, end)) = recovering_run(post, hold, storm_end_ms, window_ms) {
        let at = post[start].start_ms.max(trigger_ms);
        recovered_at_ms = Some(at);
        recovery_time_ms = Some(at - trigger_ms);
        from_storm_end_ms = Some(at.saturating_sub(storm_end_ms));
        match unhealthy_run(post, end, relapse_len) {
            Some(k) => {
                relapsed_at_ms = Some(post[k].start_ms);
                Verdict::RecoveredThenRelapsed
            }
            None => Verdict::Recovered,
        }
    } else {
        let limit = LOAD_FACTOR * baseline.fresh_arrivals_per_window + LOAD_SLACK;
        let since = post
            .iter()
            .rposition(|h| h.fresh_arrivals as f64 > limit)
            .map_or(0, |k| k + 1);
        let tail = &post[since..];
        let tail_unhealthy = tail.iter().filter(|h| h.state == Health::Unhealthy).count();
        let feedback: u64 = post_windows[since..].iter().map(|w| w.retries + w.relogins).sum();
        if tail.len() >= hold && tail_unhealthy >= relapse_len && feedback > 0 {
            metastable_since_ms = Some(tail[0].start_ms.max(trigger_ms));
            Verdict::Metastable
        } else {
            Verdict::NotRecovered
        }
    };

    let attempts: u64 = post_windows.iter().map(|w| w.attempts).sum();
    let first_attempts: u64 = post_windows.iter().map(|w| w.first_attempts).sum();
    let retries: u64 = post_windows.iter().map(|w| w.retries).sum();
    let goodput: u64 = post_windows.iter().map(|w| w.logins_ok).sum();
    let peak = observed
        .iter()
        .max_by_key(|w| (w.locked_out, std::cmp::Reverse(w.start_ms)));
    let down_share = (judged > 0).then(|| unhealthy as f64 / judged as f64);

    let summary = match verdict {
        Verdict::InsufficientData => format!(
            "Not judged: no window after the trigger had {} completed logins.",
            slo.min_requests.max(1)
        ),
        Verdict::NeverDegraded => "Never degraded: every judged window after the trigger met the SLO.".to_string(),
        Verdict::Recovered | Verdict::RecoveredThenRelapsed => {
            let rt = recovery_time_ms.unwrap_or(0);
            let after = match from_storm_end_ms {
                Some(0) | None => "already healthy when the storm ended".to_string(),
                Some(v) => format!("{} after the storm ended", human_ms(v)),
            };
            let mut s = format!("Recovered {} after the trigger ({after})", human_ms(rt));
            if let Some(r) = relapsed_at_ms {
                s.push_str(&format!(
                    ", then relapsed {} after the trigger",
                    human_ms(r.saturating_sub(trigger_ms))
                ));
            }
            s.push('.');
            s
        }
        Verdict::NotRecovered => format!(
            "Not recovered within {} after the trigger; down {} of the judged time.",
            human_ms(observed_end_ms.saturating_sub(trigger_ms)),
            pct(down_share.unwrap_or(0.0))
        ),
        Verdict::Metastable => {
            let since = metastable_since_ms.unwrap_or(trigger_ms);
            format!(
                "Metastable: not recovered although the offered load had been back at baseline for {} (from {} after the trigger); retries and relogins kept the target down.",
                human_ms(observed_end_ms.saturating_sub(since)),
                human_ms(since - trigger_ms)
            )
        }
    };

    Recovery {
        verdict,
        summary,
        trigger_start_ms: trigger_ms,
        storm_end_ms,
        observe_end_ms,
        window_ms,
        recovered_at_ms,
        recovery_time_ms,
        recovery_time_from_storm_end_ms: from_storm_end_ms,
        relapsed_at_ms,
        metastable_since_ms,
        attempts,
        first_attempts,
        retries,
        goodput,
        goodput_share: (attempts > 0).then(|| goodput as f64 / attempts as f64),
        retry_amplification: (first_attempts > 0).then(|| attempts as f64 / first_attempts as f64),
        down_share,
        peak_locked_out: peak.map_or(0, |w| w.locked_out),
        peak_locked_out_at_ms: peak.filter(|w| w.locked_out > 0).map(|w| w.start_ms),
        slo,
        baseline,
        notes,
        health,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::testkit::{win, with_retries};

    const S: Duration = Duration::from_secs(1);

    /// One-second windows from a script: `H` healthy (100 ok, 20 ms), `S` slow (100
    /// ok, 900 ms), `F` failing (half fail), `q` quiet (3 ok: unjudged).
    fn script(s: &str) -> Vec<Window> {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .enumerate()
            .map(|(i, c)| {
                let i = i as u32;
                match c {
                    'H' => win(i, 1000, 100, 0, 20),
                    'S' => win(i, 1000, 100, 0, 900),
                    'F' => win(i, 1000, 50, 50, 20),
                    'q' => win(i, 1000, 3, 0, 20),
                    _ => panic!("unknown window {c}"),
                }
            })
            .collect()
    }

    fn tl(trigger: u64, storm_end: u64, observe_end: u64) -> Timeline {
        Timeline {
            trigger_start: S * trigger as u32,
            storm_end: S * storm_end as u32,
            observe_end: S * observe_end as u32,
        }
    }

    /// 99 %, 500 ms, hold 5 s, 10 completed logins to judge.
    fn slo5() -> Slo {
        Slo {
            success_rate: Some(0.99),
            p99: Some(Duration::from_millis(500)),
            hold: Some(S * 5),
            min_requests: 10,
        }
    }

    fn states(r: &Recovery) -> String {
        r.health
            .iter()
            .map(|h| match h.state {
                Health::Healthy => 'H',
                Health::Unhealthy => 'x',
                Health::Unjudged => '.',
            })
            .collect()
    }

    #[test]
    fn recovers_after_the_storm_and_times_it_from_trigger_and_storm_end() {
        // Baseline 5 s, storm 5..10 s, down until 12 s.
        let w = script("HHHHH SSSSS SS HHHHHHHH");
        let r = analyze(&w, &tl(5, 10, 20), &slo5(), S);
        assert_eq!(states(&r), "HHHHHxxxxxxxHHHHHHHH");
        assert_eq!(r.verdict, Verdict::Recovered);
        assert_eq!(r.recovered_at_ms, Some(12_000));
        assert_eq!(r.recovery_time(), Some(S * 7));
        assert_eq!(r.recovery_time_from_storm_end_ms, Some(2_000));
        assert_eq!(r.summary, "Recovered 7s after the trigger (2s after the storm ended).");
        assert_eq!(r.health[6].reason, "p99 900ms > 500ms");
        // 7 unhealthy of 15 judged windows after the trigger.
        assert!((r.down_share.unwrap() - 7.0 / 15.0).abs() < 1e-9);
        assert_eq!(r.slo.hold_windows, 5);
        assert!(!r.slo.derived);
    }

    #[test]
    fn a_healthy_run_that_ends_before_the_storm_does_not_count() {
        // Healthy for 6 s inside the storm (longer than hold), then down, then up.
        let w = script("HH FF HHHHHH FFF HHHHH");
        let r = analyze(&w, &tl(2, 12, 20), &slo5(), S);
        assert_eq!(r.verdict, Verdict::Recovered);
        assert_eq!(r.recovered_at_ms, Some(13_000));
        assert_eq!(r.recovery_time_ms, Some(11_000));
        assert_eq!(r.health[2].reason, "success 50% < 99%");
    }

    #[test]
    fn recovery_before_the_storm_ends_counts_zero_from_storm_end() {
        let w = script("HH FF HHHHHHHHHH");
        let r = analyze(&w, &tl(2, 8, 16), &slo5(), S);
        assert_eq!(r.verdict, Verdict::Recovered);
        assert_eq!(r.recovered_at_ms, Some(4_000));
        assert_eq!(r.recovery_time_from_storm_end_ms, Some(0));
        assert!(r.summary.contains("already healthy when the storm ended"));
    }

    #[test]
    fn recovery_in_the_last_possible_windows_and_one_window_short() {
        let w = script("HH FFFFFFFF HHHHH");
        let r = analyze(&w, &tl(2, 5, 15), &slo5(), S);
        assert_eq!(r.verdict, Verdict::Recovered);
        assert_eq!(r.recovered_at_ms, Some(10_000));
        // The observation ends one window earlier: only 4 healthy windows seen.
        let r = analyze(&w, &tl(2, 5, 14), &slo5(), S);
        assert_eq!(r.health.len(), 14);
        assert_eq!(r.verdict, Verdict::NotRecovered);
        assert_eq!(r.recovered_at_ms, None);
        assert_eq!(r.recovery_time_ms, None);
    }

    #[test]
    fn flapping_shorter_than_hold_is_not_recovery() {
        let w = script("HH FF HHH FF HHHH FF HHH F");
        let r = analyze(&w, &tl(2, 4, 30), &slo5(), S);
        assert_eq!(r.verdict, Verdict::NotRecovered);
        // No retries anywhere: nothing kept it down, so not metastable either.
        assert_eq!(r.metastable_since_ms, None);
        assert!(r.summary.starts_with("Not recovered within 17s"), "{}", r.summary);
    }

    #[test]
    fn quiet_windows_neither_break_nor_count_towards_a_hold() {
        // H q H q q H H then one more H needed for 5.
        let w = script("HH FF HqHqqHH H FF");
        let r = analyze(&w, &tl(2, 4, 16), &slo5(), S);
        assert_eq!(states(&r), "HHxxH.H..HHHxx");
        assert_eq!(r.health[5].reason, "3 completed < 10 needed");
        assert_eq!(r.verdict, Verdict::Recovered);
        assert_eq!(r.recovered_at_ms, Some(4_000));
        // Same but one healthy window fewer: the run holds only 4 judged windows.
        let w = script("HH FF HqHqqH FF");
        let r = analyze(&w, &tl(2, 4, 16), &slo5(), S);
        assert_eq!(r.verdict, Verdict::NotRecovered);
        // Unjudged windows do not enter the down share: 4 unhealthy of 7 judged.
        assert!((r.down_share.unwrap() - 4.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_judged_after_the_trigger_is_insufficient_data() {
        let w = script("HHH qqqqqq");
        let r = analyze(&w, &tl(3, 5, 9), &slo5(), S);
        assert_eq!(r.verdict, Verdict::InsufficientData);
        assert_eq!(r.down_share, None);
        assert_eq!(r.recovery_time_ms, None);
    }

    #[test]
    fn never_degraded_has_zero_recovery_time() {
        let w = script("HHH HHqHH");
        let r = analyze(&w, &tl(3, 5, 8), &slo5(), S);
        assert_eq!(r.verdict, Verdict::NeverDegraded);
        assert_eq!(r.recovery_time_ms, Some(0));
        assert_eq!(r.recovered_at_ms, None);
        assert_eq!(r.down_share, Some(0.0));
    }

    #[test]
    fn relapse_needs_half_a_hold_of_unhealthy_windows() {
        // hold 5 → relapse after 3 unhealthy windows (quiet ones between allowed).
        let w = script("HH FF HHHHH H FqFF HH");
        let r = analyze(&w, &tl(2, 4, 30), &slo5(), S);
        assert_eq!(r.verdict, Verdict::RecoveredThenRelapsed);
        assert_eq!(r.recovered_at_ms, Some(4_000));
        assert_eq!(r.relapsed_at_ms, Some(10_000));
        assert!(r.summary.ends_with("then relapsed 8s after the trigger."));
        let w = script("HH FF HHHHH H FF HH");
        let r = analyze(&w, &tl(2, 4, 30), &slo5(), S);
        assert_eq!(r.verdict, Verdict::Recovered);
        assert_eq!(r.relapsed_at_ms, None);
    }

    /// Baseline 100 arrivals/s; a storm of 1000/s for 3 s; then arrivals fall back to
    /// 100/s but the target stays down under `retries` retries per window.
    fn storm(after: &str, retries: u64, arrivals_after: u64) -> Vec<Window> {
        let mut w = script(&format!("HHHH FFF {after}"));
        for x in &mut w[4..7] {
            x.attempts = 1000;
            x.first_attempts = 1000;
        }
        for x in &mut w[7..] {
            x.attempts = arrivals_after + retries;
            *x = with_retries(x.clone(), retries);
        }
        w
    }

    #[test]
    fn metastable_when_load_is_back_but_retries_keep_it_down() {
        let w = storm("FFFFFFFFFF", 900, 100);
        let r = analyze(&w, &tl(4, 7, 17), &slo5(), S);
        assert_eq!(r.baseline.fresh_arrivals_per_window, 100.0);
        assert_eq!(r.verdict, Verdict::Metastable);
        assert_eq!(r.metastable_since_ms, Some(7_000));
        assert!(r.summary.contains("back at baseline for 10s"), "{}", r.summary);
        // Retry amplification after the trigger: (3·1000 + 10·1000) ÷ (3·1000 + 10·100).
        assert!((r.retry_amplification.unwrap() - 13_000.0 / 4_000.0).abs() < 1e-9);
        assert_eq!(r.health[8].retry_amplification, Some(10.0));
    }

    #[test]
    fn relogins_are_feedback_not_fresh_load() {
        // Sessions sent back to login count as first attempts; less the relogins the
        // arrivals are at baseline.
        let mut w = storm("FFFFFFFFFF", 0, 400);
        for x in &mut w[7..] {
            x.relogins = 300;
        }
        let r = analyze(&w, &tl(4, 7, 17), &slo5(), S);
        assert_eq!(r.verdict, Verdict::Metastable);
    }

    #[test]
    fn not_recovered_while_the_storm_load_lasts_or_too_briefly_back() {
        // Arrivals stay at 1000/s to the end: the trigger still holds it down.
        let w = storm("FFFFFFFFFF", 0, 1000);
        let r = analyze(&w, &tl(4, 7, 17), &slo5(), S);
        assert_eq!(r.verdict, Verdict::NotRecovered);
        assert_eq!(r.metastable_since_ms, None);
        // Back at baseline for 4 s only, less than the hold of 5 s.
        let mut w = storm("FFFFFFFFFF", 900, 100);
        for x in &mut w[7..13] {
            x.first_attempts = 1000;
        }
        let r = analyze(&w, &tl(4, 7, 17), &slo5(), S);
        assert_eq!(r.verdict, Verdict::NotRecovered);
    }

    #[test]
    fn derives_the_slo_from_the_baseline() {
        // Baseline 97 % success at 20 ms; backoff cap 20 s.
        let mut w: Vec<Window> = (0..10).map(|i| win(i, 1000, 97, 3, 20)).collect();
        w.push(win(10, 1000, 100, 0, 20));
        let spec = Slo::default();
        let r = analyze(&w, &tl(10, 11, 11), &spec, S * 20);
        assert!(r.baseline.usable);
        assert!((r.slo.success_rate - 0.96).abs() < 1e-9);
        // max(3 × 20 ms, 20 ms + 50 ms) = 70 ms (20 ms is held to 0.1 %).
        assert!((r.slo.p99_ms - 70.0).abs() < 0.1, "{}", r.slo.p99_ms);
        assert_eq!((r.slo.hold_ms, r.slo.hold_windows), (60_000, 60));
        assert!(r.slo.derived && !r.slo.fixed_defaults);
        assert!(r.slo.how.contains("min(99%, baseline 97% − 1 point)"));
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        // A perfect baseline is capped at 99 %; a fast one gets + 50 ms.
        let w: Vec<Window> = (0..4).map(|i| win(i, 1000, 100, 0, 100)).collect();
        let r = analyze(&w, &tl(3, 3, 4), &spec, S);
        assert!((r.slo.success_rate - 0.99).abs() < 1e-9);
        assert!((r.slo.p99_ms - 300.0).abs() < 0.5, "{}", r.slo.p99_ms);
        assert_eq!(r.slo.hold_ms, 30_000);
    }

    #[test]
    fn hold_is_rounded_up_to_whole_windows() {
        let w: Vec<Window> = (0..4).map(|i| win(i, 1500, 100, 0, 10)).collect();
        let spec = Slo {
            hold: Some(S * 4),
            ..slo5()
        };
        let r = analyze(&w, &tl(3, 3, 6), &spec, S);
        assert_eq!((r.slo.hold_windows, r.slo.hold_ms), (3, 4_500));
    }

    #[test]
    fn storm_at_the_very_start_uses_fixed_defaults_and_says_so() {
        // 800 ms is within the fixed 1 s p99, failures are not.
        let w = script("FFF SS HHHHHHHHHHHHHHHHHHHHHHHHHHHHHH");
        let r = analyze(&w, &tl(0, 2, 35), &Slo::default(), S);
        assert_eq!(r.baseline.windows, 0);
        assert!(r.slo.fixed_defaults && r.slo.derived);
        assert_eq!((r.slo.success_rate, r.slo.p99_ms), (0.99, 1000.0));
        assert!(r.notes[0].starts_with("No usable baseline"));
        assert_eq!(states(&r)[..5], *"xxxHH");
        assert_eq!(r.verdict, Verdict::Recovered);
        assert_eq!(r.recovered_at_ms, Some(3_000));
        assert_eq!(r.recovery_time_ms, Some(3_000));
        assert_eq!(r.recovery_time_from_storm_end_ms, Some(1_000));
    }

    #[test]
    fn a_profile_slo_needs_no_baseline() {
        let w = script("FFF HHHHH");
        let r = analyze(&w, &tl(0, 1, 8), &slo5(), S);
        assert!(!r.slo.fixed_defaults);
        assert!(r.notes.is_empty());
        assert_eq!(r.recovery_time_ms, Some(3_000));
    }

    #[test]
    fn figures_goodput_and_peak_locked_out() {
        let mut w = script("HH FF HHHHH");
        w[3].locked_out = 40;
        w[4].locked_out = 70;
        w[5].locked_out = 70;
        let r = analyze(&w, &tl(2, 4, 9), &slo5(), S);
        assert_eq!((r.peak_locked_out, r.peak_locked_out_at_ms), (70, Some(4_000)));
        assert_eq!(r.attempts, 700);
        assert_eq!(r.goodput, 600);
        assert!((r.goodput_share.unwrap() - 600.0 / 700.0).abs() < 1e-9);
        assert_eq!(r.health[2].phase, Phase::Storm);
        assert_eq!(r.health[4].phase, Phase::After);
        assert_eq!(r.health[1].phase, Phase::Baseline);
    }

    #[test]
    fn serializes_with_kebab_verdicts_and_nulls() {
        let w = script("HH FF FF");
        let r = analyze(&w, &tl(2, 4, 6), &slo5(), S);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["verdict"], "not-recovered");
        assert!(v["recovered_at_ms"].is_null());
        assert!(v["recovery_time_from_storm_end_ms"].is_null());
        assert_eq!(v["health"][2]["state"], "unhealthy");
        assert_eq!(v["slo"]["derived"], false);
        let back: Recovery = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            Verdict::parse("recovered_then_relapsed"),
            Ok(Verdict::RecoveredThenRelapsed)
        );
        assert!(Verdict::parse("healed").is_err());
    }
}
