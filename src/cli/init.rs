//! `stampede init`: writes a commented starter profile for a real login endpoint.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};

use super::CliError;
use crate::profile::starter::{self, Starter};

#[derive(clap::Args)]
pub struct InitArgs {
    /// The service's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// The login request, method and path.
    #[arg(long, default_value = "POST /login", value_name = "METHOD /PATH")]
    pub login: String,
    /// A CSV of credentials with a header row (e.g. `username,password`): one row per
    /// client, its columns sent as the login's JSON body. Beside the profile or below it.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// The login's body [default: a JSON object of the data columns].
    #[arg(long, value_name = "TEMPLATE")]
    pub body: Option<String>,
    /// Where the token is in the login's JSON answer (a JSON Pointer, e.g. /access_token).
    #[arg(long, value_name = "POINTER")]
    pub token_json: Option<String>,
    /// A request that keeps the session alive every 5 s (e.g. `GET /me`), sent with
    /// `Authorization: Bearer` and the token when --token-json is given.
    #[arg(long, value_name = "METHOD /PATH")]
    pub keepalive: Option<String>,
    /// The profile's name (names the report folder).
    #[arg(long, default_value = "my-service")]
    pub name: String,
    /// Clients driven.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub clients: u32,
    /// The storm's length: a third baseline, a third the wave, a third the recovery.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: std::time::Duration,
    /// The profile to write.
    #[arg(short, long, default_value = "stampede.yaml")]
    pub out: PathBuf,
    /// Overwrite the file when it exists.
    #[arg(long)]
    pub force: bool,
}

pub(super) fn init(args: InitArgs) -> Result<(), CliError> {
    if args.out.exists() && !args.force {
        return Err(CliError::bad_input(anyhow!(
            "{} exists: pass --force to overwrite it, or -o another file",
            args.out.display()
        )));
    }
    let dir = match args.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let data = args.data.as_deref().map(|d| data_columns(d, &dir)).transpose()?;
    let s = Starter {
        name: args.name,
        url: args.url,
        login: args.login,
        body: args.body,
        data,
        token_json: args.token_json,
        keepalive: args.keepalive,
        clients: args.clients,
        duration: args.duration,
    };
    let text = starter::render(&s).map_err(CliError::bad_input)?;
    crate::run::parse(&text, &args.out, &|k| std::env::var(k).ok())
        .context("the profile these flags make does not validate")
        .map_err(CliError::BadInput)?;
    std::fs::write(&args.out, &text)
        .with_context(|| format!("cannot write {}", args.out.display()))
        .map_err(CliError::CannotProceed)?;
    let p = args.out.display();
    out!(
        "wrote {p}: {} clients, one reboot wave, an SLO and two gates",
        s.clients
    );
    out!("next:");
    out!("  stampede validate {p}   # the storm's shape, nothing sent");
    out!("  stampede try {p}        # one login (and keepalive), each request and answer shown");
    out!("  stampede run {p}        # the storm, its verdict and report.html");
    Ok(())
}

/// The data file as the profile names it (relative to the profile's folder, where a
/// profile may read data from) and its columns, read from its header row.
fn data_columns(data: &Path, dir: &Path) -> Result<(String, Vec<String>), CliError> {
    let bad = |e: anyhow::Error| CliError::BadInput(e.context(format!("--data {}", data.display())));
    let real = data.canonicalize().map_err(|e| bad(e.into()))?;
    let real_dir = dir
        .canonicalize()
        .with_context(|| format!("-o: the folder {} cannot be read", dir.display()))
        .map_err(CliError::BadInput)?;
    let rel = real.strip_prefix(&real_dir).map_err(|_| {
        bad(anyhow!(
            "a profile reads its data from its own folder or below it; put the file beside {} (or write the \
             profile with -o next to the data)",
            dir.display()
        ))
    })?;
    let text =
        crate::profile::file::read_text(&real, crate::profile::limits::DATA_BYTES).map_err(|e| bad(anyhow!(e)))?;
    let name = rel.to_string_lossy().into_owned();
    let parsed = crate::profile::data::parse_csv(&name, &text, None).map_err(|e| bad(anyhow!(e)))?;
    Ok((name, parsed.columns))
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<crate::units::Dur>().map(|d| d.0).map_err(|e| e.to_string())
}
