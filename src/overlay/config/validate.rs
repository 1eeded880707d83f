//! `OverlayConfig::validate`: every problem at once, each with its field's path.

use std::time::Duration;

/// The longest duration any overlay setting may have: a week, far beyond any storm test.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 86_400);

use super::{ActionKind, AdminToken, MAX_INITIAL_ONLINE, MAX_MEGA_PER_CALL, MAX_MEGA_SUPERNODES, OverlayConfig};
use crate::units::Share;

impl OverlayConfig {
    /// Every problem, not the first: (field path relative to the config, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |f: &str, m: String| out.push((f.to_string(), m));
        let mu = self.capacity.per_sec();
        if !(mu.is_finite() && mu > 0.0) {
            bad("capacity", format!("must be a positive rate, got {mu}/s"));
        } else if mu > 10_000_000.0 {
            bad("capacity", "must be at most 10000000/s".into());
        }
        for (field, d) in [
            ("client_timeout", self.client_timeout.0),
            ("retry_after", self.retry_after.0),
            ("header_read_timeout", self.header_read_timeout.0),
            ("idle_timeout", self.idle_timeout.0),
        ] {
            if d.is_zero() {
                bad(field, "must be more than 0s".into());
            }
        }
        // Bounded where they are read: an instant plus any of them must not overflow.
        let mut longest = [
            ("client_timeout", self.client_timeout.0),
            ("retry_after", self.retry_after.0),
            ("header_read_timeout", self.header_read_timeout.0),
            ("idle_timeout", self.idle_timeout.0),
            ("promotion_delay", self.promotion_delay.0),
            ("failure_window", self.failure_window.0),
        ]
        .map(|(f, d)| (f.to_string(), d))
        .to_vec();
        longest.extend(
            self.actions
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("actions[{i}].at"), a.at.0)),
        );
        for (field, d) in longest {
            if d > MAX_DURATION {
                bad(&field, "must be at most 168h (a week)".into());
            }
        }
        if let Some(AdminToken(t)) = &self.admin_token
            && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            bad(
                "admin_token",
                "must be at least 16 visible ASCII characters (no spaces): it is sent as a bearer token".into(),
            );
        }
        if self.supernode_slots == 0 {
            bad("supernode_slots", "must be at least 1".into());
        }
        share_ok(&mut bad, "supernode_share", self.supernode_share);
        share_ok(&mut bad, "spare_slots", self.spare_slots);
        share_ok(&mut bad, "bug_threshold", self.bug_threshold);
        share_ok(&mut bad, "bug_flood", self.bug_flood);
        share_ok(&mut bad, "keepalive_cost", self.keepalive_cost);
        let pr = self.promotion_rate.per_sec();
        if !(pr.is_finite() && pr >= 0.0) {
            bad("promotion_rate", format!("must be a rate of 0/s or more, got {pr}/s"));
        }
        if self.failure_window.0 < Duration::from_millis(100) {
            bad("failure_window", "must be at least 100ms".into());
        }
        if let Some(s) = self.self_shutdown {
            share_ok(&mut bad, "self_shutdown.load", s.load);
            if s.load.0 <= 0.0 {
                bad("self_shutdown.load", "must be more than 0%".into());
            }
        }
        if self.initial_online > MAX_INITIAL_ONLINE {
            bad("initial_online", format!("must be at most {MAX_INITIAL_ONLINE}"));
        }
        self.gateway.problems(&mut bad);
        if let Some(why) = self.admission.problem() {
            bad("admission", why);
        }
        self.action_problems(&mut bad);
        out
    }

    /// Each action does one thing; all their mega-supernodes fit the totals.
    fn action_problems(&self, bad: &mut impl FnMut(&str, String)) {
        for (i, a) in self.actions.iter().enumerate() {
            let p = |f: &str| format!("actions[{i}].{f}");
            match a.what()[..] {
                [] => bad(
                    &format!("actions[{i}]"),
                    "does nothing: give inject_mega_supernodes (with slots), shed, drop_connections, \
                     restart_gateway, admission or drain"
                        .into(),
                ),
                [_] => {}
                ref many => bad(
                    &format!("actions[{i}]"),
                    format!("give one of {}, not several", many.join(", ")),
                ),
            }
            if let Some(n) = a.inject_mega_supernodes {
                if n == 0 || n > MAX_MEGA_PER_CALL {
                    bad(
                        &p("inject_mega_supernodes"),
                        format!("must be between 1 and {MAX_MEGA_PER_CALL}"),
                    );
                }
                match a.slots {
                    None => bad(&p("slots"), "is required with inject_mega_supernodes".into()),
                    Some(0) => bad(&p("slots"), "must be at least 1".into()),
                    Some(_) => {}
                }
            } else if a.slots.is_some() {
                bad(&p("slots"), "only goes with inject_mega_supernodes".into());
            }
            if a.drain == Some(false) {
                bad(
                    &p("drain"),
                    "must be true: a drain cannot be undone (leave the action out)".into(),
                );
            }
            if let Some(s) = a.drop_connections {
                share_ok(bad, &p("drop_connections"), s);
            }
            if let Some(why) = a.admission.and_then(|a| a.problem()) {
                bad(&p("admission"), why);
            }
            if let Some(node) = a.restart_gateway
                && node >= self.gateway.nodes
            {
                bad(
                    &p("restart_gateway"),
                    format!(
                        "names node {node}, but the gateway's nodes are 0 to {} (gateway.nodes: {})",
                        self.gateway.nodes.saturating_sub(1),
                        self.gateway.nodes
                    ),
                );
            }
        }
        if self.max_mega_supernodes > MAX_MEGA_SUPERNODES {
            bad("max_mega_supernodes", format!("must be at most {MAX_MEGA_SUPERNODES}"));
        }
        let (count, slots) = self.mega_of_actions();
        if count > self.max_mega_supernodes as u64 {
            bad(
                "actions",
                format!(
                    "inject {count} mega-supernodes in all, over max_mega_supernodes ({})",
                    self.max_mega_supernodes
                ),
            );
        }
        if slots > self.max_mega_slots {
            bad(
                "actions",
                format!(
                    "give mega-supernodes {slots} slots in all, over max_mega_slots ({})",
                    self.max_mega_slots
                ),
            );
        }
    }

    /// Mega-supernodes and their slots that the valid actions inject, in all.
    pub fn mega_of_actions(&self) -> (u64, u64) {
        self.actions.iter().fold((0, 0), |(n, s), a| match a.kind() {
            Some(ActionKind::InjectMega { count, slots }) => {
                (n + count as u64, s.saturating_add(count as u64 * slots as u64))
            }
            _ => (n, s),
        })
    }
}

fn share_ok(bad: &mut impl FnMut(&str, String), field: &str, s: Share) {
    if !(0.0..=1.0).contains(&s.0) {
        bad(field, format!("must be between 0% and 100%, got {}", s.0));
    }
}
