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
    let over = match config {
        Some(path) => Some(config_file(path, &|k| std::env::var(k).ok())?),
        None => None,
    };
    let mut cfg = OverlayConfig::load(mode, over)
        .with_context(|| match config {
            Some(path) => format!("overlay config {}", path.display()),
            None => "overlay".to_string(),
        })
        .map_err(CliError::BadInput)?;
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

/// The `--config` file: read as profiles are (a regular file of at most 4 MiB, UTF-8:
/// a FIFO or `/dev/zero` is refused, not read without end), its `admin_token: ${VAR}`
/// taken from `env`. Errors name the file, never the token.
fn config_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<serde_yaml::Value, CliError> {
    let bad = |e: String| CliError::BadInput(anyhow::anyhow!("overlay config {}: {e}", path.display()));
    let text =
        crate::profile::file::read_text(path, crate::profile::limits::PROFILE_BYTES).map_err(|e| bad(e.to_string()))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| bad(format!("not valid YAML: {e}")))?;
    crate::profile::admin_token_env(&doc, env).map_err(|e| bad(format!("admin_token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_files_admin_token_comes_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.yaml");
        std::fs::write(&path, "admin_token: ${ADM}\ncapacity: 50/s\n").unwrap();
        let env = |k: &str| (k == "ADM").then(|| "0123456789abcdef-env".to_string());
        let doc = config_file(&path, &env).unwrap();
        let cfg = OverlayConfig::load("healthy", Some(doc)).unwrap();
        assert_eq!(cfg.admin_token.map(|t| t.0).as_deref(), Some("0123456789abcdef-env"));
        let e = config_file(&path, &|_| None).unwrap_err().to_string();
        assert!(e.contains("o.yaml: admin_token: `${ADM}` is not set"), "{e}");
        // A literal token is kept as written.
        std::fs::write(&path, "admin_token: literal-0123456789\n").unwrap();
        let doc = config_file(&path, &|_| None).unwrap();
        assert_eq!(doc["admin_token"].as_str(), Some("literal-0123456789"));
    }
}
