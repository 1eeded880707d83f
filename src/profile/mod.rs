//! Profiles: the YAML schema, its defaults, and the one validation step that turns a
//! raw document into a `Profile` or into every problem it has, each with file, line
//! and field.
//!
//! raw (the document as written) → validate (every problem, placed by `lines`) → spec
//! (the validated types a run reads). dist, node, template and trace parse the
//! values that have a grammar of their own.

pub mod actions;
mod budget;
mod capture;
mod choices;
pub mod data;
mod depth;
mod dist;
mod error;
pub(crate) mod file;
mod files;
mod jar;
pub mod limits;
mod lines;
pub mod near;
mod node;
mod raw;
mod spec;
pub mod starter;
mod template;
mod trace;
mod validate;

pub use actions::Action;
pub use budget::PlanSize;
pub use capture::{Capture, CaptureFrom, Checks, capture_regex};
pub use data::DataFile;
pub use dist::{Dist, DistError};
pub use error::{Problem, ProfileError};
pub use file::read_profile;
pub use jar::Jar;
pub use lines::Lines;
pub use near::edits;
pub use node::{Node, NodeError};
pub use raw::{RawProfile, admin_token_env};
pub use spec::{
    AdaptiveThrottle, Arrivals, Baseline, ClientSpec, ConnMode, Connect, DEFAULT_NOISE, DEFAULT_TOLERATE, Derived,
    DerivedOp, Endpoint, Heartbeat, HeartbeatSend, HttpVersion, Jitter, MetricsScrape, Observe, Pick, Population,
    Profile, Received, Reconnect, RetryBudget, RetryKind, RetryPolicy, Session, Slo, Step, Storm, StormSource, Target,
    TlsSpec, Warmup, Wave,
};
pub use template::{Template, Values, Vars};
pub use trace::parse_trace;
pub use validate::{OverlayCheck, parse, parse_with};
