//! A held run's every output, checked against the run's report: report.json against its
//! schema, the summary, Markdown, JUnit, the interval log, the page, the stream and the
//! exporter.

use std::sync::{Arc, Mutex};

use stampede::report::Report;
use stampede::run::RunOptions;
use stampede::run::metrics::Exporter;
use stampede::run::stream::Stream;

/// Where a run's live outputs went: the exporter, and the stream's file.
pub struct Watched {
    exporter: Arc<Exporter>,
    stream: Arc<Mutex<Stream>>,
    lines: tempfile::NamedTempFile,
}

pub async fn watched() -> (RunOptions, Watched) {
    let exporter = Arc::new(Exporter::bind("127.0.0.1:0".parse().unwrap()).await.unwrap());
    let lines = tempfile::NamedTempFile::new().unwrap();
    let stream = Arc::new(Mutex::new(Stream::new(Box::new(lines.reopen().unwrap())).unwrap()));
    let opts = RunOptions {
        metrics: Some(exporter.clone()),
        stream: Some(stream.clone()),
        ..RunOptions::default()
    };
    (
        opts,
        Watched {
            exporter,
            stream,
            lines,
        },
    )
}

/// Every output of a held run shows its connections: report.json (valid against its
/// schema), the summary, Markdown, JUnit, the interval log's tagged series, the page's
/// first chart, the stream's windows and the exporter's families.
pub fn every_output_shows_the_connections(r: &Report, w: &Watched) {
    let dir = tempfile::tempdir().unwrap();
    r.write(dir.path()).unwrap();
    // To look at them: STAMPEDE_HTML_KEEP=/some/dir.
    if let Some(keep) = std::env::var_os("STAMPEDE_HTML_KEEP") {
        r.write(std::path::Path::new(&keep)).unwrap();
        std::fs::write(
            std::path::Path::new(&keep).join("summary.txt"),
            stampede::report::terminal::summary(r),
        )
        .unwrap();
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    let schema: serde_json::Value = serde_json::from_str(include_str!("../../src/report/report.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .take(5)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let t = &json["totals"]["held"];
    assert_eq!(t["drops"], 15);
    assert_eq!(t["drops_by_cause"]["reset"], 10);
    assert!(json["recovery"]["slo"]["connected"].as_f64().is_some());
    assert!(json["recovery"]["health"][0]["connected_share"].as_f64().is_some());

    let summary = stampede::report::terminal::summary(r);
    assert!(summary.contains("held connections: peak "), "{summary}");
    assert!(
        summary.contains("held drops: 15: reset 10 · ws_close_1012 5"),
        "{summary}"
    );
    assert!(summary.contains("reconnect (drop to back)"), "{summary}");
    assert!(summary.contains("\n  reconnect time "), "{summary}");
    let md = stampede::report::markdown(r).unwrap();
    assert!(md.contains("| Held drops | 15: reset 10 · ws_close_1012 5 |"), "{md}");
    assert!(stampede::report::junit(r).contains("Held drops: 15: reset 10"));

    let hlog = std::fs::read_to_string(dir.path().join("latency.hlog")).unwrap();
    for tag in ["reconnect", "heartbeat", "upgrade"] {
        assert_eq!(
            hlog.lines().filter(|l| l.starts_with(&format!("Tag={tag},"))).count(),
            r.windows.len(),
            "a {tag} interval per window"
        );
    }
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        page.contains("\"held\":{\"connected\":["),
        "the page charts the connected clients"
    );

    w.stream.lock().unwrap().finish(&r.windows).unwrap();
    let streamed = std::fs::read_to_string(w.lines.path()).unwrap();
    let drops: u64 = streamed
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["held"]["drops"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(drops, 15, "every streamed window carries held");

    let metrics = w.exporter.render();
    let last = r.windows.last().unwrap().held.as_ref().unwrap();
    for line in [
        format!("stampede_connected {}", last.connected),
        format!("stampede_should_be_online {}", last.online),
        "stampede_drops_total{cause=\"reset\"} 10".to_string(),
        "stampede_drops_total{cause=\"ws_close_1012\"} 5".to_string(),
        "stampede_reconnect_seconds_count 15".to_string(),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
    }
}
