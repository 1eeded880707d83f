//! One engine per thread, as wrk runs one event loop per thread: each engine owns a
//! part of the clients (id mod threads), their plan, their connections and their own
//! recorder, on its own single-threaded runtime, with no state shared on the hot path.
//! Their windows are merged exactly at the end, as shards of a distributed run are.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::warmup::StartGate;
use crate::engine::{self, EngineOptions, EngineOutput, Progress, Snapshot, panic_message};
use crate::outcome::StopReason;
use crate::plan::Plan;
use crate::profile::Profile;
use crate::record::Window;
use crate::transport::Transport;

#[derive(Debug, thiserror::Error)]
pub enum ThreadsError {
    #[error("cannot start engine thread {0}: {1}")]
    Start(u32, std::io::Error),
    #[error("engine thread {0} stopped without a result")]
    Lost(u32),
    #[error("the engines' windows do not merge: {0}")]
    Merge(String),
}

/// The number of engine threads when none is asked for: every core this process may
/// run on, but half of them when the reference overlay runs in the same process.
pub fn default_threads(embedded_target: bool) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    if embedded_target { (cores / 2).max(1) } else { cores }
}

/// Runs `plan` (already cut to `opts.part`) on `threads` engines.
pub async fn run(
    p: &Profile,
    plan: &Arc<Plan>,
    transport: Arc<Transport>,
    opts: EngineOptions,
    threads: u32,
    progress: &mut dyn Progress,
) -> Result<EngineOutput, ThreadsError> {
    // One engine too runs on a thread of its own, on a current-thread runtime: inside
    // the command's task, every wake-up of the engine (each socket's readiness) polled
    // the whole task above it (the command's select over signals and outputs) on the
    // multi-thread scheduler, about 5 % of the generator's user time per request
    // (measured, #27). tokio's per-task budget is off (`unconstrained`): the engine's
    // one task does all the I/O and would yield every 128 socket operations.
    let threads = threads.max(1);
    // Every engine warms up its clients, then they start together: a little after the
    // last warm-up ended (`warmup::LEAD`), or at the agreed instant.
    let gate = opts
        .gate
        .clone()
        .unwrap_or_else(|| StartGate::new(threads, opts.start, None));
    // None until the engine's first snapshot: a sum over some engines only would show
    // part of the run (half the warm-up's clients, say) as the whole.
    let board: Arc<Mutex<Vec<Option<Snapshot>>>> = Arc::new(Mutex::new(vec![None; threads as usize]));
    let gather = Arc::new(Mutex::new(Gather::new(threads)));
    let mut results = Vec::new();
    let mut joins = Vec::new();
    for t in 0..threads {
        let part = opts.part.split(t, threads);
        // One engine runs the plan as it is: a copy would double the largest thing the
        // run holds (10,000,000 clients: 436 -> 588 MiB peak, measured).
        let mine = if threads == 1 {
            plan.clone()
        } else {
            Arc::new(plan.part(part))
        };
        let opts_t = EngineOptions {
            part,
            share: threads,
            gate: Some(gate.clone()),
            // One scrape of the target per run is enough.
            scrape: if t == 0 { opts.scrape.clone() } else { None },
            ..opts.clone()
        };
        let p = p.clone();
        let transport = transport.clone();
        let mut slot = Slot {
            board: board.clone(),
            gather: gather.clone(),
            index: t as usize,
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        results.push(rx);
        let join = std::thread::Builder::new()
            .name(format!("stampede-engine-{t}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let run = tokio::task::unconstrained(engine::run(&p, &mine, transport, opts_t, &mut slot));
                // As on one thread: a panic outside the engine's loop still yields a report.
                let out = catch_unwind(AssertUnwindSafe(|| rt.block_on(run))).unwrap_or_else(|panic| {
                    EngineOutput::failed(format!("engine thread {t} panicked: {}", panic_message(&*panic)))
                });
                let _ = tx.send(Ok(out));
            })
            .map_err(|e| ThreadsError::Start(t, e))?;
        joins.push(join);
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut outs = Vec::new();
    for (t, mut rx) in results.into_iter().enumerate() {
        let out = loop {
            tokio::select! {
                r = &mut rx => break r,
                _ = tick.tick() => {
                    if let Some(left) = gate.fixed().map(|at| at.saturating_duration_since(Instant::now()))
                        && left > Duration::from_secs(1)
                    {
                        progress.countdown(left);
                    }
                    if let Some(sum) = sum(&board.lock().unwrap_or_else(|e| e.into_inner())) {
                        progress.update(&sum);
                    }
                    announce(&gather, progress);
                }
            }
        };
        match out {
            Ok(Ok(o)) => outs.push(o),
            Ok(Err(e)) => return Err(ThreadsError::Start(t as u32, e)),
            Err(_) => return Err(ThreadsError::Lost(t as u32)),
        }
    }
    for j in joins {
        let _ = j.join();
    }
    if let Some(sum) = sum(&board.lock().unwrap_or_else(|e| e.into_inner())) {
        progress.update(&sum);
    }
    announce(&gather, progress);
    merge(outs).map_err(ThreadsError::Merge)
}

/// One engine's place on the shared progress board.
struct Slot {
    board: Arc<Mutex<Vec<Option<Snapshot>>>>,
    gather: Arc<Mutex<Gather>>,
    index: usize,
}

impl Progress for Slot {
    fn update(&mut self, s: &Snapshot) {
        self.board.lock().unwrap_or_else(|e| e.into_inner())[self.index] = Some(s.clone());
    }

    fn window(&mut self, w: &Window) {
        self.gather.lock().unwrap_or_else(|e| e.into_inner()).part(w);
    }
}

/// Closed windows as the engines hand them over, one part per engine: a window is
/// whole once every engine closed it (one lock per window and engine, not per request).
struct Gather {
    threads: u32,
    /// Window index → the parts merged so far, how many, and whether they merged.
    parts: BTreeMap<u32, (Window, u32, bool)>,
    /// Whole windows not yet announced, in index order.
    whole: Vec<Window>,
}

impl Gather {
    fn new(threads: u32) -> Gather {
        Gather {
            threads,
            parts: BTreeMap::new(),
            whole: Vec::new(),
        }
    }

    fn part(&mut self, w: &Window) {
        let entry = self
            .parts
            .entry(w.index)
            .or_insert_with(|| (Window::default(), 0, true));
        if entry.1 == 0 {
            entry.0 = w.clone();
        } else if entry.2 && entry.0.merge(w).is_err() {
            // Not announced: the histograms do not add, and the end-of-run merge of the
            // same windows reports that as the run's error.
            entry.2 = false;
        }
        entry.1 += 1;
        // Every engine closes its windows in order, so whole windows come in order.
        while let Some(first) = self.parts.first_entry() {
            if first.get().1 < self.threads {
                break;
            }
            let (w, _, merged) = first.remove();
            if merged {
                self.whole.push(w);
            }
        }
    }
}

/// Hands the whole windows gathered so far to `progress`, outside the lock.
fn announce(gather: &Mutex<Gather>, progress: &mut dyn Progress) {
    let whole = std::mem::take(&mut gather.lock().unwrap_or_else(|e| e.into_inner()).whole);
    for w in &whole {
        progress.window(w);
    }
}

/// The run as a whole, from the engines' snapshots: counts and rates add; the p99
/// shown is the worst engine's (percentiles do not add; the report merges histograms).
/// None until every engine has told its first.
fn sum(all: &[Option<Snapshot>]) -> Option<Snapshot> {
    let mut s = Snapshot::default();
    let mut weighted_success = 0.0;
    let mut weight = 0.0;
    for a in all {
        let a = a.as_ref()?;
        s.elapsed = s.elapsed.max(a.elapsed);
        s.planned = s.planned.max(a.planned);
        s.counts += &a.counts;
        s.in_flight += a.in_flight;
        s.locked_out += a.locked_out;
        s.offered_rate += a.offered_rate;
        s.achieved_rate += a.achieved_rate;
        s.last_p99_ms = match (s.last_p99_ms, a.last_p99_ms) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        if let Some(r) = a.last_success {
            weighted_success += r * a.offered_rate.max(1.0);
            weight += a.offered_rate.max(1.0);
        }
        s.stopping |= a.stopping;
        s.probing |= a.probing;
        if let Some(w) = a.warmup {
            *s.warmup.get_or_insert_default() += w;
        }
        if let Some(h) = a.held {
            *s.held.get_or_insert_default() += h;
        }
    }
    // One engine past its warm-up means every one is (they start together): the run's
    // clock has started, and an engine's last warm-up figures are stale.
    if all.iter().flatten().any(|a| a.warmup.is_none()) {
        s.warmup = None;
    }
    s.last_success = (weight > 0.0).then(|| weighted_success / weight);
    Some(s)
}

/// How a run of several engines ended: failed if one failed, else interrupted if one
/// was, else completed.
fn worse(a: StopReason, b: StopReason) -> StopReason {
    let rank = |s| match s {
        StopReason::Completed => 0,
        StopReason::Interrupted | StopReason::Aborted | StopReason::Preflight => 1,
        StopReason::Failed => 2,
        StopReason::NotStarted => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The engines' outputs as one: windows merge exactly (counts and histograms add, the
/// gauges add because the parts own disjoint clients). The target's metrics come from
/// the first engine, the only one that scrapes them.
fn merge(outs: Vec<EngineOutput>) -> Result<EngineOutput, String> {
    let mut it = outs.into_iter();
    let mut all = it.next().ok_or("no engine ran")?;
    for o in it {
        // Engines stopped by Ctrl-C stop a moment apart: one may have a window more.
        for (i, w) in o.windows.into_iter().enumerate() {
            match all.windows.get_mut(i) {
                Some(mine) => mine.merge(&w).map_err(|e| e.to_string())?,
                None => all.windows.push(w),
            }
        }
        all.stop = worse(all.stop, o.stop);
        all.started_at = all.started_at.min(o.started_at);
        all.ended = all.ended.max(o.ended);
        all.stats.add(&o.stats);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::WarmupProgress;

    fn warming(clients: u64, answered: u64) -> Option<Snapshot> {
        Some(Snapshot {
            warmup: Some(WarmupProgress {
                clients,
                answered,
                ok: answered,
            }),
            ..Default::default()
        })
    }

    #[test]
    fn the_display_sums_every_engine_or_shows_nothing_yet() {
        assert!(sum(&[warming(1000, 0), None]).is_none(), "half the run is not the run");
        let both = sum(&[warming(1000, 400), warming(1000, 500)]).unwrap();
        assert_eq!(
            both.warmup,
            Some(WarmupProgress {
                clients: 2000,
                answered: 900,
                ok: 900
            })
        );
        let started = Some(Snapshot {
            elapsed: Duration::from_millis(300),
            ..Default::default()
        });
        let s = sum(&[warming(1000, 1000), started]).unwrap();
        assert_eq!(s.warmup, None, "one engine past its warm-up: the clock has started");
        assert_eq!(s.elapsed, Duration::from_millis(300));
    }
}
