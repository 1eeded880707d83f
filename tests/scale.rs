//! Beyond one machine, proven on one: shard processes started as a Kubernetes Indexed
//! Job starts them (`--shard auto`, `JOB_COMPLETION_INDEX`, one `--start-at`), then
//! `stampede merge` over their directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::{Script, load, profile_file, serve};
use stampede::plan::Plan;
use stampede::report::Report;

const SHARDS: u32 = 3;

fn profile(addr: std::net::SocketAddr) -> String {
    format!(
        r#"
name: sharded
description: three shards, one storm
seed: 5
target: {{ nodes: ["http://{addr}"], timeout: 2s, connection: fresh }}
population: {{ simulate: 600 }}
baseline: {{ duration: 500ms, rate: 200/s }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(1s)" }} ]
client:
  login:
    - {{ name: auth, request: POST /login, body: "{{{{client}}}}" }}
observe: {{ window: 250ms, until_recovered: 500ms }}
gate: [ "success_rate > 99%" ]
"#
    )
}

fn stampede(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stampede"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("stampede runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_start_at_one_instant_and_merge_into_the_unsharded_plan() {
    let t = serve(Script::default()).await;
    let text_profile = profile(t.addr);
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &text_profile);
    let runs = dir.path().join("runs");
    let start_at = humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(2)).to_string();

    // As the Job does: every pod the same command, its index from the environment.
    let shards: Vec<_> = (0..SHARDS)
        .map(|i| {
            let (path, runs, start_at) = (path.clone(), runs.clone(), start_at.clone());
            tokio::task::spawn_blocking(move || {
                let out = runs.join(format!("shard-{i}"));
                stampede(
                    &[
                        "run",
                        path.to_str().unwrap(),
                        "--shard",
                        "auto",
                        "--shards",
                        &SHARDS.to_string(),
                        "--start-at",
                        &start_at,
                        "--threads",
                        "1",
                        "--quiet",
                        "--out",
                        out.to_str().unwrap(),
                    ],
                    &[("JOB_COMPLETION_INDEX", i.to_string())],
                )
            })
        })
        .collect();
    for s in shards {
        let o = s.await.unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }

    let reports: Vec<Report> = (0..SHARDS)
        .map(|i| Report::read(&runs.join(format!("shard-{i}"))).unwrap())
        .collect();
    let starts: Vec<SystemTime> = reports
        .iter()
        .map(|r| humantime::parse_rfc3339_weak(&r.start.as_ref().unwrap().actual).unwrap())
        .collect();
    let first = *starts.iter().min().unwrap();
    let last = *starts.iter().max().unwrap();
    let spread = last.duration_since(first).unwrap();
    assert!(spread <= Duration::from_millis(20), "actual starts {spread:?} apart");
    for r in &reports {
        let s = r.start.as_ref().unwrap();
        assert!(s.intended.is_some());
        assert!(s.late_ms.abs() < 50.0, "started {} ms late", s.late_ms);
    }

    let merged_dir = dir.path().join("merged");
    let o = stampede(
        &["merge", runs.to_str().unwrap(), "--out", merged_dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("merged report of 3 shards"));
    let merged = Report::read(&merged_dir).unwrap();
    assert!(merged.shard.is_none());

    // The merged run holds exactly the unsharded plan's first attempts, window by window.
    let p = load(&text_profile);
    let plan = Plan::new(&p);
    let want = plan.logins_per_window(p.observe.window);
    let got: Vec<u64> = merged.windows.iter().map(|w| w.counts.first_attempts).collect();
    let n = want.len().min(got.len());
    assert_eq!(
        &got[..n],
        &want[..n],
        "first attempts per window: got {got:?}, planned {want:?}"
    );
    assert_eq!(got[n..].iter().sum::<u64>(), 0);
    assert_eq!(want[n..].iter().sum::<u64>(), 0);
    assert_eq!(merged.plan.storm_clients, plan.storm_clients as u64, "counted once");
    assert_eq!(merged.plan.planned_first_attempts, plan.first_logins());
    assert!(merged.thresholds.iter().all(|t| t.passed), "{:?}", merged.thresholds);
    assert!(merged_dir.join("latency.hlog").exists() && merged_dir.join("report.html").exists());

    // A shard missing: exit 2, naming it.
    let partial = dir.path().join("partial");
    for i in [0, 2] {
        copy_dir(&runs.join(format!("shard-{i}")), &partial.join(format!("shard-{i}")));
    }
    let o = stampede(
        &[
            "merge",
            partial.to_str().unwrap(),
            "-o",
            dir.path().join("m2").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("missing: 2"), "{}", text(&o));

    // A shard from another run (another seed): exit 2, naming the file and what differs.
    let foreign = dir.path().join("foreign");
    copy_dir(&runs, &foreign);
    let file: PathBuf = foreign.join("shard-1").join("report.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    v["seed"] = 6.into();
    std::fs::write(&file, v.to_string()).unwrap();
    let o = stampede(
        &[
            "merge",
            foreign.to_str().unwrap(),
            "-o",
            dir.path().join("m3").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("shard-1") && text(&o).contains("seed is 6, not 5"),
        "{}",
        text(&o)
    );

    // The same shard twice.
    let doubled = dir.path().join("doubled");
    copy_dir(&runs, &doubled);
    copy_dir(&runs.join("shard-0"), &doubled.join("again"));
    let o = stampede(
        &[
            "merge",
            doubled.to_str().unwrap(),
            "-o",
            dir.path().join("m4").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("shard 1 of 3 is there twice"), "{}", text(&o));
}

#[test]
fn a_start_instant_already_past_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile("127.0.0.1:9".parse().unwrap()));
    let o = stampede(
        &[
            "run",
            path.to_str().unwrap(),
            "--start-at",
            "2020-01-01T00:00:00Z",
            "--out",
            dir.path().join("r").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("passed") && text(&o).contains("ago"), "{}", text(&o));
    assert!(!dir.path().join("r").exists(), "nothing ran");
    let o = stampede(
        &["run", path.to_str().unwrap(), "--shard", "auto", "--shards", "3"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("JOB_COMPLETION_INDEX"), "{}", text(&o));
}

/// The warm-up runs before the wait for `--start-at`: an instant nearer than it needs
/// (2,000 online clients at 2000/s: 1 s) is refused before anything is sent.
#[test]
fn a_start_instant_nearer_than_the_warmup_needs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/token-login.yaml");
    let at = humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_millis(300)).to_string();
    let out = dir.path().join("r");
    let o = stampede(
        &[
            "run",
            profile.to_str().unwrap(),
            "--start-at",
            &at,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the warm-up logs in 2000 online clients at 2000/s"),
        "{}",
        text(&o)
    );
    assert!(!out.exists(), "nothing ran");
}

/// `merge` streams the shards' windows, and writes what merging whole reports wrote:
/// `tests/merge_golden/merged.json` is the output of the merge before it streamed
/// (commit 595047a) on the two shards beside it, shard 2 one window longer than shard 1
/// (so both the adding and the appending of windows are compared). If the report's
/// schema grows, regenerate it with `stampede merge tests/merge_golden -o DIR` and
/// check that the diff is the new field alone.
#[test]
fn merging_shard_by_window_writes_the_bytes_whole_reports_merged_into() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/merge_golden");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged");
    let o = stampede(&["merge", golden.to_str().unwrap(), "-o", out.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let want = std::fs::read(golden.join("merged.json")).unwrap();
    let got = std::fs::read(out.join("report.json")).unwrap();
    assert!(
        got == want,
        "the merged report.json differs from the whole-report merge's:\n{}",
        String::from_utf8_lossy(&got)
    );
    // The other outputs are renderings of that report: the same bytes as it renders to.
    let merged = Report::read(&golden.join("merged.json")).unwrap();
    assert_eq!(std::fs::read(out.join("latency.hlog")).unwrap(), merged.hlog().unwrap());
    let page = stampede::report::html::render(&merged).unwrap();
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap() == page);
    assert_eq!(merged.windows.len(), 10, "shard 2's last window appended");
}
