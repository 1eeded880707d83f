//! The health of each window against the SLO, and the runs of windows the verdict is
//! built from: a run that holds the SLO for a hold, a run of unhealthy windows.

use super::{EPS, Health, Phase, SloUsed, Span, WindowHealth, fresh};
use crate::record::{HeldWindow, Window};
use crate::units::{fmt_ms, pct};

/// Judges one window: unjudged below `min_requests` completed logins, otherwise healthy
/// when both its success rate and its p99 meet the SLO.
pub(super) fn judge(w: &Window, slo: &SloUsed, span: &Span) -> WindowHealth {
    let completed = w.counts.logins_ok + w.counts.logins_failed;
    let success_rate = w.success_rate();
    let p99_ms = (w.latency_ms.count > 0).then_some(w.latency_ms.p99);
    let need = slo.min_requests.max(1);
    let (state, reason) = if w.counts.generator_failed > 0 {
        // The generator's own failure (out of descriptors or ports) says nothing of the
        // target, and what it did not send would flatter or blame it: not judged.
        (
            Health::Unjudged,
            format!(
                "the generator failed {} attempts itself (out of file descriptors or ports)",
                w.counts.generator_failed
            ),
        )
    } else if let Some((least, h)) = slo.connected.zip(w.held.as_ref()) {
        judge_held(w, h, least, slo)
    } else if completed < need {
        (Health::Unjudged, format!("{completed} completed < {need} needed"))
    } else {
        against(success_rate.unwrap_or(0.0), p99_ms.unwrap_or(0.0), slo)
    };
    let end = w.start_ms + w.len_ms;
    let phase = if end <= span.trigger_ms {
        Phase::Baseline
    } else if w.start_ms < span.storm_end_ms {
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
        attempts: w.counts.attempts,
        first_attempts: w.counts.first_attempts,
        fresh_arrivals: fresh(w),
        retry_amplification: (w.counts.first_attempts > 0)
            .then(|| w.counts.attempts as f64 / w.counts.first_attempts as f64),
        goodput: w.counts.logins_ok,
        locked_out: w.locked_out,
        merged: None,
        connected_share: w.held.as_ref().and_then(HeldWindow::connected_share),
        heartbeat_p99_ms: w
            .held
            .as_ref()
            .and_then(|h| (h.heartbeat_ms.count > 0).then_some(h.heartbeat_ms.p99)),
    }
}

/// A judged window's (or merged windows') health against the SLO, and why.
pub(super) fn against(sr: f64, p99: f64, slo: &SloUsed) -> (Health, String) {
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
}

/// A connected population's window: healthy when the share of clients that should be
/// online who are connected meets `least`, their heartbeats' p99 meets the SLO's p99,
/// and (when enough logins completed to say) logins meet the success rate. Unjudged
/// when nobody should be online.
fn judge_held(w: &Window, h: &HeldWindow, least: f64, slo: &SloUsed) -> (Health, String) {
    let Some(share) = h.connected_share() else {
        return (Health::Unjudged, "no client should be online".to_string());
    };
    let mut bad = Vec::new();
    if share + EPS < least {
        bad.push(format!("connected {} < {}", pct(share), pct(least)));
    }
    let hb = (h.heartbeat_ms.count > 0).then_some(h.heartbeat_ms.p99);
    if let Some(p) = hb
        && p > slo.p99_ms + EPS
    {
        bad.push(format!("heartbeat p99 {} > {}", fmt_ms(p), fmt_ms(slo.p99_ms)));
    }
    let completed = w.counts.logins_ok + w.counts.logins_failed;
    if completed >= slo.min_requests.max(1)
        && let Some(sr) = w.success_rate()
        && sr + EPS < slo.success_rate
    {
        bad.push(format!("login success {} < {}", pct(sr), pct(slo.success_rate)));
    }
    if bad.is_empty() {
        let hb = hb.map_or_else(
            || "no heartbeat due".to_string(),
            |p| format!("heartbeat p99 {}", fmt_ms(p)),
        );
        (Health::Healthy, format!("connected {}, {hb}", pct(share)))
    } else {
        (Health::Unhealthy, bad.join("; "))
    }
}

/// The first run at or after `from` that recovers: `(first window, one past the run's
/// last window)`.
pub(super) fn recovering_run(
    post: &[WindowHealth],
    from: usize,
    hold: usize,
    storm_end_ms: u64,
    window_ms: u64,
) -> Option<(usize, usize)> {
    let mut i = from;
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
pub(super) fn unhealthy_run(post: &[WindowHealth], from: usize, len: usize) -> Option<usize> {
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
            Health::Unjudged | Health::Tolerated => {}
        }
    }
    None
}
