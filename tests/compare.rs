//! `stampede compare` as a CI job runs it: the same profile twice on a loaded machine is
//! not a regression, a target made 50 ms slower is, and each leaves its JUnit file and
//! Markdown summary.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use common::{bin, profile_file, run_quiet, serve_app};

/// A login endpoint on loopback whose answer waits `delay` ms (set between runs).
async fn target() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let delay = Arc::new(AtomicU64::new(0));
    let d = delay.clone();
    let app = Router::new().route(
        "/login",
        post(move || {
            let ms = d.load(Ordering::Relaxed);
            async move {
                if ms > 0 {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                "{}"
            }
        }),
    );
    (serve_app(app).await, delay)
}

/// About 8 s: a baseline, a storm of 600 clients over 4 s, 1 s windows of 40 to 200 logins.
fn profile(addr: std::net::SocketAddr) -> String {
    format!(
        r#"
name: compare-me
seed: 3
target: {{ nodes: ["http://{addr}"], timeout: 2s }}
population: {{ simulate: 600 }}
baseline: {{ duration: 3s, rate: 60/s }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(4s)" }} ]
client:
  login: [ {{ name: auth, request: POST /login, body: "{{{{client}}}}" }} ]
  retry: {{ policy: none }}
observe: {{ window: 1s, until_recovered: 2s }}
slo: {{ success_rate: 95%, p99: 1s, hold: 2s }}
"#
    )
}

/// One storm pair at a time: the loaded test's spinning threads must not load the
/// other's runs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Spinning threads on every core while alive: a shared CI runner.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(n: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

async fn storm(path: &Path, out: PathBuf) -> PathBuf {
    let o = run_quiet(&[], path, &out).await;
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// `stampede compare BASE NEW --junit --summary`: exit code, stdout, JUnit, Markdown.
fn compare(dir: &Path, base: &Path, new: &Path) -> (Option<i32>, String, String, String) {
    let (junit, summary) = (dir.join("compare.xml"), dir.join("compare.md"));
    let o = bin()
        .arg("compare")
        .args([base, new])
        .arg("--junit")
        .arg(&junit)
        .arg("--summary")
        .arg(&summary)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}\n{stdout}", p.display()));
    (o.status.code(), stdout.clone(), read(&junit), read(&summary))
}

/// The JUnit test cases that failed, by name.
fn failed(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("failure"))
        .map(|f| f.parent().unwrap().attribute("name").unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_profile_twice_on_a_loaded_machine_is_not_a_regression() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (addr, _) = target().await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(addr));
    let load = Load::start(2);
    let a = storm(&path, dir.path().join("a")).await;
    let b = storm(&path, dir.path().join("b")).await;
    drop(load);
    let (code, out, xml, md) = compare(dir.path(), &a, &b);
    assert_eq!(code, Some(0), "{out}");
    assert!(failed(&xml).is_empty(), "{xml}");
    assert!(!out.contains("warning:"), "one profile, one seed: {out}");
    assert!(
        out.contains("no regression (tolerance 10%; floors: latency 5ms, "),
        "{out}"
    );
    assert!(
        md.starts_with("## ✅ stampede compare: no regression — `compare-me` (seed 3, "),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_made_50ms_slower_is_flagged_in_every_output() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (addr, delay) = target().await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(addr));
    let a = storm(&path, dir.path().join("a")).await;
    delay.store(50, Ordering::Relaxed);
    let b = storm(&path, dir.path().join("b")).await;
    let (code, out, xml, md) = compare(dir.path(), &a, &b);
    assert_eq!(code, Some(1), "{out}");
    // The median moves by 50 ms in every window, whatever the machine does; the tail
    // may be the machine's own stalls (200–300 ms under a full `cargo test`), and
    // within them a 50 ms shift is rightly not beyond the tolerance or the noise.
    let p50 = out.lines().find(|l| l.starts_with("login.p50 ")).unwrap();
    assert!(p50.ends_with("REGRESSED"), "{out}");
    assert!(
        out.contains("  login.p50: ") && out.contains("(sign test p=0.00)"),
        "the windows' evidence: {out}"
    );
    let failures = failed(&xml);
    assert!(failures.iter().any(|f| f == "login.p50"), "{failures:?}\n{xml}");
    assert!(
        !failures.iter().any(|f| f == "login.max"),
        "max is not gated: {failures:?}"
    );
    assert!(md.starts_with("## ❌ stampede compare: "), "{md}");
    assert!(md.contains("| ❌ | ` login.p50 ` |"), "{md}");

    // The same NEW compared with a run of another profile says so, naming both.
    let mut other: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("report.json")).unwrap()).unwrap();
    other["name"] = "patch-tuesday".into();
    let other_path = dir.path().join("other.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let (_, out, _, md) = compare(dir.path(), &other_path, &b);
    let note = "BASE and NEW are different profiles: BASE ran `patch-tuesday`, NEW ran `compare-me`";
    assert!(out.contains(&format!("warning: {note}")), "{out}");
    assert!(md.contains(note), "{md}");
}
