//! The small login service of README's "Storm your own service in five minutes", for
//! trying `stampede init`, `try` and `run` without a service of your own:
//!
//!     cargo run --example login_service -- users.csv 127.0.0.1:8080
//!
//! `POST /login` checks `{"username", "password"}` against users.csv (a
//! `username,password` header) and answers `{"access_token": …}`; `GET /me` needs
//! `Authorization: Bearer <token>`.

#[path = "../tests/common/login_service.rs"]
mod login_service;

use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let csv = args.next().unwrap_or_else(|| "users.csv".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let text = std::fs::read_to_string(&csv).map_err(|e| anyhow::anyhow!("{csv}: {e}"))?;
    let users = Arc::new(login_service::Users::from_csv(&text));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("login service on http://{} (users from {csv})", listener.local_addr()?);
    axum::serve(listener, login_service::router(users)).await?;
    Ok(())
}
