//! The pages a reader meets first, opened in headless Chromium and measured from the
//! DOM: a metastable run after its confirmation probe (scales, labels, the strip over
//! the charts, the locked-out split), a run in which nothing ever worked, and a run
//! that could not start.

mod chromium;
mod common;

use chromium::*;
use stampede::report::Report;
use stampede::report::html;
use stampede::run::{RunOptions, run};

const PROFILE: &str = r#"
name: pages
seed: 5
target:
  overlay: { preset: healthy, capacity: 150/s, supernode_slots: 20, promotion_delay: 1s, promotion_rate: 20/s }
  timeout: 1s
  connection: fresh
population: { clients: 2_000_000, simulate: 1_200 }
time_scale: 60
baseline: { duration: 2s, rate: 40/s }
storm:
  waves:
    - { name: burst, at: 0s, share: 30%, spread: "normal(sd 40s)" }
  downtime: uniform(5s, 20s)
client:
  login:
    - { name: auth, request: POST /login, body: '{"client": {{client}}}', expect: 200 }
  retry: { policy: exponential, base: 200ms, cap: 1s, jitter: full, max_attempts: 8 }
observe: { window: 250ms, until_recovered: 3s }
slo: { success_rate: 95%, p99: 500ms, hold: 1s }
"#;

async fn real_run() -> Report {
    run(&common::load(PROFILE), RunOptions::default(), &mut ())
        .await
        .expect("the run against the embedded overlay completes")
}

/// `report` as the probe of a metastable run would leave it: confirmed, retries
/// silenced over its last quarter, where `silenced` clients gave up in one window.
fn probed(report: &Report, silenced: u64) -> Report {
    let mut v = serde_json::to_value(report).unwrap();
    let ws = v["windows"].as_array_mut().unwrap();
    let n = ws.len();
    let (from, to) = (
        ws[n * 3 / 4]["start_ms"].as_u64().unwrap(),
        ws[n - 1]["start_ms"].as_u64().unwrap(),
    );
    ws[n * 3 / 4]["gave_up"] = silenced.into();
    ws[n * 3 / 4]["locked_out"] = silenced.into();
    let rec = &mut v["recovery"];
    rec["verdict"] = "metastable".into();
    rec["confirmed"] = true.into();
    rec["recovered_at_ms"] = serde_json::Value::Null;
    rec["metastable_since_ms"] = rec["storm_end_ms"].clone();
    rec["probe"] = serde_json::json!({
        "retries_stopped_at_ms": from, "started_at_ms": from, "limit_ms": 60_000, "ended_at_ms": to,
        "outcome": "healed", "verdict_before": "metastable", "healed_at_ms": from + 500,
        "recovered_after_ms": 500, "silenced_share": 0.98,
    });
    serde_json::from_value(v).unwrap()
}

/// The plot boxes uPlot laid out (`.u-over`: left and width in CSS px), chart by chart.
fn plot_boxes(dom: &str) -> Vec<(f64, f64)> {
    let key = r#"<div class="u-over" style=""#;
    dom.match_indices(key)
        .map(|(at, _)| {
            let style = &dom[at + key.len()..];
            let style = &style[..style.find('"').unwrap()];
            let px = |name: &str| -> f64 {
                let v = &style[style.find(&format!("{name}: ")).unwrap() + name.len() + 2..];
                v[..v.find("px").unwrap()].parse().unwrap()
            };
            (px("left"), px("width"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metastable_page_after_its_probe_keeps_the_storm_readable() {
    chromium();
    let report = probed(&real_run().await, 6_000);
    let page = html::render(&report).unwrap();
    let (_tmp, dir) = workdir();
    let o = open(&page, &dir, "metastable");
    assert_eq!(body_attr(&o.dom, "data-errors").as_deref(), Some(""), "script errors");
    eprintln!("screenshot: {}", o.screenshot.display());

    // No label overlaps another, leaves its plot or sits on a line; the probe's two
    // labels on one row keep a word's gap between them.
    labels_clear(&o.dom, "metastable");
    for l in label_layouts(&o.dom) {
        let boxes = l["labels"].as_array().unwrap();
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                let f = |v: &serde_json::Value, k: usize| v[k].as_f64().unwrap();
                if (f(a, 1) - f(b, 1)).abs() < 1.0 {
                    let gap = (f(b, 0) - f(a, 2)).max(f(a, 0) - f(b, 2));
                    assert!(gap >= 10.0, "`{}` and `{}` {gap} px apart on one row", a[4], b[4]);
                }
            }
        }
    }
    // The 6,000 silenced clients are on the right axis, not on the load's own.
    let data = data_of(&page);
    assert!(
        o.dom.contains("silenced by the probe (right axis)"),
        "the probe's give-ups drawn apart"
    );
    let load_max = ["first", "retries", "ok", "failed"]
        .iter()
        .flat_map(|k| data["run"][k].as_array().unwrap().iter().filter_map(|v| v.as_f64()))
        .fold(0.0, f64::max);
    let load = o.dom.find("<h3>Login load").expect("the load chart");
    let labels_at = o.dom[..load]
        .rfind(r#" data-labels=""#)
        .expect("the load chart's layout")
        + r#" data-labels=""#.len();
    let layout: serde_json::Value = serde_json::from_str(&unescape(
        &o.dom[labels_at..labels_at + o.dom[labels_at..].find('"').unwrap()],
    ))
    .unwrap();
    let y_max = layout["y"][1].as_f64().expect("the left axis's range");
    let silenced_rate = 6_000.0 / data["run"]["window_s"].as_f64().unwrap();
    assert!(
        silenced_rate > 4.0 * load_max,
        "the case: {silenced_rate}/s against a load of {load_max}/s"
    );
    assert!(
        y_max < 2.0 * load_max,
        "the left axis climbs to {y_max}/s for a load of {load_max}/s: the silenced clients set it"
    );
    // Every chart on the time axis, the window-health strip included, has one plot box.
    let boxes = plot_boxes(&o.dom);
    let time_charts = &boxes[..boxes.len() - 2]; // the last two are the percentile plots
    assert!(time_charts.len() >= 7, "{boxes:?}");
    for (i, b) in time_charts.iter().enumerate() {
        assert!(
            (b.0 - time_charts[0].0).abs() < 1.0 && (b.1 - time_charts[0].1).abs() < 1.0,
            "chart {i}'s plot box {b:?} is not the health strip's {:?}",
            time_charts[0]
        );
    }
    // Given-up clients are drawn apart from those still trying.
    assert!(o.dom.contains(">still trying<") && o.dom.contains(">gave up<"));
    let gave: Vec<u64> = data["run"]["locked_gave_up"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        gave.last().copied(),
        Some(6_000.min(report.windows.last().unwrap().locked_out))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_where_nothing_worked_says_why_at_the_top() {
    chromium();
    let mut report = real_run().await;
    let failed = report.totals.counts.logins_ok + report.totals.counts.logins_failed;
    report.totals.counts.logins_failed = failed;
    report.totals.counts.logins_ok = 0;
    report.totals.outcomes.clear();
    report.totals.outcomes.insert("check".into(), failed);
    let why = "step `auth`: check `json /username`: got \"bob\", expected \"alice\"";
    report.engine.stats.failure_examples.insert("check".into(), why.into());
    report.recovery.as_mut().unwrap().verdict = stampede::outcome::Verdict::NeverHealthy;
    let page = html::render(&report).unwrap();
    let (_tmp, dir) = workdir();
    let o = open(&page, &dir, "never");
    assert_eq!(body_attr(&o.dom, "data-errors").as_deref(), Some(""));
    let cause = o.dom.find(r#"id="cause""#).expect("the cause at the top");
    assert!(cause < o.dom.find("<h2>").unwrap(), "above every section");
    assert!(
        o.dom[cause..].starts_with(r#"id="cause">No login succeeded in the whole run"#),
        "{}",
        &o.dom[cause..cause + 200]
    );
    assert!(o.dom[cause..cause + 400].contains("ended `check`, the first one: step `auth`: check"));
    assert!(o.dom.contains("<strong>Never worked</strong>"));
    assert!(!o.dom.contains("success fell to"), "nothing fell: it never worked");
}

#[test]
fn a_run_that_could_not_start_has_no_charts_and_no_words_of_a_run() {
    chromium();
    let dir = tempfile::tempdir().unwrap();
    // A target nobody listens on: the run stops before sending (exit 3, it cannot
    // proceed) and still writes its report.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let profile = common::profile_file(
        dir.path(),
        &format!(
            r#"
name: nobody-home
target: {{ nodes: ["http://127.0.0.1:{port}"], timeout: 1s }}
population: {{ simulate: 50 }}
storm: {{ waves: [ {{ share: 100%, spread: "uniform(300ms)" }} ] }}
client: {{ login: [ {{ request: POST /login }} ] }}
observe: {{ window: 250ms, until_recovered: 250ms }}
"#
        ),
    );
    let out = dir.path().join("out");
    let o = common::bin()
        .args(["run", "-q"])
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(out.join("report.html")).expect("a page for the run that could not start");
    let shot = open(&page, dir.path(), "not-started");
    eprintln!("screenshot: {}", shot.screenshot.display());
    assert_eq!(body_attr(&shot.dom, "data-errors").as_deref(), Some(""));
    assert_eq!(
        body_attr(&shot.dom, "data-rendered").as_deref(),
        Some("0"),
        "no empty charts"
    );
    assert!(shot.dom.contains("could not start"));
    for words in ["interrupted", "premature", "kept its schedule", "Over time"] {
        assert!(
            !shot.dom.contains(words),
            "`{words}` on the page of a run that never ran"
        );
    }
}
