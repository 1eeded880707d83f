//! `stampede try` on a connected population: the login, then the held connection's
//! upgrade and its first heartbeat answered; a refused upgrade fails the try.

mod common;

use std::process::Command;
use std::time::Duration;

fn profile(addr: std::net::SocketAddr, path: &str) -> String {
    format!(
        r#"
name: held-try
target: {{ nodes: ["http://{addr}"], timeout: 2s }}
population: {{ simulate: 10 }}
baseline: {{ duration: 2s, rate: 2/s }}
client:
  login:
    - {{ name: auth, request: POST /login, capture: {{ token: {{ json: /token }} }} }}
  session:
    connect:
      websocket: {path}
      headers: {{ authorization: "Bearer {{{{token}}}}" }}
      heartbeat: {{ every: 300ms, send: '{{"op":"hb"}}', expect_within: 1s }}
observe: {{ window: 500ms, until_recovered: 1s }}
"#
    )
}

async fn try_it(text: String) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = common::profile_file(dir.path(), &text);
    let o = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_stampede"))
            .arg("try")
            .arg(&path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (o.status.code().unwrap_or(-1), s(&o.stdout), s(&o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_connection_is_tried_to_its_first_heartbeat() {
    let addr = common::gateway::serve(Duration::from_secs(3600), 0).await;
    let (code, out, err) = try_it(profile(addr, "/gateway")).await;
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "capture `token` at /token: found (1 chars)",
        "connect: ok",
        "→ GET /gateway (WebSocket upgrade)",
        // The token is one character: too short to mask in running text, and still
        // never shown in a credential header.
        "authorization: Bearer <masked: 1 chars>",
        "connected",
        "first heartbeat: answered in",
    ] {
        assert!(out.contains(want), "`{want}` not in\n{out}");
    }

    let (code, out, err) = try_it(profile(addr, "/nope")).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("connect: http_404"), "{out}");
    assert!(err.contains("try failed: connect"), "{err}");
}
