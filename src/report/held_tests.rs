//! A connected population's report: its schema, the series of its interval log, and
//! every class a held connection can be counted under.

use serde_json::json;

use super::testkit::{gated, report};
use super::tests::{Mutation, python_hdrh, valid_report, violations};

#[test]
fn a_held_run_matches_the_schema_and_a_plain_run_carries_no_held_figures() {
    let r = gated(
        super::testkit::held_report(60, 45, "gateway-restart"),
        &[
            "reconnect_time < 30s",
            "connected_share > 99%",
            "reconnect.p99 < 30s",
            "heartbeat.p99 < 1s",
        ],
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(violations(&v), Vec::<String>::new());
    assert_eq!(v["windows"][20]["held"]["drops_by_cause"]["reset"], json!(4000));
    assert_eq!(v["totals"]["held"]["peak_connected"], json!(20000));
    assert_eq!(v["recovery"]["slo"]["connected"], json!(0.99));
    assert_eq!(v["recovery"]["health"][20]["connected_share"], json!(0.7));
    assert!(v["recovery"]["health"][20]["heartbeat_p99_ms"].as_f64().unwrap() > 0.0);
    let metrics: Vec<&str> = v["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metric"].as_str().unwrap())
        .collect();
    assert_eq!(
        metrics,
        ["reconnect_time", "connected_share", "reconnect.p99", "heartbeat.p99"]
    );
    let mutations: [(&str, Mutation); 4] = [
        ("a held window without its gauge", |v| {
            drop(v["windows"][3]["held"].as_object_mut().unwrap().remove("connected"))
        }),
        ("a drop cause nobody names", |v| {
            v["windows"][20]["held"]["drops_by_cause"]["gremlins"] = json!(1)
        }),
        ("a connected share over 1", |v| {
            v["recovery"]["health"][20]["connected_share"] = json!(1.5)
        }),
        ("held totals without their reconnect histogram", |v| {
            drop(v["totals"]["held"].as_object_mut().unwrap().remove("reconnect_ms"))
        }),
    ];
    for (what, break_it) in mutations {
        let mut broken = v.clone();
        break_it(&mut broken);
        assert!(!violations(&broken).is_empty(), "the schema accepts {what}");
    }
    let plain = valid_report();
    assert!(plain["windows"][0].get("held").is_none() && plain["totals"].get("held").is_none());
    assert!(plain["recovery"]["slo"].get("connected").is_none());
    assert!(plain["recovery"]["health"][0].get("connected_share").is_none());
}

/// A held run's log carries its reconnect, heartbeat and upgrade histograms as tagged
/// series; a plain run's log has none. Both readers see each series' every value.
#[test]
fn a_held_run_s_log_has_its_connection_histograms_as_tagged_series() {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use std::collections::BTreeMap;

    let r = super::testkit::held_report(60, 45, "held");
    let log = r.hlog().unwrap();
    let held = |f: fn(&crate::record::HeldWindow) -> u64| -> u64 {
        r.windows.iter().filter_map(|w| w.held.as_ref()).map(f).sum()
    };
    let mut want = BTreeMap::new();
    want.insert(
        "latency".to_string(),
        r.windows.iter().map(|w| w.latency_ms.count).sum::<u64>(),
    );
    want.insert("service".into(), r.windows.iter().map(|w| w.service_ms.count).sum());
    want.insert("reconnect".into(), held(|h| h.reconnect_ms.count));
    want.insert("heartbeat".into(), held(|h| h.heartbeat_ms.count));
    want.insert("upgrade".into(), held(|h| h.upgrade_ms.count));
    assert_eq!(want["reconnect"], 6_000);
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for entry in IntervalLogIterator::new(&log) {
        let LogEntry::Interval(i) = entry.expect("the log parses") else {
            continue;
        };
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, i.encoded_histogram()).unwrap();
        let h: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .unwrap();
        let tag = i.tag().map_or("latency".to_string(), |t| t.as_str().to_string());
        *seen.entry(tag).or_default() += h.len();
    }
    assert_eq!(seen, want);
    let plain = report(60, 45, "plain", "").hlog().unwrap();
    assert!(!String::from_utf8_lossy(&plain).contains("Tag=reconnect"));
    if !python_hdrh() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latency.hlog");
    std::fs::write(&path, log).unwrap();
    let script = r#"
import sys, json
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
reader = HistogramLogReader(sys.argv[1], HdrHistogram(1, 2, 3))
counts = {}
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    tag = h.get_tag() or "latency"
    counts[tag] = counts.get(tag, 0) + h.get_total_count()
print(json.dumps(counts, sort_keys=True))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let by_tag: BTreeMap<String, u64> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(by_tag, want);
}

/// Every class a held connection can end with names itself as the schema allows in
/// `drops_by_cause` and `connect_outcomes`. The match has no wildcard: a new class
/// does not compile until it is listed here, and then the schema is checked for it.
#[test]
fn the_schema_allows_every_class_a_held_connection_can_have() {
    use crate::outcome::Class;
    let all = [
        Class::Ok,
        Class::Status(401),
        Class::RetryAfter(503),
        Class::Timeout,
        Class::TimeoutMidAnswer,
        Class::Refused,
        Class::Reset,
        Class::Tls,
        Class::Body,
        Class::Capture,
        Class::Check,
        Class::Connect,
        Class::Ports,
        Class::Throttled,
        Class::Unstarted,
        Class::WsHandshake,
        Class::WsClose(1012),
        Class::WsProtocol,
        Class::WsTooBig,
        Class::WsUtf8,
        Class::HeartbeatTimeout,
        Class::PingFlood,
        Class::Head,
        Class::Fds,
        Class::H2NotNegotiated,
        Class::GoAway,
        Class::RefusedStream,
        Class::EnhanceYourCalm,
        Class::StreamReset,
        Class::PingTimeout,
        Class::H2Protocol,
        Class::H2FlowStall,
        Class::H2HeadersTooBig,
        Class::H2SettingsFlood,
    ];
    for c in &all {
        match c {
            Class::Ok
            | Class::Status(_)
            | Class::RetryAfter(_)
            | Class::Timeout
            | Class::TimeoutMidAnswer
            | Class::Refused
            | Class::Reset
            | Class::Tls
            | Class::Body
            | Class::Capture
            | Class::Check
            | Class::Connect
            | Class::Ports
            | Class::Throttled
            | Class::Unstarted
            | Class::WsHandshake
            | Class::WsClose(_)
            | Class::WsProtocol
            | Class::WsTooBig
            | Class::WsUtf8
            | Class::HeartbeatTimeout
            | Class::PingFlood
            | Class::Head
            | Class::Fds
            | Class::H2NotNegotiated
            | Class::GoAway
            | Class::RefusedStream
            | Class::EnhanceYourCalm
            | Class::StreamReset
            | Class::PingTimeout
            | Class::H2Protocol
            | Class::H2FlowStall
            | Class::H2HeadersTooBig
            | Class::H2SettingsFlood => {}
        }
    }
    let mut v = serde_json::to_value(super::testkit::held_report(30, 25, "classes")).unwrap();
    let names: Vec<String> = all.iter().map(|c| c.to_string()).chain(["reboot".into()]).collect();
    for name in &names {
        v["windows"][21]["held"]["drops_by_cause"][name] = json!(1);
        v["windows"][21]["held"]["connect_outcomes"][name] = json!(1);
    }
    assert_eq!(violations(&v), Vec::<String>::new(), "{names:?}");
}
