//! The reference overlay over real HTTP on 127.0.0.1:0.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use stampede::overlay::{self, Action, OverlayConfig, OverlayHandle};
use stampede::units::{Dur, Rate, Share};

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

struct Conn(SendRequest<Full<Bytes>>);

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(conn);
        Conn(send)
    }

    async fn call(&mut self, method: Method, path: &str, body: &str) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "overlay")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        self.0.ready().await.unwrap();
        let res = self.0.send_request(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }
}

/// One request on a fresh connection.
async fn call(addr: SocketAddr, method: Method, path: &str, body: &str) -> Reply {
    Conn::open(addr).await.call(method, path, body).await
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> Reply {
    call(addr, Method::POST, path, body).await
}

async fn start(cfg: OverlayConfig) -> OverlayHandle {
    overlay::spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn client(c: u64) -> String {
    format!("{{\"client\":{c}}}")
}

/// Parses Prometheus text exposition strictly enough to catch malformed output:
/// every sample's family has HELP and TYPE lines before it; values are numbers.
/// Returns `name{labels}` → value.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut helped = HashSet::new();
    let mut typed = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            helped.insert(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        assert!(!line.starts_with('#'), "stray comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name {name}"
        );
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').expect("label=value");
                assert!(!k.is_empty() && v.starts_with('"') && v.ends_with('"'), "{line}");
            }
        }
        assert!(
            helped.contains(name) && typed.contains_key(name),
            "no HELP/TYPE for {name}"
        );
        if typed[name] == "counter" {
            assert!(name.ends_with("_total"), "counter {name} should end in _total");
        }
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        samples.insert(series.to_string(), v);
    }
    samples
}

async fn metrics(addr: SocketAddr) -> HashMap<String, f64> {
    let r = call(addr, Method::GET, "/metrics", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    parse_prometheus(&r.body)
}

#[tokio::test]
async fn login_keepalive_and_orphaning_after_a_host_leaves() {
    // Every id eligible: the hosts are the first ids, 0, 1 and 2 (100 × 1.25 / 50 slots).
    let h = start(OverlayConfig {
        supernode_share: Share(1.0),
        initial_online: 100,
        ..OverlayConfig::default()
    })
    .await;
    let a = h.addr;
    assert_eq!(call(a, Method::GET, "/healthz", "").await.status, StatusCode::OK);
    let m = metrics(a).await;
    assert_eq!(m["overlay_clients_online"], 100.0);
    assert_eq!(m["overlay_supernodes_active"], 3.0);

    let mut conn = Conn::open(a).await;
    for c in 0..100 {
        let r = conn.call(Method::POST, "/keepalive", &client(c)).await;
        assert_eq!(r.status, StatusCode::OK, "client {c} is logged in at t=0");
    }
    assert_eq!(post(a, "/keepalive", &client(5000)).await.status, StatusCode::GONE);

    let r = post(a, "/login", &client(5000)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(v["supernode"].as_u64().unwrap() >= 1);
    // Text ids as templated by profiles are accepted too.
    assert_eq!(
        post(a, "/keepalive", r#"{"client":"5000"}"#).await.status,
        StatusCode::OK
    );

    let r = post(a, "/leave", &client(0)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mut gone = Vec::new();
    for c in 1..100 {
        let r = conn.call(Method::POST, "/keepalive", &client(c)).await;
        match r.status {
            StatusCode::OK => {}
            StatusCode::GONE => gone.push(c),
            s => panic!("{s}"),
        }
    }
    let m = metrics(a).await;
    assert_eq!(m["overlay_supernodes_active"], 2.0);
    assert!(gone.len() > 20 && gone.len() < 50, "{gone:?}");
    // The host's own session ended by its leave, not by orphaning.
    assert_eq!(m["overlay_sessions_orphaned_total"] as usize, gone.len());
    assert_eq!(m["overlay_keepalives_total{result=\"gone\"}"] as usize, gone.len() + 1);

    // An orphan logs in again and is back.
    let c = gone[0];
    assert_eq!(post(a, "/login", &client(c)).await.status, StatusCode::OK);
    assert_eq!(post(a, "/keepalive", &client(c)).await.status, StatusCode::OK);
    h.shutdown().await;
}

#[tokio::test]
async fn no_free_slot_is_503_with_retry_after_until_mega_supernodes_arrive() {
    let h = start(OverlayConfig {
        initial_online: 0,
        retry_after: Dur::from_secs_f64(3.0),
        ..OverlayConfig::default()
    })
    .await;
    let r = post(h.addr, "/login", &client(1)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers["retry-after"], "3");
    assert_eq!(r.body, r#"{"error":"no_slot"}"#);

    let r = post(h.addr, "/admin/mega-supernodes", r#"{"count":2,"slots":5}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ids: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(ids["supernodes"].as_array().unwrap().len(), 2);
    for c in 0..10 {
        assert_eq!(post(h.addr, "/login", &client(c)).await.status, StatusCode::OK);
    }
    assert_eq!(
        post(h.addr, "/login", &client(10)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let m = metrics(h.addr).await;
    assert_eq!(m["overlay_supernodes_mega"], 2.0);
    assert_eq!(m["overlay_supernode_slots_free"], 0.0);
    assert_eq!(m["overlay_logins_ok_total"], 10.0);
    assert_eq!(m["overlay_logins_rejected_total{reason=\"no_slot\"}"], 2.0);
    assert_eq!(m["overlay_logins_completed_total"], 12.0);
    h.shutdown().await;
}

#[tokio::test]
async fn bounded_queue_answers_503_with_retry_after_over_its_bound() {
    // bound = 2/s × 1 s = 2 logins waiting
    let h = start(OverlayConfig {
        capacity: Rate(2.0),
        client_timeout: Dur::from_secs_f64(1.0),
        retry_after: Dur::from_secs_f64(1.5),
        ..OverlayConfig::default()
    })
    .await;
    let addr = h.addr;
    let started = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|c| tokio::spawn(async move { post(addr, "/login", &client(c)).await }))
        .collect();
    let mut ok = 0;
    let mut full = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(r.headers["retry-after"], "2", "1.5 s rounds up");
                if r.body.contains("queue_full") {
                    full += 1;
                }
            }
            s => panic!("{s}"),
        }
    }
    assert!(full >= 8, "{full} queue_full, {ok} ok");
    assert!(started.elapsed() < Duration::from_secs(3));
    let m = metrics(addr).await;
    assert_eq!(m["overlay_logins_rejected_total{reason=\"queue_full\"}"], full as f64);
    h.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_400_with_a_one_line_reason() {
    let h = start(OverlayConfig {
        initial_online: 10,
        ..OverlayConfig::default()
    })
    .await;
    let cases = [
        ("/login", "{\"client\":"),
        ("/login", "not json"),
        ("/login", ""),
        ("/login", "{}"),
        ("/login", r#"{"client":"abc"}"#),
        ("/login", r#"{"client":-1}"#),
        ("/login", r#"{"client":1.5}"#),
        ("/login", r#"{"client":true}"#),
        ("/login", r#"{"client":null}"#),
        ("/login", "[1]"),
        ("/keepalive", r#"{"id":1}"#),
        ("/leave", r#"{"client":[1]}"#),
        ("/admin/mega-supernodes", r#"{"count":0,"slots":10}"#),
        ("/admin/mega-supernodes", r#"{"count":1}"#),
        ("/admin/mega-supernodes", r#"{"count":1,"slots":0}"#),
        ("/admin/shed", r#"{"enabled":"yes"}"#),
    ];
    for (path, body) in cases {
        let r = post(h.addr, path, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body}: {}", r.body);
        let reason = r.body.strip_suffix('\n').unwrap_or(&r.body);
        assert!(
            !reason.is_empty() && !reason.contains('\n'),
            "{path} {body}: {reason:?}"
        );
    }
    let r = post(h.addr, "/login", "{}").await;
    assert!(r.body.contains("missing field `client`"), "{}", r.body);
    assert_eq!(post(h.addr, "/nope", "{}").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        call(h.addr, Method::GET, "/login", "").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // Still serving after all that.
    assert_eq!(post(h.addr, "/keepalive", &client(3)).await.status, StatusCode::OK);
    h.shutdown().await;
}

#[tokio::test]
async fn metrics_parse_and_counters_move() {
    let h = start(OverlayConfig::preset("bug-2007").unwrap()).await;
    let before = metrics(h.addr).await;
    assert_eq!(before["overlay_info{allocation=\"bug-2007\",queue=\"bounded\"}"], 1.0);
    assert_eq!(before["overlay_logins_completed_total"], 0.0);
    assert_eq!(before["overlay_clients_online"], 10_000.0);
    for name in [
        "overlay_queue_depth",
        "overlay_supernodes_active",
        "overlay_supernode_slots_free",
        "overlay_logins_wasted_total",
        "overlay_logins_rejected_total{reason=\"queue_full\"}",
        "overlay_keepalives_total{result=\"ok\"}",
        "overlay_promotion_suspended",
    ] {
        assert!(before.contains_key(name), "{name}");
    }
    let mut conn = Conn::open(h.addr).await;
    for c in 20_000..20_020 {
        assert_eq!(
            conn.call(Method::POST, "/login", &client(c)).await.status,
            StatusCode::OK
        );
        conn.call(Method::POST, "/keepalive", &client(c)).await;
    }
    conn.call(Method::POST, "/leave", &client(20_000)).await;
    let r = conn.call(Method::POST, "/admin/shed", r#"{"enabled":true}"#).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, r#"{"shed":true}"#));
    let after = metrics(h.addr).await;
    assert_eq!(after["overlay_logins_completed_total"], 20.0);
    assert_eq!(after["overlay_logins_ok_total"], 20.0);
    assert_eq!(after["overlay_keepalives_total{result=\"ok\"}"], 20.0);
    assert_eq!(after["overlay_leaves_total"], 1.0);
    assert_eq!(after["overlay_clients_online"], 10_019.0);
    assert_eq!(after["overlay_shed"], 1.0);
    assert!(after["overlay_uptime_seconds"] > before["overlay_uptime_seconds"]);
    h.shutdown().await;
}

#[tokio::test]
async fn mega_supernode_calls_beyond_the_bounds_are_refused_and_memory_stays_bounded() {
    let h = start(OverlayConfig {
        initial_online: 0,
        max_mega_supernodes: 1_500,
        ..OverlayConfig::default()
    })
    .await;
    let mut conn = Conn::open(h.addr).await;
    // The call that took the overlay from 13.5 MB to 574 MB in 300 repeats.
    for _ in 0..300 {
        let r = conn
            .call(
                Method::POST,
                "/admin/mega-supernodes",
                r#"{"count":10000,"slots":4294967295}"#,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("count must be between 1 and 1000"), "{}", r.body);
    }
    let r = conn
        .call(
            Method::POST,
            "/admin/mega-supernodes",
            r#"{"count":1000,"slots":4294967295}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("over max_mega_slots (20000000"), "{}", r.body);
    let r = conn
        .call(Method::POST, "/admin/mega-supernodes", r#"{"count":1000,"slots":100}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for _ in 0..100 {
        let r = conn
            .call(Method::POST, "/admin/mega-supernodes", r#"{"count":1000,"slots":100}"#)
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert!(
            r.body.contains("would make 2000, over max_mega_supernodes (1500"),
            "{}",
            r.body
        );
    }
    let m = metrics(h.addr).await;
    assert_eq!(m["overlay_supernodes_mega"], 1_000.0);
    assert_eq!(m["overlay_supernode_slots_total"], 100_000.0);
    assert_eq!(m["overlay_mega_supernodes_injected_total"], 1_000.0);
    h.shutdown().await;
}

#[tokio::test]
async fn configured_actions_fire_in_real_time() {
    let h = start(OverlayConfig {
        initial_online: 0,
        actions: vec![Action {
            at: Dur::from_secs_f64(0.2),
            inject_mega_supernodes: Some(1),
            slots: Some(100),
            ..Action::default()
        }],
        ..OverlayConfig::default()
    })
    .await;
    assert_eq!(
        post(h.addr, "/login", &client(1)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(post(h.addr, "/login", &client(1)).await.status, StatusCode::OK);
    h.shutdown().await;
}

#[tokio::test]
async fn invalid_config_is_refused_and_shutdown_closes_the_port() {
    let err = overlay::spawn(
        OverlayConfig {
            capacity: Rate(0.0),
            supernode_slots: 0,
            ..OverlayConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .err()
    .expect("invalid config");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(text.contains("capacity") && text.contains("supernode_slots"), "{text}");

    let h = start(OverlayConfig::default()).await;
    let addr = h.addr;
    tokio::time::timeout(Duration::from_secs(3), h.shutdown())
        .await
        .expect("shutdown is prompt");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Reads until the server closes the connection (EOF or reset): how long after
/// `opened` it did, and the bytes it sent before. Fails if still open after `within`.
async fn closed_within(tcp: &mut tokio::net::TcpStream, opened: Instant, within: Duration) -> (Duration, String) {
    use tokio::io::AsyncReadExt;
    let started = opened;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), tcp.read(&mut buf)).await {
            Err(_) => panic!("still open after {within:?}; got {:?}", String::from_utf8_lossy(&got)),
            Ok(Ok(0)) | Ok(Err(_)) => return (started.elapsed(), String::from_utf8_lossy(&got).into()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A connection that has sent `bytes`, and when it was opened.
async fn raw(addr: SocketAddr, bytes: impl AsRef<[u8]>) -> (tokio::net::TcpStream, Instant) {
    use tokio::io::AsyncWriteExt;
    let opened = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes.as_ref()).await.unwrap();
    (tcp, opened)
}

fn short_timeouts(header_read: f64, idle: f64) -> OverlayConfig {
    OverlayConfig {
        header_read_timeout: Dur::from_secs_f64(header_read),
        idle_timeout: Dur::from_secs_f64(idle),
        ..OverlayConfig::default()
    }
}

#[tokio::test]
async fn slowloris_connections_are_closed_at_the_header_read_timeout() {
    // idle is long: only the header-read timeout can close these.
    let h = start(short_timeouts(0.3, 30.0)).await;
    let partial_heads = (0..300).map(|i| raw(h.addr, format!("POST /login HTTP/1.1\r\nHost: o\r\nX-{i}: ")));
    let mut conns = futures_util::future::join_all(partial_heads).await;
    conns.push(raw(h.addr, "").await); // connected, nothing sent
    // A head in, its body stalled.
    conns.push(
        raw(
            h.addr,
            "POST /login HTTP/1.1\r\nHost: o\r\nContent-Length: 20\r\n\r\n{\"cli",
        )
        .await,
    );
    let closes = conns
        .iter_mut()
        .map(|(c, opened)| closed_within(c, *opened, Duration::from_secs(3)));
    for (i, (after, got)) in futures_util::future::join_all(closes).await.into_iter().enumerate() {
        assert!(
            after >= Duration::from_millis(280),
            "connection {i} closed {after:?} after it opened"
        );
        assert!(!got.contains("200 OK"), "{got}");
    }
    // The overlay still serves.
    assert_eq!(post(h.addr, "/keepalive", &client(3)).await.status, StatusCode::OK);
    h.shutdown().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_at_the_idle_timeout() {
    use tokio::io::AsyncReadExt;
    let h = start(short_timeouts(30.0, 0.4)).await;
    let mut conns = Vec::new();
    for _ in 0..200 {
        let (mut tcp, _) = raw(h.addr, "GET /healthz HTTP/1.1\r\nHost: o\r\n\r\n").await;
        let mut buf = [0u8; 1024];
        let n = tcp.read(&mut buf).await.unwrap();
        let answered = Instant::now();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("ok\n"), "{head}");
        conns.push((tcp, answered));
    }
    // Each one answered, kept alive, then left waiting.
    let closes = conns
        .iter_mut()
        .map(|(c, answered)| closed_within(c, *answered, Duration::from_secs(3)));
    for (after, got) in futures_util::future::join_all(closes).await {
        assert!(after >= Duration::from_millis(350), "closed {after:?} after its answer");
        assert_eq!(got, "");
    }
    // A connection in use is not idle: requests 0.25 s apart keep it open past 0.4 s.
    let mut conn = Conn::open(h.addr).await;
    for _ in 0..4 {
        assert_eq!(conn.call(Method::GET, "/healthz", "").await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    h.shutdown().await;
}

#[tokio::test]
async fn a_login_that_waits_in_the_queue_is_not_cut_by_the_timeouts() {
    // 2 logins/s, unbounded: the fourth of four waits about 1.5 s, far past both timeouts.
    let h = start(OverlayConfig {
        capacity: Rate(2.0),
        queue: overlay::QueuePolicy::Unbounded,
        ..short_timeouts(0.2, 0.2)
    })
    .await;
    let addr = h.addr;
    let started = Instant::now();
    let logins: Vec<_> = (0..4)
        .map(|c| tokio::spawn(async move { post(addr, "/login", &client(c)).await.status }))
        .collect();
    for l in logins {
        assert_eq!(l.await.unwrap(), StatusCode::OK);
    }
    assert!(
        started.elapsed() > Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let h = start(OverlayConfig::default()).await;
    let big = format!("{{\"client\":1,\"pad\":\"{}\"}}", "x".repeat(70_000));
    let r = post(h.addr, "/login", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    h.shutdown().await;
}

async fn post_with(addr: SocketAddr, path: &str, body: &str, auth: Option<&str>) -> Reply {
    let mut conn = Conn::open(addr).await;
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", "overlay")
        .header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    conn.0.ready().await.unwrap();
    let res = conn.0.send_request(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

const TOKEN: &str = "test-admin-token-0123456789";

#[tokio::test]
async fn admin_from_loopback_needs_no_token() {
    let h = start(OverlayConfig {
        admin_token: Some(overlay::AdminToken(TOKEN.into())),
        ..OverlayConfig::default()
    })
    .await;
    for auth in [None, Some("Bearer wrong-token-but-loopback")] {
        let r = post_with(h.addr, "/admin/shed", r#"{"enabled":true}"#, auth).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    h.shutdown().await;
}

/// This machine's address on its default route, if it has one: a UDP "connect" sends
/// nothing, it only picks the source address.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("203.0.113.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn admin_from_beyond_loopback_is_403_unless_it_bears_the_token() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("skipped: this machine has no address beyond loopback");
        return;
    };
    let listen = SocketAddr::new(ip, 0);
    let h = overlay::spawn(OverlayConfig::default(), listen).await.unwrap();
    let r = post(h.addr, "/admin/mega-supernodes", r#"{"count":1,"slots":1}"#).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("loopback peers only") && r.body.contains("admin_token"),
        "{}",
        r.body
    );
    assert_eq!(
        post(h.addr, "/admin/shed", r#"{"enabled":true}"#).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(h.addr, "/keepalive", &client(3)).await.status,
        StatusCode::OK,
        "not admin: served"
    );
    assert_eq!(metrics(h.addr).await["overlay_supernodes_mega"], 0.0);
    h.shutdown().await;

    let h = overlay::spawn(
        OverlayConfig {
            admin_token: Some(overlay::AdminToken(TOKEN.into())),
            ..OverlayConfig::default()
        },
        listen,
    )
    .await
    .unwrap();
    let mega = r#"{"count":1,"slots":1}"#;
    let r = post_with(h.addr, "/admin/mega-supernodes", mega, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("needs Authorization: Bearer"), "{}", r.body);
    let r = post_with(
        h.addr,
        "/admin/mega-supernodes",
        mega,
        Some("Bearer not-the-token-at-all"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bearer = format!("Bearer {TOKEN}");
    let r = post_with(h.addr, "/admin/mega-supernodes", mega, Some(&bearer)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(metrics(h.addr).await["overlay_supernodes_mega"], 1.0);
    h.shutdown().await;
}

/// Throughput of the HTTP path with spare capacity. Meaningful only in release:
/// `cargo test --release --test overlay -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore]
async fn serves_20k_logins_per_second() {
    let h = start(OverlayConfig {
        capacity: Rate(1_000_000.0),
        initial_online: 100_000,
        ..OverlayConfig::default()
    })
    .await;
    let addr = h.addr;
    let per_conn = 2000u64;
    let conns = 64u64;
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|k| {
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                for i in 0..per_conn {
                    let c = (k * per_conn + i) % 100_000;
                    let r = conn.call(Method::POST, "/login", &client(c)).await;
                    assert_eq!(r.status, StatusCode::OK);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (conns * per_conn) as f64 / started.elapsed().as_secs_f64();
    println!("{rate:.0} logins/s");
    h.shutdown().await;
    assert!(rate >= 20_000.0, "{rate:.0} logins/s");
}
