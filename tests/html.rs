//! The HTML report of a real run against the embedded reference overlay, opened in
//! headless Chromium: the charts must draw, the verdict must show, no script may fail
//! and nothing from the profile may execute.

mod chromium;
mod common;

use std::path::Path;
use std::time::Duration;

use chromium::*;
use common::load;
use stampede::report::Report;
use stampede::report::html;
use stampede::run::{RunOptions, run};

fn profile(name: &str, description: &str) -> String {
    format!(
        r#"
name: '{name}'
description: '{description}'
seed: 3
target:
  overlay: {{ preset: healthy, capacity: 150/s, supernode_slots: 20, promotion_delay: 1s, promotion_rate: 20/s }}
  timeout: 1s
  connection: fresh
  metrics: {{ series: [overlay_clients_online, overlay_supernodes_active, overlay_queue_depth] }}
population: {{ clients: 2_000_000, simulate: 1_200 }}
time_scale: 60
baseline: {{ duration: 2s, rate: 40/s }}
storm:
  waves:
    - {{ name: burst, at: 0s, share: 30%, spread: "normal(sd 40s)" }}
  downtime: uniform(5s, 20s)
client:
  login:
    - {{ name: auth, request: POST /login, body: '{{"client": {{{{client}}}}}}', expect: 200 }}
  retry: {{ policy: exponential, base: 200ms, cap: 1s, jitter: full, max_attempts: 8, honor_retry_after: true }}
observe: {{ window: 250ms, until_recovered: 3s }}
slo: {{ success_rate: 95%, p99: 500ms, hold: 1s }}
gate:
  - "retry_amplification < 5"
"#
    )
}

const DESCRIPTION: &str = "A short storm against the embedded overlay, for the HTML report test.";

async fn real_run(name: &str, description: &str) -> Report {
    let p = load(&profile(name, description));
    run(&p, RunOptions::default(), &mut ())
        .await
        .expect("the run against the embedded overlay completes")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_of_a_real_run_draws_its_charts_in_chromium() {
    chromium();
    let report = real_run("html-smoke", DESCRIPTION).await;
    let rec = report.recovery.as_ref().expect("the run was analysed");
    let html = html::render(&report).unwrap();
    let (_tmp, dir) = workdir();
    let o = open(&html, &dir, "run");

    assert_eq!(body_attr(&o.dom, "data-errors").as_deref(), Some(""), "script errors");
    let rendered: usize = body_attr(&o.dom, "data-rendered")
        .expect("the page script finished")
        .parse()
        .unwrap();
    let containers = o.dom.matches(r#"<div class="chart""#).count();
    let plots = o.dom.matches(r#"<div class="uplot"#).count();
    let canvases = o.dom.matches("<canvas").count();
    let series: std::collections::BTreeSet<&String> = report.windows.iter().flat_map(|w| w.target.keys()).collect();
    assert_eq!(series.len(), 3, "the overlay's metrics were scraped: {series:?}");
    // Health, load, success, latency, service time, outcomes, locked out, send lag,
    // one per target series, and the two latency distributions (login, per step).
    assert_eq!(rendered, 8 + series.len() + 2, "charts drawn");
    assert_eq!(rendered, containers, "every chart container holds a chart");
    assert_eq!(plots, rendered);
    assert!(canvases >= rendered, "{canvases} canvases");

    let headline = match rec.verdict {
        _ if report.thresholds.iter().any(|t| !t.passed) => "Gate failed: ",
        stampede::outcome::Verdict::Recovered => "Recovered in ",
        stampede::outcome::Verdict::NeverDegraded => "Never degraded",
        stampede::outcome::Verdict::NotRecovered => "Not recovered",
        stampede::outcome::Verdict::Metastable => "Metastable",
        other => panic!("unexpected verdict {other}"),
    };
    assert!(
        o.dom.contains(&format!(r#"id="verdict">{headline}"#)),
        "verdict `{headline}` shown"
    );
    assert!(o.dom.contains("Target: overlay_clients_online"));
    assert_eq!(body_attr(&o.dom, "data-pwned"), None);
    assert!(
        labels_clear(&o.dom, "run") >= 3 * 8,
        "every time chart labels its marks"
    );
    // The window cut short by the end of the run is not drawn as a drop to 0.
    let data = data_of(&html);
    let t = data["run"]["t"].as_array().unwrap();
    let last_end = t.last().unwrap().as_f64().unwrap() + data["run"]["window_s"].as_f64().unwrap();
    assert!(
        last_end <= report.plan.ended_ms as f64 / 1000.0 + 1e-9,
        "the last charted window ends at {last_end} s, after sending stopped at {} ms",
        report.plan.ended_ms
    );
    eprintln!("screenshot: {}", o.screenshot.display());

    // Label sets of one metric share its chart (issue #22: before, 13 charts for one
    // run's label sets).
    let mut labelled = report.clone();
    for (i, w) in labelled.windows.iter_mut().enumerate() {
        for pool in ["default", "io", "auth"] {
            w.target.insert(format!("pool_threads{{name=\"{pool}\"}}"), i as f64);
        }
    }
    let o = open(&html::render(&labelled).unwrap(), &dir, "labelled");
    assert_eq!(body_attr(&o.dom, "data-errors").as_deref(), Some(""), "script errors");
    let drawn: usize = body_attr(&o.dom, "data-rendered").unwrap().parse().unwrap();
    assert_eq!(drawn, rendered + 1, "one chart for pool_threads' three label sets");
    assert!(o.dom.contains("Target: pool_threads"), "titled by the metric's name");
    assert!(!o.dom.contains("Target: pool_threads{"), "not one chart per label set");

    // The same run compared with one whose baseline was 3 s longer: the charts put
    // both triggers at 0 and say so.
    let mut later = report.clone();
    later.plan.trigger_start_ms += 3000;
    later.recovery.as_mut().unwrap().trigger_start_ms += 3000;
    let (ra, rb) = (rec, later.recovery.as_ref().unwrap());
    let cmp = stampede::analysis::compare(&report.windows, ra, &later.windows, rb, 0.1);
    let page = html::render_compare(&report, &later, &cmp).unwrap();
    let c = open(&page, &dir, "compare");
    assert_eq!(body_attr(&c.dom, "data-errors").as_deref(), Some(""), "script errors");
    // The hint as the script rewrote it (the script's own text holds it too).
    let hint = r#"id="time-hint">Seconds from each run's trigger"#;
    assert!(c.dom.contains(hint), "aligned by trigger");
    labels_clear(&c.dom, "compare");
    // Base and new never share a colour within a chart (dashes alone were easy to miss).
    let mut paired = 0;
    for (i, legend) in legend_colours(&c.dom).iter().enumerate() {
        let of = |who: &str| -> Vec<&(String, String)> { legend.iter().filter(|(l, _)| l.starts_with(who)).collect() };
        let (base, new) = (of("base"), of("new"));
        for (bl, bc) in &base {
            assert!(
                new.iter().all(|(_, nc)| nc != bc),
                "compare chart {i}: `{bl}` has the colour {bc} of a new-run series: {legend:?}"
            );
        }
        paired += usize::from(!base.is_empty() && !new.is_empty());
    }
    assert!(paired >= 5, "charts with both runs: {paired}");
    eprintln!("screenshot: {}", c.screenshot.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_run_s_page_draws_its_connected_clients_first() {
    chromium();
    let addr = common::gateway::serve(Duration::from_millis(1500), 8).await;
    let p = load(&common::gateway::profile(addr, "held-page"));
    let report = tokio::time::timeout(Duration::from_secs(60), run(&p, RunOptions::default(), &mut ()))
        .await
        .expect("bounded")
        .unwrap();
    let held = report.totals.held.as_ref().expect("the clients held connections");
    assert_eq!(held.counts.drops, 8, "{held:?}");
    let html = html::render(&report).unwrap();
    let (_tmp, dir) = workdir();
    let o = open(&html, &dir, "held");
    assert_eq!(body_attr(&o.dom, "data-errors").as_deref(), Some(""), "script errors");
    let titles: Vec<&str> = o
        .dom
        .split(r#"<div class="chart""#)
        .skip(1)
        .map(|c| {
            let h = &c[c.find("<h3>").unwrap() + 4..];
            &h[..h.find('<').unwrap()]
        })
        .collect();
    assert_eq!(
        titles[..3],
        ["Connected clients", "Reconnect time", "window health"],
        "{titles:?}"
    );
    labels_clear(&o.dom, "held");
    eprintln!("screenshot: {}", o.screenshot.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_keep_clear_of_each_other_and_of_the_lines() {
    chromium();
    let mut report = real_run("crowded", DESCRIPTION).await;
    // Three operator actions at one instant (their labels once sat on one spot), a
    // target that never came back (the verdict's label at the right edge) and an SLO
    // p99 at the highest p99 measured, so that its line runs near the top of the
    // latency charts, where those labels are.
    report.profile["target"]["overlay"]["actions"] = serde_json::json!([
        { "at": "3s", "inject_mega_supernodes": 2 },
        { "at": "3s", "shed": true },
        { "at": "3s", "shed": false },
    ]);
    let top_p99 = report.windows.iter().map(|w| w.latency_ms.p99).fold(0.0, f64::max);
    let rec = report.recovery.as_mut().unwrap();
    rec.verdict = stampede::outcome::Verdict::Metastable;
    (
        rec.recovered_at_ms,
        rec.recovery_time_ms,
        rec.recovery_time_from_storm_end_ms,
    ) = (None, None, None);
    rec.metastable_since_ms = Some(rec.storm_end_ms);
    rec.slo.p99_ms = top_p99;
    let html = html::render(&report).unwrap();
    let (_tmp, dir) = workdir();
    let dom = dom_of(&html, &dir, "crowded");
    assert_eq!(body_attr(&dom, "data-errors").as_deref(), Some(""), "script errors");
    labels_clear(&dom, "crowded");
    let texts: Vec<String> = label_layouts(&dom)
        .iter()
        .flat_map(|l| {
            l["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b[4].as_str().unwrap().to_string())
        })
        .collect();
    let count = |t: &str| texts.iter().filter(|x| x.as_str() == t).count();
    assert!(count("metastable →") >= 8, "{texts:?}");
    assert!(count("operator: shedding on") >= 8, "{texts:?}");
    assert!(count("operator: +2 mega-supernodes") >= 8, "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("SLO p99")), "{texts:?}");
}

/// Markup that, if the page let it run, marks the body: `data-pwned` 1 from the script
/// element, 2 from the image's error handler (the page's CSP allows inline script, so
/// escaping is the only thing that stops it).
const HOSTILE: &str =
    "<script>document.body.dataset.pwned=1</script><img src=x onerror=\"document.body.dataset.pwned=2\">";

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_profile_name_is_shown_not_run() {
    chromium();
    let report = real_run(HOSTILE, HOSTILE).await;
    assert_eq!(report.name, HOSTILE);
    assert_eq!(report.description, HOSTILE);
    let html = html::render(&report).unwrap();
    let (_tmp, dir) = workdir();
    let o = open(&html, &dir, "hostile");

    assert_eq!(body_attr(&o.dom, "data-errors").as_deref(), Some(""));
    assert_eq!(
        body_attr(&o.dom, "data-pwned"),
        None,
        "the name or description ran as script"
    );
    let h1 = o.dom.find(r#"<h1 id="profile-name">"#).expect("the name's heading");
    let heading = &o.dom[h1..h1 + o.dom[h1..].find("</h1>").unwrap()];
    assert!(
        heading.contains("&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;&lt;img src=x"),
        "the name is text: {heading}"
    );
    assert!(!heading.contains("<img"), "no element made from the name");
    let p = o.dom.find(r#"<p class="description">"#).expect("the description");
    let description = &o.dom[p..p + o.dom[p..].find("</p>").unwrap()];
    assert!(
        description.contains("&lt;script&gt;"),
        "the description is text: {description}"
    );
    assert!(body_attr(&o.dom, "data-rendered").is_some_and(|n| n != "0"));

    // The check can fail: the same markup put into the page unescaped does run.
    let raw = html.replacen(
        r#"<body data-errors="">"#,
        &format!(r#"<body data-errors="">{HOSTILE}"#),
        1,
    );
    let dom = dom_of(&raw, &dir, "hostile-raw");
    assert!(
        body_attr(&dom, "data-pwned").is_some(),
        "unescaped markup should have run; the check above proves nothing"
    );
}

/// Renders existing reports to look at: `STAMPEDE_HTML_REPORT=a[,b,...]
/// STAMPEDE_HTML_KEEP=/out cargo test --test html -- --ignored`. One page per report;
/// with several, also the first two compared and all of them as a sweep (intensity
/// 1, 2, ... in the order given).
#[test]
#[ignore = "a tool for looking at real reports"]
fn render_report_files() {
    let src = std::env::var("STAMPEDE_HTML_REPORT").expect("STAMPEDE_HTML_REPORT is set");
    let reports: Vec<Report> = src.split(',').map(|p| Report::read(Path::new(p)).unwrap()).collect();
    let (_tmp, dir) = workdir();
    let mut pages = Vec::new();
    for r in &reports {
        pages.push((r.name.replace('/', "_"), html::render(r).unwrap()));
    }
    if let [a, b, ..] = &reports[..] {
        let (ra, rb) = (a.recovery.as_ref().unwrap(), b.recovery.as_ref().unwrap());
        let cmp = stampede::analysis::compare(&a.windows, ra, &b.windows, rb, 0.1);
        pages.push(("compare".into(), html::render_compare(a, b, &cmp).unwrap()));
        let runs: Vec<_> = reports
            .iter()
            .enumerate()
            .map(|(i, r)| ((i + 1) as f64, r.seed, r.recovery.clone().unwrap()))
            .collect();
        let sweep = stampede::analysis::aggregate(&runs);
        pages.push(("sweep".into(), html::render_sweep(&sweep, None, &[], "look").unwrap()));
    }
    for (stem, page) in pages {
        let o = open(&page, &dir, &stem);
        assert_eq!(body_attr(&o.dom, "data-errors").as_deref(), Some(""), "{stem}");
        eprintln!("screenshot: {}", o.screenshot.display());
    }
}
