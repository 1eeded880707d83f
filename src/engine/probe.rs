//! The confirmation probe's board (`observe.confirm`), shared by the engines of one run.
//! At the plan's end every engine drains, then hands its windows to the board; the last
//! one to arrive merges them and asks the judge whether the run recovered. Every engine
//! gets the same answer, taken on the same merged windows the report judges, and the
//! same start instant. During the probe the engines hand over each window they close;
//! once all have closed one, the board asks the judge whether the target has healed,
//! and a flag tells every engine to stop.
//!
//! The engine knows nothing of recovery: the judge is the caller's (the run's analysis).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::record::Window;

/// Answers the board's two questions, with the same rules the report applies.
pub trait ProbeJudge: Send + Sync {
    /// At the plan's end, on every window before it (all engines merged): is the run
    /// not recovered, so that the probe should run?
    fn needed(&self, windows: &[Window]) -> bool;
    /// During the probe, on every window so far: has the target held healthy for a
    /// hold since the retries stopped?
    fn healed(&self, windows: &[Window], probe: &ProbeRun) -> bool;
}

/// When a probe ran, as the engine hands it to the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeRun {
    /// The plan's end: the last retry and relogin were sent before it.
    pub plan_end: Duration,
    /// When the engines resumed with retries silenced (after the plan's attempts drained).
    pub started: Duration,
    /// The probe's longest run (`observe.confirm`).
    pub limit: Duration,
}

impl ProbeRun {
    /// When it must stop at the latest.
    pub fn end(&self) -> Duration {
        self.started + self.limit
    }
}

/// What the engines decided together at the plan's end.
type Decision = Option<Option<ProbeRun>>;

/// Shown as its engine count: the judge and the windows are not for a debug line.
impl std::fmt::Debug for ProbeBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeBoard")
            .field("engines", &self.engines)
            .finish_non_exhaustive()
    }
}

pub struct ProbeBoard {
    engines: u32,
    plan_end: Duration,
    limit: Duration,
    judge: Arc<dyn ProbeJudge>,
    state: Mutex<State>,
    decided: watch::Sender<Decision>,
    healed: AtomicBool,
}

#[derive(Default)]
struct State {
    arrived: u32,
    /// An engine could not go on (interrupted, failed, attempts abandoned): no probe.
    refused: bool,
    /// Whole windows, merged over the engines, in index order.
    windows: Vec<Window>,
    /// Probe windows some engines have closed: the merge so far and how many parts.
    parts: BTreeMap<u32, (Window, u32)>,
    run: Option<ProbeRun>,
}

impl ProbeBoard {
    pub fn new(engines: u32, plan_end: Duration, limit: Duration, judge: Arc<dyn ProbeJudge>) -> Arc<ProbeBoard> {
        Arc::new(ProbeBoard {
            engines: engines.max(1),
            plan_end,
            limit,
            judge,
            state: Mutex::new(State::default()),
            decided: watch::channel(None).0,
            healed: AtomicBool::new(false),
        })
    }

    /// One engine's place at the board.
    pub fn seat(self: &Arc<Self>) -> Seat {
        Seat {
            board: self.clone(),
            decision: self.decided.subscribe(),
            arrived: false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn arrive(&self, windows: Option<Vec<Window>>, now: Duration) {
        let mut guard = self.lock();
        let s = &mut *guard;
        match windows {
            Some(ws) if !s.refused => {
                for w in ws {
                    let have = s.windows.len();
                    match s.windows.get_mut(w.index as usize) {
                        Some(mine) if mine.index == w.index => {
                            if mine.merge(&w).is_err() {
                                s.refused = true;
                            }
                        }
                        None if have == w.index as usize => s.windows.push(w),
                        _ => s.refused = true,
                    }
                }
            }
            _ => s.refused = true,
        }
        s.arrived += 1;
        if s.arrived < self.engines {
            return;
        }
        let run = (!s.refused && self.judge.needed(&s.windows)).then_some(ProbeRun {
            plan_end: self.plan_end,
            started: now.max(self.plan_end),
            limit: self.limit,
        });
        s.run = run;
        self.decided.send_replace(Some(run));
    }

    fn window(&self, w: &Window) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(run) = s.run else { return };
        let engines = self.engines;
        let entry = s.parts.entry(w.index).or_insert_with(|| (Window::default(), 0));
        if entry.1 == 0 {
            entry.0 = w.clone();
        } else if entry.0.merge(w).is_err() {
            // Never judged healed on windows that do not add; the report says why.
            return;
        }
        entry.1 += 1;
        let mut grew = false;
        while let Some(first) = s.parts.first_entry() {
            if first.get().1 < engines || first.get().0.index as usize != s.windows.len() {
                break;
            }
            let (whole, _) = first.remove();
            s.windows.push(whole);
            grew = true;
        }
        if grew && self.judge.healed(&s.windows, &run) {
            self.healed.store(true, Ordering::Relaxed);
        }
    }
}

/// One engine's place at the board. Leaving without arriving (a panic, a stop) counts
/// as a refusal, so that no other engine waits for it.
pub struct Seat {
    board: Arc<ProbeBoard>,
    decision: watch::Receiver<Decision>,
    arrived: bool,
}

impl Seat {
    /// Hands over this engine's windows before the plan's end (None: it cannot go on)
    /// at run time `now`, once.
    pub fn arrive(&mut self, windows: Option<Vec<Window>>, now: Duration) {
        if !std::mem::replace(&mut self.arrived, true) {
            self.board.arrive(windows, now);
        }
    }

    /// The decision once every engine has arrived: the probe to run, or None.
    pub async fn decision(&mut self) -> Option<ProbeRun> {
        match self.decision.wait_for(Option::is_some).await {
            Ok(d) => d.flatten(),
            Err(_) => None,
        }
    }

    /// A window this engine closed during the probe.
    pub fn window(&self, w: &Window) {
        self.board.window(w);
    }

    /// Has the target held healthy for a hold since the retries stopped?
    pub fn healed(&self) -> bool {
        self.board.healed.load(Ordering::Relaxed)
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.arrive(None, Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed {
        needed: bool,
    }

    impl ProbeJudge for Fixed {
        fn needed(&self, _: &[Window]) -> bool {
            self.needed
        }
        /// Healed once two probe windows (index ≥ 2) are whole and hold a login each.
        fn healed(&self, windows: &[Window], _: &ProbeRun) -> bool {
            windows
                .iter()
                .filter(|w| w.index >= 2 && w.counts.logins_ok >= 2)
                .count()
                >= 2
        }
    }

    fn w(index: u32, ok: u64) -> Window {
        let mut w = Window {
            index,
            start_ms: index as u64 * 1000,
            len_ms: 1000,
            ..Window::default()
        };
        w.counts.logins_ok = ok;
        w
    }

    const S: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn every_engine_gets_one_decision_taken_on_the_merged_windows() {
        let board = ProbeBoard::new(2, S, S, Arc::new(Fixed { needed: true }));
        let (mut a, mut b) = (board.seat(), board.seat());
        a.arrive(Some(vec![w(0, 1), w(1, 1)]), Duration::from_millis(2100));
        assert_eq!(board.decided.borrow().clone(), None, "one engine has not arrived");
        b.arrive(Some(vec![w(0, 2), w(1, 0)]), Duration::from_millis(2300));
        let run = ProbeRun {
            plan_end: S,
            started: Duration::from_millis(2300),
            limit: S,
        };
        assert_eq!(a.decision().await, Some(run));
        assert_eq!(b.decision().await, Some(run));
        assert_eq!(board.lock().windows[0].counts.logins_ok, 3);
        // Healed only on whole windows: one engine's part of a window is not enough.
        a.window(&w(2, 1));
        a.window(&w(3, 1));
        assert!(!a.healed());
        b.window(&w(2, 1));
        assert!(!b.healed());
        b.window(&w(3, 1));
        assert!(a.healed() && b.healed());
    }

    #[tokio::test]
    async fn an_engine_that_leaves_without_its_windows_stops_the_probe() {
        let board = ProbeBoard::new(2, S, S, Arc::new(Fixed { needed: true }));
        let mut a = board.seat();
        a.arrive(Some(vec![w(0, 1)]), S);
        drop(board.seat());
        assert_eq!(a.decision().await, None);
    }

    #[tokio::test]
    async fn a_recovered_run_has_no_probe() {
        let board = ProbeBoard::new(1, S, S, Arc::new(Fixed { needed: false }));
        let mut a = board.seat();
        a.arrive(Some(vec![w(0, 1)]), S);
        assert_eq!(a.decision().await, None);
    }
}
