//! Running `storm.actions` during a run: each command starts at its instant of the
//! run's clock (time zero, after the warm-up), in a process group of its own, with its
//! output's last lines kept. A failing or overrunning action is recorded and the run
//! goes on; when the run ends (its end, Ctrl-C, a brake), every group still running is
//! ended (SIGTERM, then SIGKILL), so nothing a profile started outlives the run.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::plan::{Plan, storm_origin};
use crate::profile::{Action, Profile};

/// Lines of an action's output kept (stdout and stderr as they arrive), and the longest
/// line kept (bytes; the rest of a longer line is cut).
pub const TAIL_LINES: usize = 20;
pub const LINE_BYTES: usize = 300;
/// How long an ended group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// How long the output is read after the action's process exits (a daemon it left
/// behind may hold the pipe open for ever).
const OUTPUT_AFTER_EXIT: Duration = Duration::from_millis(500);

/// One action as the report records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionFacts {
    /// The command as written (`${VAR}` unexpanded).
    pub command: String,
    /// Its instant in the storm as written (modelled), and in run time (ms from time
    /// zero) once `time_scale` applied.
    pub at_modelled_ms: u64,
    pub at_ms: u64,
    /// When it started and ended, ms from time zero; None when it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<u64>,
    pub outcome: ActionOutcome,
    /// The last lines of its output: stdout and stderr interleaved in the order their reads
    /// returned (two pipes, so lines written close together may swap).
    #[serde(default)]
    pub output: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionOutcome {
    /// It exited with this status (0: it worked).
    Exited { code: i32 },
    /// A signal ended it (not one of stampede's).
    Signalled { signal: i32 },
    /// It overran its timeout: its group was ended.
    TimedOut { timeout_ms: u64 },
    /// It could not be started (no such program, not executable).
    Failed { error: String },
    /// The run ended (completed, interrupted, braked) while it ran: its group was ended.
    Ended,
    /// The run ended before its instant.
    NotReached,
}

impl ActionOutcome {
    pub fn ok(&self) -> bool {
        matches!(self, ActionOutcome::Exited { code: 0 })
    }

    /// In words: `exit 0`, `timed out after 30s (ended)`, …
    pub fn words(&self) -> String {
        match self {
            ActionOutcome::Exited { code } => format!("exit {code}"),
            ActionOutcome::Signalled { signal } => format!("killed by signal {signal}"),
            ActionOutcome::TimedOut { timeout_ms } => format!(
                "overran its timeout of {}: ended",
                crate::units::format_duration(Duration::from_millis(*timeout_ms))
            ),
            ActionOutcome::Failed { error } => format!("could not start: {error}"),
            ActionOutcome::Ended => "still running when the run ended: ended".into(),
            ActionOutcome::NotReached => "not reached: the run ended before its instant".into(),
        }
    }
}

/// Why a profile with actions was refused: every command it would have run.
pub fn refusal(commands: &[String]) -> String {
    let mut s = format!(
        "the profile runs {} command{} on the target (storm.actions); nothing was sent. Run it only with --allow-actions (or STAMPEDE_ALLOW_ACTIONS=1) once you have read them:",
        commands.len(),
        if commands.len() == 1 { "" } else { "s" }
    );
    for c in commands {
        s.push_str("\n  ");
        s.push_str(c);
    }
    s
}

/// The run time of each action of `p` (from time zero): the trigger plus its modelled
/// offset from the storm's origin, scaled as the waves are.
pub fn schedule(p: &Profile, plan: &Plan) -> Vec<(Action, Duration)> {
    let origin = storm_origin(&p.storm);
    p.storm
        .actions
        .iter()
        .map(|a| {
            let off = (a.at.as_secs_f64() - origin) / p.time_scale;
            let at = plan.trigger_start.as_secs_f64() + off;
            (
                a.clone(),
                Duration::try_from_secs_f64(at.max(0.0)).unwrap_or(Duration::MAX),
            )
        })
        .collect()
}

/// The actions of a run, started once time zero is known.
pub struct Runner {
    done: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<ActionFacts>>,
}

/// Starts the runner: `zero` tells it the run's time zero (it is sent by the engines'
/// start gate); until then nothing runs.
pub fn start(actions: Vec<(Action, Duration)>, zero: oneshot::Receiver<Instant>) -> Runner {
    let (done, ended) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut ended0 = ended.clone();
        let zero = tokio::select! {
            z = zero => z.ok(),
            _ = until_ended(&mut ended0) => None,
        };
        let Some(zero) = zero else {
            return actions.iter().map(|(a, at)| not_reached(a, *at)).collect();
        };
        let each = actions.into_iter().map(|(a, at)| one(a, at, zero, ended.clone()));
        futures_util::future::join_all(each).await
    });
    Runner { done, task }
}

impl Runner {
    /// Ends the actions still running (their groups) and waits for their facts.
    pub async fn finish(self) -> Vec<ActionFacts> {
        let _ = self.done.send(true);
        self.task.await.unwrap_or_default()
    }
}

fn not_reached(a: &Action, at: Duration) -> ActionFacts {
    ActionFacts {
        command: a.shown_line(),
        at_modelled_ms: a.at.as_millis() as u64,
        at_ms: at.as_millis() as u64,
        started_ms: None,
        ended_ms: None,
        outcome: ActionOutcome::NotReached,
        output: Vec::new(),
    }
}

async fn one(a: Action, at: Duration, zero: Instant, mut ended: watch::Receiver<bool>) -> ActionFacts {
    let mut facts = not_reached(&a, at);
    let since = |t: Instant| t.saturating_duration_since(zero).as_millis() as u64;
    tokio::select! {
        _ = tokio::time::sleep_until(zero + at) => {}
        _ = until_ended(&mut ended) => return facts,
    }
    facts.started_ms = Some(since(Instant::now()));
    let mut cmd = tokio::process::Command::new(&a.argv[0]);
    cmd.args(&a.argv[1..])
        .current_dir(&a.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            facts.ended_ms = facts.started_ms;
            facts.outcome = ActionOutcome::Failed { error: e.to_string() };
            return facts;
        }
    };
    let group = child.id().map(|id| id as i32);
    let tail = Arc::new(Mutex::new(Tail::default()));
    let readers = [
        child.stdout.take().map(|o| tokio::spawn(read_into(o, tail.clone(), 0))),
        child.stderr.take().map(|e| tokio::spawn(read_into(e, tail.clone(), 1))),
    ];
    let outcome = tokio::select! {
        r = tokio::time::timeout(a.timeout, child.wait()) => match r {
            Ok(Ok(status)) => status_outcome(status),
            Ok(Err(e)) => ActionOutcome::Failed { error: e.to_string() },
            Err(_) => {
                end_group(group, &mut child).await;
                ActionOutcome::TimedOut { timeout_ms: a.timeout.as_millis() as u64 }
            }
        },
        _ = until_ended(&mut ended) => {
            end_group(group, &mut child).await;
            ActionOutcome::Ended
        }
    };
    facts.ended_ms = Some(since(Instant::now()));
    // What the group left behind (a background job of a script) goes with the run.
    if matches!(outcome, ActionOutcome::Exited { .. } | ActionOutcome::Signalled { .. }) {
        until_ended(&mut ended).await;
        signal_group(group, libc::SIGKILL);
    }
    for r in readers.into_iter().flatten() {
        let abort = r.abort_handle();
        if tokio::time::timeout(OUTPUT_AFTER_EXIT, r).await.is_err() {
            abort.abort();
        }
    }
    facts.outcome = outcome;
    facts.output = tail.lock().unwrap_or_else(|p| p.into_inner()).lines();
    facts
}

/// Until the run ends (or its runner is gone).
async fn until_ended(ended: &mut watch::Receiver<bool>) {
    let _ = ended.wait_for(|d| *d).await;
}

fn status_outcome(status: std::process::ExitStatus) -> ActionOutcome {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ActionOutcome::Exited { code },
        (None, Some(signal)) => ActionOutcome::Signalled { signal },
        (None, None) => ActionOutcome::Exited { code: -1 },
    }
}

fn signal_group(group: Option<i32>, signal: i32) {
    if let Some(g) = group.filter(|g| *g > 0) {
        // SAFETY: killpg has no memory effects; a group that is gone is ESRCH.
        unsafe {
            libc::killpg(g, signal);
        }
    }
}

/// SIGTERM to the group, SIGKILL after the grace if its leader is still there.
async fn end_group(group: Option<i32>, child: &mut tokio::process::Child) {
    signal_group(group, libc::SIGTERM);
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        signal_group(group, libc::SIGKILL);
        let _ = child.wait().await;
    }
    // Whatever else of the group ignored SIGTERM.
    signal_group(group, libc::SIGKILL);
}

/// The last [`TAIL_LINES`] lines, each cut at [`LINE_BYTES`].
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    /// The line being read, per stream (stdout, stderr): they share the lines, not this.
    partial: [Vec<u8>; 2],
}

impl Tail {
    fn push(&mut self, which: usize, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial[which]);
                self.line(&line);
            } else if self.partial[which].len() < LINE_BYTES {
                self.partial[which].push(b);
            }
        }
    }

    fn line(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes).trim_end_matches('\r').to_string();
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(text);
    }

    fn lines(&mut self) -> Vec<String> {
        for which in 0..2 {
            let rest = std::mem::take(&mut self.partial[which]);
            if !rest.is_empty() {
                self.line(&rest);
            }
        }
        self.lines.iter().cloned().collect()
    }
}

/// Reads stream `which` (0 stdout, 1 stderr: each keeps its partial line apart).
async fn read_into(mut r: impl AsyncRead + Unpin, tail: Arc<Mutex<Tail>>, which: usize) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.lock().unwrap_or_else(|p| p.into_inner()).push(which, &buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_each_cut() {
        let mut t = Tail::default();
        for i in 0..30 {
            t.push(0, format!("line {i}\n").as_bytes());
        }
        t.push(1, &[b'x'; 1000]);
        let lines = t.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "line 11");
        assert_eq!(lines.last().unwrap().len(), LINE_BYTES);
    }

    #[test]
    fn outcomes_in_words() {
        assert!(ActionOutcome::Exited { code: 0 }.ok());
        assert!(!ActionOutcome::Exited { code: 3 }.ok());
        assert_eq!(
            ActionOutcome::TimedOut { timeout_ms: 1000 }.words(),
            "overran its timeout of 1s: ended"
        );
    }
}
