//! `storm.actions`: each an argv at a modelled instant, with a timeout. Checked here
//! whole, so that `validate` lists what a run would start and a bad action is a placed
//! problem, never a surprise mid-storm.

use std::time::Duration;

use super::Validator;
use crate::profile::actions::{Action, DEFAULT_TIMEOUT, MAX_ACTIONS, MAX_ARG_BYTES, MAX_ARGS};
use crate::profile::{Template, Vars, limits, raw};
use crate::units::Text;

/// An action's timeout: a millisecond to a day.
const TIMEOUT: std::ops::RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(86_400);

impl Validator<'_> {
    pub(super) fn actions(&mut self, raw: Option<&Vec<raw::RawAction>>) -> Vec<Action> {
        let Some(list) = raw else { return Vec::new() };
        if list.len() > MAX_ACTIONS {
            self.err(
                "storm.actions",
                format!("{} actions: a profile may have at most {MAX_ACTIONS}", list.len()),
            );
            return Vec::new();
        }
        list.iter().enumerate().filter_map(|(i, a)| self.action(i, a)).collect()
    }

    fn action(&mut self, i: usize, a: &raw::RawAction) -> Option<Action> {
        let f = |k: &str| format!("storm.actions[{i}].{k}");
        if a.at.is_none() {
            self.err(
                &f("at"),
                "missing: when the command runs, in modelled time like a wave's `at` (e.g. `90s`)",
            );
        }
        let at = self.span(&f("at"), &a.at, Duration::ZERO, limits::MODELLED);
        let timeout = self.span(&f("timeout"), &a.timeout, DEFAULT_TIMEOUT, TIMEOUT);
        let Some(run) = a.run.as_ref().filter(|r| !r.is_empty()) else {
            self.err(
                &f("run"),
                "missing: the command as a list, program first (e.g. `[systemctl, restart, auth]`); never a shell string",
            );
            return None;
        };
        if run.len() > MAX_ARGS {
            self.err(&f("run"), format!("{} arguments: at most {MAX_ARGS}", run.len()));
            return None;
        }
        let mut argv = Vec::with_capacity(run.len());
        for (k, Text(arg)) in run.iter().enumerate() {
            let field = format!("storm.actions[{i}].run[{k}]");
            if arg.len() > MAX_ARG_BYTES || arg.contains('\0') {
                self.err(
                    &field,
                    format!("an argument must be text of at most {MAX_ARG_BYTES} bytes"),
                );
                return None;
            }
            argv.push(self.action_arg(&field, arg)?);
        }
        if run.len() == 1 && run[0].0.trim().contains(' ') {
            self.err(
                &f("run"),
                format!(
                    "`{}` is one argument with spaces: write the program and each argument as items of the list (`[{}]`); a command is never run by a shell",
                    run[0].0,
                    run[0].0.split_whitespace().collect::<Vec<_>>().join(", ")
                ),
            );
            return None;
        }
        // A relative program path (`./scale-up.sh`) is the profile's folder's, as data
        // files are; a bare name is looked up on PATH when it runs.
        if argv[0].contains('/') && !argv[0].starts_with('/') {
            let path = self.dir.join(&argv[0]);
            if !path.is_file() {
                self.err(
                    &f("run[0]"),
                    format!("`{}` is not a file beside the profile ({})", argv[0], path.display()),
                );
                return None;
            }
            argv[0] = path.to_string_lossy().into_owned();
        }
        Some(Action {
            at,
            argv,
            shown: run.iter().map(|t| t.0.clone()).collect(),
            timeout,
            dir: self.dir.clone(),
        })
    }

    /// An argument with its `${VAR}` expanded; `{{…}}` has no client to fill it here.
    fn action_arg(&mut self, field: &str, arg: &str) -> Option<String> {
        match Template::parse(arg, self.env) {
            Ok(t) if t.is_static() => Some(t.render(Vars {
                client: 0,
                attempt: 0,
                node: 0,
                values: None,
            })),
            Ok(_) => {
                self.err(
                    field,
                    format!("`{arg}`: an action takes `${{VAR}}` from the environment, not `{{{{…}}}}` (it runs once, for no client)"),
                );
                None
            }
            Err(errs) => {
                for e in errs {
                    self.err(field, e);
                }
                None
            }
        }
    }
}
