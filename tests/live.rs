//! What a run shows while it runs: its own Prometheus metrics (`--metrics-listen`), the
//! window stream (`--stream`), and the brake (`--abort-when`, exit 4).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::{Script, bin, load, profile_file, report_of, run_quiet, serve};
use stampede::engine::{HeldGauge, Snapshot};
use stampede::record::{HeldWindow, HistSummary, Window, new_hist};
use stampede::run::metrics::{Exporter, FAMILIES, HELD_FAMILIES};
use stampede::run::{RunOptions, run};

fn profile(addr: std::net::SocketAddr, baseline: &str, extra: &str) -> String {
    format!(
        r#"
name: live-test
seed: 3
target: {{ nodes: ["http://{addr}"], timeout: 1s }}
population: {{ simulate: 300 }}
baseline: {{ duration: {baseline}, rate: 100/s }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(1s)" }} ]
client:
  login: [ {{ name: auth, request: POST /login, body: "{{{{client}}}}" }} ]
observe: {{ window: 250ms, until_recovered: 500ms }}
slo: {{ success_rate: 90%, p99: 500ms, hold: 1s }}
{extra}
"#
    )
}

/// One metric family as the text exposition declares it, and its samples.
#[derive(Default, Debug)]
struct Family {
    kind: String,
    help: bool,
    /// (sample name, labels, value)
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

/// A strict reader of the text format 0.0.4: HELP and TYPE before a family's samples,
/// names and label names well formed, label values quoted, values numbers, and every
/// sample in the family declared last (histogram samples by their suffixes).
fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP has a text");
            assert!(is_name(name), "{line}");
            current = name.to_string();
            fams.entry(current.clone()).or_default().help = true;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a kind");
            assert_eq!(name, current, "TYPE after its HELP: {line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            let f = fams.get_mut(name).unwrap();
            assert!(
                f.kind.is_empty() && f.samples.is_empty(),
                "one TYPE, before samples: {line}"
            );
            f.kind = kind.to_string();
        } else {
            assert!(!line.starts_with('#') && !line.trim().is_empty(), "{line:?}");
            let (head, value) = line.rsplit_once(' ').expect("a sample has a value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value: {line}"));
            let (name, labels) = match head.split_once('{') {
                Some((n, l)) => (n, l.strip_suffix('}').expect("labels close")),
                None => (head, ""),
            };
            assert!(is_name(name), "{line}");
            let mut map = BTreeMap::new();
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').expect("label=value");
                assert!(is_name(k), "{line}");
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).expect("quoted");
                map.insert(k.to_string(), v.to_string());
            }
            let fam = fams.get_mut(&current).expect("a sample after its HELP");
            let own = match fam.kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{current}{s}")),
                _ => name == current,
            };
            assert!(own, "sample {name} is not of family {current}");
            fam.samples.push((name.to_string(), map, value));
        }
    }
    fams
}

fn value(f: &BTreeMap<String, Family>, sample: &str, labels: &[(&str, &str)]) -> f64 {
    let fam = sample
        .trim_end_matches("_count")
        .trim_end_matches("_sum")
        .trim_end_matches("_bucket");
    f[fam]
        .samples
        .iter()
        .find(|(n, l, _)| n == sample && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .unwrap_or_else(|| panic!("no {sample} {labels:?}"))
        .2
}

/// Conventions: prefix, `_total` on counters only, seconds for histograms, buckets
/// cumulative up to `+Inf` = `_count`; every family served, and a connected
/// population's only for a run that holds connections.
fn check_conventions(f: &BTreeMap<String, Family>) {
    check_families(f, false)
}

fn check_families(f: &BTreeMap<String, Family>, held: bool) {
    for (name, fam) in f {
        assert!(name.starts_with("stampede_"), "{name}");
        assert!(fam.help, "{name} has HELP");
        assert_eq!(fam.kind == "counter", name.ends_with("_total"), "{name}: {}", fam.kind);
        if fam.kind == "histogram" {
            assert!(name.ends_with("_seconds"), "{name}");
            let buckets: Vec<f64> = fam
                .samples
                .iter()
                .filter(|s| s.0.ends_with("_bucket"))
                .map(|s| s.2)
                .collect();
            assert!(
                buckets.windows(2).all(|w| w[0] <= w[1]),
                "{name} cumulative: {buckets:?}"
            );
            let inf = fam
                .samples
                .iter()
                .find(|s| s.1.get("le").map(String::as_str) == Some("+Inf"))
                .unwrap();
            assert_eq!(inf.2, value(f, &format!("{name}_count"), &[]), "{name}");
        }
    }
    let declared: BTreeSet<&str> = FAMILIES
        .iter()
        .chain(if held { &HELD_FAMILIES[..] } else { &[] })
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(declared, f.keys().map(String::as_str).collect(), "every family served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_during_the_run_and_move() {
    let t = serve(Script::default()).await;
    let p = load(&profile(t.addr, "3s", ""));
    let exporter = Arc::new(Exporter::bind("127.0.0.1:0".parse().unwrap()).await.unwrap());
    let url = format!("http://{}/metrics", exporter.addr());
    let opts = RunOptions {
        threads: Some(2),
        metrics: Some(exporter.clone()),
        ..RunOptions::default()
    };
    let runner = tokio::spawn(async move { run(&p, opts, &mut ()).await });
    let client = reqwest::Client::new();
    let scrape = || async {
        let r = client.get(&url).send().await.unwrap();
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        parse(&r.text().await.unwrap())
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let first = scrape().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = scrape().await;
    assert!(!runner.is_finished(), "both scrapes were mid-run");
    let report = tokio::time::timeout(Duration::from_secs(30), runner)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    check_conventions(&first);
    check_conventions(&second);
    for (sample, labels) in [
        ("stampede_attempts_total", &[][..]),
        ("stampede_logins_total", &[("result", "ok")][..]),
        ("stampede_latency_seconds_count", &[][..]),
        ("stampede_windows_closed_total", &[][..]),
        ("stampede_outcomes_total", &[("class", "ok")][..]),
        ("stampede_step_results_total", &[("step", "auth"), ("result", "ok")][..]),
    ] {
        let (a, b) = (value(&first, sample, labels), value(&second, sample, labels));
        assert!(a > 0.0 && b > a, "{sample}{labels:?} moves: {a} then {b}");
    }
    assert_eq!(value(&second, "stampede_window_state", &[("state", "healthy")]), 1.0);
    // After the run the counters hold the whole run: the report's totals.
    let last = parse(&exporter.render());
    assert_eq!(
        value(&last, "stampede_logins_total", &[("result", "ok")]),
        report.totals.counts.logins_ok as f64
    );
}

/// A window of a connected population: `drops` resets and one close 1012, `ok`
/// reconnects that took 2 s each, heartbeats of 20 ms.
fn held_window(index: u32, connected: u64, drops: u64, ok: u64) -> Window {
    let (mut reconnect, mut heartbeat) = (new_hist(), new_hist());
    for _ in 0..ok {
        reconnect.record(2_000_000).unwrap();
    }
    heartbeat.record_n(20_000, 50).unwrap();
    let mut h = HeldWindow {
        connected,
        online: 100,
        reconnect_ms: HistSummary::of(&reconnect),
        heartbeat_ms: HistSummary::of(&heartbeat),
        ..Default::default()
    };
    h.counts.connects = ok + 3;
    h.counts.connects_ok = ok;
    h.counts.connects_failed = 3;
    h.counts.drops = drops + 1;
    h.drops_by_cause.insert("reset".into(), drops);
    h.drops_by_cause.insert("ws_close_1012".into(), 1);
    Window {
        index,
        start_ms: index as u64 * 1000,
        len_ms: 1000,
        held: Some(h),
        ..Default::default()
    }
}

/// A profile whose clients hold connections: its SLO judges the connected share.
fn held_profile() -> String {
    r#"
name: held
target: { nodes: ["http://127.0.0.1:9"] }
population: { simulate: 10 }
baseline: { duration: 1s, rate: 1/s }
client:
  login:
    - { name: auth, request: POST /login }
  session:
    connect: { websocket: /gateway, heartbeat: { every: 1s, send: hb, expect_within: 1s } }
"#
    .into()
}

#[tokio::test]
async fn a_connected_population_is_exported_and_only_then() {
    let exporter = Exporter::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    exporter.set_slo(&load(&held_profile()).slo);
    let plain = parse(&exporter.render());
    check_conventions(&plain);
    exporter.update(&Snapshot {
        held: Some(HeldGauge {
            connected: 70,
            online: 100,
        }),
        ..Default::default()
    });
    let live = parse(&exporter.render());
    check_families(&live, true);
    assert_eq!(value(&live, "stampede_connected", &[]), 70.0);
    assert_eq!(value(&live, "stampede_should_be_online", &[]), 100.0);
    exporter.window(&held_window(0, 70, 30, 0));
    // A window is judged on its connected share (the profile's slo.connected: 99 %).
    let state = |f: &BTreeMap<String, Family>| -> String {
        ["healthy", "unhealthy", "unjudged"]
            .into_iter()
            .find(|s| value(f, "stampede_window_state", &[("state", s)]) == 1.0)
            .unwrap()
            .to_string()
    };
    assert_eq!(state(&parse(&exporter.render())), "unhealthy");
    exporter.window(&held_window(1, 100, 0, 25));
    assert_eq!(state(&parse(&exporter.render())), "healthy");
    exporter.window(&held_window(1, 100, 0, 25));
    // Served over HTTP as rendered.
    let url = format!("http://{}/metrics", exporter.addr());
    let f = parse(&reqwest::get(&url).await.unwrap().text().await.unwrap());
    check_families(&f, true);
    assert_eq!(value(&f, "stampede_connected", &[]), 100.0);
    assert_eq!(value(&f, "stampede_connects_total", &[("result", "ok")]), 25.0);
    assert_eq!(value(&f, "stampede_connects_total", &[("result", "failed")]), 6.0);
    assert_eq!(value(&f, "stampede_drops_total", &[("cause", "reset")]), 30.0);
    assert_eq!(value(&f, "stampede_drops_total", &[("cause", "ws_close_1012")]), 2.0);
    assert_eq!(value(&f, "stampede_reconnect_seconds_count", &[]), 25.0);
    assert_eq!(value(&f, "stampede_reconnect_seconds_bucket", &[("le", "1")]), 0.0);
    assert_eq!(value(&f, "stampede_reconnect_seconds_bucket", &[("le", "2.5")]), 25.0);
    assert_eq!(value(&f, "stampede_heartbeat_seconds_count", &[]), 100.0);
    assert_eq!(
        value(&f, "stampede_heartbeat_seconds_bucket", &[("le", "0.025")]),
        100.0
    );
}

#[test]
fn the_dashboard_reads_only_metrics_stampede_serves() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/stampede.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let mut served: BTreeSet<String> = BTreeSet::new();
    for (name, kind) in FAMILIES.into_iter().chain(HELD_FAMILIES) {
        served.insert(name.to_string());
        if kind == "histogram" {
            for s in ["_bucket", "_sum", "_count"] {
                served.insert(format!("{name}{s}"));
            }
        }
    }
    let mut exprs = 0;
    let mut used = BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            exprs += 1;
            let mut rest = expr;
            while let Some(at) = rest.find("stampede_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(served.contains(&name), "{expr}: stampede serves no {name}");
                used.insert(name.clone());
                rest = &rest[at + name.len()..];
            }
        }
    }
    assert!(exprs >= 7, "a panel each: {exprs} queries");
    for want in [
        "stampede_outcomes_total",
        "stampede_logins_total",
        "stampede_latency_seconds_bucket",
        "stampede_in_flight",
        "stampede_locked_out",
        "stampede_send_lag_seconds_bucket",
        "stampede_window_state",
        "stampede_connected",
        "stampede_should_be_online",
        "stampede_drops_total",
        "stampede_reconnect_seconds_bucket",
    ] {
        assert!(used.contains(want), "no panel reads {want}");
    }
}

#[tokio::test]
async fn the_stream_is_one_json_line_per_window_and_adds_up_to_the_report() {
    // One engine announces windows from its own loop; two merge theirs first.
    for threads in ["1", "2"] {
        let t = serve(Script::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let path = profile_file(dir.path(), &profile(t.addr, "1s", ""));
        let out = dir.path().join("out");
        let o = run_quiet(&["-t", threads, "--stream", "-"], &path, &out).await;
        let stdout = String::from_utf8(o.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{stderr}");
        assert!(stderr.contains("report:"), "the summary went to stderr: {stderr}");
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let report = report_of(&dir.path().join("out"));
        let windows = report["windows"].as_array().unwrap();
        assert_eq!(lines.len(), windows.len(), "-t {threads}: one line per window");
        let idx: Vec<u64> = lines.iter().map(|w| w["index"].as_u64().unwrap()).collect();
        assert_eq!(
            idx,
            (0..windows.len() as u64).collect::<Vec<_>>(),
            "in order, once each"
        );
        assert!(
            lines.iter().all(|w| w["protocol"] == "http/1.1"),
            "each line names the protocol that ran"
        );
        let first: u64 = lines.iter().map(|w| w["first_attempts"].as_u64().unwrap()).sum();
        assert_eq!(first, report["totals"]["first_attempts"].as_u64().unwrap());
        assert!(first > 300, "{first}");
    }
}

#[tokio::test]
async fn the_brake_stops_a_collapsing_run_with_its_own_reason_and_exit_code() {
    // Every login fails from the start: the target is collapsed.
    let t = serve(Script {
        outage: Some((Duration::ZERO, Duration::from_secs(600))),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(t.addr, "20s", ""));
    let out = dir.path().join("out");
    let started = std::time::Instant::now();
    let junit = dir.path().join("junit.xml");
    let summary = dir.path().join("summary.md");
    // `run_quiet` takes the flags of a test's whole life.
    let leak = |p: &std::path::Path| -> &'static str { Box::leak(p.display().to_string().into_boxed_str()) };
    let flags = [
        "--abort-when",
        "success_rate < 5% for 750ms",
        "--junit",
        leak(&junit),
        "--summary",
        leak(&summary),
    ];
    let o = run_quiet(&flags, &path, &out).await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    // Every CI output names the condition, not only "interrupted".
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("(aborted: `success_rate < 5% for 750ms` held at "),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert_eq!(error.attribute("type"), Some("aborted"), "{xml}");
    assert!(
        error
            .attribute("message")
            .unwrap()
            .starts_with("aborted: `success_rate < 5% for 750ms` held at "),
        "{xml}"
    );
    // The cause, from the outcome classes: every login got a 503.
    assert!(error.text().unwrap().contains("outcomes: http_503 "), "{xml}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.lines()
            .next()
            .unwrap()
            .contains("run aborted: `success_rate < 5% for 750ms` held at "),
        "{md}"
    );
    assert!(md.contains("| ` http_503 ` | "), "{md}");
    assert!(
        stderr.contains("aborted: `success_rate < 5% for 750ms` held"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "stopped early");
    let report = report_of(&dir.path().join("out"));
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&report).map(|e| e.to_string()).take(5).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report["stop_reason"], "aborted");
    assert_eq!(report["abort"]["expr"], "success_rate < 5% for 750ms");
    let at = report["abort"]["at_ms"].as_u64().unwrap();
    assert!((750..5000).contains(&at), "fired after three bad windows: {at}");
    assert!(report["plan"]["ended_ms"].as_u64().unwrap() < report["plan"]["end_ms"].as_u64().unwrap());
}

#[test]
fn a_bad_abort_condition_exits_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile("127.0.0.1:9".parse().unwrap(), "1s", ""));
    let o = bin()
        .args(["run", "--abort-when", "success_rate < 5%"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--abort-when \"success_rate < 5%\": ") && err.contains("for DURATION"),
        "{err}"
    );
    let bad = profile(
        "127.0.0.1:9".parse().unwrap(),
        "1s",
        "abort: [ \"verdict == metastable for 1m\" ]",
    );
    let path = profile_file(dir.path(), &bad);
    let o = bin().arg("run").arg(&path).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("abort[0]") && err.contains("not judged on one window"),
        "{err}"
    );
}
