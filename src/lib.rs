//! stampede: replays login storms and measures whether, and how fast, the target recovers.
pub mod client;
pub mod profile;
pub mod record;
pub mod rng;
pub mod shape;
pub mod units;
