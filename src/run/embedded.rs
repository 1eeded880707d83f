//! The reference overlay as a profile's target: `overlay: embedded` (the healthy
//! preset), `overlay: bug-2007` (a preset by name), or a mapping of settings with an
//! optional `preset`. Started in-process on 127.0.0.1:0 for the run.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::overlay::{Clock, OverlayConfig};
use crate::profile::Node;

/// Why the embedded overlay did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("the overlay's settings under target.overlay: {}", .0.iter().map(|(f, m)| if f.is_empty() { m.clone() } else { format!("{f}: {m}") }).collect::<Vec<_>>().join("; "))]
    Settings(Vec<(String, String)>),
    #[error("cannot start the embedded overlay's thread or runtime: {0}")]
    Start(#[source] std::io::Error),
    #[error("cannot start the embedded overlay: its thread stopped before it listened")]
    Lost,
    #[error("the embedded overlay's address {0} is not a node URL: {1}")]
    Address(String, crate::profile::NodeError),
}

/// The embedded overlay, running on a runtime of its own.
pub struct Embedded {
    /// Held until the run's time zero: the overlay's timeline counts from the run's
    /// start, and the warm-up's logins before it only collect tokens.
    pub clock: Arc<Clock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Embedded {
    /// Stops the overlay and waits for its thread.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Starts it on its own thread and single-threaded runtime, so the target's work never
/// delays the engine's scheduler (sharing one runtime's workers, the generator's send
/// lag would measure the target). Returns the node to storm, a description, and the
/// handle to stop it.
pub async fn start(cfg: &OverlayConfig) -> Result<(Node, String, Embedded), EmbeddedError> {
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    type Started = std::io::Result<(SocketAddr, Arc<Clock>)>;
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<Started>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let config = cfg.clone();
    let thread = std::thread::Builder::new()
        .name("overlay".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = addr_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                match crate::overlay::spawn_held(config, listen).await {
                    Ok(h) => {
                        let _ = addr_tx.send(Ok((h.addr, h.clock.clone())));
                        let _ = stop_rx.await;
                        h.shutdown().await;
                    }
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(EmbeddedError::Start)?;
    let (addr, clock) = addr_rx
        .await
        .map_err(|_| EmbeddedError::Lost)?
        .map_err(EmbeddedError::Start)?;
    let h = Embedded {
        clock,
        stop: Some(stop_tx),
        thread: Some(thread),
    };
    let url = format!("http://{addr}");
    let node = Node::parse(&url).map_err(|e| EmbeddedError::Address(url.clone(), e))?;
    let name = format!(
        "embedded overlay at {url} ({} allocation, {} queue, capacity {})",
        cfg.allocation.as_str(),
        cfg.queue.as_str(),
        cfg.capacity
    );
    Ok((node, name, h))
}
