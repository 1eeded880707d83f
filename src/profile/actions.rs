//! Operator actions on the target (`storm.actions`): commands run at instants of the
//! storm, as an operator would restart a node or scale a pool on the real day. Each is
//! an argv (never a shell string), checked when the profile loads; the run starts them
//! only when told it may (`--allow-actions`), since a profile may come from anyone.

use std::path::PathBuf;
use std::time::Duration;

/// The longest an action may run by default before its process group is ended.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Actions one profile may have.
pub const MAX_ACTIONS: usize = 100;
/// Arguments one action may have, and the longest of them (bytes).
pub const MAX_ARGS: usize = 256;
pub const MAX_ARG_BYTES: usize = 4096;

/// One command at one instant of the storm.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Modelled offset, as a wave's `at`: from the same origin as the waves.
    pub at: Duration,
    /// What runs: the program and its arguments, `${VAR}` expanded, a relative program
    /// path (`./scale-up.sh`) resolved from the profile's folder.
    pub argv: Vec<String>,
    /// As written (`${VAR}` unexpanded: what outputs show, never a secret).
    pub shown: Vec<String>,
    pub timeout: Duration,
    /// The folder it runs in: the profile's.
    pub dir: PathBuf,
}

impl Action {
    /// The command as a person reads it: arguments quoted where they hold a space.
    pub fn shown_line(&self) -> String {
        shown_line(&self.shown)
    }
}

/// `argv` as one line, each argument with a space or quote quoted.
pub fn shown_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.is_empty() || a.contains([' ', '\'', '"', '\t']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
