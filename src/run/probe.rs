//! The confirmation probe's judge: the engine asks it at the plan's end whether the run
//! recovered, and during the probe whether the target has healed; it answers with the
//! analysis the report makes, on the same windows.

use std::sync::Arc;
use std::time::Duration;

use crate::analysis::Timeline;
use crate::analysis::recovery::{ProbeSpan, probe_healed, probe_needed};
use crate::engine::probe::{ProbeBoard, ProbeJudge, ProbeRun};
use crate::plan::{Part, Plan};
use crate::profile::Slo;
use crate::record::Window;

struct Judge {
    /// Up to the plan's end.
    timeline: Timeline,
    slo: Slo,
    backoff_cap: Duration,
}

impl ProbeJudge for Judge {
    fn needed(&self, windows: &[Window]) -> bool {
        probe_needed(windows, &self.timeline, &self.slo, self.backoff_cap)
    }

    fn healed(&self, windows: &[Window], run: &ProbeRun) -> bool {
        let timeline = Timeline {
            observe_end: run.end(),
            ..self.timeline
        };
        probe_healed(windows, &timeline, span(run), &self.slo, self.backoff_cap)
    }
}

/// The probe as the analysis takes it.
pub fn span(run: &ProbeRun) -> ProbeSpan {
    ProbeSpan {
        retries_stopped: run.plan_end,
        started: run.started,
        limit: run.limit,
    }
}

/// The board for a run of `engines` engines, when the profile asks for a probe. None
/// for a shard of a distributed run: its decision would need every shard's windows.
pub fn board(
    confirm: Option<Duration>,
    plan: &Plan,
    slo: &Slo,
    backoff_cap: Duration,
    shard: Option<Part>,
    engines: u32,
) -> Option<Arc<ProbeBoard>> {
    let limit = confirm?;
    if shard.is_some_and(|s| s != Part::WHOLE) {
        return None;
    }
    let judge = Judge {
        timeline: Timeline {
            trigger_start: plan.trigger_start,
            storm_end: plan.storm_end,
            observe_end: plan.end,
        },
        slo: *slo,
        backoff_cap,
    };
    Some(ProbeBoard::new(engines, plan.end, limit, Arc::new(judge)))
}
