//! `stampede overlay`: the reference overlay as a standalone target until Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use super::signal::wait_signal;
use super::{BAD_INPUT, CANNOT_PROCEED};
use crate::overlay::{OverlayConfig, spawn};

pub(super) async fn overlay(
    listen: SocketAddr,
    mode: &str,
    config: Option<&Path>,
    initial_online: Option<u64>,
) -> ExitCode {
    let mut cfg = match OverlayConfig::load(mode, config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    if let Some(n) = initial_online {
        cfg.initial_online = n;
        let problems = cfg.validate();
        if !problems.is_empty() {
            for (field, msg) in problems {
                eprintln!("error: {field}: {msg}");
            }
            return ExitCode::from(BAD_INPUT);
        }
    }
    let h = match spawn(cfg.clone(), listen).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::from(CANNOT_PROCEED);
        }
    };
    out!(
        "reference overlay ({mode}: {} allocation, {} queue, capacity {}, {} clients online) on http://{}",
        cfg.allocation.as_str(),
        cfg.queue.as_str(),
        cfg.capacity,
        cfg.initial_online,
        h.addr
    );
    out!(
        "  POST /login /keepalive /leave {{\"client\": N}} · GET /metrics · POST /admin/mega-supernodes /admin/shed · Ctrl-C stops"
    );
    wait_signal().await;
    h.shutdown().await;
    ExitCode::SUCCESS
}
