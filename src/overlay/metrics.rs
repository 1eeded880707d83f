//! Prometheus text exposition (format 0.0.4) of a model snapshot.

use std::fmt::Write;

use super::config::{Allocation, QueuePolicy};
use super::model::{Reject, Snapshot};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One family: HELP, TYPE, then each sample as (labels, written `{k="v"}` or empty; value).
pub(super) fn metric<L: AsRef<str>>(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(L, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{} {v}", labels.as_ref());
    }
}

pub fn render(s: &Snapshot, allocation: Allocation, queue: QueuePolicy) -> String {
    let mut o = String::with_capacity(4096);
    let info = format!(
        "{{allocation=\"{}\",queue=\"{}\"}}",
        allocation.as_str(),
        queue.as_str()
    );
    metric(
        &mut o,
        "overlay_info",
        "gauge",
        "Modes the overlay runs in (always 1).",
        &[(&info, 1.0)],
    );
    gauges(&mut o, s);
    counters(&mut o, s);
    o
}

fn gauge(o: &mut String, name: &str, help: &str, v: f64) {
    metric(o, name, "gauge", help, &[("", v)]);
}

fn counter(o: &mut String, name: &str, help: &str, v: u64) {
    metric(o, name, "counter", help, &[("", v as f64)]);
}

/// The state now: uptime, queue, online clients, supernodes, modes.
fn gauges(o: &mut String, s: &Snapshot) {
    gauge(
        o,
        "overlay_uptime_seconds",
        "Seconds since the overlay started.",
        s.now.as_secs_f64(),
    );
    gauge(
        o,
        "overlay_queue_depth",
        "Logins waiting for the login server.",
        s.queue_depth as f64,
    );
    gauge(
        o,
        "overlay_clients_online",
        "Clients with a valid session.",
        s.online as f64,
    );
    gauge(
        o,
        "overlay_clients_up",
        "Clients whose machine is up (logged in, orphaned or trying), not left.",
        s.up as f64,
    );
    gauge(
        o,
        "overlay_supernodes_active",
        "Supernodes serving, mega-supernodes included.",
        s.supernodes as f64,
    );
    gauge(
        o,
        "overlay_supernodes_mega",
        "Injected mega-supernodes.",
        s.mega_supernodes as f64,
    );
    gauge(
        o,
        "overlay_supernodes_warming",
        "Hosts chosen for promotion, still warming up.",
        s.warming as f64,
    );
    gauge(
        o,
        "overlay_supernode_slots_total",
        "Slots of all active supernodes.",
        s.slots_total as f64,
    );
    gauge(
        o,
        "overlay_supernode_slots_free",
        "Free slots of all active supernodes.",
        s.slots_free as f64,
    );
    gauge(
        o,
        "overlay_login_failure_ratio",
        "Failed / (failed + ok) logins over the failure window.",
        s.failure_ratio,
    );
    gauge(
        o,
        "overlay_promotion_suspended",
        "1 while the bug-2007 allocator refuses to promote.",
        bool_f(s.promotion_suspended),
    );
    gauge(o, "overlay_shed", "1 while optional work is shed.", bool_f(s.shed));
    gauge(
        o,
        "overlay_admission_limit_per_second",
        "Admission control's login limit now (0: no rate limit).",
        s.admission_limit.unwrap_or(0.0),
    );
    let (open, buckets) = s.admission_buckets.unwrap_or((0, 0));
    gauge(
        o,
        "overlay_admission_buckets_open",
        "Admission buckets open now (0 when not admitting by bucket).",
        f64::from(open),
    );
    gauge(
        o,
        "overlay_admission_buckets",
        "Admission buckets in all (0 when not admitting by bucket).",
        f64::from(buckets),
    );
}

/// What happened so far: logins by result, rejections by reason, promotions.
fn counters(o: &mut String, s: &Snapshot) {
    let st = &s.stats;
    counter(
        o,
        "overlay_logins_completed_total",
        "Logins the login server did the work for (throughput).",
        st.completed,
    );
    counter(o, "overlay_logins_ok_total", "Logins answered 200.", st.ok);
    counter(
        o,
        "overlay_logins_wasted_total",
        "Logins completed after their client's timeout had passed.",
        st.wasted,
    );
    let reason = |r: Reject| format!("{{reason=\"{}\"}}", r.as_str());
    metric(
        o,
        "overlay_logins_rejected_total",
        "counter",
        "Logins answered 503, by reason.",
        &[
            (&reason(Reject::QueueFull), st.rejected_queue_full as f64),
            (&reason(Reject::Expired), st.rejected_expired as f64),
            (&reason(Reject::NoSlot), st.rejected_no_slot as f64),
            (&reason(Reject::Admission), st.rejected_admission as f64),
        ],
    );
    metric(
        o,
        "overlay_keepalives_total",
        "counter",
        "Keepalives, by result.",
        &[
            ("{result=\"ok\"}", st.keepalive_ok as f64),
            ("{result=\"gone\"}", st.keepalive_gone as f64),
        ],
    );
    counter(o, "overlay_leaves_total", "Clients that left (rebooted).", st.leaves);
    counter(
        o,
        "overlay_sessions_orphaned_total",
        "Sessions lost because their supernode disappeared.",
        st.orphaned,
    );
    counter(
        o,
        "overlay_promotions_total",
        "Hosts promoted to supernode.",
        st.promotions,
    );
    metric(
        o,
        "overlay_supernode_shutdowns_total",
        "counter",
        "Supernodes lost, by cause.",
        &[
            ("{cause=\"leave\"}", st.shutdowns_leave as f64),
            ("{cause=\"self_shutdown\"}", st.shutdowns_self as f64),
        ],
    );
    counter(
        o,
        "overlay_mega_supernodes_injected_total",
        "Mega-supernodes injected by operators.",
        st.mega_injected,
    );
}

fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}
