//! `stampede try`: one client's flow once, shown request by request, secrets masked.

use std::path::PathBuf;

use super::{CliError, load};
use crate::engine::trial::{TrialOptions, render, trial};
use crate::run::confirm::{ALLOW_VAR, allow_list};

#[derive(clap::Args)]
pub struct TryArgs {
    /// The profile whose login flow (and keepalive, or held connection) is tried once.
    pub profile: PathBuf,
    /// The data row the client takes (1 = the first row of `client.data`, in the order
    /// clients take them); also the client's `{{client}}` (row − 1).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub data_row: u64,
    /// Send to this host (or host:port) although it is outside loopback (repeatable;
    /// exact match). Also from $STAMPEDE_ALLOW_TARGET (comma-separated).
    #[arg(long = "allow-target", value_name = "HOST[:PORT]")]
    pub allow_targets: Vec<String>,
}

pub(super) async fn try_flow(args: TryArgs) -> Result<(), CliError> {
    let p = load(&args.profile)?;
    let profile_text = std::fs::read_to_string(&args.profile).unwrap_or_default();
    let opts = TrialOptions {
        data_row: args.data_row,
        allowed: allow_list(&args.allow_targets, std::env::var(ALLOW_VAR).ok()),
        profile_text,
    };
    let t = trial(&p, opts).await.map_err(|e| {
        if e.is_bad_input() {
            CliError::bad_input(e)
        } else {
            CliError::cannot_proceed(e)
        }
    })?;
    out_raw!("{}", render(&t));
    match t.flows.iter().find(|f| !f.class.is_ok()) {
        None => Ok(()),
        Some(f) => Err(CliError::TryFailed {
            flow: f.what,
            why: f.why.clone().unwrap_or_else(|| f.class.to_string()),
        }),
    }
}
