//! stampede: replays login storms and measures whether, and how fast, the target
//! recovers.
//!
//! The modules read as the pipeline, each importing only from those before it:
//!
//! profile (pure schema) → plan (pure, seeded: who reboots when) → client (pure retry
//! policy) → transport (HTTP/1.1 bytes over TCP/TLS) → engine (the open-model
//! scheduler) → record (per-window HdrHistograms) → analysis (recovery, gates) →
//! report (JSON, hlog, terminal, Markdown, JUnit, HTML). `run` is one whole run as a
//! library call, `cli` the command line. `units`, `rng`, `outcome` and `threshold` are
//! small vocabularies shared along the way; `overlay` is the reference target, which
//! knows nothing of the harness.
pub mod analysis;
pub mod cli;
pub mod client;
pub mod engine;
pub mod outcome;
pub mod overlay;
pub mod plan;
pub mod profile;
pub mod record;
pub mod report;
pub mod rng;
pub mod run;
pub mod threshold;
pub mod transport;
pub mod units;
