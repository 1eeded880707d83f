//! Test targets: axum servers on 127.0.0.1:0 whose behaviour is scripted, counting the
//! connections they accept and the requests they see.
#![allow(dead_code)]

pub mod gateway;
pub mod h2_hostile;
pub mod hostile;
pub mod nginx;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use tokio::time::Instant;

#[derive(Clone, Default)]
pub struct Script {
    /// Answer 503 + Retry-After to each client's first N tries.
    pub fail_first: u32,
    pub retry_after: Option<&'static str>,
    /// Stall the request arriving first after this instant (from server start) for 1 s.
    pub stall_at: Option<Duration>,
    /// Fail every request (503, no Retry-After) between these instants from server start.
    pub outage: Option<(Duration, Duration)>,
    /// Answer every request this much later.
    pub delay: Option<Duration>,
    /// Fail every request (503, no Retry-After) between these instants: a blip.
    pub blip: Option<(Duration, Duration)>,
}

pub struct Target {
    pub addr: SocketAddr,
    pub accepts: Arc<AtomicU64>,
    pub requests: Arc<AtomicU64>,
    pub tries: Arc<Mutex<HashMap<String, u32>>>,
}

struct S {
    script: Script,
    start: Instant,
    requests: Arc<AtomicU64>,
    tries: Arc<Mutex<HashMap<String, u32>>>,
    stalled: Mutex<bool>,
}

async fn handle(State(s): State<Arc<S>>, _h: HeaderMap, body: Bytes) -> Response {
    s.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(d) = s.script.delay {
        tokio::time::sleep(d).await;
    }
    let now = s.start.elapsed();
    for (from, to) in [s.script.outage, s.script.blip].into_iter().flatten() {
        if now >= from && now < to {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    if let Some(at) = s.script.stall_at
        && now >= at
    {
        let first = {
            let mut st = s.stalled.lock().unwrap();
            !std::mem::replace(&mut *st, true)
        };
        if first {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let client = String::from_utf8_lossy(&body).to_string();
    let n = {
        let mut t = s.tries.lock().unwrap();
        let e = t.entry(client).or_default();
        *e += 1;
        *e
    };
    if n <= s.script.fail_first {
        let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
        if let Some(ra) = s.script.retry_after {
            r.headers_mut().insert("retry-after", HeaderValue::from_static(ra));
        }
        return r;
    }
    (StatusCode::OK, "{}").into_response()
}

pub async fn serve(script: Script) -> Target {
    let accepts = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let tries = Arc::new(Mutex::new(HashMap::new()));
    let state = Arc::new(S {
        script,
        start: Instant::now(),
        requests: requests.clone(),
        tries: tries.clone(),
        stalled: Mutex::new(false),
    });
    let app = Router::new()
        .route("/login", post(handle))
        .route("/join", post(handle))
        // Node URLs with a base path (a secret in it, say) land here.
        .route("/t/{*rest}", post(handle))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = accepts.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Target {
        addr,
        accepts,
        requests,
        tries,
    }
}

/// Serves `app` on 127.0.0.1:0 for the rest of the test; returns its address.
pub async fn serve_app(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

/// Writes a profile into a fresh temporary folder and returns its path.
/// The `stampede` binary (integration tests only: the example that shares this module
/// has no binary to point at).
pub fn bin() -> std::process::Command {
    std::process::Command::new(option_env!("CARGO_BIN_EXE_stampede").unwrap_or("stampede"))
}

/// `stampede run -q <args> <profile> --out <out>`, off the runtime's threads: the
/// target under test serves on them.
pub async fn run_quiet(args: &[&'static str], profile: &Path, out: &Path) -> std::process::Output {
    let mut c = bin();
    c.args(["run", "-q"]).args(args).arg(profile).arg("--out").arg(out);
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

/// Starts `cmd` (a `stampede overlay --listen 127.0.0.1:0 …`, maybe behind a wrapper
/// such as `prlimit`) and reads the address from its first line.
pub fn spawn_overlay(mut cmd: std::process::Command) -> (std::process::Child, SocketAddr) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first.rsplit_once("http://").unwrap().1.trim().parse().unwrap();
    (child, addr)
}

/// A run's report.json, from its output directory.
pub fn report_of(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// A profile's body without `name`: a storm of a few seconds against the embedded
/// healthy overlay (300 clients, 2 s of baseline, 30 % rebooting over 2 s) that recovers.
pub const SHORT_HEALTHY_STORM: &str = r#"target: { overlay: { preset: healthy, capacity: 2000/s, spare_slots: 100% }, timeout: 1s, connection: fresh }
population: { simulate: 300 }
baseline: { duration: 2s, rate: 40/s }
storm: { waves: [ { at: 0s, share: 30%, spread: "uniform(2s)" } ] }
client:
  login: [ { name: auth, request: POST /login, body: '{"client": {{client}}}' } ]
  retry: { policy: exponential, base: 200ms, cap: 1s, max_attempts: 4 }
observe: { window: 500ms, until_recovered: 2s }
slo: { success_rate: 95%, p99: 500ms, hold: 1s, min_requests: 5 }
"#;

pub fn profile_file(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("profile.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

pub fn load(text: &str) -> stampede::profile::Profile {
    stampede::run::parse(text, Path::new("test.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// Reads one request (head and content-length body); false when the client closed.
pub async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return true;
            }
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One sample's value on a Prometheus text page: the line `NAME VALUE`, NAME with its
/// labels as the page writes them (`overlay_logins_rejected_total{reason="admission"}`).
pub fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// The `/metrics` page under `base` (`http://127.0.0.1:PORT`).
pub async fn metrics_page(c: &reqwest::Client, base: &str) -> String {
    c.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
