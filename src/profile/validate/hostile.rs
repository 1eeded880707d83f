//! Hostile profiles (issue #10): every one is refused with a placed problem (line,
//! field, the allowed range) or loads; none panics and none takes long.

use std::path::Path;
use std::time::{Duration, Instant};

use super::parse;
use crate::profile::{Profile, ProfileError, Vars};

const BASE: &str = r#"name: hostile
target: { nodes: ["http://127.0.0.1:9"] }
population: { clients: 3, simulate: 3 }
client:
  login:
    - { request: POST /login }
# extra
"#;

const LOGIN: &str = "    - { request: POST /login }";

enum Want {
    Loads,
    /// A problem on this field, placed on a line, whose message holds this text.
    Problem(&'static str, &'static str),
}

fn load(text: &str, dir: &Path) -> Result<Profile, ProfileError> {
    parse(text, &dir.join("p.yaml"), &|_| None)
}

/// Runs every case, panics caught, and fails with the list of those that went wrong.
fn check_all(cases: &[(&str, String, Want)], dir: &Path) {
    let mut failed = Vec::new();
    for (label, text, want) in cases {
        let started = Instant::now();
        let got = std::panic::catch_unwind(|| load(text, dir));
        let took = started.elapsed();
        let verdict = match (got, want) {
            (Err(_), _) => Some("panicked".to_string()),
            (Ok(Ok(_)), Want::Loads) => None,
            (Ok(Err(e)), Want::Loads) => Some(format!("refused: {e}")),
            (Ok(Ok(_)), Want::Problem(..)) => Some("loaded".to_string()),
            (Ok(Err(e)), Want::Problem(field, text)) => {
                let hit = e
                    .problems
                    .iter()
                    .any(|p| p.field == *field && p.line.is_some() && p.message.contains(text));
                (!hit).then(|| format!("no placed `{field}` problem holding `{text}` in:\n{e}"))
            }
        };
        // A hang bound, not a speed target (the machine may be loaded): a quadratic
        // parse of these documents takes tens of seconds.
        let verdict = verdict.or_else(|| (took > Duration::from_secs(5)).then(|| format!("took {took:?}")));
        if let Some(v) = verdict {
            failed.push(format!("{label}: {v}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn extra(yaml: &str) -> String {
    BASE.replace("# extra", yaml)
}

fn step(flow: &str) -> String {
    BASE.replace(LOGIN, flow)
}

fn client(yaml: &str) -> String {
    BASE.replace(LOGIN, &format!("{LOGIN}\n{yaml}"))
}

#[test]
fn non_ascii_text_and_a_bom_load() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("body é", step("    - { request: POST /login, body: 'é' }"), Want::Loads),
        (
            "emoji after a variable",
            step("    - { request: POST /login, body: '{{client}}😀' }"),
            Want::Loads,
        ),
        (
            "header value",
            step("    - { request: POST /login, headers: { x-who: '中{{client}}' } }"),
            Want::Loads,
        ),
        ("path", step("    - { request: 'POST /é/{{client}}/ü' }"), Want::Loads),
        ("leading BOM", format!("\u{feff}{BASE}"), Want::Loads),
    ];
    check_all(&cases, dir.path());
    let p = load(
        &step("    - { request: POST /login, body: '{{client}}😀' }"),
        dir.path(),
    )
    .unwrap();
    let vars = Vars {
        client: 7,
        attempt: 1,
        node: 0,
        values: None,
    };
    assert_eq!(p.client.login[0].body.as_ref().unwrap().render(vars), "7😀");
}

#[test]
fn durations_rates_and_scales_out_of_range_are_placed_problems() {
    use Want::Problem as P;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "baseline 1e308",
            extra("baseline: { duration: 99999999999999999999999h }"),
            P("baseline.duration", "168h"),
        ),
        (
            "baseline 8d",
            extra("baseline: { duration: 8d }"),
            P("baseline.duration", "168h"),
        ),
        (
            "window 1e20 h",
            extra("observe: { window: 99999999999999999999h }"),
            P("observe.window", "10ms to 1h"),
        ),
        (
            "window 2h",
            extra("observe: { window: 2h }"),
            P("observe.window", "10ms to 1h"),
        ),
        (
            "until_recovered",
            extra("observe: { until_recovered: 1000000000000s }"),
            P("observe.until_recovered", "168h"),
        ),
        (
            "confirm",
            extra("observe: { confirm: 1000000000000s }"),
            P("observe.confirm", "168h"),
        ),
        (
            "confirm shorter than the hold",
            extra("observe: { confirm: 5s }\nslo: { hold: 10s }"),
            P("observe.confirm", "shorter than slo.hold (10s)"),
        ),
        (
            "confirm shorter than a window",
            extra("observe: { window: 2s, confirm: 1s }"),
            P("observe.confirm", "shorter than one window"),
        ),
        (
            "timeout 1e19",
            BASE.replace("] }", "], timeout: 10000000000000000000s }"),
            P("target.timeout", "1ms to 1h"),
        ),
        (
            "timeout 0",
            BASE.replace("] }", "], timeout: 0s }"),
            P("target.timeout", "1ms to 1h"),
        ),
        (
            "slo.p99",
            extra("slo: { p99: 1000000000000000s }"),
            P("slo.p99", "to 1h"),
        ),
        (
            "slo.hold",
            extra("slo: { hold: 1000000000000000s }"),
            P("slo.hold", "168h"),
        ),
        (
            "retry.base",
            client("  retry: { base: 1000000000000000s }"),
            P("client.retry.base", "0s to 24h"),
        ),
        (
            "retry.cap",
            client("  retry: { cap: 2d }"),
            P("client.retry.cap", "0s to 24h"),
        ),
        (
            "throttle.window",
            client("  retry: { throttle: { window: 10000000000000000s } }"),
            P("client.retry.throttle.window", "24h"),
        ),
        (
            "throttle.k",
            client("  retry: { throttle: { k: .inf } }"),
            P("client.retry.throttle.k", "1 to 1000"),
        ),
        (
            "budget",
            client("  retry: { budget: { max_tokens: 1e400 } }"),
            P("client.retry.budget.max_tokens", "0.001 to 1000"),
        ),
        (
            "session.every",
            client("  session: { keepalive: { request: POST /k }, every: 1000000000000s }"),
            P("client.session.every", "100ms to 24h"),
        ),
        (
            "time_scale 1e9",
            extra("time_scale: 1e9"),
            P("time_scale", "0.001 to 1000000"),
        ),
        (
            "time_scale 0",
            extra("time_scale: 0"),
            P("time_scale", "0.001 to 1000000"),
        ),
        (
            "time_scale nan",
            extra("time_scale: .nan"),
            P("time_scale", "0.001 to 1000000"),
        ),
        ("rate NaN", extra("baseline: { rate: NaN/s }"), P("baseline.rate", "")),
        (
            "rate inf",
            extra("baseline: { rate: 1e308/1ms }"),
            P("baseline.rate", ""),
        ),
        (
            "rate negative",
            extra("baseline: { rate: -5/s }"),
            P("baseline.rate", ""),
        ),
        (
            "downtime 1e19",
            extra("storm: { downtime: uniform(10000000000000000000s) }"),
            P("storm.downtime", "8760h"),
        ),
        (
            "spread 1e19",
            extra("storm: { waves: [ { share: 10%, spread: 'normal(sd 10000000000000000000s)' } ] }"),
            P("storm.waves[0].spread", "8760h"),
        ),
        (
            "wave at 1e19",
            extra("storm: { waves: [ { share: 10%, at: 10000000000000000000s } ] }"),
            P("storm.waves[0].at", "8760h"),
        ),
        (
            "a storm of a year of run time",
            extra("storm: { waves: [ { share: 10%, at: 0s }, { share: 10%, at: 300d } ] }"),
            P("storm", "168h"),
        ),
    ];
    check_all(&cases, dir.path());
}

#[test]
fn traces_are_bounded_in_size_kind_time_and_count() {
    use Want::Problem as P;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("far.csv", "0,1\n1e300,1\n");
    write("many.csv", "0,1e15\n");
    write("over.csv", "0,2\n10,2\n");
    write("fits.csv", "0,1.5\n10,1.5\n");
    write("nan.csv", "0,NaN\n");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(dir.path().join("fifo"))
            .status()
            .unwrap()
            .success()
    );
    let huge = std::fs::File::create(dir.path().join("huge.csv")).unwrap();
    huge.set_len(65 << 20).unwrap(); // sparse: takes no disk
    let trace = |spec: &str| extra(&format!("storm: {{ trace: {spec} }}"));
    let cases = [
        ("a time of 1e300 s", trace("far.csv"), P("storm.trace", "8760h")),
        (
            "1e15 clients",
            trace("{ file: many.csv, counts: simulated }"),
            P("storm.trace", "population.simulate"),
        ),
        (
            "1e15 modelled clients",
            trace("{ file: many.csv, counts: modelled }"),
            P("storm.trace", "population.simulate"),
        ),
        (
            "4 clients of 3",
            trace("{ file: over.csv, counts: simulated }"),
            P("storm.trace", "4 virtual clients"),
        ),
        (
            "3 clients of 3",
            trace("{ file: fits.csv, counts: simulated }"),
            Want::Loads,
        ),
        ("NaN", trace("nan.csv"), P("storm.trace", "count `NaN`")),
        (
            "/dev/zero",
            trace("/dev/zero"),
            P("storm.trace", "outside the profile's folder"),
        ),
        (
            "a FIFO beside it",
            trace("fifo"),
            P("storm.trace", "not a regular file"),
        ),
        ("a directory", trace("."), P("storm.trace", "not a regular file")),
        ("65 MiB", trace("huge.csv"), P("storm.trace", "64 MiB")),
    ];
    check_all(&cases, dir.path());
}

#[test]
fn documents_that_yaml_cannot_take_are_placed() {
    use Want::Problem as P;
    let dir = tempfile::tempdir().unwrap();
    // 9⁹ strings once expanded, under a field serde reads whole (overlay settings).
    let mut bomb = String::from("name: b\nx0: &a0 [l, l, l, l, l, l, l, l, l]\n");
    for i in 1..9 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!("x{i}: &a{i} [{}]\n", [prev.as_str(); 9].join(", ")));
    }
    bomb.push_str("target: { overlay: *a8 }\n");
    let cases = [
        (
            "two documents",
            format!("{BASE}---\nname: second\n"),
            P("", "second document starts at line 8"),
        ),
        ("an empty second document", format!("{BASE}---\n"), P("", "line 8")),
        ("an alias bomb", bomb, P("x1[0]", "repetition limit exceeded")),
    ];
    check_all(&cases, dir.path());
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    use Want::Problem as P;
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let flow = format!("name: deep\nx: {}{}\n", "[".repeat(n), "]".repeat(n));
    let block = format!("name: deep\nx:\n{}\n", "- ".repeat(n) + "1");
    let maps = format!("name: deep\nx: {}1{}\n", "{a: ".repeat(n), "}".repeat(n));
    let at_64 = format!("{BASE}x: {}{}\n", "[".repeat(63), "]".repeat(63));
    let cases = [
        ("100k [", flow, P("", "64 levels")),
        ("100k -", block, P("", "64 levels")),
        ("100k {a:", maps, P("", "64 levels")),
        ("64 levels are not refused for depth", at_64, P("x", "unknown field")),
    ];
    check_all(&cases, dir.path());
}

/// Found by the fuzzer (tests/fuzz.rs): a line separator read as a newline by serde_yaml
/// and as text by the walk that places fields, and required fields missing outright.
#[test]
fn unicode_line_breaks_and_missing_sections_are_placed() {
    use Want::Problem as P;
    let dir = tempfile::tempdir().unwrap();
    let no_name = BASE.replace("name: hostile\n", "");
    let cases = [
        (
            "a leading LINE SEPARATOR",
            format!("\u{2028}# comment\n{}", BASE.replace("name: hostile\n", "")),
            P("", "U+2028"),
        ),
        (
            "NEL on line 3",
            BASE.replace("population:", "\u{85}population:"),
            P("", "U+0085"),
        ),
        (
            "PS in a body",
            step("    - { request: POST /login, body: 'a\u{2029}b' }"),
            P("", "U+2029"),
        ),
        ("no name", no_name, P("name", "needs a name")),
        (
            "no client",
            BASE.replace("client:\n  login:\n    - { request: POST /login }\n", ""),
            P("client.login", "missing"),
        ),
    ];
    check_all(&cases, dir.path());
    let e = load(&BASE.replace("population:", "\u{85}population:"), dir.path()).unwrap_err();
    assert_eq!(e.problems[0].line, Some(3), "{e}");
    let e = load(&BASE.replace("name: hostile\n", ""), dir.path()).unwrap_err();
    assert_eq!(e.problems[0].line, Some(1), "{e}");
}
