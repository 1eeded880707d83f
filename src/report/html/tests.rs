use super::*;
use crate::analysis::{aggregate, compare};
use crate::outcome::Verdict;
use crate::report::testkit::{gated, report};

fn ok_report() -> Report {
    report(120, 55, "patch-tuesday", "Monthly patch reboots.")
}

/// The JSON block's text, as the page script reads it.
pub(super) fn data_block(page: &str) -> &str {
    let open = r#"<script type="application/json" id="stampede-data">"#;
    let start = page.find(open).expect("the page has a data block") + open.len();
    let len = page[start..].find("</script>").expect("the block is closed");
    &page[start..start + len]
}

/// `src`/`href` attribute values and CSS `url(...)`s that leave the file.
fn external_refs(page: &str) -> Vec<String> {
    let lower = page.to_ascii_lowercase();
    let mut out = Vec::new();
    for attr in ["src=", "href=", "url("] {
        for (at, _) in lower.match_indices(attr) {
            let v = lower[at + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            if v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//") {
                out.push(page[at..(at + 60).min(page.len())].to_string());
            }
        }
    }
    out
}

#[test]
fn the_verdict_comes_first_in_words() {
    let page = render(&ok_report()).unwrap();
    let at = page.find(r#"id="verdict""#).unwrap();
    assert!(
        page.contains(r#"<div class="headline" id="verdict">Recovered in 35s</div>"#),
        "{}",
        &page[at..at + 200]
    );
    assert!(page.contains("after the storm ended"));
    let down = report(120, 1000, "down", "");
    let page = render(&down).unwrap();
    let verdict = down.recovery.as_ref().unwrap().verdict;
    assert!(matches!(verdict, Verdict::NotRecovered | Verdict::Metastable));
    let word = if verdict == Verdict::Metastable {
        "Metastable"
    } else {
        "Not recovered"
    };
    assert!(page.contains(&format!(r#"id="verdict">{word}</div>"#)));
    assert!(page.contains(r#"class="verdict bad""#));
}

#[test]
fn a_failed_gate_turns_the_headline_red_and_names_the_thresholds() {
    let r = gated(
        report(60, 0, "ci-smoke", ""),
        &["login.p99 < 2ms", "retry_amplification < 5"],
    );
    assert_eq!(r.recovery.as_ref().unwrap().verdict, Verdict::NeverDegraded);
    let page = render(&r).unwrap();
    assert!(
        page.contains(r#"<div class="headline" id="verdict">Gate failed: login.p99 &lt; 2ms</div>"#),
        "{}",
        &page[page.find(r#"id="verdict""#).unwrap()..][..300]
    );
    assert!(page.contains(r#"class="verdict bad""#));
    assert!(page.contains("1 of 2 thresholds failed · verdict: never degraded"));
    let passing = render(&gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"])).unwrap();
    assert!(passing.contains(r#"id="verdict">Never degraded</div>"#));
}

#[test]
fn an_interrupted_run_says_so_next_to_its_thresholds() {
    let mut r = gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"]);
    let note = "run interrupted: the thresholds cover only what was sent until then";
    assert!(!render(&r).unwrap().contains(note));
    r.interrupted = true;
    r.stop_reason = crate::outcome::StopReason::Interrupted;
    let page = render(&r).unwrap();
    let card = &page[page.find(r#"<section class="verdict"#).unwrap()..];
    let card = &card[..card.find("</section>").unwrap()];
    assert!(card.contains(note), "{card}");
    // An abort and the preflight guard are named there, as in JUnit and the summary.
    for (r, why) in [
        (
            crate::report::testkit::aborted(gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"])),
            "run aborted: `success_rate &lt; 5% for 30s` held at 42s: the thresholds cover",
        ),
        (
            crate::report::testkit::preflighted(gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"])),
            "run stopped by the preflight guard at 1s: the first 77 logins before the trigger all failed with `capture`",
        ),
    ] {
        let page = render(&r).unwrap();
        let card = &page[page.find(r#"<section class="verdict"#).unwrap()..];
        let card = &card[..card.find("</section>").unwrap()];
        assert!(card.contains(why), "{card}");
        assert!(!page.contains("interrupted"), "{why}");
    }
}

#[test]
fn the_window_cut_by_the_end_of_the_run_is_not_charted() {
    let mut r = report(60, 45, "cut", "");
    let whole: serde_json::Value = serde_json::from_str(data_block(&render(&r).unwrap())).unwrap();
    assert_eq!(whole["run"]["t"].as_array().unwrap().len(), 60);
    // Sending stopped 0.4 s into the last window.
    r.plan.ended_ms = 59_400;
    let v: serde_json::Value = serde_json::from_str(data_block(&render(&r).unwrap())).unwrap();
    for series in ["t", "first", "ok", "success", "health", "locked_out"] {
        assert_eq!(v["run"][series].as_array().unwrap().len(), 59, "{series}");
    }
    assert_eq!(v["run"]["latency"]["p99"].as_array().unwrap().len(), 59);
    assert_eq!(v["run"]["marks"]["end"], 59.0);
}

#[test]
fn the_whole_flow_row_shows_the_send_lag_beside_latency_and_service_time() {
    let mut r = ok_report();
    r.engine.send_lag_ms.p50 = 0.021;
    r.engine.send_lag_ms.p99 = 0.4;
    r.engine.send_lag_ms.count = 100;
    let page = render(&r).unwrap();
    assert!(page.contains("<th>service p50</th>"));
    let row = page.find("<td>login (whole flow)</td>").expect("the whole flow's row");
    let row = &page[row..row + page[row..].find("</tr>").unwrap()];
    assert!(row.ends_with("<td>0.021ms · 0.4ms</td>"), "{row}");
}

#[test]
fn nothing_is_fetched_from_the_network() {
    let page = render(&ok_report()).unwrap();
    assert_eq!(external_refs(&page), Vec::<String>::new());
    assert!(page.contains("default-src 'none'"), "the CSP forbids fetches");
    // The check itself finds what it looks for.
    let bad = r#"<img src="https://cdn.example/x.png"><link href='//fonts.example/f'>"#;
    assert_eq!(external_refs(bad).len(), 2);
}

#[test]
fn hostile_text_from_the_profile_is_escaped() {
    let name = "<script>alert(1)</script>";
    let desc = r#""><img src=x onerror=alert(1)>"#;
    let page = render(&report(60, 45, name, desc)).unwrap();
    let body = page.replace(data_block(&page), "");
    assert!(!body.contains(name), "raw name in the markup");
    assert!(!body.contains("<img src=x"), "raw description in the markup");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
    assert!(body.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert_eq!(body.matches("<script").count(), 4, "only the page's own scripts");
}

#[test]
fn the_data_block_survives_a_closing_script_tag() {
    let name = "</script><script>alert(1)</script><!--";
    let page = render(&report(60, 45, name, "a & b")).unwrap();
    let block = data_block(&page);
    assert!(!block.contains('<') && !block.contains('>') && !block.contains('&'));
    let v: serde_json::Value = serde_json::from_str(block).unwrap();
    assert_eq!(v["run"]["name"], name);
    assert_eq!(v["kind"], "run");
    let series: Vec<&str> = v["run"]["target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_str().unwrap())
        .collect();
    assert!(series.contains(&name), "a hostile series name stays data");
    assert_eq!(v["run"]["t"].as_array().unwrap().len(), 60);
}

#[test]
fn vendored_assets_cannot_close_their_elements() {
    for js in [UPLOT_JS, PAGE_JS] {
        assert!(!js.to_ascii_lowercase().contains("</script"));
    }
    for css in [UPLOT_CSS, PAGE_CSS] {
        assert!(!css.to_ascii_lowercase().contains("</style"));
    }
}

#[test]
fn ten_minutes_of_windows_stay_under_two_megabytes() {
    let r = report(600, 300, "long", "ten minutes");
    let page = render(&r).unwrap();
    assert!(page.len() < 2_000_000, "{} bytes", page.len());
    let json_len = serde_json::to_string(&r).unwrap().len();
    assert!(
        page.len() < json_len,
        "the page ({}) must not embed the histograms (report.json is {json_len})",
        page.len()
    );
}

#[test]
fn percentile_curves_end_at_the_maximum() {
    let mut h = crate::record::new_hist();
    for v in 1..=1000u64 {
        h.record(v * 1000).unwrap();
    }
    let c = Curves::of(vec![("all".into(), h)]);
    let ms = &c.series[0].ms;
    assert_eq!(ms[0], Some(1.0), "x = 0 is the minimum");
    let at = |x: f64| ms[c.x.iter().position(|&v| (v - x).abs() < 1e-9).unwrap()];
    assert!((at(1.0).unwrap() - 900.0).abs() < 2.0, "x = 1 is p90");
    assert!((at(2.0).unwrap() - 990.0).abs() < 2.0, "x = 2 is p99");
    let last = *ms.iter().flatten().last().unwrap();
    assert!((last - 1000.0).abs() < 1.0, "the last point is the max, {last}");
}

#[test]
fn compare_and_sweep_render() {
    let (a, b) = (ok_report(), report(120, 80, "patch-tuesday", ""));
    let cmp = compare(
        &a.windows,
        a.recovery.as_ref().unwrap(),
        &b.windows,
        b.recovery.as_ref().unwrap(),
        0.1,
    );
    let page = render_compare(&a, &b, &cmp).unwrap();
    assert!(page.contains("The new run regressed"));
    let v: serde_json::Value = serde_json::from_str(data_block(&page)).unwrap();
    assert_eq!(v["kind"], "compare");
    assert_eq!(v["curves"]["series"].as_array().unwrap().len(), 6);

    let runs: Vec<_> = [(1.0, 45), (1.0, 50), (2.0, 80), (2.0, 1000), (3.0, 1000)]
        .iter()
        .enumerate()
        .map(|(seed, &(k, heal))| (k, seed as u64, report(120, heal, "s", "").recovery.unwrap()))
        .collect();
    let sweep = aggregate(&runs);
    let page = render_sweep(&sweep, None, &[], "<b>bold</b>").unwrap();
    assert!(page.contains("Cliff at intensity 3"), "{}", &page[..3000]);
    assert!(page.contains("&lt;b&gt;bold&lt;&#x2f;b&gt;"));
    let v: serde_json::Value = serde_json::from_str(data_block(&page)).unwrap();
    assert_eq!(v["levels"].as_array().unwrap().len(), 3);
}

#[test]
fn the_target_drain_is_charted_past_the_end_of_the_run_and_said_in_words() {
    use crate::analysis::drain::{AfterPoint, AfterRun};
    let mut r = report(60, 45, "drain", "");
    let point = |at_ms: u64, q: f64| AfterPoint {
        at_ms,
        series: [("overlay_queue_depth".to_string(), q)].into(),
    };
    r.after_run = Some(AfterRun {
        watched: vec!["overlay_queue_depth".into()],
        baseline: [("overlay_queue_depth".to_string(), 0.0)].into(),
        bound_ms: 30_000,
        drained_at_ms: Some(62_000),
        points: vec![point(60_000, 800.0), point(61_000, 300.0), point(62_000, 0.0)],
    });
    let page = render(&r).unwrap();
    let v: serde_json::Value = serde_json::from_str(data_block(&page)).unwrap();
    let t = v["run"]["t"].as_array().unwrap().len();
    let target_t: Vec<f64> = v["run"]["target_t"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(target_t.len(), t + 3);
    assert_eq!(&target_t[t..], &[60.0, 61.0, 62.0]);
    let queue = v["run"]["target"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv[0] == "overlay_queue_depth")
        .unwrap()[1]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(queue.len(), t + 3);
    assert_eq!(queue[t], 800.0);
    assert!(
        page.contains("target drain: back at its baseline 2s after sending stopped (3 scrapes): overlay_queue_depth 0 (baseline 0)"),
        "the page's notes say how long the target took to drain"
    );
    r.after_run.as_mut().unwrap().drained_at_ms = None;
    assert!(render(&r).unwrap().contains(
        "target drain: NOT drained when scraping stopped 30s after sending stopped: overlay_queue_depth 0 (baseline 0)"
    ));
    // Issue #22, case 7: a run that ended with the target still draining does not say
    // only "(completed)".
    let terminal = crate::report::terminal::summary(&r);
    assert!(terminal.contains(" (completed) · "), "{terminal}");
    r.after_run.as_mut().unwrap().points.push(point(63_000, 609.0));
    let terminal = crate::report::terminal::summary(&r);
    assert!(
        terminal.contains(" (completed; target still draining 609) · "),
        "{terminal}"
    );
}

#[test]
fn success_at_100_percent_is_never_called_100_percent_or_better() {
    let mut r = report(60, 45, "collapse", "");
    // Latency alone broke the SLO: every login after the trigger succeeded.
    for h in r.recovery.as_mut().unwrap().health.iter_mut() {
        h.success_rate = h.success_rate.map(|_| 1.0);
    }
    let page = render(&r).unwrap();
    let at = page.find("Collapse").unwrap();
    assert!(
        page.contains("success stayed at 100% and p99 rose to"),
        "{}",
        &page[at..at + 400]
    );
    assert!(!page.contains("or better"));
}

#[test]
fn the_story_says_the_online_clients_were_warmed_up_before_the_storm() {
    let mut r = ok_report();
    assert!(!render(&r).unwrap().contains("Warm-up:"), "no warm-up, no word of it");
    r.engine.stats.warmup = crate::record::WarmupStats {
        clients: 10_000,
        ok: 10_000,
        duration_ms: 5000.0,
        ..Default::default()
    };
    let page = render(&r).unwrap();
    assert!(
        page.contains("Warm-up: 10,000 of 10,000 online clients logged in in 5s before the clock started; 0 failed."),
        "{}",
        &page[page.find("Storm").unwrap_or(0)..][..400.min(page.len())]
    );
}

#[test]
fn a_held_run_charts_its_connected_clients_and_says_its_share_and_reconnect_time() {
    let r = crate::report::testkit::held_report(60, 45, "gateway-restart");
    let page = render(&r).unwrap();
    if let Some(dir) = std::env::var_os("STAMPEDE_HTML_KEEP") {
        std::fs::write(std::path::Path::new(&dir).join("held.html"), &page).unwrap();
    }
    let data: serde_json::Value = serde_json::from_str(data_block(&page)).unwrap();
    let held = &data["run"]["held"];
    assert_eq!(held["connected"][19], 20_000);
    assert_eq!(held["connected"][20], 14_000);
    assert_eq!(held["online"][20], 20_000);
    assert_eq!(held["slo_pct"], 99.0);
    assert_eq!(held["least"][20], 19_800.0);
    // The drop wave by cause, the most frequent first, per second (1 s windows).
    assert_eq!(held["drops"][0][0], "reset");
    assert_eq!(held["drops"][0][1][20], 4_000.0);
    assert_eq!(held["drops"][1][0], "ws_close_1012");
    assert_eq!(held["connects_ok"][21], 250.0);
    assert!(held["reconnect"]["p99"][30].as_f64().unwrap() > 9_000.0);
    for words in [
        "connected share",
        "100% at the end · lowest 70% at 20s · peak 20,000 connected",
        "24s: the longest stretch with the connected share below 99%",
        "6,000 held connections dropped (reset 4,000 · ws_close_1012 2,000).",
        "The connected share fell to 70% at 20s",
        "Reconnect time 24s",
    ] {
        assert!(page.contains(words), "{words}");
    }
    // The page's script draws the connected clients before anything else.
    let js = super::PAGE_JS;
    let at = |s: &str| js.find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(at("if (run.held) S.drawHeld(tc, run, runs);") < at("healthBand(tc, run);"));
    let plain = render(&ok_report()).unwrap();
    assert!(!data_block(&plain).contains("\"held\"") && !plain.contains("connected share"));
}

#[test]
fn the_gateway_s_operator_actions_are_named_on_the_charts() {
    let mut r = crate::report::testkit::held_report(30, 25, "actions");
    r.profile = serde_json::json!({ "target": { "overlay": { "actions": [
        { "at": "20s", "drop_connections": "30%" },
        { "at": "24s", "restart_gateway": 1 },
        { "at": "26s", "drain": true },
    ] } } });
    let data: serde_json::Value = serde_json::from_str(data_block(&render(&r).unwrap())).unwrap();
    let actions = &data["run"]["marks"]["actions"];
    assert_eq!(actions[0]["label"], "operator: drop 30% of connections");
    assert_eq!(actions[1]["label"], "operator: restart gateway node 1");
    assert_eq!(actions[1]["at"], 24.0);
    assert_eq!(
        actions[2]["label"],
        "operator: drain (GOAWAY to every HTTP/2 connection)"
    );
}
