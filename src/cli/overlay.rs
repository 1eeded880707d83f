//! `stampede overlay`: the reference overlay as a standalone target until Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;

use super::CliError;
use super::signal::wait_signal;
use crate::overlay::{OverlayConfig, spawn};

pub(super) async fn overlay(
    listen: SocketAddr,
    mode: &str,
    config: Option<&Path>,
    initial_online: Option<u64>,
) -> Result<(), CliError> {
    let mut cfg = OverlayConfig::load(mode, config).map_err(CliError::bad_input)?;
    if let Some(n) = initial_online {
        cfg.initial_online = n;
        let problems = cfg.validate();
        if !problems.is_empty() {
            let problems = problems.into_iter().map(|(field, msg)| format!("{field}: {msg}"));
            return Err(CliError::BadInputs(problems.collect()));
        }
    }
    if let Some(w) = crate::overlay::listen_warning(listen, cfg.admin_token.is_some()) {
        eprintln!("warning: {w}");
    }
    let h = spawn(cfg.clone(), listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))
        .map_err(CliError::CannotProceed)?;
    out!(
        "reference overlay ({mode}: {} allocation, {} queue, capacity {}, {} clients online) on http://{}",
        cfg.allocation.as_str(),
        cfg.queue.as_str(),
        cfg.capacity,
        cfg.initial_online,
        h.addr
    );
    out!(
        "  POST /login /keepalive /leave {{\"client\": N}} · GET /gateway (WebSocket, Bearer session) · GET /metrics · POST /admin/mega-supernodes /admin/shed /admin/drop-connections /admin/restart-gateway (loopback peers, or Bearer admin_token) · Ctrl-C stops"
    );
    wait_signal().await;
    h.shutdown().await;
    Ok(())
}
