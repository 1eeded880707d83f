//! Every duration-bearing field of a profile, with values up to u64::MAX in every unit
//! (issue #23): a value beyond its field's range is a placed problem at that field's
//! line, never a wrap; what is accepted lies within the widest stated range and plans.

use std::path::Path;
use std::time::Duration;

/// The widest range any duration field has (`profile::limits::MODELLED`, a year).
const WIDEST: Duration = Duration::from_secs(365 * 86_400);

/// A profile with `{V}` standing for the duration under test in one field.
const BASE: &str = r#"name: d
target:
  overlay: { preset: healthy, client_timeout: 2s, retry_after: 2s, promotion_delay: 5s, failure_window: 10s, header_read_timeout: 10s, idle_timeout: 60s, actions: [ { at: 1s, shed: true } ] }
  timeout: 3s
population: { simulate: 10, warmup: { enabled: false } }
baseline: { duration: 1s, rate: 2/s }
storm:
  waves: [ { at: 0s, share: 100%, spread: "normal(sd 1s)" } ]
  downtime: "uniform(1s)"
client:
  login: [ { name: auth, request: POST /login } ]
  retry: { policy: exponential, base: 1s, cap: 10s, retry_after_cap: 5s, throttle: { k: 2, window: 60s } }
  session: { keepalive: { request: POST /k }, every: 10s }
observe: { window: 1s, until_recovered: 5s, confirm: 30s }
slo: { p99: 500ms, hold: 30s }
gate: [ "login.p99 < 1s", "recovery_time < 1m" ]
abort: [ "success_rate < 1% for 30s" ]
"#;

/// (field as a problem names it, the text in BASE to replace, its replacement with `{V}`).
const FIELDS: &[(&str, &str, &str)] = &[
    ("target.timeout", "  timeout: 3s", "  timeout: {V}"),
    (
        "target.overlay.client_timeout",
        "client_timeout: 2s",
        "client_timeout: {V}",
    ),
    ("target.overlay.retry_after", "retry_after: 2s", "retry_after: {V}"),
    (
        "target.overlay.promotion_delay",
        "promotion_delay: 5s",
        "promotion_delay: {V}",
    ),
    (
        "target.overlay.failure_window",
        "failure_window: 10s",
        "failure_window: {V}",
    ),
    (
        "target.overlay.header_read_timeout",
        "header_read_timeout: 10s",
        "header_read_timeout: {V}",
    ),
    ("target.overlay.idle_timeout", "idle_timeout: 60s", "idle_timeout: {V}"),
    ("target.overlay.actions[0].at", "at: 1s, shed", "at: {V}, shed"),
    ("baseline.duration", "duration: 1s", "duration: {V}"),
    ("storm.waves[0].at", "at: 0s, share", "at: {V}, share"),
    ("storm.waves[0].spread", "normal(sd 1s)", "normal(sd {V})"),
    ("storm.downtime", "uniform(1s)", "uniform({V})"),
    ("client.retry.base", "base: 1s", "base: {V}"),
    ("client.retry.cap", "cap: 10s", "cap: {V}"),
    (
        "client.retry.retry_after_cap",
        "retry_after_cap: 5s",
        "retry_after_cap: {V}",
    ),
    ("client.retry.throttle.window", "window: 60s", "window: {V}"),
    ("client.session.every", "every: 10s", "every: {V}"),
    ("observe.window", "window: 1s,", "window: {V},"),
    ("observe.until_recovered", "until_recovered: 5s", "until_recovered: {V}"),
    ("observe.confirm", "confirm: 30s", "confirm: {V}"),
    ("slo.p99", "p99: 500ms", "p99: {V}"),
    ("slo.hold", "hold: 30s", "hold: {V}"),
    ("gate[0]", "login.p99 < 1s", "login.p99 < {V}"),
    ("gate[1]", "recovery_time < 1m", "recovery_time < {V}"),
    ("abort[0]", "for 30s", "for {V}"),
];

const UNITS: [(&str, u128); 6] = [
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Values up to u64::MAX in every unit: the edges, then seeded draws of every magnitude.
fn values() -> Vec<(String, Option<u128>)> {
    let mut out = Vec::new();
    for (unit, ns) in UNITS {
        for v in [u64::MAX, u64::MAX / 1000, 1 << 61, i64::MAX as u64, u32::MAX as u64, 0] {
            out.push((format!("{v}{unit}"), Some(v as u128 * ns)));
        }
    }
    out.push(("1e300s".into(), None));
    out.push(("18446744073709551616s".into(), None));
    let mut x: u64 = 0x2305_8430_0921_3693;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = x >> (x % 64);
        let (unit, ns) = UNITS[(x % 6) as usize];
        out.push((format!("{v}{unit}"), Some(v as u128 * ns)));
    }
    out
}

#[test]
fn every_duration_field_is_bounded_where_it_is_parsed() {
    let env = |_: &str| None;
    let mut refused = 0;
    let mut accepted = 0;
    for (field, from, to) in FIELDS {
        assert_eq!(BASE.matches(from).count(), 1, "{field}: `{from}` must be in BASE once");
        for (v, ns) in values() {
            let text = BASE.replace(from, &to.replace("{V}", &v));
            let r = std::panic::catch_unwind(|| stampede::run::parse(&text, Path::new("d.yaml"), &env));
            let r = r.unwrap_or_else(|_| panic!("{field} = {v}: validation panicked"));
            match r {
                Err(e) => {
                    refused += 1;
                    assert!(
                        e.problems.iter().all(|p| p.line.is_some()),
                        "{field} = {v}: unplaced: {e}"
                    );
                    // Beyond every range: refused at the field, or at the mapping that
                    // holds it (serde's own error for a value no duration names no field).
                    // Within one, the plan's budget may refuse it at the field driving it.
                    if ns.is_none_or(|ns| ns > WIDEST.as_nanos()) {
                        let at = |p: &&stampede::profile::Problem| {
                            p.field.starts_with(field) || (!p.field.is_empty() && field.starts_with(&p.field))
                        };
                        assert!(
                            e.problems.iter().any(|p| at(&p)),
                            "{field} = {v}: not at the field:\n{e}"
                        );
                    }
                }
                Ok(p) => {
                    accepted += 1;
                    if let Some(ns) = ns {
                        assert!(ns <= WIDEST.as_nanos(), "{field} = {v}: accepted beyond any range");
                    }
                    let plan = std::panic::catch_unwind(|| stampede::plan::Plan::new(&p).end);
                    let end = plan.unwrap_or_else(|_| panic!("{field} = {v}: planning panicked"));
                    assert!(end <= WIDEST, "{field} = {v}: a plan of {end:?}");
                    for a in &p.abort {
                        assert!(a.hold <= Duration::from_secs(7 * 86_400), "{field} = {v}: {:?}", a.hold);
                    }
                }
            }
        }
    }
    assert!(refused > 0 && accepted > 0, "refused {refused}, accepted {accepted}");
}

/// One rule for a bare number where a duration is read (issue #24): refused, naming the
/// units to write, in every profile field, in a gate and an abort condition of the
/// profile, and in every duration flag. `2` is seconds to some and milliseconds to k6
/// users; no field guesses.
#[test]
fn a_bare_number_is_refused_in_every_duration_field() {
    let env = |_: &str| None;
    for (field, from, to) in FIELDS {
        let text = BASE.replace(from, &to.replace("{V}", "2"));
        let e = match stampede::run::parse(&text, Path::new("d.yaml"), &env) {
            Err(e) => e,
            Ok(_) => panic!("{field} = 2: accepted"),
        };
        let hit = e.problems.iter().any(|p| {
            p.line.is_some()
                && (p.field.starts_with(field) || field.starts_with(&p.field) && !p.field.is_empty())
                && p.message.contains("carries its unit")
        });
        assert!(hit, "{field} = 2: no placed problem about the unit:\n{e}");
    }
}

#[test]
fn a_bare_number_is_refused_in_every_duration_flag() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("d.yaml");
    std::fs::write(&profile, BASE).unwrap();
    let p = profile.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["run", p, "--gate", "login.p99 < 100"],
        &["run", p, "--abort-when", "success_rate < 5% for 30"],
        &["run", p, "--retry-after-cap", "5"],
        &["run", p, "--metrics-linger", "5"],
        &["run", p, "--send-precision", "1"],
    ];
    for args in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
            .args(*args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("carries its unit"), "{args:?}: {err}");
    }
}
