//! The map's page in headless Chromium: a heatmap of its points, each coloured by its
//! verdict with the run page's colours, the probe's mark, links to the runs' reports,
//! and the vulnerable region's edge, read back from the DOM after the page drew.

mod chromium;

use chromium::*;
use stampede::analysis::aggregate;
use stampede::analysis::map::{MapAxis, MapRun, map};
use stampede::outcome::Verdict;
use stampede::report::html;

fn axis(path: &str, values: &[&str]) -> MapAxis {
    MapAxis {
        path: path.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
        profile_value: Some(values[0].into()),
        relative: (1..=values.len()).map(|i| Some(i as f64)).collect(),
    }
}

fn run(seed: u64, verdict: Verdict, confirmed: bool, ms: Option<u64>) -> MapRun {
    MapRun {
        seed,
        verdict,
        confirmed,
        recovery_time_ms: ms,
        report: Some(format!("runs/p{seed}-{}/report.json", verdict.as_str())),
    }
}

/// Each cell's verdict, computed background colour, confirmation, links and edges, as
/// JSON on the body: the test reads the DOM dump, not the screen.
const PROBE: &str = r#"<script>
document.body.setAttribute("data-cells", JSON.stringify(Array.prototype.map.call(
  document.querySelectorAll("table.map td.cell"), function (c) {
    return [c.getAttribute("data-verdict"), getComputedStyle(c).backgroundColor,
      c.getAttribute("data-confirmed") === "true",
      Array.prototype.map.call(c.querySelectorAll("a"), function (a) { return a.getAttribute("href"); }),
      c.className, getComputedStyle(c).borderTopWidth, getComputedStyle(c).borderLeftWidth];
  })));
</script></body>"#;

/// Red, green, blue (0 to 255) of a computed colour: `rgb(r, g, b)`, `rgba(…)`, or what
/// `color-mix` computes to, `color(srgb r g b / a)` with channels from 0 to 1.
fn rgb(s: &str) -> Vec<f64> {
    let inner = &s[s.find('(').unwrap() + 1..s.rfind(')').unwrap()];
    match inner.strip_prefix("srgb ") {
        Some(c) => c
            .split(['/', ' '])
            .filter(|v| !v.is_empty())
            .take(3)
            .map(|v| v.parse::<f64>().unwrap() * 255.0)
            .collect(),
        None => inner.split(',').take(3).map(|v| v.trim().parse().unwrap()).collect(),
    }
}

#[test]
fn the_map_page_colours_each_point_by_its_verdict_and_draws_the_edge() {
    chromium();
    use Verdict::*;
    // share 10%, 20%, 40% across; capacity 200/s, 100/s down. The region: 40% at both
    // capacities and 20% at 100/s.
    let m = map(
        vec![
            axis("storm.waves[0].share", &["10%", "20%", "40%"]),
            axis("target.overlay.capacity", &["200/s", "100/s"]),
        ],
        &[
            (vec![0, 0], run(1, NeverDegraded, false, Some(0))),
            (vec![0, 1], run(1, Recovered, false, Some(2_500))),
            (vec![1, 0], run(1, Recovered, false, Some(4_000))),
            (vec![1, 1], run(1, NotRecovered, false, None)),
            (vec![2, 0], run(1, Metastable, true, None)),
            (vec![2, 0], run(2, Metastable, true, None)),
            (vec![2, 1], run(1, Metastable, false, None)),
        ],
    );
    // The sweep-level gates, judged on this map as `sweep --gate` judges them: one
    // passes, one fails; both are on the page beside the verdict.
    let gates: Vec<_> = ["metastable_share < 50%", "metastable_share < 10%"]
        .iter()
        .map(|g| stampede::threshold::parse_map_gate(g).unwrap().unwrap())
        .collect();
    let judged = stampede::analysis::map_gate::judge(&m, &gates);
    let page = html::render_sweep(&aggregate(&[]), Some(&m), &judged, "map").unwrap();
    let (_tmp, dir) = workdir();
    let o = open(&page.replace("</body>", PROBE), &dir, "map");
    eprintln!("screenshot: {}", o.screenshot.display());
    assert_eq!(body_attr(&o.dom, "data-errors").as_deref(), Some(""), "script errors");
    assert!(o.dom.contains("Cliff at 2x the profile's storm.waves[0].share"));
    let card = &o.dom[o.dom.find(r#"<section class="verdict"#).unwrap()..];
    let card = &card[..card.find("</section>").unwrap()];
    assert!(card.contains("1 of 2 sweep gates failed"), "{card}");
    assert!(
        card.contains(r#"<li class="pass"><span class="mark">✓</span>"#)
            && card.contains("<code>metastable_share &lt; 50%</code>"),
        "{card}"
    );
    assert!(
        card.contains(r#"<li class="fail"><span class="mark">✗</span>"#)
            && card.contains("<code>metastable_share &lt; 10%</code>"),
        "{card}"
    );
    let cells: serde_json::Value = serde_json::from_str(&unescape(&body_attr(&o.dom, "data-cells").unwrap())).unwrap();
    let cells = cells.as_array().unwrap();
    // Row by row: 200/s first, then 100/s.
    let verdicts: Vec<&str> = cells.iter().map(|c| c[0].as_str().unwrap()).collect();
    assert_eq!(
        verdicts,
        [
            "never-degraded",
            "recovered",
            "metastable",
            "recovered",
            "not-recovered",
            "metastable"
        ]
    );
    let colour = |k: usize| rgb(cells[k][1].as_str().unwrap());
    for k in [0, 1, 3] {
        let c = colour(k);
        assert!(c[1] > c[0], "a recovered point is green: {:?} {c:?}", cells[k]);
        assert_eq!(c, colour(0), "recovered points share one colour");
    }
    let bad = colour(4);
    assert!(bad[0] > bad[1] + 40.0, "a point that did not recover is red: {bad:?}");
    // The metastable cells are striped (a gradient image), not a plain fill.
    assert!(cells[2][4].as_str().unwrap().contains("looped"));
    // The probe's mark on the point it confirmed, only there.
    let confirmed: Vec<bool> = cells.iter().map(|c| c[2].as_bool().unwrap()).collect();
    assert_eq!(confirmed, [false, false, true, false, false, false]);
    assert!(
        o.dom
            .contains(r#"<span class="confirmed" title="confirmed by the probe">✓</span>"#)
    );
    // Links to each run's page, relative, one per seed.
    assert_eq!(
        cells[2][3],
        serde_json::json!(["runs/p1-metastable/report.html", "runs/p2-metastable/report.html"])
    );
    // The edge runs between 20% and 40% on the 200/s row, above 20% at 100/s, and
    // between 10% and 20% on the 100/s row: a thick line there, a hairline elsewhere.
    let edge = |k: usize, i: usize| {
        cells[k][i]
            .as_str()
            .unwrap()
            .trim_end_matches("px")
            .parse::<f64>()
            .unwrap()
    };
    for (k, top, left) in [
        (0, false, false),
        (1, false, false),
        (2, false, true),
        (3, false, false),
        (4, true, true),
        (5, false, false),
    ] {
        assert_eq!(edge(k, 5) >= 3.0, top, "cell {k} top: {:?}", cells[k]);
        assert_eq!(edge(k, 6) >= 3.0, left, "cell {k} left: {:?}", cells[k]);
    }
    // A recovered point says its median recovery time; the others their verdict.
    let words: Vec<&str> = o
        .dom
        .split(r#"<div class="words">"#)
        .skip(1)
        .map(|w| w[..w.find('<').unwrap()].trim())
        .collect();
    assert_eq!(
        words,
        [
            "never degraded",
            "4s",
            "metastable",
            "2.5s",
            "not recovered",
            "metastable"
        ]
    );
}
