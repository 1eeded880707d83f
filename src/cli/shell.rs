//! `stampede completions` and `stampede man`: what a shell and `man` need, generated
//! from the clap definitions themselves, so that they list every subcommand and flag
//! the binary has. The pages shipped in `man/` are these (a test keeps them so).

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::{Cli, CliError};

/// The completion script for `shell`, on stdout.
pub(super) fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "stampede", &mut script);
    out_raw!("{}", String::from_utf8_lossy(&script));
    Ok(())
}

/// Every man page of the command line as (file name, roff text): `stampede.1` first,
/// then one per subcommand (`stampede-run.1`, ...), subcommands of subcommands too.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut roff = Vec::new();
        man.render(&mut roff).expect("rendering into memory cannot fail");
        pages.push((man.get_filename(), roff));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, pages);
        }
    }
    // Built as a whole first, so that each subcommand's page is named `stampede-NAME`.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    walk(&cmd, &mut pages);
    pages
}

/// `stampede.1` on stdout (`stampede man | man -l -`), or every page into `out`.
pub(super) fn man(out: Option<&Path>) -> Result<(), CliError> {
    let pages = man_pages();
    let Some(dir) = out else {
        let (_, top) = &pages[0];
        out_raw!("{}", String::from_utf8_lossy(top));
        return Ok(());
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out {}: cannot create the folder", dir.display()))
        .map_err(CliError::CannotProceed)?;
    for (name, text) in &pages {
        let path = dir.join(name);
        crate::report::write_atomic(&path, text).map_err(CliError::cannot_proceed)?;
        out!("{}", path.display());
    }
    Ok(())
}
