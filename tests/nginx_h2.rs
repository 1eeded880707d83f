//! nginx with HTTP/2 (tests/common/nginx.rs): h2c and TLS with ALPN h2 answer a login,
//! and `nginx -s reload` sends a GOAWAY to an open connection, the drain that starts a
//! reconnect storm (issue #25); the reloaded nginx takes new connections at once.
//! Needs nginx: `.ci/run` installs the Debian package nginx-light.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::h2_hostile::{END_STREAM, Frame, frames_until, hello, kind, read_frame, request};
use common::nginx::{LOGIN_BODY, Nginx, listen_directives};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Logs in on `s` (stream 1), then has nginx reload; returns the GOAWAY that came.
async fn login_then_reload<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, https: bool, nginx: &Nginx) -> Frame {
    hello(s).await;
    tokio::io::AsyncWriteExt::write_all(s, &request(1, false, https, "/login", END_STREAM))
        .await
        .unwrap();
    let seen = frames_until(s, |f| f.kind == kind::DATA && f.flags & END_STREAM != 0).await;
    let head = seen.iter().find(|f| f.kind == kind::HEADERS).unwrap();
    assert_eq!(head.payload[0], 0x88, ":status 200: {head:?}");
    assert_eq!(seen.last().unwrap().payload, LOGIN_BODY.as_bytes());
    assert!(
        !seen.iter().any(|f| f.kind == kind::GOAWAY),
        "no GOAWAY before the reload: {seen:?}"
    );
    nginx.reload();
    let goaway = tokio::time::timeout(Duration::from_secs(10), frames_until(s, |f| f.kind == kind::GOAWAY))
        .await
        .unwrap_or_else(|_| panic!("no GOAWAY 10 s after the reload\n{}", nginx.log()));
    let goaway = goaway.into_iter().last().unwrap();
    // Then the old worker closes the connection.
    let closed = tokio::time::timeout(Duration::from_secs(10), async { while read_frame(s).await.is_ok() {} }).await;
    assert!(closed.is_ok(), "the connection outlived its worker");
    goaway
}

fn assert_graceful(goaway: &Frame) {
    let last_stream = u32::from_be_bytes(goaway.payload[..4].try_into().unwrap());
    let code = u32::from_be_bytes(goaway.payload[4..8].try_into().unwrap());
    assert_eq!((last_stream, code), (1, 0), "last stream 1 (the login), NO_ERROR");
}

#[tokio::test]
async fn a_reload_sends_goaway_to_an_open_h2c_connection() {
    let nginx = Nginx::start();
    let mut tcp = TcpStream::connect(nginx.h2c).await.unwrap();
    assert_graceful(&login_then_reload(&mut tcp, false, &nginx).await);
    // The new workers take a new connection.
    let mut again = TcpStream::connect(nginx.h2c).await.unwrap();
    hello(&mut again).await;
    tokio::io::AsyncWriteExt::write_all(&mut again, &request(1, false, false, "/login", END_STREAM))
        .await
        .unwrap();
    let seen = frames_until(&mut again, |f| f.kind == kind::DATA && f.flags & END_STREAM != 0).await;
    assert_eq!(seen.last().unwrap().payload, LOGIN_BODY.as_bytes());
}

#[tokio::test]
async fn a_reload_sends_goaway_to_an_open_tls_h2_connection() {
    let nginx = Nginx::start();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(nginx.cert_der.clone().into()).unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(nginx.tls).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "nginx selected ALPN h2"
    );
    assert_graceful(&login_then_reload(&mut tls, true, &nginx).await);
}

#[test]
fn the_http2_switch_follows_the_nginx_version() {
    let old = listen_directives((1, 22, 1), 80, 443);
    assert!(old.contains("listen 127.0.0.1:80 http2;") && old.contains("443 ssl http2;") && !old.contains("http2 on"));
    let new = listen_directives((1, 25, 1), 80, 443);
    assert!(new.contains("http2 on;") && !new.contains(" http2;"), "{new}");
}

/// The shipped reload example (bench/h2-reload.sh runs it) loads and plans with its
/// port set, and speaks HTTP/2.
#[test]
fn the_reload_example_profile_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/examples/nginx-h2-reload.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let env = |name: &str| match name {
        "NGINX_H2C_PORT" => Some("18082".to_string()),
        "NGINX_PREFIX" => Some("/etc/nginx".to_string()),
        _ => None,
    };
    let p = stampede::run::parse(&text, &path, &env).unwrap_or_else(|e| panic!("{e}"));
    let plan = stampede::plan::Plan::new(&p);
    assert!(plan.first_logins() > 0 && plan.end.as_secs() < 170, "{:?}", plan.end);
    assert!(!p.description.is_empty());
    assert_eq!(
        p.target.http,
        stampede::profile::HttpVersion::Http2,
        "the example storms over HTTP/2"
    );
    // Without the port the profile says which variable it needs.
    let e = stampede::run::parse(&text, &path, &|_| None).unwrap_err().to_string();
    assert!(e.contains("NGINX_H2C_PORT"), "{e}");
}

/// The shipped example end to end, against a real nginx: its action reloads nginx at
/// the trigger, the GOAWAY drops every held connection in the trigger's window, the
/// clients come back at once (the reconnect wave in the same second), and the
/// verdict is judged after the reload. (300 clients instead of 2,000: the test's nginx
/// has 1,024 worker connections; bench/h2-reload.sh runs it as shipped.)
#[test]
fn the_reload_example_drops_every_connection_at_the_trigger_and_they_come_back_at_once() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/examples/nginx-h2-reload.yaml");
    let text = std::fs::read_to_string(shipped).unwrap();
    assert!(text.contains("simulate: 2_000"), "the example's population changed");
    let profile = dir.path().join("reload.yaml");
    std::fs::write(&profile, text.replace("simulate: 2_000", "simulate: 300")).unwrap();
    let path = format!(
        "{}:{}",
        nginx.bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = dir.path().join("out");
    let o = common::bin()
        .args(["run", "-q", "--allow-actions"])
        .arg(&profile)
        .arg("-o")
        .arg(&out)
        .env("NGINX_H2C_PORT", nginx.h2c.port().to_string())
        .env("NGINX_PREFIX", nginx.prefix())
        .env("PATH", path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}\n{}", nginx.log());
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["protocol"], "h2c");
    let a = &r["actions"][0];
    assert_eq!(a["outcome"], serde_json::json!({ "kind": "exited", "code": 0 }), "{a}");
    let trigger = (r["plan"]["trigger_start_ms"].as_u64().unwrap() / 1000) as usize;
    let w = r["windows"].as_array().unwrap();
    let h2 = |i: usize| &w[i]["h2"];
    let dropped = h2(trigger)["drops"]["goaway/NO_ERROR"].as_u64().unwrap_or(0);
    assert!(
        dropped >= 300,
        "every held connection dropped in the trigger's window: {}",
        h2(trigger)
    );
    // The warm-up's 300 logins opened their connections before the clock started: not
    // the run's (window 0 has only the baseline's few).
    let first = h2(0)["connects"].as_u64().unwrap();
    assert!(
        first < 100,
        "the warm-up's connections counted in the first window: {first}"
    );
    let before: u64 = (0..trigger)
        .map(|i| h2(i)["drops"].as_object().map_or(0, |d| d.len() as u64))
        .sum();
    assert_eq!(before, 0, "no drop before the reload");
    let back = h2(trigger)["connects"].as_u64().unwrap() + h2(trigger + 1)["connects"].as_u64().unwrap();
    assert!(
        back >= 300,
        "the clients came back at once: {back} connects in the reload's second and the next"
    );
    assert_eq!(r["totals"]["keepalives_failed"].as_u64(), Some(0), "{}", r["totals"]);
    let verdict = r["recovery"]["verdict"].as_str().unwrap();
    assert!(["never-degraded", "recovered"].contains(&verdict), "{verdict}");
}
