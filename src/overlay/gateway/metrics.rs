//! The gateway's part of /metrics.

use super::table::GatewaySnapshot;
use crate::overlay::metrics::metric;

/// `{label="value"}` samples from (value's name, count) pairs.
fn by<'a, N: Into<&'a str>>(label: &str, of: impl IntoIterator<Item = (N, u64)>) -> Vec<(String, f64)> {
    of.into_iter()
        .map(|(n, v)| (format!("{{{label}=\"{}\"}}", n.into()), v as f64))
        .collect()
}

pub fn render(o: &mut String, g: &GatewaySnapshot) {
    metric(
        o,
        "overlay_gateway_connections",
        "gauge",
        "WebSocket connections the gateway holds now.",
        &[("", g.held as f64)],
    );
    let nodes: Vec<(String, f64)> = g
        .per_node
        .iter()
        .enumerate()
        .map(|(n, &v)| (format!("{{node=\"{n}\"}}"), v as f64))
        .collect();
    metric(
        o,
        "overlay_gateway_node_connections",
        "gauge",
        "Held connections per gateway node (client id mod nodes).",
        &nodes,
    );
    metric(
        o,
        "overlay_gateway_upgrades_total",
        "counter",
        "Upgrades to /gateway, by how they were answered.",
        &by("result", g.upgrades.iter().copied()),
    );
    metric(
        o,
        "overlay_gateway_drops_total",
        "counter",
        "Held connections that ended, by cause.",
        &by("cause", g.drops.iter().copied()),
    );
    metric(
        o,
        "overlay_gateway_heartbeats_total",
        "counter",
        "Heartbeats ({\"op\":\"hb\"}) answered.",
        &[("", g.heartbeats as f64)],
    );
    metric(
        o,
        "overlay_gateway_messages_ignored_total",
        "counter",
        "Other messages from clients (counted, not answered).",
        &[("", g.ignored as f64)],
    );
}
