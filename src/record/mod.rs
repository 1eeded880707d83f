//! Per-window recording. Every window keeps its own HdrHistograms (latency from the
//! intended instant, service time from the actual send, per step and for the whole
//! login) so that any percentile over any time range can be recomputed and runs from
//! several machines merge exactly. Windows are attributed by the *intended* instant
//! of the attempt: a window is what the users who wanted to log in then lived through.

pub(crate) mod counts;
mod h2;
mod held;
mod hist;
mod recorder;
mod stats;
mod window;

pub use counts::{Counts, Tally, as_totals};
pub use h2::H2Window;
pub use held::{HeldCounts, HeldWindow};
pub use hist::{HistError, HistSummary, SIGFIG, decode, encode, merge, new_hist};
pub use recorder::{AttemptRecord, Counter, Recorder};
pub use stats::{BEHIND_P99_MS, EngineStats, WarmupStats, fell_behind};
pub use window::{StepWindow, Window};
