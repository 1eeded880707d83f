use super::*;
use crate::analysis::testkit::{win, with_retries};

pub(super) const S: Duration = Duration::from_secs(1);

/// One-second windows from a script: `H` healthy (100 ok, 20 ms), `S` slow (100
/// ok, 900 ms), `F` failing (half fail), `X` failing every login fast (20 ms), `Z`
/// failing every login slowly (900 ms: a queue), `q` quiet (3 ok: unjudged).
pub(super) fn script(s: &str) -> Vec<Window> {
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
                'X' => win(i, 1000, 0, 100, 20),
                'Z' => win(i, 1000, 0, 100, 900),
                _ => panic!("unknown window {c}"),
            }
        })
        .collect()
}

pub(super) fn tl(trigger: u64, storm_end: u64, observe_end: u64) -> Timeline {
    Timeline {
        trigger_start: S * trigger as u32,
        storm_end: S * storm_end as u32,
        observe_end: S * observe_end as u32,
    }
}

/// 99 %, 500 ms, hold 5 s, 10 completed logins to judge.
pub(super) fn slo5() -> Slo {
    Slo {
        success_rate: Some(0.99),
        p99: Some(Duration::from_millis(500)),
        hold: Some(S * 5),
        min_requests: 10,
        connected: None,
        ..Slo::default()
    }
}

pub(super) fn states(r: &Recovery) -> String {
    r.health
        .iter()
        .map(|h| match h.state {
            Health::Healthy => 'H',
            Health::Unhealthy => 'x',
            Health::Unjudged => '.',
            Health::Tolerated => 't',
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
    assert!((r.figures.down_share.unwrap() - 7.0 / 15.0).abs() < 1e-9);
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
    assert!((r.figures.down_share.unwrap() - 4.0 / 7.0).abs() < 1e-9);
}

#[test]
fn nothing_judged_after_the_trigger_is_insufficient_data() {
    // One login a window: even merged over a hold (5 s) they are fewer than 10.
    let mut w = script("HHH");
    w.extend((3..9).map(|i| win(i, 1000, 1, 0, 20)));
    let r = analyze(&w, &tl(3, 5, 9), &slo5(), S);
    assert_eq!(r.verdict, Verdict::InsufficientData);
    assert_eq!(r.figures.down_share, None);
    assert_eq!(r.recovery_time_ms, None);
}

#[test]
fn never_degraded_has_zero_recovery_time() {
    let w = script("HHH HHqHH");
    let r = analyze(&w, &tl(3, 5, 8), &slo5(), S);
    assert_eq!(r.verdict, Verdict::NeverDegraded);
    assert_eq!(r.recovery_time_ms, Some(0));
    assert_eq!(r.recovered_at_ms, None);
    assert_eq!(r.figures.down_share, Some(0.0));
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
pub(super) fn storm(after: &str, retries: u64, arrivals_after: u64) -> Vec<Window> {
    let mut w = script(&format!("HHHH FFF {after}"));
    for x in &mut w[4..7] {
        x.counts.attempts = 1000;
        x.counts.first_attempts = 1000;
    }
    for x in &mut w[7..] {
        x.counts.attempts = arrivals_after + retries;
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
    assert!(
        r.summary.starts_with(
            "Metastable: the storm raised the fresh arrivals to 1,000 per window (baseline 100); they were back at baseline for 10s (from 3s after the trigger), yet the target stayed down, held by 9,000 retries and 0 relogins."
        ),
        "{}",
        r.summary
    );
    // Retry amplification after the trigger: (3·1000 + 10·1000) ÷ (3·1000 + 10·100).
    assert!((r.figures.retry_amplification.unwrap() - 13_000.0 / 4_000.0).abs() < 1e-9);
    assert_eq!(r.health[8].retry_amplification, Some(10.0));
}

#[test]
fn relogins_are_feedback_not_fresh_load() {
    // Sessions sent back to login count as first attempts; less the relogins the
    // arrivals are at baseline.
    let mut w = storm("FFFFFFFFFF", 0, 400);
    for x in &mut w[7..] {
        x.counts.relogins = 300;
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
        x.counts.first_attempts = 1000;
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
    assert!(r.slo.how.contains("max(30s, 3 × backoff cap 1s)"), "{}", r.slo.how);
    // Clients that never back off (policy none, immediate): no cap is named.
    let r = analyze(&w, &tl(3, 3, 4), &spec, Duration::ZERO);
    assert_eq!(r.slo.hold_ms, 30_000);
    assert!(
        r.slo
            .how
            .ends_with("hold 30s = 30 windows (30s: the clients do not back off)"),
        "{}",
        r.slo.how
    );
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
    assert_eq!(
        (r.figures.peak_locked_out, r.figures.peak_locked_out_at_ms),
        (70, Some(4_000))
    );
    assert_eq!(r.figures.attempts, 700);
    assert_eq!(r.figures.goodput, 600);
    assert!((r.figures.goodput_share.unwrap() - 600.0 / 700.0).abs() < 1e-9);
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

#[test]
fn a_baseline_histogram_that_does_not_decode_derives_nothing_and_says_so() {
    let mut w: Vec<Window> = (0..4).map(|i| win(i, 1000, 100, 0, 100)).collect();
    w[1].latency_ms.hist = "not base64!".into();
    let r = analyze(&w, &tl(3, 3, 4), &Slo::default(), S);
    // Before, the window was left out and a p99 derived from the other two.
    assert_eq!(r.baseline.p99_ms, None);
    assert!(!r.baseline.usable && r.slo.fixed_defaults);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("do not decode") && n.contains("base64")),
        "{:?}",
        r.notes
    );
}

#[test]
fn locked_out_clients_are_split_into_given_up_and_still_trying() {
    let mut w = script("HH FF HHHHH");
    let gauge = [
        (0, 0),
        (0, 0),
        (40, 0),
        (70, 10),
        (70, 20),
        (50, 0),
        (45, 5),
        (40, 0),
        (40, 0),
    ];
    for (x, (locked_out, gave_up)) in w.iter_mut().zip(gauge) {
        (x.locked_out, x.counts.gave_up) = (locked_out, gave_up);
    }
    // Attempts in flight at the windows' ends: 25 at the peak, 2 at the end.
    (w[3].in_flight_end, w[8].in_flight_end) = (25, 2);
    let r = analyze(&w, &tl(2, 4, 9), &slo5(), S);
    let l = &r.figures.locked_out;
    assert_eq!(
        (l.peak, l.peak_at_ms, l.peak_gave_up, l.peak_trying),
        (70, Some(3_000), 10, 60)
    );
    assert_eq!((l.end, l.end_gave_up, l.end_trying), (40, 35, 5));
    assert_eq!((l.peak_in_flight, l.end_in_flight), (25, 2));
    assert!(
        r.notes.contains(
            &"At the peak, at 3s, 70 clients were locked out: 10 had given up, 35 were waiting on a backoff (a Retry-After included) and 25 had an attempt in flight. At the end of the observation 40 were: 35 had given up, 3 waiting, 2 in flight.".to_string()
        ),
        "{:?}",
        r.notes
    );
    // A give-up counted early (in the window of the last attempt) never exceeds the gauge.
    w[3].counts.gave_up = 100;
    let l = analyze(&w, &tl(2, 4, 9), &slo5(), S).figures.locked_out;
    assert_eq!((l.peak_gave_up, l.peak_trying), (70, 0));
    // Reports written before the split still read.
    let mut v = serde_json::to_value(&r).unwrap();
    v.as_object_mut().unwrap().remove("locked_out");
    let back: Recovery = serde_json::from_value(v).unwrap();
    assert_eq!(back.figures.locked_out, LockedOut::default());
}

/// Windows in which the generator failed attempts itself (out of descriptors: someone
/// held them) are not judged: they neither fail the target nor count as its recovery.
#[test]
fn windows_with_the_generators_own_failures_are_not_judged() {
    let mut w = script("HHHHH XXXXX HHHHHHHHHH");
    for x in &mut w[5..10] {
        x.counts.generator_failed = 100;
    }
    let r = analyze(&w, &tl(5, 10, 20), &slo5(), S);
    assert_eq!(states(&r), "HHHHH.....HHHHHHHHHH");
    assert_eq!(r.verdict, Verdict::NeverDegraded);
    assert!(
        r.health[5].reason.contains("the generator failed 100 attempts itself"),
        "{}",
        r.health[5].reason
    );
}
