//! The report as CI scripts read it: report.json against its schema.

use serde_json::{Value, json};
use strum::VariantArray;

use super::testkit::{gated, report};
use crate::outcome::Verdict;

fn schema() -> Value {
    serde_json::from_str(include_str!("report.schema.json")).expect("the schema is JSON")
}

/// Where `v` breaks the schema, one line each.
pub(super) fn violations(v: &Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Breaks a report one way.
pub(super) type Mutation = fn(&mut Value);

pub(super) fn valid_report() -> Value {
    let r = gated(
        report(60, 45, "patch-tuesday", ""),
        &["login.p99 < 2ms", "verdict == recovered", "success_rate > 99%"],
    );
    serde_json::to_value(&r).unwrap()
}

#[test]
fn a_report_matches_its_schema() {
    let v = valid_report();
    assert_eq!(violations(&v), Vec::<String>::new());
    assert_eq!(v["thresholds"].as_array().unwrap().len(), 3);
}

#[test]
fn the_schema_names_every_verdict_and_nothing_else() {
    let names: Vec<&str> = Verdict::VARIANTS.iter().map(|v| v.as_str()).collect();
    assert_eq!(schema()["$defs"]["verdict"]["enum"], json!(names));
}

#[test]
fn the_schema_rejects_what_a_ci_script_would_misread() {
    let mutations: [(&str, Mutation); 9] = [
        ("a verdict that is no verdict", |v| {
            v["recovery"]["verdict"] = json!("bogus")
        }),
        ("no verdict", |v| {
            drop(v["recovery"].as_object_mut().unwrap().remove("verdict"))
        }),
        ("no recovery", |v| drop(v.as_object_mut().unwrap().remove("recovery"))),
        ("a null recovery", |v| v["recovery"] = Value::Null),
        ("a recovery time in words", |v| {
            v["recovery"]["recovery_time_ms"] = json!("35s")
        }),
        ("no thresholds", |v| {
            drop(v.as_object_mut().unwrap().remove("thresholds"))
        }),
        ("a threshold without `passed`", |v| {
            drop(v["thresholds"][0].as_object_mut().unwrap().remove("passed"))
        }),
        ("a threshold in furlongs", |v| {
            v["thresholds"][0]["unit"] = json!("furlongs")
        }),
        ("a threshold value in words", |v| {
            v["thresholds"][0]["value"] = json!("2.3ms")
        }),
    ];
    assert_eq!(violations(&valid_report()), Vec::<String>::new());
    for (what, break_it) in mutations {
        let mut v = valid_report();
        break_it(&mut v);
        assert!(!violations(&v).is_empty(), "the schema accepts {what}");
    }
}

/// The latency.hlog of a fixture run whose storm reaches 1.9 s, its text, and the
/// number of intervals and values it must hold.
fn hlog() -> (Vec<u8>, usize, u64) {
    let r = report(60, 45, "patch-tuesday", "");
    let values = r.windows.iter().map(|w| w.latency_ms.count + w.service_ms.count).sum();
    (r.hlog().unwrap(), 2 * r.windows.len(), values)
}

#[test]
fn the_interval_log_has_its_start_time_base_time_and_legend() {
    let (log, _, _) = hlog();
    let text = String::from_utf8(log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // 2007-08-16T12:00:00Z, the fixture's start.
    assert!(
        lines.contains(&"#[StartTime: 1187265600.000 (seconds since epoch)]"),
        "{text:.600}"
    );
    assert!(
        lines.contains(&"#[BaseTime: 1187265600.000 (seconds since epoch)]"),
        "{text:.600}"
    );
    let legend = lines
        .iter()
        .position(|l| *l == r#""StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram""#)
        .expect("a legend line");
    assert!(
        lines[..legend].iter().all(|l| l.starts_with('#')),
        "the legend follows the header"
    );
    assert!(lines[legend + 1].starts_with("0.000,1.000,"), "{}", lines[legend + 1]);
}

/// HdrHistogram's own log readers add every interval into one histogram sized from the
/// first; an interval that declares a smaller range than it holds breaks them.
#[test]
fn every_interval_adds_into_one_histogram_sized_from_the_first() {
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    let (log, intervals, values) = hlog();
    let mut total: Option<Histogram<u64>> = None;
    let mut seen = 0;
    for entry in IntervalLogIterator::new(&log) {
        let LogEntry::Interval(i) = entry.expect("the log parses") else {
            continue;
        };
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, i.encoded_histogram()).unwrap();
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .unwrap();
        let sum = total.get_or_insert_with(|| Histogram::new_with_bounds(h.low(), h.high(), h.sigfig()).unwrap());
        sum.add(&h).unwrap_or_else(|e| {
            panic!(
                "interval {seen} (max {} µs) does not fit the first one's range (up to {} µs): {e:?}",
                h.max(),
                sum.high()
            )
        });
        seen += 1;
    }
    assert_eq!(seen, intervals);
    let total = total.unwrap();
    assert_eq!(total.len(), values);
    assert!(total.max() > 1_800_000, "the storm's 1.9 s are in: {} µs", total.max());
}

/// Is HdrHistogram's Python reader there? Outside CI its absence skips, saying so.
pub(super) fn python_hdrh() -> bool {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import hdrh"])
        .output();
    if probe.is_ok_and(|o| o.status.success()) {
        return true;
    }
    // .ci/run installs it: in CI a missing reader is a broken set-up, not a skip.
    assert!(
        std::env::var_os("CI").is_none(),
        "HdrHistogram's Python reader is missing in CI: .ci/run installs it (pip install hdrhistogram)"
    );
    eprintln!(
        "\n*** SKIPPED: HdrHistogram's Python reader is not installed (`pip install hdrhistogram`); \
         the Rust reader tests still check the log ***\n"
    );
    false
}

/// The same with HdrHistogram's Python reader (`pip install hdrhistogram`), the
/// implementation closest to the Java one that most tools build on.
#[test]
fn hdrhistogram_s_python_reader_reads_the_log() {
    if !python_hdrh() {
        return;
    }
    let (log, intervals, values) = hlog();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latency.hlog");
    std::fs::write(&path, log).unwrap();
    let script = r#"
import sys
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
reader = HistogramLogReader(sys.argv[1], HdrHistogram(1, 2, 3))
total = reader.get_next_interval_histogram()
n = 1
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    total.add(h)
    n += 1
print(n, total.get_total_count(), reader.start_time_sec, reader.base_time_sec)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{intervals} {values} 1187265600.0 1187265600.0")
    );
}

#[test]
fn merging_says_what_is_wrong_in_a_typed_error() {
    use super::merge::{MergeError, check, merge_parts};
    use crate::plan::Part;
    assert!(matches!(merge_parts(&[]), Err(MergeError::Nothing(_))));
    let shard = |mut r: super::Report, index| {
        r.shard = Some(Part { index, count: 2 });
        (
            std::path::PathBuf::from(format!("s{index}/report.json")),
            super::ShardFacts::of(&r),
        )
    };
    let a = report(30, 0, "one", "");
    let mut b = a.clone();
    b.seed = 8;
    let err = check(&[shard(a.clone(), 0), shard(b, 1)]).unwrap_err();
    assert!(matches!(err, MergeError::Foreign { what: "seed", .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "s1/report.json is not a shard of the same run as s0/report.json: its seed is 8, not 7"
    );
    let err = check(&[shard(a.clone(), 0)]).unwrap_err();
    assert_eq!(err.to_string(), "the run has 2 shards; missing: 2 (1-based)");
    let mut refused = a.clone();
    refused.stop_reason = crate::outcome::StopReason::NotStarted;
    refused.stop_detail = Some("the target does not answer".into());
    let err = check(&[shard(a.clone(), 0), shard(refused, 1)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "s1/report.json is the report of a shard that could not start (the target does not answer): its clients were never stormed; run that shard again"
    );
    // A shard whose windows were cut short merged as empty windows; now it is named.
    let mut cut = a.clone();
    cut.windows.truncate(cut.windows.len() / 2);
    let err = check(&[shard(a.clone(), 0), shard(cut, 1)]).unwrap_err();
    assert!(matches!(err, MergeError::CutShort { .. }), "{err:?}");
    assert!(err.to_string().contains("cut short"), "{err}");
    let merged = merge_parts(&[a.clone(), a.clone()]).unwrap();
    assert_eq!(merged.totals.counts.attempts, 2 * a.totals.counts.attempts);
    assert_eq!(
        merged.plan.storm_clients, a.plan.storm_clients,
        "the plan's counts once"
    );
    // Issue #22, case 8: a profile that asks for a probe, merged: no probe ran, and the
    // result says so instead of keeping quiet.
    let mut asked = a.clone();
    asked.profile = json!({ "observe": { "confirm": "20s" } });
    let merged = merge_parts(&[asked.clone(), asked]).unwrap();
    let rec = merged.recovery.as_ref().unwrap();
    assert_eq!(rec.probe, None);
    let tell = "No confirmation probe ran, although the profile asks for one (observe.confirm: 20s): the shards of a distributed run do not probe";
    assert!(rec.notes.iter().any(|n| n.starts_with(tell)), "{:?}", rec.notes);
    let plain = merge_parts(&[a.clone(), a.clone()]).unwrap();
    assert!(
        !plain
            .recovery
            .unwrap()
            .notes
            .iter()
            .any(|n| n.contains("No confirmation probe ran"))
    );
}

#[test]
fn the_data_file_and_captures_are_named_and_counted_in_every_rendering() {
    let mut r = report(60, 45, "token-login", "");
    r.plan.data = Some(super::DataFacts {
        file: "users.csv".into(),
        rows: 1200,
    });
    r.plan.captures = vec!["sid".into(), "token".into()];
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(violations(&v), Vec::<String>::new());
    assert_eq!(v["plan"]["data"], json!({ "file": "users.csv", "rows": 1200 }));
    assert_eq!(v["plan"]["captures"], json!(["sid", "token"]));
    let words = "data: users.csv, 1,200 rows · captures: sid, token";
    assert!(
        super::terminal::summary(&r).contains(words),
        "{}",
        super::terminal::summary(&r)
    );
    let page = super::html::render(&r).unwrap();
    assert!(page.contains(words), "the page names the flow's inputs");
    // A value beside the name and count breaks the schema: the report holds none.
    let mut leaky = v.clone();
    leaky["plan"]["data"]["first_row"] = json!("ann,pw1");
    assert!(!violations(&leaky).is_empty());
    // A flow with neither says nothing of them.
    let plain = report(60, 45, "plain", "");
    assert_eq!(plain.plan.flow_inputs(), None);
    assert!(serde_json::to_value(&plain).unwrap()["plan"].get("data").is_none());
}

/// The percentage after each `label` in `text` that starts with a digit.
fn shares_after<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    text.match_indices(label)
        .map(|(at, _)| &text[at + label.len()..])
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .map(|rest| &rest[..rest.find('%').map_or(0, |i| i + 1)])
        .collect()
}

#[test]
fn one_success_rate_and_one_retry_amplification_in_every_output() {
    let r = gated(
        report(60, 45, "one-figure", ""),
        &["success_rate > 99.9%", "retry_amplification < 1.01"],
    );
    let success = crate::units::pct(r.totals.success_rate.expect("logins completed"));
    let amp = r.recovery.as_ref().unwrap().figures.retry_amplification.unwrap();
    let amp = format!("{amp:.2}×");
    let json: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["totals"]["success_rate"].as_f64(), r.totals.success_rate);
    assert_eq!(
        r.thresholds[0].measured, success,
        "the threshold measures the same figure"
    );
    let outputs = [
        ("terminal", super::terminal::summary(&r)),
        ("summary", super::markdown(&r).unwrap()),
        ("junit", super::junit(&r)),
        ("html", super::html::render(&r).unwrap()),
    ];
    for (name, text) in &outputs {
        assert!(text.contains(&success), "{name} shows the success rate {success}");
        assert!(text.contains(&amp), "{name} shows the retry amplification {amp}");
        for label in ["success rate ", "success_rate was ", "success rate</td><td>"] {
            for shown in shares_after(text, label) {
                assert_eq!(shown, success, "{name}: `{label}{shown}`");
            }
        }
    }
    let terminal = &outputs[0].1;
    assert!(
        terminal.contains(&format!("whole run: success rate {success}")),
        "{terminal}"
    );
}

/// `report`, `compare` and `merge` read through the bounded reader: `/dev/zero` grew to
/// the machine's memory and a FIFO blocked for ever; both are refused at once now, and
/// a shard's facts are read without keeping its windows.

#[test]
fn report_inputs_are_regular_files_within_the_limit() {
    use super::{Report, ReportError, ShardFacts};
    for p in ["/dev/zero", "/dev/null"] {
        let e = Report::read(std::path::Path::new(p)).unwrap_err();
        assert!(matches!(e, ReportError::Input(_)), "{p}: {e}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("report.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let e = Report::read(dir.path()).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    std::fs::remove_file(&fifo).unwrap();
    let r = report(30, 0, "one", "");
    std::fs::write(&fifo, r.to_json()).unwrap();
    let back = Report::read(dir.path()).unwrap();
    assert_eq!(back.windows.len(), r.windows.len());
    assert_eq!(ShardFacts::read(dir.path()).unwrap(), ShardFacts::of(&r));
    std::fs::write(&fifo, r#"{"schema":"stampede.report/v0"}"#).unwrap();
    let e = Report::read(&fifo).unwrap_err().to_string();
    assert!(e.contains("schema `stampede.report/v0`"), "{e}");
}

/// report.json and report.html shared one temporary name (`report.tmp`), overwriting a
/// user's file of that name; each now has its own, and none is left behind.
#[test]
fn each_output_has_its_own_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("report.tmp");
    std::fs::write(&users, "mine").unwrap();
    report(30, 0, "one", "").write(dir.path()).unwrap();
    assert_eq!(std::fs::read_to_string(&users).unwrap(), "mine");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["latency.hlog", "report.html", "report.json", "report.tmp"]);
}
