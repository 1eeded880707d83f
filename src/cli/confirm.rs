//! Asking before a storm leaves the machine: the allow list from the flags and the
//! environment, and on a terminal a prompt that shows the storm's size and asks for the
//! host name to be typed.

use std::io::{BufRead as _, IsTerminal, Write as _};

use super::CliError;
use crate::plan::Plan;
use crate::profile::{Endpoint, Profile};
use crate::report::terminal::thousands;
use crate::run::confirm::{ALLOW_VAR, ConfirmError, Confirmed, allow_list, confirm};
use crate::units::format_duration;

pub(super) fn targets(p: &Profile, plan: &Plan, flags: &[String]) -> Result<Option<Confirmed>, CliError> {
    let Endpoint::Nodes(nodes) = &p.target.endpoint else {
        return Ok(None);
    };
    let allow = allow_list(flags, std::env::var(ALLOW_VAR).ok());
    match confirm(nodes, &allow, None) {
        Ok(c) => Ok(Some(c)),
        Err(ConfirmError::Unconfirmed { .. }) if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
            let per_window = plan.logins_per_window(p.observe.window);
            let peak = per_window.iter().max().copied().unwrap_or(0) as f64 / p.observe.window.as_secs_f64();
            eprintln!("This storm leaves the machine:");
            eprintln!(
                "  {} clients rebooting + {} background logins, peak {:.0} first logins/s, sending for {}",
                thousands(plan.storm_clients as u64),
                thousands(plan.background_clients as u64),
                peak,
                format_duration(plan.end)
            );
            for n in nodes {
                eprintln!("  node {}", n.shown);
            }
            let mut ask = |host: &str| {
                eprint!("Type the host name `{host}` to storm it (anything else stops): ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
                line
            };
            confirm(nodes, &allow, Some(&mut ask))
                .map(Some)
                .map_err(CliError::bad_input)
        }
        Err(e) => Err(CliError::bad_input(e)),
    }
}
