//! Serves one hostile HTTP/2 server (h2c, prior knowledge) until killed; prints
//! `listening on ADDR` first. On SIGTERM or Ctrl-C it prints the connections and
//! streams it saw (`ok` also answers them at `/stats`).
//!
//!     cargo run --example h2_hostile -- --mode settings-flood --listen 127.0.0.1:0
//!
//! Modes: settings-flood, flow-stall, continuation-flood, hpack-bomb, goaway-loop,
//! refuse-stream, calm, no-ping-ack, ok (see tests/common/h2_hostile.rs).

#[path = "../tests/common/h2_hostile.rs"]
mod h2_hostile;

use std::io::Write;
use std::net::SocketAddr;
use std::process::exit;

use h2_hostile::{Mode, serve};

fn usage(why: &str) -> ! {
    eprintln!(
        "h2_hostile: {why}\nusage: h2_hostile --mode NAME [--listen ADDR]   (ADDR defaults to 127.0.0.1:0)\nmodes: {}",
        Mode::NAMES.join(", ")
    );
    exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (mut mode, mut listen) = (None, "127.0.0.1:0".parse::<SocketAddr>().unwrap());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--mode" => {
                mode = Some(Mode::parse(&value).unwrap_or_else(|| usage(&format!("--mode: no mode named {value:?}"))))
            }
            "--listen" => {
                listen = value
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("--listen {value:?}: {e} (give IP:PORT)")))
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let mode = mode.unwrap_or_else(|| usage("--mode is required"));
    let server = serve(mode, listen).await.unwrap_or_else(|e| {
        eprintln!("h2_hostile: cannot listen on {listen}: {e}");
        exit(1)
    });
    println!("listening on {}", server.addr);
    let _ = std::io::stdout().flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("{} {}", mode.name(), server.stats.json());
}
