//! `stampede compare`: what changed between two runs, exit 1 on a regression.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};

use super::CliError;
use crate::analysis::compare::{Floors, Options};
use crate::report::{Report, html, write_atomic};
use crate::units::Share;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The base run: its folder or its report.json.
    pub base: PathBuf,
    /// The new run, compared with the base: its folder or its report.json.
    pub new: PathBuf,
    /// Also write both runs overlaid as an HTML page.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Allowed relative worsening before a change counts as a regression.
    #[arg(long, default_value = "10%")]
    pub tolerance: Share,
    /// The smallest change of a metric class that can count as a regression, whatever
    /// the tolerance (repeatable), e.g. `--floor latency=10ms`. Classes and defaults:
    /// latency=5ms (every percentile and max), recovery_time=one window,
    /// failures=0.1% (success rate and gave-up share, in points), down_share=1%,
    /// retry_amplification=0.05.
    #[arg(long = "floor", value_name = "CLASS=VALUE")]
    pub floors: Vec<String>,
    /// Judge `login.max` too (by default it is shown, not judged: one slow request
    /// decides a maximum).
    #[arg(long)]
    pub gate_max: bool,
    /// Write the comparison as JUnit XML (one test case per figure) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary of the comparison to FILE (also appended to
    /// $GITHUB_STEP_SUMMARY when that is set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

/// The judging options from the flags; every bad `--floor` is named at once.
fn options(args: &CompareArgs) -> Result<Options, CliError> {
    let mut floors = Floors::default();
    let problems: Vec<String> = args
        .floors
        .iter()
        .filter_map(|spec| floors.set(spec).err().map(|e| format!("--floor {spec:?}: {e}")))
        .collect();
    if !problems.is_empty() {
        return Err(CliError::BadInputs(problems));
    }
    Ok(Options {
        tolerance: args.tolerance.0,
        floors,
        gate_max: args.gate_max,
    })
}

pub(super) fn compare(args: CompareArgs) -> Result<(), CliError> {
    let opts = options(&args)?;
    let (base, new) = (&args.base, &args.new);
    // Both are read before either is refused, so that two bad inputs are named at once.
    let (b, n) = match (Report::read(base), Report::read(new)) {
        (Ok(b), Ok(n)) => (b, n),
        (b, n) => {
            let problems = [b.err(), n.err()].into_iter().flatten();
            return Err(CliError::BadInputs(problems.map(|e| e.to_string()).collect()));
        }
    };
    let (Some(br), Some(nr)) = (&b.recovery, &n.recovery) else {
        return Err(CliError::BadInput(anyhow!(
            "both reports need their recovery analysis (written by `stampede run`)"
        )));
    };
    let cmp = crate::analysis::compare_with(&b.windows, br, &n.windows, nr, &opts);
    out!(
        "base {} ({}) vs new {} ({})",
        base.display(),
        b.started_at,
        new.display(),
        n.started_at
    );
    for note in crate::report::compare::profile_notes(&b, &n) {
        out!("warning: {note}");
    }
    out_raw!("{}", crate::report::text::comparison(&cmp));
    if let Some(path) = &args.out {
        let page = html::render_compare(&b, &n, &cmp)
            .context("cannot render the comparison")
            .map_err(CliError::CannotProceed)?;
        write_atomic(path, page.as_bytes()).map_err(CliError::cannot_proceed)?;
        out!("  comparison: {}", path.display());
    }
    ci_outputs(&args, &b, &n, &cmp)?;
    if cmp.any_regression() {
        return Err(CliError::Regression {
            tolerance: opts.tolerance,
        });
    }
    Ok(())
}

/// `--junit`, `--summary` and the GitHub job summary.
fn ci_outputs(args: &CompareArgs, b: &Report, n: &Report, cmp: &crate::analysis::Comparison) -> Result<(), CliError> {
    let write = |path: &Path, text: &str| write_atomic(path, text.as_bytes()).map_err(CliError::cannot_proceed);
    if let Some(path) = &args.junit {
        write(path, &crate::report::compare::junit(b, n, cmp))?;
    }
    let md = crate::report::compare::markdown(b, n, cmp);
    if let Some(path) = &args.summary {
        write(path, &md)?;
    }
    super::append_step_summary(&md);
    Ok(())
}
