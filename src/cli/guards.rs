//! What every storming command checks or leaves before it sends anything: the
//! permission for a profile's actions, and the CI outputs of a refusal.

use std::path::Path;

use super::CliError;
use crate::profile::Profile;

/// A command refused for bad input (exit 2) still leaves its CI outputs where asked: a
/// JUnit file with one case in error and a Markdown summary, both naming every problem,
/// so that a job that always keeps them shows why (`run` and `sweep`).
pub(super) fn refusal_outputs(e: &CliError, profile: &Path, junit: Option<&Path>, summary: Option<&Path>) {
    if e.exit_code() != 2 || (junit.is_none() && summary.is_none()) {
        return;
    }
    let problems: Vec<String> = match e {
        CliError::BadInputs(all) => all.clone(),
        other => vec![other.to_string().trim_end().to_string()],
    };
    // The profile's own name when it loads (a bad flag), else its file's.
    let name = crate::run::load(profile).map(|p| p.name).unwrap_or_else(|_| {
        profile
            .file_stem()
            .map_or_else(|| profile.display().to_string(), |s| s.to_string_lossy().into_owned())
    });
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let outputs = [
        (junit, crate::report::junit_bad_input(&name, &problems, &now)),
        (summary, crate::report::markdown::bad_input(&name, &problems)),
    ];
    for (path, text) in outputs {
        if let Some(path) = path
            && let Err(w) = crate::report::write_atomic(path, text.as_bytes())
        {
            eprintln!("error: {w}");
        }
    }
}

/// `--allow-actions`, or `$STAMPEDE_ALLOW_ACTIONS` set to 1, true or yes.
pub(super) fn actions_allowed(flag: bool) -> bool {
    flag || std::env::var("STAMPEDE_ALLOW_ACTIONS")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// A profile with `storm.actions` runs only when they were allowed: refused before
/// anything is sent otherwise, listing every command (bad input, exit 2).
pub(super) fn check_actions(p: &Profile, flag: bool) -> Result<(), CliError> {
    if p.storm.actions.is_empty() || actions_allowed(flag) {
        return Ok(());
    }
    let commands: Vec<String> = p.storm.actions.iter().map(|a| a.shown_line()).collect();
    Err(CliError::bad_input(anyhow::anyhow!(crate::run::actions::refusal(
        &commands
    ))))
}
