//! The `stampede` command line: clap types, dispatch to one file per subcommand, and
//! the output helpers they share. `main.rs` only builds the runtime and calls [`run`].
//! Exit codes: 0 success, 1 a threshold failed, 2 bad input, 3 the run could not proceed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::profile::{self, Profile};
use crate::report::Shard;
use crate::units::{Rate, Share};

/// `println!` that does not panic when stdout is closed (`stampede validate p | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that does not panic when stdout is closed.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod compare;
mod live;
mod merge;
mod overlay;
mod report;
mod run;
mod signal;
mod sweep;
mod validate;

pub use merge::reanalyze_merged;

#[derive(Parser)]
#[command(
    name = "stampede",
    version,
    about = "Replays login storms and measures whether, and how fast, the target recovers."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Storm the profile's target and write the report.
    Run(RunArgs),
    /// Check a profile and show the storm's shape without sending anything.
    #[command(alias = "plan")]
    Validate {
        profile: PathBuf,
        #[arg(long, value_parser = parse_shard)]
        shard: Option<Shard>,
    },
    /// Merge the report.json of several shards of one run into one report.
    Merge {
        reports: Vec<PathBuf>,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Render the HTML report again from a run's report.json (or a sweep's sweep.json).
    Report {
        /// A run folder, a report.json or a sweep.json.
        input: PathBuf,
        /// Where to write the page [default: beside the input].
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Compare two runs: what changed, and a non-zero exit on a regression.
    Compare {
        base: PathBuf,
        new: PathBuf,
        /// Also write both runs overlaid as an HTML page.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Allowed worsening before a change counts as a regression.
        #[arg(long, default_value = "10%")]
        tolerance: Share,
    },
    /// Run the profile at several storm intensities and seeds; report where recovery stops.
    Sweep {
        profile: PathBuf,
        /// Storm multipliers (wave shares or trace counts), e.g. 0.5,1,1.5,2.
        #[arg(long, value_delimiter = ',', default_value = "0.5,1,1.5,2")]
        intensity: Vec<f64>,
        /// Seeds per intensity (the profile's seed, +1, +2, ...).
        #[arg(long, default_value_t = 3)]
        seeds: u32,
        /// Output folder for sweep.json [default: reports/<name>-sweep-<timestamp>/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Serve the reference overlay for other tools (curl, wrk, a browser).
    Overlay {
        /// Address to listen on (loopback only is wise: it is a test target).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Preset: healthy, bug-2007, unbounded, december-2010.
        #[arg(long, default_value = "healthy")]
        mode: String,
        /// YAML file of overlay settings that replace the preset's.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Clients 0..N are logged in when it starts.
        #[arg(long)]
        initial_online: Option<u64>,
    },
}

#[derive(clap::Args)]
pub struct RunArgs {
    pub profile: PathBuf,
    /// Output folder [default: reports/<name>-<timestamp>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Safety ceiling on requests per second (e.g. 5000/s). Not a pacer: delayed
    /// requests still count their latency from their intended instant.
    #[arg(long)]
    pub max_rate: Option<Rate>,
    /// Run only shard I of N (`--shard 2/4`, 1-based); all shards start at one instant.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Engine threads, each with its own part of the clients and its own connections
    /// [default: every core; half of them with the embedded overlay].
    #[arg(long, short = 't', value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// Override the profile's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// No live progress.
    #[arg(long, short)]
    pub quiet: bool,
    /// A threshold (repeatable), e.g. `--gate "recovery_time < 3m"`; replaces the
    /// profile's `gate` list.
    #[arg(long = "gate", value_name = "EXPR")]
    pub gates: Vec<String>,
    /// Write the thresholds as JUnit XML (one test case each) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary for a CI job page to FILE (also appended to
    /// $GITHUB_STEP_SUMMARY when that is set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s.split_once('/').ok_or("write the shard as I/N, e.g. 2/4")?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| "I is not a number")?,
        n.trim().parse().map_err(|_| "N is not a number")?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n}: I must be from 1 to N"));
    }
    Ok(Shard { index: i - 1, count: n })
}

const GATE_FAILED: u8 = 1;
const BAD_INPUT: u8 = 2;
const CANNOT_PROCEED: u8 = 3;

/// Runs one parsed command line to its exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.cmd {
        Cmd::Run(args) => run::run(args).await,
        Cmd::Validate { profile, shard } => validate::validate(&profile, shard),
        Cmd::Merge { reports, out } => merge::merge(&reports, &out),
        Cmd::Report { input, out } => report::report(&input, out.as_deref()),
        Cmd::Compare {
            base,
            new,
            out,
            tolerance,
        } => compare::compare(&base, &new, out.as_deref(), tolerance.0),
        Cmd::Sweep {
            profile,
            intensity,
            seeds,
            out,
        } => sweep::sweep(&profile, &intensity, seeds, out).await,
        Cmd::Overlay {
            listen,
            mode,
            config,
            initial_online,
        } => overlay::overlay(listen, &mode, config.as_deref(), initial_online).await,
    }
}

fn load(path: &Path) -> Result<Profile, ExitCode> {
    profile::load(path).map_err(|e| {
        eprint!("error: {e}");
        ExitCode::from(BAD_INPUT)
    })
}

/// Where a run writes when `--out` is not given: `reports/<name>-<YYYYMMDD-HHMMSS>/`,
/// the name made safe for a folder.
// MOVE: a run's default output folder is the library's business (`run/` or `report/`);
// it lives here until the library re-layout settles, and its owner moves it.
pub fn default_out_dir(p: &Profile) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let stamp: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
    let stamp = format!("{}-{}", &stamp[..8], &stamp[8..14]);
    let name: String = p
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    PathBuf::from("reports").join(format!("{}-{stamp}", name.trim_matches('-')))
}
