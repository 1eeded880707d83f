//! Hostile flag values (issue #23): each is refused at the flag with what to write
//! (exit 2), never a panic, a bare usage line or a value that wraps.

mod common;

use common::bin;

const SMOKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/ci-smoke.yaml");

fn refused(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

#[test]
fn a_start_at_cut_inside_a_character_or_negative_is_refused_at_the_flag() {
    for bad in ["aé00000", "é+02:00", "-5", "-1795987800"] {
        let err = refused(&["run", SMOKE, "--start-at", bad]);
        assert!(
            err.contains("--start-at") && err.contains("is not an instant"),
            "{bad}: {err}"
        );
    }
}

/// `for 2305843009213693952s` was cast to u64 milliseconds and wrapped to 0: the run
/// aborted in its first window (exit 4). Now refused at the flag, before anything runs.
#[test]
fn an_abort_or_gate_duration_beyond_any_run_is_refused_at_the_flag() {
    for v in ["2305843009213693952s", "18446744073709551615ms", "8days"] {
        let err = refused(&["run", SMOKE, "--abort-when", &format!("success_rate < 0% for {v}")]);
        assert!(
            err.contains("--abort-when") && err.contains("longer than any run"),
            "{v}: {err}"
        );
        let err = refused(&["run", SMOKE, "--gate", &format!("login.p99 < {v}")]);
        assert!(err.contains("at most 168h"), "{v}: {err}");
    }
}

#[test]
fn sweep_counts_that_would_overflow_are_refused_at_the_flag() {
    let err = refused(&["sweep", SMOKE, "--seeds", "4294967295", "--intensity", "1,2"]);
    assert!(err.contains("--seeds"), "{err}");
}
