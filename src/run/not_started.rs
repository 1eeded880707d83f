//! The report of a run that was refused or failed before its first attempt: a CI page
//! must show why, so such a run still writes report.json, the HTML, the JUnit error
//! case and the summary, with no windows and no verdict.

use std::time::SystemTime;

use crate::analysis::Totals;
use crate::outcome::StopReason;
use crate::plan::Part;
use crate::profile::{Endpoint, Profile};
use crate::report::{Confirmed, EngineFacts, Report, SCHEMA};

/// The report of a run of `p` (its `shard`, if any) that could not start because of
/// `why`, in the words the terminal printed; `confirmed` as far as it got (None: the
/// confirmation itself refused the run). Nothing was sent: the plan's figures are
/// what was meant, the windows are empty and the thresholds were not judged.
pub fn not_started(p: &Profile, shard: Option<Part>, confirmed: Option<Confirmed>, why: &str) -> Report {
    let plan = super::plan_for(p, shard);
    let window = p.observe.window;
    let (target, unconfirmed) = match &p.target.endpoint {
        Endpoint::Nodes(nodes) => (
            nodes.iter().map(|n| n.shown.as_str()).collect::<Vec<_>>().join(", "),
            nodes
                .iter()
                .filter(|n| !super::confirm::is_loopback(&n.host))
                .map(|n| n.shown_host())
                .collect(),
        ),
        Endpoint::Embedded(_) => ("the embedded overlay".to_string(), Vec::new()),
    };
    let confirmed = confirmed.unwrap_or(if unconfirmed.is_empty() {
        Confirmed::Loopback
    } else {
        Confirmed::NotConfirmed { hosts: unconfirmed }
    });
    Report {
        schema: SCHEMA.to_string(),
        stampede_version: env!("CARGO_PKG_VERSION").to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        seed: p.seed,
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        interrupted: true,
        stop_reason: StopReason::NotStarted,
        stop_detail: Some(why.to_string()),
        abort: None,
        preflight: None,
        target,
        protocol: p.target.protocol().into(),
        profile: p.raw.shown(),
        plan: super::plan_facts(p, &plan, window, std::time::Duration::ZERO),
        engine: EngineFacts::default(),
        shard,
        profile_digest: super::profile_digest(&p.raw),
        confirmed,
        start: None,
        windows: Vec::new(),
        totals: Totals::default(),
        recovery: None,
        thresholds: Vec::new(),
        after_run: None,
        target_received: None,
        actions: Vec::new(),
    }
}
