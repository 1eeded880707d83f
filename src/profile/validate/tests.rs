//! The profile's validation as a whole: the design sketch loads, every problem is
//! reported with its line.

use std::path::Path;
use std::time::Duration;

use super::parse;
use crate::profile::Vars;
use crate::profile::spec::StormSource;

fn no_env(_: &str) -> Option<String> {
    None
}

const GOOD: &str = r#"
name: patch-tuesday
seed: 7
target:
  nodes: [http://127.0.0.1:8080]
  timeout: 2s
  connection: fresh
population: { clients: 200_000_000, simulate: 50_000 }
time_scale: 60
baseline: { duration: 20s, rate: 100/s }
storm:
  waves:
    - { name: americas, at: 0s, share: 35%, spread: normal(sd 8m) }
    - { name: europe, at: 6h, share: 40%, spread: normal(sd 8m) }
  downtime: uniform(30s, 3m)
client:
  login:
    - { name: auth, request: POST /login, body: '{"client":"{{client}}"}', expect: 200 }
    - { name: join, request: POST /join, expect: [200, 204] }
  retry: { policy: exponential, base: 1s, cap: 2m, jitter: full, max_attempts: 12, honor_retry_after: true }
observe: { window: 1s, until_recovered: 5m }
slo: { success_rate: 99%, p99: 500ms, hold: 10s }
gate: [ "recovery_time < 3m" ]
"#;

#[test]
fn the_design_sketch_loads() {
    let p = parse(GOOD, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.population.modelled, 200_000_000);
    assert_eq!(p.population.simulated, 50_000);
    assert_eq!(p.client.login.len(), 2);
    assert_eq!(p.client.login[1].expect, vec![200, 204]);
    assert_eq!(p.client.retry.cap, Duration::from_secs(120));
    assert_eq!(p.slo.success_rate, Some(0.99));
    let StormSource::Waves(w) = &p.storm.source else {
        panic!("waves")
    };
    assert_eq!(w[1].at, Duration::from_secs(6 * 3600));
    assert_eq!(w[1].share.0, 0.4);
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let bad = GOOD
        .replace("timeout: 2s", "timeout: 2 parsecs")
        .replace("share: 40%", "share: 140%")
        .replace("jitter: full", "jitter: some")
        .replace("seed: 7", "seed: 7\ncolour: blue")
        .replace("expect: [200, 204]", "expect: [200, 999]");
    let e = parse(&bad, Path::new("bad.yaml"), &no_env).unwrap_err();
    let fields: Vec<&str> = e.problems.iter().map(|p| p.field.as_str()).collect();
    for want in [
        "colour",
        "target.timeout",
        "storm.waves[1].share",
        "client.login[1].expect[1]",
        "client.retry.jitter",
    ] {
        assert!(fields.contains(&want), "{want} missing from {fields:?}");
    }
    let colour = e.problems.iter().find(|p| p.field == "colour").unwrap();
    assert_eq!(colour.line, Some(4));
    let timeout = e.problems.iter().find(|p| p.field == "target.timeout").unwrap();
    assert_eq!(timeout.line, Some(7));
    let text = e.to_string();
    assert!(text.contains("bad.yaml:7: target.timeout:"), "{text}");
}

#[test]
fn syntax_errors_name_the_line() {
    let e = parse("name: x\ntarget: [unclosed\n", Path::new("s.yaml"), &no_env).unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert!(e.problems[0].line.is_some());
}

#[test]
fn environment_variables_fill_templates_but_not_the_report() {
    let text = GOOD.replace(r#"body: '{"client":"{{client}}"}'"#, r#"body: '{"token":"${TOKEN}"}'"#);
    let env = |k: &str| (k == "TOKEN").then(|| "hunter2".to_string());
    let p = parse(&text, Path::new("p.yaml"), &env).unwrap();
    let body = p.client.login[0].body.as_ref().unwrap().render(Vars {
        client: 1,
        attempt: 1,
        node: 0,
        values: None,
    });
    assert!(body.contains("hunter2"));
    let raw = serde_json::to_string(&p.raw).unwrap();
    assert!(!raw.contains("hunter2") && raw.contains("${TOKEN}"));
    let e = parse(&text, Path::new("p.yaml"), &no_env).unwrap_err();
    assert!(e.to_string().contains("TOKEN"));
}

#[test]
fn choices_take_the_names_serde_writes_and_list_them_when_wrong() {
    let text = GOOD
        .replace("connection: fresh", "connection: reuse\n  pick: round-robin")
        .replace("policy: exponential", "policy: fixed")
        .replace("jitter: full", "jitter: decorrelated");
    let p = parse(&text, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    use crate::profile::{ConnMode, Jitter, Pick, RetryKind};
    assert_eq!(p.target.connection, ConnMode::Reuse);
    assert_eq!(p.target.pick, Pick::RoundRobin);
    assert_eq!(p.client.retry.kind, RetryKind::Fixed);
    assert_eq!(p.client.retry.jitter, Jitter::Decorrelated);
    let bad = GOOD
        .replace("jitter: full", "jitter: some")
        .replace("connection: fresh", "connection: fresh\n  pick: RoundRobin");
    let e = parse(&bad, Path::new("p.yaml"), &no_env).unwrap_err();
    let msg = |f: &str| e.problems.iter().find(|p| p.field == f).unwrap().message.clone();
    assert_eq!(
        msg("client.retry.jitter"),
        "`some` is not one of: none, full, equal, decorrelated"
    );
    assert_eq!(
        msg("target.pick"),
        "`RoundRobin` is not one of: random, round-robin, hash, failover"
    );
}

#[test]
fn the_retry_after_cap_defaults_to_ten_minutes_or_the_backoff_cap_and_is_checked_with_its_line() {
    // Issue #22, case 9: before, the backoff cap (2m here), so a server asking 4–5.5
    // minutes saw its clients back ten times sooner than asked.
    let p = parse(GOOD, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.client.retry.retry_after_cap, Duration::from_secs(600));
    let long = GOOD.replace("cap: 2m", "cap: 20m");
    assert!(long != GOOD, "the profile's backoff cap is 2m");
    let p = parse(&long, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.client.retry.retry_after_cap, Duration::from_secs(1200));
    let capped = GOOD.replace(
        "honor_retry_after: true }",
        "honor_retry_after: true, retry_after_cap: 30s }",
    );
    let p = parse(&capped, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.client.retry.retry_after_cap, Duration::from_secs(30));
    let far = GOOD.replace(
        "honor_retry_after: true }",
        "honor_retry_after: true, retry_after_cap: 2d }",
    );
    let text = parse(&far, Path::new("p.yaml"), &no_env).unwrap_err().to_string();
    assert!(
        text.contains("p.yaml:20: client.retry.retry_after_cap: `2d` is out of range: write from 0s to 24h"),
        "{text}"
    );
}

#[test]
fn the_warmup_rate_is_checked_with_its_line() {
    let p = parse(GOOD, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.population.warmup, crate::profile::Warmup::default(), "on, 2000/s");
    let with = |w: &str| GOOD.replace("simulate: 50_000 }", &format!("simulate: 50_000, warmup: {w} }}"));
    let p = parse(&with("{ rate: 500/s }"), Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.population.warmup.rate.0, 500.0);
    let p = parse(&with("{ enabled: false }"), Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert!(!p.population.warmup.enabled);
    for bad in [
        "{ rate: 0/s }",
        "{ rate: 5000000/s }",
        "{ rate: fast }",
        "{ enabled: maybe }",
        "{ pace: 1/s }",
    ] {
        let e = parse(&with(bad), Path::new("w.yaml"), &no_env).unwrap_err().to_string();
        assert!(e.contains("w.yaml:8: population.warmup"), "{bad}: {e}");
    }
}

#[test]
fn http_takes_its_three_versions_and_refuses_others_and_auto_in_the_clear() {
    use crate::profile::HttpVersion;
    let p = parse(GOOD, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.target.http,
        HttpVersion::Http1,
        "1.1 unless the profile says otherwise"
    );
    for (written, want) in [
        ("2", HttpVersion::Http2),
        ("'2'", HttpVersion::Http2),
        ("1.1", HttpVersion::Http1),
    ] {
        let text = GOOD.replace("connection: fresh", &format!("connection: fresh\n  http: {written}"));
        let p = parse(&text, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(p.target.http, want, "{written}");
    }
    let tls = GOOD.replace("http://127.0.0.1:8080", "https://localhost:8443");
    let text = tls.replace("connection: fresh", "connection: fresh\n  http: auto");
    let p = parse(&text, Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.target.http, HttpVersion::Auto);

    let refused = |written: &str| {
        let bad = GOOD.replace("connection: fresh", &format!("connection: fresh\n  http: {written}"));
        let e = parse(&bad, Path::new("p.yaml"), &no_env).unwrap_err();
        let problem = e
            .problems
            .iter()
            .find(|p| p.field == "target.http")
            .expect("target.http named");
        (problem.message.clone(), e.to_string())
    };
    let (message, whole) = refused("3");
    assert!(message.contains("`3` is not one of: 1.1, 2, auto"), "{message}");
    assert!(whole.contains("p.yaml:8"), "placed on its line: {whole}");
    let (message, _) = refused("auto");
    assert!(message.contains("needs `https://`"), "{message}");
}

#[test]
fn reconnect_is_at_once_by_default_takes_its_two_names_and_only_under_http2() {
    use crate::profile::Reconnect;
    let with = |http: &str, reconnect: &str| {
        GOOD.replace("connection: fresh", &format!("connection: fresh\n  http: {http}"))
            .replace(
                "  retry: {",
                &format!(
                    "  session:\n    keepalive: {{ request: POST /keepalive }}\n    every: 10s\n{reconnect}  retry: {{"
                ),
            )
    };
    let p = parse(&with("2", ""), Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.client.session.unwrap().reconnect, Reconnect::AtOnce);
    let p = parse(
        &with("2", "    reconnect: next-request\n"),
        Path::new("p.yaml"),
        &no_env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.client.session.unwrap().reconnect, Reconnect::NextRequest);
    let refused = |http: &str, reconnect: &str| {
        let e = parse(&with(http, reconnect), Path::new("p.yaml"), &no_env).unwrap_err();
        let p = e
            .problems
            .iter()
            .find(|p| p.field == "client.session.reconnect")
            .unwrap();
        (p.message.clone(), e.to_string())
    };
    let (m, _) = refused("2", "    reconnect: later\n");
    assert!(m.contains("at-once, next-request"), "{m}");
    // A choice that would do nothing under HTTP/1.1 is refused, on its line.
    let (m, whole) = refused("1.1", "    reconnect: at-once\n");
    assert!(m.contains("only an HTTP/2 client"), "{m}");
    assert!(whole.contains("p.yaml:"), "{whole}");
}
