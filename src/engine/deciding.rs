//! The engine at the plan's end when the run may probe (`observe.confirm`): it drains
//! the plan's last attempts while the baseline goes on, hands its windows to the
//! board, and waits for every engine's decision (or a stop).

use std::time::Duration;

use super::probe::ProbeRun;
use super::{Driver, Engine, Progress};

impl Driver {
    /// The run may still probe: a board, no probe yet, no stop asked for.
    pub(super) fn may_probe(&self) -> bool {
        self.seat.is_some() && self.probe.is_none() && self.stop_level == 0
    }

    /// The plan has ended and the engines drain and decide on a probe: the baseline goes
    /// on meanwhile.
    pub(super) fn baseline_goes_on(&self) -> bool {
        self.may_probe() && self.stopped_at == Some(self.plan_end)
    }

    /// At the plan's end, drained: hands this engine's windows to the board (none if
    /// attempts are still in flight: they would land in the windows decided on) and
    /// waits for every engine's, or for a stop.
    pub(super) async fn decide(
        &mut self,
        e: &mut Engine<'_>,
        now: Duration,
        progress: &mut dyn Progress,
    ) -> Option<ProbeRun> {
        let windows = (e.in_flight_before() == 0).then(|| e.windows_before(self.plan_end, now, progress));
        let Driver {
            seat, stop, stop_level, ..
        } = self;
        let seat = seat.as_mut()?;
        seat.arrive(windows, now);
        tokio::select! {
            run = seat.decision() => run,
            level = async {
                match stop.as_mut() {
                    Some(s) => {
                        let level = s.wait_for(|&l| l >= 1).await.map(|l| *l).ok();
                        match level {
                            Some(l) => l,
                            None => std::future::pending().await,
                        }
                    }
                    None => std::future::pending().await,
                }
            } => {
                *stop_level = level;
                None
            }
        }
    }
}
