//! stampede: replays login storms and measures whether, and how fast, the target recovers.
//!
//! Data flow: profile → plan (pure, seeded) → engine (tokio) → recorder (per-window
//! HdrHistograms) → report → analysis (recovery, gates). `run::run` is the whole run
//! as one library call.
pub mod analysis;
pub mod cli;
pub mod client;
pub mod embedded;
pub mod engine;
pub mod http1;
pub mod overlay;
pub mod profile;
pub mod record;
pub mod report;
pub mod rng;
pub mod run;
pub mod shape;
pub mod sweep;
pub mod threads;
pub mod timer;
pub mod transport;
pub mod units;
