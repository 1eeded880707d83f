//! The HTML report: one self-contained file a person opens (from `file://`, offline)
//! to see the storm, the collapse and the recovery.
//!
//! The page is a minijinja template (auto-escaped: nothing from the profile or the
//! target can inject markup). What the charts plot is computed here and embedded as
//! one JSON block that the page script parses; the raw histograms are not embedded,
//! only the per-window series and the percentile curves computed from them, so a
//! 600-window run stays well under 2 MB. Charts are drawn by uPlot (MIT, vendored in
//! `assets/`), inlined with the page's own script and style.

mod actions;
mod data;
mod echo;
mod h2;
mod header;
mod held;
mod map;
mod story;
#[cfg(test)]
mod tests;

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};

use self::data::{Curves, RunData, latency_groups, step_groups};
use self::header::Header;
use super::Report;
use crate::analysis::Comparison;
use crate::analysis::map::Map;
use crate::analysis::sweep::Sweep;
use crate::record::HistError;
use crate::units::{fmt_ms, pct};

const UPLOT_JS: &str = include_str!("../assets/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/uPlot.min.css");
/// The page's own script, in the order its parts need each other: one `<script>`.
const PAGE_JS: &str = concat!(
    include_str!("../assets/charts.js"),
    include_str!("../assets/marks.js"),
    include_str!("../assets/held.js"),
    include_str!("../assets/h2.js"),
    include_str!("../assets/page.js"),
);
const PAGE_CSS: &str = include_str!("../assets/stampede.css");

const TEMPLATES: [(&str, &str); 5] = [
    ("macros.html", include_str!("../templates/macros.html")),
    ("base.html", include_str!("../templates/base.html")),
    ("run.html", include_str!("../templates/run.html")),
    ("compare.html", include_str!("../templates/compare.html")),
    ("sweep.html", include_str!("../templates/sweep.html")),
];

#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("the HTML template failed to render: {0}")]
    Template(#[from] minijinja::Error),
    #[error("a window's histogram cannot be read: {0}")]
    Hist(#[from] HistError),
}

/// The report of one run as one HTML page.
pub fn render(report: &Report) -> Result<String, HtmlError> {
    let data = RunData::of(report)?;
    let curves = Curves::of(
        latency_groups(report)?
            .into_iter()
            .chain(step_groups(&report.windows)?)
            .collect(),
    );
    let page = context! {
        title => format!("stampede · {}", report.name),
        run => Value::from(Serde(Header::of(report))),
        data => script_json(&context! { kind => "run", run => Value::from(Serde(&data)), curves => Value::from(Serde(&curves)) }),
    };
    render_page("run.html", page)
}

/// Two runs of one profile, the new one overlaid on the base.
pub fn render_compare(base: &Report, new: &Report, cmp: &Comparison) -> Result<String, HtmlError> {
    let mut groups = Vec::new();
    for (who, r) in [("base", base), ("new", new)] {
        for (label, h) in latency_groups(r)? {
            groups.push((format!("{who}: {label}"), h));
        }
    }
    let rows: Vec<_> = cmp
        .rows
        .iter()
        .map(|r| {
            context! {
                metric => &r.metric,
                base => &r.base,
                new => &r.new,
                change => r.change_pct.map_or("–".to_string(), |c| format!("{c:+.1}%")),
                regressed => r.regressed,
                status => r.status(),
            }
        })
        .collect();
    let page = context! {
        title => format!("stampede · {} vs {}", base.name, new.name),
        base => Value::from(Serde(Header::of(base))),
        new => Value::from(Serde(Header::of(new))),
        rows => rows,
        tolerance => pct(cmp.tolerance),
        rules => cmp.rule_words(),
        notes => super::compare::profile_notes(base, new),
        noise => super::text::noise_lines(cmp),
        regressed => cmp.any_regression(),
        data => script_json(&context! {
            kind => "compare",
            base => Value::from(Serde(RunData::of(base)?)),
            new => Value::from(Serde(RunData::of(new)?)),
            curves => Value::from(Serde(Curves::of(groups))),
        }),
    };
    render_page("compare.html", page)
}

/// A sweep: its map as a heatmap when it has one, and recovery time against storm
/// intensity (the cliff marked) when intensity is its only axis; its sweep-level gates
/// (`metastable_share`, `cliff`) beside the verdict, as a run's thresholds are.
pub fn render_sweep(
    sweep: &Sweep,
    map: Option<&Map>,
    gates: &[crate::analysis::ThresholdResult],
    title: &str,
) -> Result<String, HtmlError> {
    let secs = |v: Option<u64>| v.map(|ms| ms as f64 / 1000.0);
    let levels: Vec<_> = sweep
        .levels
        .iter()
        .map(|l| {
            context! {
                intensity => l.intensity,
                runs => l.runs,
                recovered => l.recovered,
                not_recovered => l.not_recovered,
                failed_seeds => l.failed_seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
                median => l.median_recovery_ms.map(|v| fmt_ms(v as f64)),
                range => match (l.min_recovery_ms, l.max_recovery_ms) {
                    (Some(a), Some(b)) => Some(format!("{} – {}", fmt_ms(a as f64), fmt_ms(b as f64))),
                    _ => None,
                },
                verdicts => l.verdicts.iter().map(|(k, v)| format!("{k} × {v}")).collect::<Vec<_>>().join(", "),
                median_s => secs(l.median_recovery_ms),
                min_s => secs(l.min_recovery_ms),
                max_s => secs(l.max_recovery_ms),
                not_recovered_pct => if l.runs > 0 { Some(r3(l.not_recovered as f64 * 100.0 / l.runs as f64)) } else { None },
            }
        })
        .collect();
    let page = context! {
        title => format!("stampede sweep · {title}"),
        name => title,
        levels => levels.clone(),
        cliff => sweep.cliff,
        first_failure => sweep.first_failure,
        safe_up_to => sweep.safe_up_to,
        map => map.filter(|m| !m.cells.is_empty()).map(map::heatmap),
        gates => gates.iter().map(|t| context! { expr => &t.expr, passed => t.passed, measured => &t.measured }).collect::<Vec<_>>(),
        gates_failed => match gates.iter().filter(|t| !t.passed).count() {
            0 => None,
            n => Some(format!("{n} of {} sweep gates failed", gates.len())),
        },
        by_intensity => map.is_none_or(|m| m.axes.len() == 1 && m.axes[0].path == "intensity"),
        data => script_json(&context! {
            kind => "sweep",
            levels => levels,
            cliff => sweep.cliff,
            first_failure => sweep.first_failure,
            safe_up_to => sweep.safe_up_to,
        }),
    };
    render_page("sweep.html", page)
}

fn render_page(name: &str, ctx: Value) -> Result<String, HtmlError> {
    let mut env = Environment::new();
    for (n, src) in TEMPLATES {
        env.add_template(n, src)?;
    }
    // Trusted, vendored text: inlined as is (checked by a test to hold no `</script`).
    env.add_global("uplot_js", Value::from_safe_string(UPLOT_JS.into()));
    env.add_global("uplot_css", Value::from_safe_string(UPLOT_CSS.into()));
    env.add_global("page_js", Value::from_safe_string(PAGE_JS.into()));
    env.add_global("page_css", Value::from_safe_string(PAGE_CSS.into()));
    env.add_global("version", env!("CARGO_PKG_VERSION"));
    Ok(env.get_template(name)?.render(ctx)?)
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&` become
/// `\u003c` etc., so no string in it can close the block or open a comment, and
/// `JSON.parse` reads it back unchanged.
fn script_json(v: &Value) -> Value {
    let s = serde_json::to_string(v).expect("template values always serialize");
    Value::from_safe_string(
        s.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026"),
    )
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}
