//! Serves one class of hostile target on 127.0.0.1 (port 0) until stdin closes or the
//! process is killed; prints its address first. For `bench/hostile-rss.sh`, which runs
//! the release binary against each class and measures its peak memory.
//!
//!     cargo run --release --example hostile_target -- endless-chunked

#[path = "../tests/common/mod.rs"]
mod common;

use common::hostile::{Hostile, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(kind) = Hostile::parse(&name) else {
        eprintln!("usage: hostile_target CLASS, one of: {}", Hostile::NAMES.join(", "));
        std::process::exit(2);
    };
    let server = serve(kind).await;
    println!("{}", server.addr);
    // Until the bench closes stdin (or kills the process).
    let mut sink = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink).await;
}
