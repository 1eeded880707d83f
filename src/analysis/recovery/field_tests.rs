//! Verdicts that survive the field (issue #22), on windows whose truth is known: one
//! noisy window is not an outage, an outage with retries is not a feedback loop, the
//! probe confirms only what it tested, a draining target is seen draining.

use super::tests::{S, script, slo5, states, tl};
use super::verdict_tests::{probe_on, twin};
use super::*;
use crate::analysis::testkit::{win, with_retries};

/// 55 one-second windows of 50 logins, all healthy but window `blip`, where 7 of 50
/// fail; trigger at 10 s, storm end 12 s; hold 10 s.
fn healthy_with_blip(blip: usize) -> (Vec<Window>, Slo) {
    let w = (0..55)
        .map(|i: u32| {
            if i as usize == blip {
                win(i, 1000, 43, 7, 20)
            } else {
                win(i, 1000, 50, 0, 20)
            }
        })
        .collect();
    (
        w,
        Slo {
            hold: Some(S * 10),
            ..slo5()
        },
    )
}

#[test]
fn one_noisy_window_in_a_healthy_run_is_tolerated_not_an_outage() {
    // Before: at 50–51 s "not-recovered … no healthy stretch lasted a hold (10s)"; at
    // 40–41 s "Recovered 31s after the trigger".
    for blip in [50, 40, 10] {
        let (w, slo) = healthy_with_blip(blip);
        let r = analyze(&w, &tl(10, 12, 55), &slo, S);
        assert_eq!(r.verdict, Verdict::NeverDegraded, "blip at {blip}: {}", r.summary);
        assert_eq!(r.health[blip].state, Health::Tolerated);
        assert!(
            r.health[blip]
                .reason
                .starts_with("success 86% < 99%; tolerated: an isolated miss in a healthy stretch (slo.tolerate 1)"),
            "{}",
            r.health[blip].reason
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("1 window(s) after the trigger missed the SLO but were tolerated")),
            "{:?}",
            r.notes
        );
    }
    // `tolerate: 0` judges it strictly, as before.
    let (w, slo) = healthy_with_blip(40);
    let strict = Slo { tolerate: 0, ..slo };
    let r = analyze(&w, &tl(10, 12, 55), &strict, S);
    assert_eq!((r.verdict, r.recovery_time_ms), (Verdict::Recovered, Some(31_000)));
}

#[test]
fn a_blip_inside_the_hold_after_a_real_outage_does_not_restart_it() {
    // Down 15–20 s, healthy, one bad window at 26 s, healthy to 45 s; hold 10 s.
    let w = script(&format!(
        "{}{}{}{}{}",
        "H".repeat(15),
        "X".repeat(5),
        "H".repeat(6),
        "F",
        "H".repeat(18)
    ));
    let slo = Slo {
        hold: Some(S * 10),
        ..slo5()
    };
    let r = analyze(&w, &tl(10, 12, 45), &slo, S);
    assert_eq!(r.verdict, Verdict::Recovered);
    // Before: 27 s, six windows late.
    assert_eq!(r.recovered_at_ms, Some(20_000));
    assert_eq!(&states(&r)[14..28], "HxxxxxHHHHHHtH");
}

#[test]
fn two_blips_in_a_row_or_a_flapping_target_are_not_tolerated() {
    let slo = slo5();
    let r = analyze(&script("HHHHH HHHH FF HHHHHHHHH"), &tl(5, 6, 20), &slo, S);
    assert_eq!(&states(&r)[9..11], "xx", "two in a row with tolerate 1");
    let r = analyze(&script("HHHHH HFHFHFHFHHHHHH"), &tl(5, 6, 20), &slo, S);
    assert!(!states(&r).contains('t'), "{}", states(&r));
    let r = analyze(
        &script("HHHHH HHHH FF HHHHHHHHH"),
        &tl(5, 6, 20),
        &Slo { tolerate: 2, ..slo },
        S,
    );
    assert_eq!(&states(&r)[9..11], "tt");
}

#[test]
fn a_miss_within_the_sampling_noise_of_its_count_is_tolerated_but_a_steady_one_is_not() {
    // 20 logins a window, SLO 99 %: one failure is 95 %, which a target at 99 % shows
    // in 18 % of its windows (one-sided binomial test).
    let mut w: Vec<Window> = (0..30).map(|i| win(i, 1000, 20, 0, 20)).collect();
    w[20] = win(20, 1000, 19, 1, 20);
    w[22] = win(22, 1000, 19, 1, 20);
    let r = analyze(&w, &tl(5, 6, 30), &Slo { tolerate: 0, ..slo5() }, S);
    assert_eq!(r.verdict, Verdict::NeverDegraded, "{}", r.summary);
    assert!(
        r.health[20].reason.starts_with(
            "success 95% < 99%; tolerated: within the sampling noise of its count (1 failed of 20, p = 0.18; one-sided binomial test, p ≥ 5%)"
        ),
        "{}",
        r.health[20].reason
    );
    // Every window one failure in 20: each alone is noise, together they are 95 %.
    let w: Vec<Window> = (0..30)
        .map(|i| {
            if i < 5 {
                win(i, 1000, 20, 0, 20)
            } else {
                win(i, 1000, 19, 1, 20)
            }
        })
        .collect();
    let r = analyze(&w, &tl(5, 6, 30), &slo5(), S);
    assert!(
        r.health[10..].iter().all(|h| h.state == Health::Unhealthy),
        "{}",
        states(&r)
    );
    // `noise: 0%` counts every miss.
    let mut w: Vec<Window> = (0..30).map(|i| win(i, 1000, 20, 0, 20)).collect();
    w[20] = win(20, 1000, 19, 1, 20);
    let strict = Slo {
        tolerate: 0,
        noise: 0.0,
        ..slo5()
    };
    assert_eq!(
        analyze(&w, &tl(5, 6, 30), &strict, S).health[20].state,
        Health::Unhealthy
    );
}

#[test]
fn an_outage_that_starts_in_the_last_window_is_said_so() {
    // Issue #22, case 8: before, "no healthy stretch lasted a hold (5s)".
    let r = analyze(&script("HHHHH HHHHHHHH X"), &tl(5, 6, 14), &slo5(), S);
    assert_eq!(r.verdict, Verdict::NotRecovered);
    assert_eq!(
        r.summary,
        "Not recovered: healthy after the trigger until 8s after it, then down for the last 1s of the observation, too little to tell an outage from a blip or to see a recovery."
    );
}

/// Baseline 100 a window; a storm of 300 a window to 8 s; then down to 30 s under 60
/// retries a window (fresh arrivals back at 100), every login failing fast: `fill`
/// decides each down window's outcomes.
fn outage_with_retries(fill: impl Fn(&mut Window)) -> Vec<Window> {
    let mut w = script(&format!("HHHHH {}", "X".repeat(25)));
    for x in &mut w[5..8] {
        (x.counts.attempts, x.counts.first_attempts) = (300, 300);
    }
    for x in &mut w[8..] {
        x.counts.attempts = 160;
        *x = with_retries(x.clone(), 60);
        x.outcomes.insert("http_503".into(), 160);
        fill(x);
    }
    w
}

#[test]
fn a_permanent_outage_with_retries_is_not_metastable() {
    // Issue #22, case 3: before, "metastable … held by N retries". Fast refusals,
    // nothing succeeding, under a load above the baseline's: the windows cannot tell.
    let r = analyze(&outage_with_retries(|_| {}), &tl(5, 8, 30), &slo5(), S);
    assert_eq!(r.verdict, Verdict::NotRecovered, "{}", r.summary);
    assert!(
        r.summary
            .starts_with("Down or metastable: not recovered within 25s after the trigger")
            && r.summary
                .ends_with("an outage looks the same. Run with `observe.confirm` to tell them apart."),
        "{}",
        r.summary
    );
    // Nothing listening: an outage.
    let refused = outage_with_retries(|x| {
        x.outcomes.clear();
        x.outcomes.insert("refused".into(), 160);
    });
    let r = analyze(&refused, &tl(5, 8, 30), &slo5(), S);
    assert_eq!(r.verdict, Verdict::Down, "{}", r.summary);
    assert!(
        r.summary
            .contains("every one found nothing listening (connection refused)"),
        "{}",
        r.summary
    );
    // Refusing even the baseline's load (clients gave up: 100 attempts a window).
    let quiet = outage_with_retries(|x| {
        if x.index >= 20 {
            x.counts.attempts = 100;
            *x = with_retries(x.clone(), 5);
        }
    });
    let r = analyze(&quiet, &tl(5, 8, 30), &slo5(), S);
    assert_eq!(r.verdict, Verdict::Down, "{}", r.summary);
    assert!(
        r.summary.contains("it fails at a load it served before"),
        "{}",
        r.summary
    );
    // Answers late (a queue) or some logins still succeeding: the feedback signature.
    let slow = outage_with_retries(|x| {
        x.outcomes.insert("timeout".into(), 10);
    });
    assert_eq!(analyze(&slow, &tl(5, 8, 30), &slo5(), S).verdict, Verdict::Metastable);
    // An answer cut by the deadline is a late answer too.
    let cut = outage_with_retries(|x| {
        x.outcomes.insert(crate::outcome::TIMEOUT_MIDANSWER.into(), 10);
    });
    assert_eq!(analyze(&cut, &tl(5, 8, 30), &slo5(), S).verdict, Verdict::Metastable);
    let some = outage_with_retries(|x| {
        x.counts.logins_ok = 5;
        x.counts.logins_failed = 95;
    });
    assert_eq!(analyze(&some, &tl(5, 8, 30), &slo5(), S).verdict, Verdict::Metastable);
}

#[test]
fn a_probe_that_silenced_nothing_judges_its_windows_as_the_runs_own() {
    // Issue #22, case 1: down from 15 s with no retries at all; the outage ends 3 s into
    // the probe. Before: "metastable, confirmed: recovered 3s after retries stopped".
    let pre = script(&format!("{}{}", "H".repeat(15), "X".repeat(25)));
    let slo = Slo {
        hold: Some(S * 5),
        ..slo5()
    };
    let r = probe_on(pre, (10, 12), &slo, "XXXHHHHHH", 9, 20);
    let p = r.probe.as_ref().unwrap();
    assert_eq!(
        (p.outcome, p.silenced_share),
        (ProbeOutcome::SilencedNothing, Some(0.0))
    );
    assert_eq!((r.verdict, r.confirmed), (Verdict::Recovered, false), "{}", r.summary);
    assert_eq!(r.recovered_at_ms, Some(43_000));
    assert!(
        r.summary.starts_with("Recovered 33s after the trigger")
            && r.summary.ends_with(
                "The confirmation probe confirms nothing: it silenced nothing measurable (0% of the attempts in the last hold before it were retries or relogins, fewer than 10%), so its windows were judged as the run's own."
            ),
        "{}",
        r.summary
    );
    assert_eq!(r.health.iter().filter(|h| h.phase == Phase::Probe).count(), 9);
}

#[test]
fn a_heal_after_the_target_went_on_refusing_at_baseline_load_is_an_outage_that_ended() {
    // Issue #22, case 1 with retries: the windows before cannot tell (fast refusals under
    // retry load), the probe silences the retries, the target keeps refusing fast for
    // 4 s at the baseline's load, then the outage ends.
    let slo = slo5();
    let r = probe_on(outage_with_retries(|_| {}), (5, 8), &slo, "XXXXHHHHHH", 10, 20);
    let p = r.probe.as_ref().unwrap();
    assert_eq!(p.verdict_before, Verdict::NotRecovered);
    assert_eq!(p.outcome, ProbeOutcome::HealedIndependently, "{}", r.summary);
    assert_eq!(
        (r.verdict, r.confirmed, r.recovered_at_ms),
        (Verdict::Recovered, false, Some(34_000))
    );
    assert!(
        r.summary.contains(
            "at a time the silencing does not explain: with 37.5% of the load silenced it went on failing for 4 windows, nothing succeeding and every failure fast at the baseline's load, and then came back"
        ),
        "{}",
        r.summary
    );
    // The same target healing at once: the silencing explains it.
    let r = probe_on(outage_with_retries(|_| {}), (5, 8), &slo, "XHHHHHH", 7, 20);
    assert_eq!((r.verdict, r.confirmed), (Verdict::Metastable, true), "{}", r.summary);
}

/// A down probe window whose scrape saw `queue` (none: the label set was dropped).
fn queued(mut w: Window, queue: Option<f64>) -> Window {
    w.target.insert("pool_threads".into(), 8.0);
    if let Some(q) = queue {
        w.target.insert("login_queue_depth".into(), q);
    }
    w
}

#[test]
fn a_target_still_draining_its_backlog_when_the_probe_ends_is_not_down() {
    // Issue #22, case 2: before, "down: an outage, not a feedback loop".
    let mut pre = twin(&[]);
    for x in pre.iter_mut() {
        let q = if x.index < 5 { 2.0 } else { 950.0 };
        *x = queued(x.clone(), Some(q));
    }
    // The probe's windows, as scraped: 900 falling by 20 a second.
    let mut w = pre;
    for i in 0..10u32 {
        let mut x = script("Z").remove(0);
        x.index = 28 + i;
        x.start_ms = x.index as u64 * 1000;
        w.push(queued(x, Some(900.0 - 20.0 * i as f64)));
    }
    let span = ProbeSpan {
        retries_stopped: S * 28,
        started: S * 28,
        limit: S * 10,
    };
    let r = analyze_probed(&w, &tl(5, 8, 38), Some(span), &slo5(), S);
    let p = r.probe.as_ref().unwrap();
    assert_eq!(p.outcome, ProbeOutcome::Draining, "{}", r.summary);
    assert_eq!((r.verdict, r.confirmed), (Verdict::Metastable, false));
    let d = &p.draining[0];
    assert_eq!(
        (d.series.as_str(), d.left, d.baseline, d.per_s),
        ("login_queue_depth", 720.0, 2.0, 20.0)
    );
    assert_eq!(d.eta_ms, Some(35_900));
    assert!(
        r.summary.starts_with(
            "Still draining, inconclusive: with retries and relogins silenced for 10s (96.2% of the load) the target had not caught up: its login_queue_depth was 720 when the probe ended (baseline 2), falling 20/s from 900: at that rate back at baseline in about 35.9s."
        ),
        "{}",
        r.summary
    );
    // A label set dropped at 0 counts as 0: the same probe ending drained is not draining.
    let mut w2 = w.clone();
    for x in &mut w2[28..] {
        x.target.remove("login_queue_depth");
    }
    let r = analyze_probed(&w2, &tl(5, 8, 38), Some(span), &slo5(), S);
    assert_eq!(
        r.probe.as_ref().unwrap().outcome,
        ProbeOutcome::StayedDown,
        "{}",
        r.summary
    );
}

#[test]
fn a_limiter_working_off_its_queue_is_improving_not_metastable() {
    // Issue #22, case 4: a 2/s login limiter; locked-out clients fell 129 → 54 and
    // success rose 0 → 32 % over the run's end. Before: metastable.
    let mut w = outage_with_retries(|_| {});
    w.truncate(29);
    for x in &mut w[8..] {
        let i = x.index as i64;
        let ok = ((i - 22).max(0) as f64 * 32.0 / 6.0).round() as u64;
        (x.counts.logins_ok, x.counts.logins_failed) = (ok, 100 - ok);
        x.locked_out = if i < 22 { 129 } else { 129 - ((i - 22) as u64 * 75 / 6) };
    }
    let r = analyze(&w, &tl(5, 8, 29), &slo5(), S);
    assert_eq!(r.verdict, Verdict::Improving, "{}", r.summary);
    assert!(
        r.summary.starts_with(
            "Improving, not recovered yet: over the last 6s of the observation the locked-out clients fell from 129 to 54 (12.5 a second) and success rose from 0% to 32%"
        ),
        "{}",
        r.summary
    );
    assert!(
        r.summary.contains(
            "every locked-out client would be in within about 4.32s and success would meet the SLO (99%) in about"
        ),
        "{}",
        r.summary
    );
    // Flat at the end: the same run stuck at 129 locked out is not improving.
    for x in &mut w[22..] {
        x.locked_out = 129;
    }
    assert_eq!(analyze(&w, &tl(5, 8, 29), &slo5(), S).verdict, Verdict::Metastable);
}

#[test]
fn a_feedback_loop_that_cools_down_for_a_while_once_silenced_is_still_confirmed() {
    // The reference overlay's 2007 mode: held down by its retries (slow failures), it
    // goes on refusing fast for a while once they stop (its failure ratio decays), then
    // heals. The windows before the probe showed the feedback signature: confirmed.
    let r = probe_on(twin(&[]), (5, 8), &slo5(), "XXXXXHHHHHH", 11, 20);
    let p = r.probe.as_ref().unwrap();
    assert_eq!(
        (p.outcome, p.verdict_before),
        (ProbeOutcome::Healed, Verdict::Metastable)
    );
    assert_eq!((r.verdict, r.confirmed), (Verdict::Metastable, true), "{}", r.summary);
}

#[test]
fn a_relapse_that_ends_during_the_probe_is_an_outage_that_ended_not_a_confirmation() {
    // Issue #22, case 1: recovered, then a second outage (fast refusals under retries)
    // to the plan's end; it ends 4 s into the probe. Before: "metastable, confirmed".
    let mut pre = script(&format!(
        "{}{}{}{}",
        "H".repeat(5),
        "X".repeat(3),
        "H".repeat(7),
        "X".repeat(10)
    ));
    for x in &mut pre[15..] {
        x.counts.attempts = 160;
        *x = with_retries(x.clone(), 60);
    }
    let r = probe_on(pre, (5, 8), &slo5(), "XXXXHHHHHH", 10, 20);
    let p = r.probe.as_ref().unwrap();
    assert_eq!(p.verdict_before, Verdict::RecoveredThenRelapsed, "{}", r.summary);
    assert_eq!(p.outcome, ProbeOutcome::HealedIndependently, "{}", r.summary);
    assert_eq!(
        (r.verdict, r.confirmed, r.recovered_at_ms),
        (Verdict::Recovered, false, Some(29_000))
    );
}
