//! `client.session.connect`: what a held connection's profile says, and every problem
//! placed at its line.

use std::path::Path;
use std::time::Duration;

use super::parse;
use crate::profile::HeartbeatSend;

const HELD: &str = r#"
name: held
target: { nodes: [http://127.0.0.1:8080] }
population: { simulate: 10 }
baseline: { duration: 5s, rate: 1/s }
client:
  login: [ { name: auth, request: POST /login, capture: { token: { json: /token } } } ]
  session:
    connect:
      websocket: /gateway
      headers: { authorization: "Bearer {{token}}" }
      heartbeat: { every: 15s, send: '{"op":"hb"}', expect_within: 3s }
      relogin_on: [4004, 4009]
      retry_after_from: reason
      ready: READY
gate: [ "reconnect_time < 2m", "connected_share > 99%", "reconnect.p99 < 5s", "heartbeat.max < 1s" ]
"#;

fn problems(text: &str) -> String {
    match parse(text, Path::new("p.yaml"), &|_| None) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_held_connection_loads_with_its_defaults() {
    let p = parse(HELD, Path::new("p.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let s = p.client.session.as_ref().expect("a session");
    assert!(s.keepalive.is_none(), "heartbeats keep a held session");
    let c = s.connect.as_ref().expect("connect");
    assert!(c.upgrade.path.is_static(), "a path without templates");
    assert_eq!(c.upgrade.headers.len(), 1);
    assert_eq!(c.heartbeat.every, Duration::from_secs(15));
    assert_eq!(c.heartbeat.expect_within, Duration::from_secs(3));
    assert_eq!(c.heartbeat.send, HeartbeatSend::Text(r#"{"op":"hb"}"#.into()));
    assert_eq!(c.relogin_on, vec![4004, 4009]);
    assert!(c.retry_after_from_reason);
    assert_eq!(c.ready.as_deref(), Some("READY"));
    assert_eq!(p.slo.connected, Some(0.99), "99% when the profile holds connections");
    assert_eq!(p.gate.len(), 4);
    assert_eq!(p.warmup_clients(), 10, "held clients connect in the warm-up");
    let ping = parse(
        &HELD.replace(r#"send: '{"op":"hb"}', "#, ""),
        Path::new("p.yaml"),
        &|_| None,
    )
    .unwrap();
    let c = ping.client.session.unwrap().connect.unwrap();
    assert_eq!(c.heartbeat.send, HeartbeatSend::Ping, "a ping frame by default");
}

#[test]
fn every_problem_of_a_held_connection_is_placed() {
    let bad = HELD
        .replace("websocket: /gateway", "websocket: gateway")
        .replace("every: 15s", "every: 1ms")
        .replace("[4004, 4009]", "[4004, 1006, 70000]")
        .replace("retry_after_from: reason", "retry_after_from: header");
    let e = problems(&bad);
    for want in [
        "p.yaml:10: client.session.connect.websocket: the path `gateway` must start with `/`",
        "p.yaml:12: client.session.connect.heartbeat.every: `1ms` is out of range",
        "p.yaml:13: client.session.connect.relogin_on[1]: `1006` is not a close code a server sends",
        "client.session.connect.relogin_on[2]: `70000` is not a close code",
        "client.session.connect.retry_after_from: `header` is not known",
    ] {
        assert!(e.contains(want), "missing `{want}` in:\n{e}");
    }
    let both = HELD.replace("    connect:", "    keepalive: { request: POST /k }\n    connect:");
    assert!(
        problems(&both).contains("client.session.keepalive: a held connection (`connect`) keeps the session"),
        "{}",
        problems(&both)
    );
    let unheld = HELD.replace(
        "  session:\n    connect:",
        "  session:\n    keepalive: { request: POST /k }\n    x:",
    ) + "slo: { connected: 99% }\n";
    assert!(
        problems(&unheld).contains("slo.connected: applies to a connected population"),
        "{}",
        problems(&unheld)
    );
}
