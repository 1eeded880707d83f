//! The verdicts that tell a feedback loop from an outage and from a target that never
//! worked (issue #11).

use super::tests::{S, script, slo5, storm, tl};
use super::*;
use crate::analysis::testkit::{win, with_retries};

/// The target fails every login from 15 s to the end (40 s) while the load stays at
/// its baseline; the clients, on exponential backoff, retry 40 times a window.
fn outage() -> Vec<Window> {
    let mut w = script(&format!("{}{}", "H".repeat(15), "X".repeat(25)));
    for x in &mut w[15..] {
        x.counts.attempts = 140;
        *x = with_retries(x.clone(), 40);
    }
    w
}

/// 99 %, 500 ms, hold 10 s: longer than the healthy 5 s between trigger and outage.
fn slo10() -> Slo {
    Slo {
        hold: Some(S * 10),
        ..slo5()
    }
}

#[test]
fn an_outage_under_baseline_load_is_down_not_metastable() {
    let r = analyze(&outage(), &tl(10, 12, 40), &slo10(), S);
    // Before: metastable, "back at baseline for 30s (from 0s after the trigger);
    // retries and relogins kept the target down", though the load never rose.
    assert_eq!(r.verdict, Verdict::Down);
    assert_eq!(r.metastable_since_ms, None);
    assert!(
        r.summary
            .starts_with("Down without load feedback: not recovered within 30s after the trigger, down 83.3% of the judged time and still down at the end, although the storm never raised the fresh arrivals clearly above baseline (100 per window, baseline 100): an outage"),
        "{}",
        r.summary
    );
}

#[test]
fn a_load_that_rose_and_went_back_with_nothing_feeding_back_is_down() {
    // The storm raised the arrivals tenfold, they went back, no client retried or
    // logged in again, and the target stayed down: nothing of the load holds it.
    let w = storm("FFFFFFFFFF", 0, 100);
    let r = analyze(&w, &tl(4, 7, 17), &slo5(), S);
    assert_eq!(r.verdict, Verdict::Down);
    assert!(
        r.summary.contains(
            "still down at the end, although the fresh arrivals were back at baseline (baseline 100 per window) and no retry or relogin came back"
        ),
        "{}",
        r.summary
    );
}

#[test]
fn a_target_that_never_worked_is_never_healthy() {
    // Not one login succeeded, before the trigger or after: the SLO derived from that
    // baseline is 0 %, which every window meets.
    let w = script("XXXX XXX XXXXXXXX");
    let r = analyze(&w, &tl(4, 7, 15), &Slo::default(), S);
    // Before: never-degraded.
    assert_eq!(r.verdict, Verdict::NeverHealthy);
    assert_eq!(r.recovery_time_ms, None);
    assert_eq!(
        r.summary,
        "Never healthy: the baseline before the trigger already missed the SLO (no login of 400 succeeded); there was no healthy state to recover to."
    );
    // A baseline below the profile's SLO, then a storm with retries: not metastable.
    let mut w = storm("FFFFFFFFFF", 900, 100);
    for (i, x) in w[..4].iter_mut().enumerate() {
        *x = win(i as u32, 1000, 50, 50, 20);
    }
    let r = analyze(&w, &tl(4, 7, 17), &slo5(), S);
    assert_eq!(r.verdict, Verdict::NeverHealthy);
    assert_eq!(r.metastable_since_ms, None);
    assert!(
        r.summary
            .starts_with("Never healthy: the baseline before the trigger already missed the SLO (success 50% < 99%)"),
        "{}",
        r.summary
    );
}

#[test]
fn healthy_before_the_first_degradation_is_not_recovery() {
    // Trigger 10 s, healthy until the outage 15–25 s, hold 5 s.
    let w = script(&format!("{}{}{}", "H".repeat(15), "X".repeat(10), "H".repeat(10)));
    let r = analyze(&w, &tl(10, 12, 35), &slo5(), S);
    // Before: recovered-then-relapsed, recovered at 10 s, the recovery at 25 s unreported.
    assert_eq!(r.verdict, Verdict::Recovered);
    assert_eq!(r.recovered_at_ms, Some(25_000));
    assert_eq!(r.recovery_time_ms, Some(15_000));
    assert_eq!(r.relapsed_at_ms, None);
    assert_eq!(
        r.summary,
        "Recovered 15s after the trigger (13s after the storm ended)."
    );
}

#[test]
fn recovered_again_after_a_relapse_is_recovered_at_the_later_time() {
    let w = script("HH FF HHHHH XXX HHHHH");
    let r = analyze(&w, &tl(2, 4, 30), &slo5(), S);
    // Before: recovered-then-relapsed at 4 s, though it held the SLO at the end.
    assert_eq!(r.verdict, Verdict::Recovered);
    assert_eq!((r.recovered_at_ms, r.relapsed_at_ms), (Some(12_000), None));
    assert_eq!(
        r.summary,
        "Recovered 10s after the trigger (8s after the storm ended). An earlier recovery, 2s after the trigger, relapsed 7s after it."
    );
    // Relapsed again: the relapse that counts is the one that ended the last recovery.
    let w = script("HH FF HHHHH XXX HHHHH XXX H");
    let r = analyze(&w, &tl(2, 4, 30), &slo5(), S);
    assert_eq!(r.verdict, Verdict::RecoveredThenRelapsed);
    assert_eq!((r.recovered_at_ms, r.relapsed_at_ms), (Some(12_000), Some(17_000)));
    assert!(r.summary.ends_with("relapsed 7s after it."), "{}", r.summary);
}

/// Baseline 2.2 fresh arrivals per window (bound 1.5 × 2.2 + 2 = 5.3), a storm of 40 a
/// window for 3 s, then 20 s down under 50 retries a window with 2 fresh arrivals, or 6
/// in the `noisy` windows; every login failing slowly (900 ms: the feedback signature).
pub(super) fn twin(noisy: &[usize]) -> Vec<Window> {
    let mut w = script(&format!("HHHHH ZZZ {}", "Z".repeat(20)));
    for (x, fresh) in w.iter_mut().zip([2, 2, 2, 2, 3]) {
        (x.counts.attempts, x.counts.first_attempts) = (fresh, fresh);
    }
    for x in &mut w[5..8] {
        (x.counts.attempts, x.counts.first_attempts) = (40, 40);
    }
    for (i, x) in w.iter_mut().enumerate().skip(8) {
        x.counts.attempts = if noisy.contains(&i) { 6 } else { 2 } + 50;
        *x = with_retries(x.clone(), 50);
    }
    w
}

#[test]
fn arrivals_are_judged_over_a_hold_not_window_by_window() {
    let calm = analyze(&twin(&[]), &tl(5, 8, 28), &slo5(), S);
    assert_eq!(calm.verdict, Verdict::Metastable);
    // Before: not-recovered, for two single windows of 6 against the bound of 5.3.
    let noisy = analyze(&twin(&[20, 25]), &tl(5, 8, 28), &slo5(), S);
    assert_eq!(noisy.verdict, Verdict::Metastable, "{}", noisy.summary);
    assert_eq!(noisy.metastable_since_ms, Some(8_000));
    // Over a hold the 6s do count: from 20 s to the end the load is not back.
    let late = analyze(&twin(&(20..28).collect::<Vec<_>>()), &tl(5, 8, 28), &slo5(), S);
    assert_eq!(late.metastable_since_ms, None);
    assert!(
        late.summary.contains("not back at baseline for a hold (5s)"),
        "{}",
        late.summary
    );
}

#[test]
fn thin_traffic_after_the_storm_is_judged_over_merged_windows() {
    // Issue #22, case 6: 2 logins/s in 1 s windows (min_requests 10), a storm that fails
    // for 5 s, then every login succeeds again. Before: insufficient-data, no time.
    let mut w: Vec<Window> = (0..10).map(|i| win(i, 1000, 2, 0, 20)).collect();
    w.extend((10..15).map(|i| win(i, 1000, 20, 80, 900)));
    w.extend((15..35).map(|i| win(i, 1000, 2, 0, 20)));
    let r = analyze(&w, &tl(10, 15, 35), &slo5(), S);
    assert_eq!(r.verdict, Verdict::Recovered, "{}", r.summary);
    // Five windows of 2 make the 10 a judgement needs: the instant is known to 5 s.
    assert_eq!(r.recovered_at_ms, Some(15_000));
    assert_eq!(r.recovered_at_uncertainty_ms, Some(5_000));
    assert_eq!(
        r.summary,
        "Recovered 5s after the trigger (±5s: judged over merged windows, each alone too thin) (already healthy when the storm ended)."
    );
    let m = r.health[15].merged.unwrap();
    assert_eq!((m.from_ms, m.to_ms, m.completed), (15_000, 20_000, 10));
    assert!(
        r.health[15].reason.contains("over 5 windows merged"),
        "{}",
        r.health[15].reason
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("The baseline completed 2.0 logins per window, fewer than the 10 a window needs")),
        "{:?}",
        r.notes
    );
}

#[test]
fn traffic_too_thin_even_merged_is_insufficient_data_with_the_figure_of_those_windows() {
    // 1 login/s after an outage that went on past the storm's end under 100 retries a
    // window: a hold (5 s) of them is 5 logins, fewer than 10. The figure is the thin
    // windows' (before: the mean over every window after the storm, outage included).
    let mut w: Vec<Window> = (0..10).map(|i| win(i, 1000, 20, 0, 20)).collect();
    w.extend((10..18).map(|i| win(i, 1000, 0, 100, 900)));
    w.extend((18..38).map(|i| win(i, 1000, 1, 0, 20)));
    let r = analyze(&w, &tl(10, 15, 38), &slo5(), S);
    assert_eq!(r.verdict, Verdict::InsufficientData, "{}", r.summary);
    assert_eq!(
        r.summary,
        "Insufficient data after the storm: 1 logins per unjudged window, the SLO needs 10 (min_requests) to judge one, and even merged over a hold they were too few."
    );
}

#[test]
fn min_requests_reachable_is_the_baseline_rate_over_a_window() {
    let s = Duration::from_secs(1);
    for (rate, window, min, reachable) in [
        (2.0, s, 10, false),
        (10.0, s, 10, true),
        (2.5, s * 4, 10, true),
        (2.0, s * 4, 10, false),
        (0.5, s, 0, false),
        (1.0, s, 0, true),
        (100.0, Duration::from_millis(100), 10, true),
    ] {
        assert_eq!(
            min_requests_reachable(rate, window, min),
            reachable,
            "{rate}/s over {window:?}, {min} needed"
        );
    }
}

/// `pre`, then a probe from its end: `probe` scripts its windows, which last `ran`
/// seconds of a probe of `limit`; trigger and storm end as given.
pub(super) fn probe_on(mut w: Vec<Window>, at: (u64, u64), slo: &Slo, probe: &str, ran: u64, limit: u64) -> Recovery {
    let stopped = w.len() as u64;
    for (i, mut x) in script(probe).into_iter().enumerate() {
        x.index = (stopped + i as u64) as u32;
        x.start_ms = x.index as u64 * 1000;
        w.push(x);
    }
    let span = ProbeSpan {
        retries_stopped: S * stopped as u32,
        started: S * stopped as u32,
        limit: S * limit as u32,
    };
    analyze_probed(&w, &tl(at.0, at.1, stopped + ran), Some(span), slo, S)
}

/// `outage()` (down from 15 s to 40 s) and then a probe from 40 s.
fn probed(probe: &str, ran: u64, limit: u64) -> Recovery {
    probe_on(outage(), (10, 12), &slo10(), probe, ran, limit)
}

#[test]
fn a_target_that_heals_once_retries_stop_is_metastable_confirmed() {
    // Held down by its retries (slow failures, the load back at baseline), it heals
    // in the probe's second window: the silencing explains it.
    let r = probe_on(twin(&[]), (5, 8), &slo5(), "ZHHHHHHH", 8, 20);
    assert_eq!((r.verdict, r.confirmed), (Verdict::Metastable, true), "{}", r.summary);
    let p = r.probe.as_ref().unwrap();
    assert_eq!(
        (p.outcome, p.verdict_before),
        (ProbeOutcome::Healed, Verdict::Metastable)
    );
    assert_eq!((p.healed_at_ms, p.recovered_after_ms), (Some(29_000), Some(1_000)));
    // 50 retries of 52 attempts a window were silenced.
    assert!((p.silenced_share.unwrap() - 50.0 / 52.0).abs() < 1e-9);
    assert!(
        r.summary.starts_with(
            "Metastable, confirmed: recovered 1s after retries stopped. The confirmation probe silenced the retries and relogins (96.2% of the attempts in the last hold before it)"
        ),
        "{}",
        r.summary
    );
    assert_eq!(r.verdict_shown(), "metastable, confirmed");
    assert_eq!(r.recovered_at_ms, None, "it did not recover by itself");
    assert_eq!(r.health.iter().filter(|h| h.phase == Phase::Probe).count(), 8);
}

#[test]
fn a_heal_after_windows_that_showed_an_outage_confirms_nothing() {
    // Issue #22, case 1: before, "metastable, confirmed" although the windows before the
    // probe showed an outage (failing at the baseline's load).
    let r = probed("XXHHHHHHHHHH", 12, 30);
    let p = r.probe.as_ref().unwrap();
    assert_eq!(
        (p.outcome, p.verdict_before),
        (ProbeOutcome::HealedIndependently, Verdict::Down)
    );
    assert_eq!((r.verdict, r.confirmed), (Verdict::Recovered, false));
    assert_eq!((r.recovered_at_ms, r.recovery_time_ms), (Some(42_000), Some(32_000)));
    assert!(
        r.summary.starts_with(
            "Recovered 32s after the trigger, in the confirmation probe (2s after retries stopped), at a time the silencing does not explain: the windows before the probe already showed an outage. An outage that ended, not a feedback loop the probe confirmed."
        ),
        "{}",
        r.summary
    );
    assert_eq!(r.verdict_shown(), "recovered");
}

#[test]
fn a_target_that_stays_down_for_the_whole_probe_is_down() {
    let r = probed("XXXXXXXXXX", 10, 10);
    assert_eq!((r.verdict, r.confirmed), (Verdict::Down, false));
    assert_eq!(r.probe.as_ref().unwrap().outcome, ProbeOutcome::StayedDown);
    assert!(
        r.summary.starts_with(
            "Down: failing without load feedback (an outage, not a feedback loop). With retries and relogins silenced for 10s"
        ),
        "{}",
        r.summary
    );
}

#[test]
fn a_probe_cut_short_or_too_short_to_hold_keeps_the_verdict_before_it() {
    // Stopped 5 s into a probe of 10 s, still down: not the whole probe.
    let r = probed("XXXXX", 5, 10);
    assert_eq!(r.probe.as_ref().unwrap().outcome, ProbeOutcome::Inconclusive);
    assert_eq!(r.verdict, Verdict::Down);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("inconclusive: it was cut short after 5s of 10s")),
        "{:?}",
        r.notes
    );
    // Up, but for less than the hold (10 s) when its time was up.
    let r = probed("XXXXHHHHHH", 10, 10);
    assert_eq!(r.probe.as_ref().unwrap().outcome, ProbeOutcome::Inconclusive);
    assert!(!r.confirmed);
    // Without a probe, nothing changes.
    assert_eq!(
        analyze_probed(&outage(), &tl(10, 12, 40), None, &slo10(), S),
        analyze(&outage(), &tl(10, 12, 40), &slo10(), S)
    );
}
