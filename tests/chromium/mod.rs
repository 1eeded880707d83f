//! Headless Chromium for the report tests: open a page, dump its DOM after the scripts
//! ran, take a screenshot, and read back what the page script laid out.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const CHROMIUM: &str = "/usr/bin/chromium";

pub fn chromium() -> &'static str {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install it (`apt-get install chromium`; the CI script does) \
         to check that the HTML report's charts draw"
    );
    CHROMIUM
}

/// Runs headless Chromium on `page` with `extra` arguments; returns stdout.
pub fn chrome(page: &Path, profile_dir: &Path, extra: &[String]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--disable-quic",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the DOM is UTF-8")
}

/// The value of attribute `name` on the dumped `<body>`.
pub fn body_attr(dom: &str, name: &str) -> Option<String> {
    let at = dom.find("<body")?;
    let tag = &dom[at..at + dom[at..].find('>')?];
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_string())
}

pub struct Opened {
    pub dom: String,
    pub screenshot: PathBuf,
}

/// Writes `html` into `dir`, dumps its DOM after the scripts ran and takes a screenshot.
pub fn open(html: &str, dir: &Path, stem: &str) -> Opened {
    let page = dir.join(format!("{stem}.html"));
    std::fs::write(&page, html).unwrap();
    // A fresh browser profile per launch: parallel tests must not share one.
    let profiles = tempfile::tempdir().unwrap();
    let dom = chrome(&page, &profiles.path().join("dom"), &["--dump-dom".into()]);
    let screenshot = dir.join(format!("{stem}.png"));
    chrome(
        &page,
        &profiles.path().join("shot"),
        &[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,3000".into(),
        ],
    );
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000),
        "no screenshot at {}",
        screenshot.display()
    );
    Opened { dom, screenshot }
}

/// Where to keep what the test wrote, to look at it: `STAMPEDE_HTML_KEEP=/some/dir`.
pub fn workdir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("STAMPEDE_HTML_KEEP") {
        Some(d) => {
            std::fs::create_dir_all(&d).unwrap();
            PathBuf::from(d)
        }
        None => tmp.path().to_path_buf(),
    };
    (tmp, dir)
}

/// The JSON block the page script reads.
pub fn data_of(html: &str) -> serde_json::Value {
    let open = r#"<script type="application/json" id="stampede-data">"#;
    let start = html.find(open).expect("a data block") + open.len();
    let len = html[start..].find("</script>").expect("closed");
    serde_json::from_str(&html[start..start + len]).expect("JSON")
}

/// An attribute's value as the DOM dump escapes it, unescaped.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// What the page script laid out on each chart (marks.js, `data-labels`): the plot
/// box, the horizontal lines' y and the label boxes `[x0, y0, x1, y1, text]`, in CSS px.
pub fn label_layouts(dom: &str) -> Vec<serde_json::Value> {
    let key = r#" data-labels=""#;
    dom.match_indices(key)
        .map(|(at, _)| {
            let v = &dom[at + key.len()..];
            serde_json::from_str(&unescape(&v[..v.find('"').unwrap()])).expect("data-labels is JSON")
        })
        .collect()
}

/// Checks that on every chart of `dom` each label lies inside the plot, overlaps no
/// other label and is crossed by no horizontal line (an SLO line once struck through
/// its own label). Returns how many labels there were.
pub fn labels_clear(dom: &str, page: &str) -> usize {
    let layouts = label_layouts(dom);
    assert!(!layouts.is_empty(), "{page}: no chart recorded its labels");
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let mut n = 0;
    for (i, l) in layouts.iter().enumerate() {
        let plot: Vec<f64> = l["plot"].as_array().unwrap().iter().map(f).collect();
        let ys: Vec<f64> = l["hlines"].as_array().unwrap().iter().map(f).collect();
        let boxes: Vec<(Vec<f64>, &str)> = l["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b.as_array().unwrap()[..4].iter().map(f).collect(),
                    b[4].as_str().unwrap(),
                )
            })
            .collect();
        for (b, text) in &boxes {
            let inside =
                b[0] >= plot[0] - 0.5 && b[2] <= plot[2] + 0.5 && b[1] >= plot[1] - 0.5 && b[3] <= plot[3] + 0.5;
            assert!(inside, "{page} chart {i}: `{text}` {b:?} leaves the plot {plot:?}");
            for y in &ys {
                assert!(
                    !(b[1] <= *y && *y <= b[3]),
                    "{page} chart {i}: the line at y {y} crosses `{text}` {b:?}"
                );
            }
        }
        for (j, (a, ta)) in boxes.iter().enumerate() {
            for (b, tb) in &boxes[j + 1..] {
                let overlap = a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
                assert!(!overlap, "{page} chart {i}: `{ta}` {a:?} overlaps `{tb}` {b:?}");
            }
        }
        n += boxes.len();
    }
    n
}

/// Each chart's legend as (series label, marker colour).
pub fn legend_colours(dom: &str) -> Vec<Vec<(String, String)>> {
    let marker = r#"<div class="u-marker" style="border: 2px "#;
    let label = r#"<div class="u-label">"#;
    dom.split(r#"<div class="chart""#)
        .skip(1)
        .map(|chart| {
            chart
                .match_indices(marker)
                .filter_map(|(at, _)| {
                    let rest = &chart[at + marker.len()..];
                    let style = &rest[..rest.find('"')?];
                    // `solid rgb(1, 2, 3); background: ...`: the border's colour.
                    let colour = style.split_once(' ')?.1.split(';').next()?.to_string();
                    let l = &rest[rest.find(label)? + label.len()..];
                    Some((unescape(&l[..l.find('<')?]), colour))
                })
                .collect()
        })
        .collect()
}

/// The DOM of `html` after its scripts ran, without a screenshot.
pub fn dom_of(html: &str, dir: &Path, stem: &str) -> String {
    let page = dir.join(format!("{stem}.html"));
    std::fs::write(&page, html).unwrap();
    let profiles = tempfile::tempdir().unwrap();
    chrome(&page, &profiles.path().join("dom"), &["--dump-dom".into()])
}
