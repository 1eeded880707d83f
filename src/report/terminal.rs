//! The summary printed at the end of a run, and the plan printed by `validate`.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Report, thresholds_failed};
use crate::record::HistSummary;
use crate::units::{fmt_ms, format_duration, pct};

pub use crate::units::thousands;

pub(super) fn hist_row(label: &str, h: &HistSummary) -> String {
    if h.count == 0 {
        return format!("  {label:<26} (none)\n");
    }
    format!(
        "  {label:<26} p50 {:>8}  p90 {:>8}  p99 {:>8}  p99.9 {:>8}  max {:>8}\n",
        fmt_ms(h.p50),
        fmt_ms(h.p90),
        fmt_ms(h.p99),
        fmt_ms(h.p999),
        fmt_ms(h.max)
    )
}

pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    // A failed gate fails the run whatever the verdict: it comes first, with what failed.
    if let Some(words) = thresholds_failed(&r.thresholds) {
        let failed: Vec<String> = r
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .map(|t| format!("{} (measured {})", t.expr, t.measured))
            .collect();
        let verdict = r.recovery.as_ref().map_or("not analysed".into(), |x| x.verdict_shown());
        let _ = writeln!(s, "\n✗ {words}: {} · verdict {verdict}", failed.join(", "));
    }
    s.push_str(&figures(r));
    if !r.engine.missing_series.is_empty() {
        let told: Vec<String> = r
            .engine
            .missing_series
            .iter()
            .map(|m| match r.engine.missing_series_nearest.get(m) {
                Some(near) => format!("{m} (nearest exposed: {})", near.join(", ")),
                None => m.clone(),
            })
            .collect();
        let _ = writeln!(s, "  note: the target never exposed {}", told.join(", "));
    }
    for line in action_lines(r) {
        let _ = writeln!(s, "  {line}");
    }
    if let Some(rec) = &r.recovery {
        let _ = writeln!(s, "\n  verdict: {} — {}", rec.verdict_shown(), rec.summary);
        if let Some(line) = rec.probe_line() {
            let _ = writeln!(s, "  confirmation probe: {line}");
        }
        let _ = writeln!(s, "  SLO: {}", rec.slo.how);
        if let Some(words) = super::held::reconnect_time_words(r) {
            let _ = writeln!(s, "  {words}");
        }
        for n in rec.notes.iter().cloned().chain(super::locked_out_line(r)) {
            let _ = writeln!(s, "  note: {n}");
        }
    }
    if !r.thresholds.is_empty() {
        let passed = r.thresholds.iter().filter(|t| t.passed).count();
        let _ = writeln!(
            s,
            "\n  thresholds: {passed} of {} passed{}",
            r.thresholds.len(),
            if r.cut_short() {
                format!(" — {}", super::cut_short(r))
            } else {
                String::new()
            }
        );
        for t in &r.thresholds {
            let _ = writeln!(
                s,
                "    {} {:<40} measured {}",
                if t.passed { "✓" } else { "✗" },
                t.expr,
                t.measured
            );
        }
    }
    s
}

/// One line per action of the run (`storm.actions`): when it ran and how it ended, with
/// its output's last line when it did not work.
pub fn action_lines(r: &Report) -> Vec<String> {
    let at = |ms: u64| format_duration(Duration::from_millis(ms));
    r.actions
        .iter()
        .map(|a| {
            let when = match a.started_ms {
                Some(ms) => format!("at {}", at(ms)),
                None => format!("due at {}", at(a.at_ms)),
            };
            let mark = if a.outcome.ok() { "✓" } else { "✗" };
            let last = match a.output.last() {
                Some(l) if !a.outcome.ok() => format!(" — {l}"),
                _ => String::new(),
            };
            format!("action {mark} {when}: {} · {}{last}", a.command, a.outcome.words())
        })
        .collect()
}

/// Why the preflight guard stopped a run, and what to do: the class, its first example.
pub fn preflight_line(f: &crate::outcome::PreflightFacts) -> String {
    let example = match &f.example {
        Some(e) => format!(" (first {}: {e})", f.class),
        None => String::new(),
    };
    format!(
        "stopped by the preflight guard at {}: the first {} logins before the trigger all failed with `{}`{example}; \
         the flow cannot work as written: `stampede try PROFILE` shows each request and answer \
         (--no-preflight storms anyway)",
        format_duration(Duration::from_millis(f.at_ms)),
        thousands(f.logins),
        f.class
    )
}

fn figures(r: &Report) -> String {
    let t = &r.totals;
    let mut s = String::new();
    let status = match (&r.abort, r.cut_short()) {
        _ if r.not_started().is_some() => "not started".to_string(),
        _ if r.preflight.is_some() => "stopped by the preflight guard".to_string(),
        (Some(a), _) => format!(
            "aborted: `{}` held at {}",
            a.expr,
            format_duration(Duration::from_millis(a.at_ms))
        ),
        (None, true) => "interrupted".to_string(),
        (None, false) => match r.after_run.as_ref().and_then(|a| a.still_draining()) {
            Some(n) if n > 0.0 => format!("completed; target still draining {}", thousands(n.round() as u64)),
            _ => "completed".to_string(),
        },
    };
    let _ = writeln!(s, "\nstampede · {} · seed {} · {}", r.name, r.seed, r.target);
    let _ = writeln!(
        s,
        "  run {} ({status}) · window {} · trigger at {} · storm ended {}",
        format_duration(Duration::from_millis(r.plan.ended_ms)),
        format_duration(Duration::from_millis(r.plan.window_ms)),
        format_duration(Duration::from_millis(r.plan.trigger_start_ms)),
        format_duration(Duration::from_millis(r.plan.storm_end_ms)),
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "  {:<26} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "logins", "attempts", "first", "retries", "ok", "failed", "gave up"
    );
    let _ = writeln!(
        s,
        "  {:<26} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "",
        thousands(t.counts.attempts),
        thousands(t.counts.first_attempts),
        thousands(t.counts.retries),
        thousands(t.counts.logins_ok),
        thousands(t.counts.logins_failed),
        thousands(t.counts.gave_up)
    );
    // One name, one number: the figures named like the thresholds and the page are the
    // recovery's (from the trigger on); the whole run's are labelled as such.
    let whole = format!(
        "whole run: success rate {}, {:.2}× attempts per client",
        t.success_rate.map_or("–".into(), pct),
        t.attempts_per_client
    );
    match r.recovery.as_ref().map(|rec| &rec.figures) {
        Some(f) => {
            let _ = writeln!(
                s,
                "  {whole} · from the trigger: {} of attempts logged in, retry amplification {}",
                f.goodput_share.map_or("–".into(), pct),
                f.retry_amplification.map_or("–".into(), |a| format!("{a:.2}×"))
            );
        }
        None => {
            let _ = writeln!(s, "  {whole}");
        }
    }
    let _ = writeln!(s);
    s.push_str(&hist_row("latency (from intended)", &t.latency_ms));
    s.push_str(&hist_row("service time (from send)", &t.service_ms));
    // The generator's own share of the latency: intended instant to the request's send.
    s.push_str(&hist_row("send lag (generator's)", &r.engine.send_lag_ms));
    for st in &t.steps {
        s.push_str(&hist_row(
            &format!(
                "step {} ({} ok, {} failed)",
                st.name,
                thousands(st.ok),
                thousands(st.failed)
            ),
            &st.latency_ms,
        ));
    }
    let outcomes: Vec<String> = t
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k} {}", thousands(*v)))
        .collect();
    let _ = writeln!(s, "\n  outcomes: {}", outcomes.join(" · "));
    for (class, why) in &r.engine.stats.failure_examples {
        let _ = writeln!(s, "    first {class}: {why}");
    }
    for line in super::retry_after_line(r)
        .into_iter()
        .chain(super::drain_line(r))
        .chain(super::received_line(r))
    {
        let _ = writeln!(s, "  {line}");
    }
    if t.counts.relogins + t.counts.keepalives_ok + t.counts.keepalives_failed > 0 {
        let _ = writeln!(
            s,
            "  sessions: keepalives ok {} · failed {} · re-logins {}",
            thousands(t.counts.keepalives_ok),
            thousands(t.counts.keepalives_failed),
            thousands(t.counts.relogins)
        );
    }
    if let Some(line) = super::h2::line(r) {
        let _ = writeln!(s, "  {line}");
    }
    if let Some(block) = super::held::terminal_block(r) {
        s.push_str(&block);
    }
    if let Some(w) = warmup_line(&r.engine.stats.warmup) {
        let _ = writeln!(s, "  warm-up: {w}");
    }
    let e = &r.engine;
    if let Some(flow) = r.plan.flow_inputs() {
        let _ = writeln!(s, "  {flow}");
    }
    if let Some(src) = &r.plan.sources {
        let _ = writeln!(
            s,
            "  sources: {} addresses, {}–{} clients each",
            thousands(src.addresses),
            thousands(src.min_clients),
            thousands(src.max_clients)
        );
    }
    let _ = writeln!(
        s,
        "  generator: {} · send lag p99 {} max {}{} · unstarted {} · throttled {} · abandoned {}{}",
        if e.stats.threads == 1 {
            "1 thread".to_string()
        } else {
            format!("{} threads", e.stats.threads)
        },
        fmt_ms(e.send_lag_ms.p99),
        fmt_ms(e.send_lag_ms.max),
        crate::report::words::send_precision(e),
        thousands(e.stats.unstarted),
        thousands(e.stats.throttled),
        thousands(e.stats.abandoned),
        if e.behind {
            "\n  ← the generator fell behind its schedule: latencies still count from the intended instants, but the target got the load later than planned"
        } else {
            ""
        }
    );
    s
}

/// A one-line picture of a series: ▁▂▃▄▅▆▇█ (resampled to `width`).
pub fn sparkline(values: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(width);
    let buckets: Vec<u64> = values.chunks(per).map(|c| c.iter().sum()).collect();
    let max = *buckets.iter().max().unwrap_or(&0);
    buckets
        .iter()
        .map(|&v| {
            if max == 0 || v == 0 {
                ' '
            } else {
                BARS[((v as f64 / max as f64) * 7.0).round() as usize]
            }
        })
        .collect()
}

/// The warm-up in words ("10,000 of 10,000 online clients logged in in 5.01s before the
/// clock started; 0 failed"); None when there was none.
pub fn warmup_line(w: &crate::record::WarmupStats) -> Option<String> {
    if w.is_empty() {
        return None;
    }
    let mut line = format!(
        "{} of {} online clients logged in in {} before the clock started; {} failed",
        thousands(w.ok),
        thousands(w.clients),
        crate::units::fmt_ms(w.duration_ms),
        thousands(w.failed)
    );
    if w.connected > 0 {
        // A connected population: the clients also opened their connection.
        line.push_str(&format!(", {} of them connected", thousands(w.connected)));
        if w.failed > 0 {
            line.push_str(" (those without a session log in at time zero)");
        }
    } else if w.failed > 0 {
        line.push_str(" (they start without a session and log in when a keepalive is refused)");
    }
    if w.skipped > 0 {
        line.push_str(&format!(", {} not tried (stopped)", thousands(w.skipped)));
    }
    if w.overran_ms >= 1.0 {
        line.push_str(&format!(
            "; it ended {} after the agreed start instant: the run started late",
            crate::units::fmt_ms(w.overran_ms)
        ));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testkit::{gated, report};

    #[test]
    fn the_warmup_line_counts_who_logged_in_and_says_when_it_ran_late() {
        let w = crate::record::WarmupStats {
            clients: 10_000,
            ok: 9_990,
            failed: 10,
            duration_ms: 5012.0,
            ..Default::default()
        };
        let l = warmup_line(&w).unwrap();
        assert!(
            l.starts_with("9,990 of 10,000 online clients logged in in 5.01s before the clock started; 10 failed"),
            "{l}"
        );
        assert!(!l.contains("agreed start"), "{l}");
        let late = warmup_line(&crate::record::WarmupStats {
            overran_ms: 1500.0,
            ..w
        })
        .unwrap();
        assert!(late.contains("ended 1.5s after the agreed start instant"), "{late}");
        assert_eq!(warmup_line(&crate::record::WarmupStats::default()), None);
    }

    #[test]
    fn a_failed_gate_comes_first() {
        let r = gated(
            report(60, 0, "ci-smoke", ""),
            &["login.p99 < 2ms", "retry_amplification < 5"],
        );
        let s = summary(&r);
        let first = s.lines().find(|l| !l.trim().is_empty()).unwrap();
        assert!(
            first.starts_with("✗ 1 of 2 thresholds failed: login.p99 < 2ms (measured "),
            "{first}"
        );
        assert!(first.ends_with("· verdict never-degraded"), "{first}");
        let passing = gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"]);
        assert!(
            summary(&passing)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap()
                .starts_with("stampede")
        );
    }

    #[test]
    fn an_aborted_run_names_its_condition_and_when_it_held() {
        let mut r = crate::report::testkit::aborted(report(60, 0, "ci-smoke", ""));
        r.thresholds = gated(r.clone(), &["retry_amplification < 5"]).thresholds;
        let s = summary(&r);
        assert!(s.contains("(aborted: `success_rate < 5% for 30s` held at 42s)"), "{s}");
        assert!(
            s.contains(
                "thresholds: 1 of 1 passed — run aborted: `success_rate < 5% for 30s` held at 42s: the thresholds"
            ),
            "{s}"
        );
    }

    #[test]
    fn an_interrupted_run_says_so_next_to_its_thresholds() {
        let mut r = gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"]);
        r.interrupted = true;
        r.stop_reason = crate::outcome::StopReason::Interrupted;
        let s = summary(&r);
        assert!(
            s.contains(
                "thresholds: 1 of 1 passed — run interrupted: the thresholds cover only what was sent until then"
            ),
            "{s}"
        );
    }

    #[test]
    fn the_send_lag_stands_under_latency_and_service_time() {
        let mut r = report(60, 0, "lag", "");
        r.engine.send_lag_ms.p50 = 0.021;
        r.engine.send_lag_ms.count = 100;
        let s = summary(&r);
        let rows: Vec<&str> = s.lines().map(str::trim_start).collect();
        let at = |p: &str| {
            rows.iter()
                .position(|l| l.starts_with(p))
                .unwrap_or_else(|| panic!("{p}: {s}"))
        };
        let lag = at("send lag (generator's)");
        assert_eq!(at("service time (from send)") + 1, lag);
        assert_eq!(at("latency (from intended)") + 2, lag);
        assert!(rows[lag].contains("p50  0.021ms"), "{}", rows[lag]);
    }

    #[test]
    fn a_held_run_shows_its_connections_and_a_plain_run_does_not() {
        let s = summary(&crate::report::testkit::held_report(60, 45, "held"));
        for want in [
            "held connections: peak 20,000 connected · connected share final 100%, lowest 70% at 20s",
            "held connects: 6,000 ok · 960 failed · 5,760 resumed · 240 resumes refused (logged in again)",
            "held drops: 6,000: reset 4,000 · ws_close_1012 2,000",
            "reconnect (drop to back)",
            "heartbeat round trip",
            "upgrade (from intended)",
        ] {
            assert!(s.contains(want), "{want}: {s}");
        }
        let slo = s.lines().position(|l| l.trim_start().starts_with("SLO: ")).unwrap();
        assert_eq!(
            s.lines().nth(slo + 1).unwrap().trim(),
            "reconnect time 24s: the longest stretch with the connected share below 99%"
        );
        let plain = summary(&report(60, 45, "plain", ""));
        assert!(!plain.contains("held") && !plain.contains("reconnect"), "{plain}");
    }

    #[test]
    fn sparkline_draws_the_shape() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8], 5), " ▂▃▅█");
    }

    #[test]
    fn the_terminal_names_one_amplification_as_the_thresholds_and_the_page_do() {
        let r = report(60, 40, "amp", "");
        let f = &r.recovery.as_ref().unwrap().figures;
        let from_trigger = format!("retry amplification {:.2}×", f.retry_amplification.unwrap());
        let text = summary(&r);
        assert!(text.contains(&from_trigger), "{text}");
        assert!(text.contains("whole run: "), "{text}");
        assert_eq!(text.matches("retry amplification").count(), 1, "{text}");
    }
}
