//! The actions drawn on the time charts: the embedded overlay's operator actions (from
//! the profile) and the commands `storm.actions` ran on the target (from the report),
//! each a dashed line at its instant with what it was and how it ended.

use serde::Serialize;

use crate::report::Report;

/// Every action's mark, by run time.
pub(super) fn marks(r: &Report) -> Vec<Action> {
    let mut all = operator_actions(r);
    all.extend(storm_actions(r));
    all.sort_by(|a, b| a.at.total_cmp(&b.at));
    all
}

/// The longest command a label shows before it is cut (`…`).
const LABEL_CHARS: usize = 36;

/// `storm.actions` as they ran: at their start (or their due instant, never reached).
fn storm_actions(r: &Report) -> Vec<Action> {
    r.actions
        .iter()
        .filter(|a| a.started_ms.is_some())
        .map(|a| {
            let mut command: String = a.command.chars().take(LABEL_CHARS).collect();
            if a.command.chars().count() > LABEL_CHARS {
                command.push('…');
            }
            let how = match &a.outcome {
                crate::run::actions::ActionOutcome::Exited { code: 0 } => String::new(),
                o => format!(" ({})", o.words().split(':').next().unwrap_or_default()),
            };
            Action {
                at: a.started_ms.unwrap_or(a.at_ms) as f64 / 1000.0,
                label: format!("action: {command}{how}"),
            }
        })
        .collect()
}

#[derive(Serialize)]
pub(super) struct Action {
    at: f64,
    label: String,
}

// TODO(run): report.plan.operator_actions — read a typed field once the run writes
// one; digging in the raw profile by path breaks silently if the profile's keys move.
/// The overlay's timed operator actions as the profile wrote them
/// (`target.overlay.actions[]`: `at` plus `inject_mega_supernodes`/`slots`, `shed`,
/// `drop_connections`, `restart_gateway`, `drain` or `admission`).
fn operator_actions(r: &Report) -> Vec<Action> {
    let Some(list) = r.profile.pointer("/target/overlay/actions").and_then(|a| a.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|a| {
            let at = a.get("at").and_then(|v| match v {
                serde_json::Value::String(s) => s.parse::<crate::units::Dur>().ok(),
                serde_json::Value::Number(n) => n.as_f64().map(crate::units::Dur::from_secs_f64),
                _ => None,
            })?;
            let label = if let Some(n) = a.get("inject_mega_supernodes").and_then(|v| v.as_u64()) {
                format!("operator: +{n} mega-supernodes")
            } else if let Some(on) = a.get("shed").and_then(|v| v.as_bool()) {
                format!("operator: shedding {}", if on { "on" } else { "off" })
            } else if let Some(share) = a.get("drop_connections") {
                let share = share.as_str().map_or_else(|| share.to_string(), str::to_string);
                format!("operator: drop {share} of connections")
            } else if let Some(node) = a.get("restart_gateway").and_then(|v| v.as_u64()) {
                format!("operator: restart gateway node {node}")
            } else if a.get("drain").and_then(|v| v.as_bool()) == Some(true) {
                "operator: drain (GOAWAY to every HTTP/2 connection)".to_string()
            } else if let Some(adm) = a.get("admission") {
                match serde_json::from_value::<crate::overlay::config::Admission>(adm.clone()) {
                    Ok(adm) => format!("operator: admission {adm}"),
                    Err(_) => "operator: admission".to_string(),
                }
            } else {
                "operator action".to_string()
            };
            Some(Action {
                at: at.as_secs_f64(),
                label,
            })
        })
        .collect()
}
