//! The `stampede` command: parses, runs, maps the outcome to an exit code. The commands
//! themselves live in the library's `cli` module, which also prints every error.
//! Exit codes: 0 success, 1 a threshold failed or a regression, 2 bad input, 3 the run
//! could not proceed or was interrupted.

use std::process::ExitCode;

use clap::Parser as _;

use stampede::cli::{self, Cli, CliError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return cli::exit(Err(CliError::cannot_proceed_because("cannot start the runtime", e))),
    };
    // The command runs as a task on the workers, not on the thread that blocks on the
    // runtime: the engine's scheduler then shares threads with the requests it starts,
    // instead of being woken across threads for every completion.
    let outcome = rt.block_on(async {
        tokio::spawn(cli::run(cli))
            .await
            .unwrap_or_else(|e| Err(CliError::cannot_proceed_because("the run stopped unexpectedly", e)))
    });
    cli::exit(outcome)
}
