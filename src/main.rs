//! The `stampede` command: parses, runs, maps the outcome to an exit code. The commands
//! themselves live in the library's `cli` module.
//! Exit codes: 0 success, 1 a threshold failed, 2 bad input, 3 the run could not proceed.

use std::process::ExitCode;

use clap::Parser as _;

use stampede::cli::{self, Cli};

/// The exit code when the runtime cannot start or the command's task dies.
const CANNOT_PROCEED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(CANNOT_PROCEED);
        }
    };
    // The command runs as a task on the workers, not on the thread that blocks on the
    // runtime: the engine's scheduler then shares threads with the requests it starts,
    // instead of being woken across threads for every completion.
    rt.block_on(async {
        tokio::spawn(cli::run(cli)).await.unwrap_or_else(|e| {
            eprintln!("error: the run stopped unexpectedly: {e}");
            ExitCode::from(CANNOT_PROCEED)
        })
    })
}
