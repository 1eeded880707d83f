//! The overlay's WebSocket gateway over real sockets on 127.0.0.1:0, with
//! tokio-tungstenite clients: each close code and HTTP status, and the metrics.

mod common;

#[path = "gateway/client.rs"]
mod client;

use std::net::SocketAddr;
use std::time::Duration;

use client::{Event, connect, connect_with, gateway_metrics, heartbeat, http, login, next, send};
use futures_util::SinkExt;
use stampede::overlay::{self, GatewayConfig, OverlayConfig, OverlayHandle, Overload};
use stampede::units::{Dur, Rate, Share};
use tokio_tungstenite::tungstenite::Message;

const SOON: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

async fn start(cfg: OverlayConfig) -> OverlayHandle {
    overlay::spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// 100 clients online over 15 supernodes of 10 slots, hosted by clients 0..15: client
/// c is a member of supernode c % 15 + 1, whose host is client c % 15.
fn layout() -> OverlayConfig {
    OverlayConfig {
        initial_online: 100,
        supernode_share: Share(1.0),
        supernode_slots: 10,
        spare_slots: Share(0.5),
        ..OverlayConfig::default()
    }
}

async fn held(addr: SocketAddr, client: u64) -> (String, client::Ws) {
    let token = login(addr, client).await;
    let ws = connect_with(addr, &token).await;
    (token, ws)
}

#[tokio::test]
async fn the_token_decides_the_upgrade_and_heartbeats_are_answered() {
    let h = start(layout()).await;
    let addr = h.addr;
    assert_eq!(connect(addr, None).await.err().map(|e| e.0), Some(401));
    let (status, why) = connect(addr, Some("Bearer 0123abcd")).await.err().unwrap();
    assert_eq!((status, why.as_str()), (401, "unknown session token: log in again\n"));
    assert_eq!(connect(addr, Some("Basic eDp5")).await.err().map(|e| e.0), Some(401));

    let old = login(addr, 7).await;
    let token = login(addr, 7).await;
    assert_eq!(
        connect(addr, Some(&format!("Bearer {old}"))).await.err().map(|e| e.0),
        Some(401),
        "a token replaced by a later login"
    );
    // The scheme in any case.
    let mut ws = connect(addr, Some(&format!("bearer {token}"))).await.unwrap();
    heartbeat(&mut ws).await;
    send(&mut ws, "hello").await;
    ws.send(Message::Ping(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(next(&mut ws, SOON).await, Event::Pong, "the text got no answer");
    heartbeat(&mut ws).await;

    let m = gateway_metrics(addr).await;
    assert_eq!(m["connections"], 1.0, "{m:?}");
    assert_eq!(m["upgrades_total{result=\"ok\"}"], 1.0);
    assert_eq!(m["upgrades_total{result=\"unauthorized\"}"], 4.0);
    assert_eq!(m["heartbeats_total"], 2.0);
    assert_eq!(m["messages_ignored_total"], 1.0);
    assert_eq!(m["node_connections{node=\"3\"}"], 1.0, "7 mod 4");

    ws.close(None).await.unwrap();
    assert!(matches!(next(&mut ws, SOON).await, Event::Close(..) | Event::Dropped));
    tokio::time::sleep(QUIET).await;
    let m = gateway_metrics(addr).await;
    assert_eq!(m.get("connections"), None, "{m:?}");
    assert_eq!(m["drops_total{cause=\"client_closed\"}"], 1.0);
}

#[tokio::test]
async fn a_leaving_host_drops_its_members_who_must_log_in_again() {
    let h = start(layout()).await;
    let addr = h.addr;
    // Supernode 1: host 0, members 0, 15, 30, ...; client 1 is on supernode 2. The host
    // leaves its own supernode before it goes; its own connection goes with its machine.
    let (host, mut ws0) = held(addr, 0).await;
    let (t15, mut ws15) = held(addr, 15).await;
    let (_, mut ws30) = held(addr, 30).await;
    let (_, mut ws1) = held(addr, 1).await;
    let left = http(addr, "POST", "/leave", "", Some(&format!("Bearer {host}"))).await;
    assert_eq!(left.status, 204);
    for ws in [&mut ws0, &mut ws15, &mut ws30] {
        assert_eq!(next(ws, SOON).await, Event::Dropped, "no close frame");
    }
    heartbeat(&mut ws1).await;

    // The orphan's resume: its token is valid, its session is not.
    let mut ws = connect_with(addr, &t15).await;
    assert_eq!(
        next(&mut ws, SOON).await,
        Event::Close(4004, "session lost: log in again".into())
    );
    let token = login(addr, 15).await;
    let mut ws = connect_with(addr, &token).await;
    heartbeat(&mut ws).await;

    let m = gateway_metrics(addr).await;
    assert_eq!(m["drops_total{cause=\"supernode_left\"}"], 2.0, "{m:?}");
    assert_eq!(m["drops_total{cause=\"client_reset\"}"], 1.0, "the one that left");
    assert_eq!(m["upgrades_total{result=\"session_lost\"}"], 1.0);
    assert_eq!(m["upgrades_total{result=\"ok\"}"], 5.0);
    assert_eq!(m["connections"], 2.0);
}

#[tokio::test]
async fn a_hosts_connection_reset_takes_its_supernode_and_members_down() {
    let h = start(layout()).await;
    let addr = h.addr;
    let (_, ws1) = held(addr, 1).await; // hosts supernode 2: members 1, 16, 31, ...
    let (_, mut ws16) = held(addr, 16).await;
    let (t17, mut ws17) = held(addr, 17).await;
    // The host's machine reboots: its socket goes with an RST, no close frame.
    socket2::SockRef::from(ws1.get_ref())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(ws1);
    assert_eq!(next(&mut ws16, SOON).await, Event::Dropped);
    heartbeat(&mut ws17).await;
    let m = gateway_metrics(addr).await;
    assert_eq!(m["drops_total{cause=\"client_reset\"}"], 1.0, "{m:?}");
    assert_eq!(m["drops_total{cause=\"supernode_left\"}"], 1.0, "{m:?}");
    // A plain member's reset keeps its session: the resume is held.
    drop(ws17);
    let mut ws = connect_with(addr, &t17).await;
    heartbeat(&mut ws).await;
    let m = gateway_metrics(addr).await;
    assert_eq!(m["drops_total{cause=\"client_reset\"}"], 2.0, "{m:?}");
    assert_eq!(m["drops_total{cause=\"supernode_left\"}"], 1.0, "{m:?}");
}

/// A login server of 1 login/s whose bounded queue holds 2 s of work.
fn tiny(overload: Overload) -> OverlayConfig {
    OverlayConfig {
        capacity: Rate(1.0),
        client_timeout: Dur::from_secs_f64(2.0),
        initial_online: 10,
        gateway: GatewayConfig {
            overload,
            ..GatewayConfig::default()
        },
        ..OverlayConfig::default()
    }
}

/// Fills the tiny login server's queue: its idle second's budget goes to one login,
/// two more wait (the bound), the rest are refused.
async fn fill_queue(addr: SocketAddr) {
    for c in 1..5 {
        tokio::spawn(async move { http(addr, "POST", "/login", &format!("{{\"client\":{c}}}"), None).await });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn an_upgrade_the_login_server_cannot_admit_is_closed_with_1013_or_refused_with_503() {
    let h = start(tiny(Overload::Close1013)).await;
    let token = login(h.addr, 0).await;
    fill_queue(h.addr).await;
    let mut ws = connect_with(h.addr, &token).await;
    assert_eq!(next(&mut ws, SOON).await, Event::Close(1013, "retry after 2".into()));
    let m = gateway_metrics(h.addr).await;
    assert_eq!(m["upgrades_total{result=\"overloaded\"}"], 1.0, "{m:?}");

    let h = start(tiny(Overload::Http503)).await;
    let token = login(h.addr, 0).await;
    fill_queue(h.addr).await;
    let r = http(h.addr, "GET", "/gateway", "", Some(&format!("Bearer {token}"))).await;
    // Not an upgrade request at all: the token is checked, the admission is not.
    assert_eq!(r.status, 400, "{}", r.body);
    let (status, body) = connect(h.addr, Some(&format!("Bearer {token}"))).await.err().unwrap();
    assert_eq!((status, body.as_str()), (503, r#"{"error":"queue_full"}"#));
}

#[tokio::test]
async fn operators_drop_a_share_abruptly_and_restart_a_node_with_1012() {
    let h = start(layout()).await;
    let addr = h.addr;
    let mut held_ = Vec::new();
    for c in 0..20 {
        held_.push(held(addr, c).await);
    }
    for (body, why) in [
        (r#"{"share":1.5}"#, "share must be between 0 and 1, got 1.5\n"),
        (r#"{"share":"30%"}"#, ""),
        ("{}", ""),
    ] {
        let r = http(addr, "POST", "/admin/drop-connections", body, None).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.body.ends_with('\n') && r.body.lines().count() == 1 && r.body.contains(why));
    }
    let r = http(addr, "POST", "/admin/restart-gateway", r#"{"node":4}"#, None).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "node must be between 0 and 3 (gateway.nodes: 4), got 4\n")
    );

    let r = http(addr, "POST", "/admin/drop-connections", r#"{"share":0.3}"#, None).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"dropped":6}"#));
    let mut dropped = Vec::new();
    for (c, (token, ws)) in held_.iter_mut().enumerate() {
        match next(ws, Duration::from_millis(100)).await {
            Event::Dropped => dropped.push((c, token.clone())),
            Event::Nothing => {}
            other => panic!("client {c}: {other:?}"),
        }
    }
    assert_eq!(dropped.len(), 6);
    for (c, token) in &dropped {
        // The session stays valid: the resume is held.
        let mut ws = connect_with(addr, token).await;
        heartbeat(&mut ws).await;
        held_[*c].1 = ws;
    }

    let r = http(addr, "POST", "/admin/restart-gateway", r#"{"node":1}"#, None).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"dropped":5}"#));
    for (c, (_, ws)) in held_.iter_mut().enumerate() {
        if c % 4 == 1 {
            assert_eq!(next(ws, SOON).await, Event::Close(1012, "retry after 2".into()), "{c}");
        } else {
            heartbeat(ws).await;
        }
    }
    let m = gateway_metrics(addr).await;
    assert_eq!(m["drops_total{cause=\"drop_action\"}"], 6.0, "{m:?}");
    assert_eq!(m["drops_total{cause=\"restart\"}"], 5.0, "{m:?}");
    assert_eq!(m["connections"], 15.0);
    assert_eq!(m.get("node_connections{node=\"1\"}"), None);
}

#[tokio::test]
async fn a_silent_connection_is_closed_with_4009_and_configured_actions_fire() {
    let mut cfg = layout();
    cfg.gateway.heartbeat_timeout = Dur::from_secs_f64(0.4);
    cfg.actions = serde_yaml::from_str("[{ at: 1500ms, restart_gateway: 2 }]").unwrap();
    let h = start(cfg).await;
    let (_, mut silent) = held(h.addr, 0).await;
    let (_, mut beating) = held(h.addr, 2).await;
    let (_, mut other) = held(h.addr, 3).await;
    let started = std::time::Instant::now();
    let mut closed = None;
    while started.elapsed() < Duration::from_millis(1300) {
        heartbeat(&mut beating).await;
        heartbeat(&mut other).await;
        if closed.is_none() {
            match next(&mut silent, Duration::from_millis(100)).await {
                Event::Nothing => {}
                e => closed = Some((e, started.elapsed())),
            }
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (event, after) = closed.expect("the silent one was closed");
    assert_eq!(event, Event::Close(4009, "heartbeat timeout".into()));
    assert!(after < Duration::from_millis(900), "{after:?}");
    assert_eq!(
        next(&mut beating, SOON).await,
        Event::Close(1012, "retry after 2".into())
    );
    heartbeat(&mut other).await;
    let m = gateway_metrics(h.addr).await;
    assert_eq!(m["drops_total{cause=\"heartbeat_timeout\"}"], 1.0, "{m:?}");
    assert_eq!(m["drops_total{cause=\"restart\"}"], 1.0, "{m:?}");
}

/// CPU time (user + system) a process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test]
async fn out_of_file_descriptors_the_accept_loop_waits_and_recovers() {
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--nofile=48").arg(env!("CARGO_BIN_EXE_stampede")).args([
        "overlay",
        "--listen",
        "127.0.0.1:0",
        "--mode",
        "healthy",
    ]);
    let (mut child, addr) = common::spawn_overlay(cmd);
    // More connections than it has descriptors for: the kernel queues the rest.
    let mut flood = Vec::new();
    for _ in 0..80 {
        flood.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.id();
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = cpu_ticks(pid) - before;
    assert!(spent < 50, "out of descriptors, it spun: {spent} ticks of CPU in 2 s");
    drop(flood);
    let healthy = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Ok(r) = tokio::time::timeout(Duration::from_secs(3), http(addr, "GET", "/healthz", "", None)).await
                && r.status == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let alive = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(alive, "the overlay survived");
    assert!(healthy.is_ok(), "it serves again once descriptors are free");
}

#[tokio::test]
async fn before_the_clock_starts_an_online_clients_upgrade_is_held_at_no_cost() {
    let h = overlay::spawn_held(layout(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = h.addr;
    let (host, mut ws0) = held(addr, 0).await;
    let (_, mut ws15) = held(addr, 15).await;
    heartbeat(&mut ws15).await;
    // The supernode's members drop at once even while the timeline stands still.
    let left = http(addr, "POST", "/leave", "", Some(&format!("Bearer {host}"))).await;
    assert_eq!(left.status, 204);
    assert_eq!(next(&mut ws15, SOON).await, Event::Dropped);
    assert_eq!(next(&mut ws0, SOON).await, Event::Dropped);
    let m = client::metrics(addr).await;
    assert_eq!(m["overlay_gateway_upgrades_total{result=\"ok\"}"], 2.0);
    assert_eq!(m["overlay_uptime_seconds"], 0.0, "still held");
    assert_eq!(m["overlay_logins_completed_total"], 0.0, "no capacity spent");
    h.clock.start(std::time::Instant::now());
    let (_, mut ws1) = held(addr, 1).await;
    heartbeat(&mut ws1).await;
}
