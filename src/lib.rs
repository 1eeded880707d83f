//! stampede: replays login storms and measures whether, and how fast, the target recovers.
pub mod overlay;
pub mod units;
