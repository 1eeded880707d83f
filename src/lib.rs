//! stampede: replays login storms and measures whether, and how fast, the target recovers.
pub mod analysis;
pub mod record;
pub mod units;
