//! Fuzzing what reaches stampede besides a profile (issue #23): the flags that take a
//! grammar (`--start-at`, `--abort-when`, `--gate`), the data file a profile names, a
//! report read back (`report`, `compare`, `merge`), and hostile answers to capture from
//! and take cookies from. Each case runs on its own thread under `catch_unwind` with a
//! time limit; a refused input must say why (a flag's error text, a profile problem
//! with its line), and a data file's header is never echoed unless it is column names.
//!
//! `cargo test --test fuzz_inputs` runs 2,000 cases of each input family (and one storm
//! of hostile answers); `bench/fuzz.sh` runs the ignored `fuzz_inputs_long` in release
//! with `FUZZ_INPUT_CASES` per family.

#[path = "fuzz/guard.rs"]
mod guard;
#[allow(dead_code)]
#[path = "fuzz/mutate.rs"]
mod mutate;

mod common;

#[path = "fuzz_inputs/answers.rs"]
mod answers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use guard::Guarded;

use mutate::{Gen, VALUES};
use stampede::report::Report;

const LIMIT: Duration = Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 5 });
const WEEK: Duration = Duration::from_secs(7 * 86_400);
/// A data file's header holds it where no column name can: echoing it is a leak.
const MARK: &str = "S3CR3T";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Accepted,
    RefusedPlaced,
    Unplaced,
    Panic,
    Hang,
}

/// Runs `f` on its own thread (`guard::guarded`): a panic is caught, over [`LIMIT`]
/// twice (the second time alone) is a hang; the bool says it was re-run.
fn guarded(f: impl Fn() -> Result<Kind, String> + Send + Sync + 'static) -> (Kind, String, bool) {
    let ran = guard::guarded(LIMIT, Arc::new(f));
    let (kind, why) = match ran.end {
        Guarded::Done(Ok(k)) => (k, String::new()),
        Guarded::Done(Err(why)) => (Kind::Unplaced, why),
        Guarded::Panicked(why) => (Kind::Panic, why),
        Guarded::Hung => (Kind::Hang, format!("{:?} on its last attempt", ran.took)),
    };
    (kind, why, ran.reran)
}

/// A char boundary of `s` at or before byte `at`.
fn boundary(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

const ODD: &[&str] = &[
    "é", "\u{0}", "\u{2028}", "🦀", "\u{feff}", "\r", "\n", ",", "\"", "{{", "}}", "${", "-", "+", ":", " ", "%", "e",
];

/// One to three text mutations: an absurd value or odd character inserted, a range
/// deleted or doubled, a cut.
fn mutated(g: &mut Gen, base: &str) -> String {
    let mut s = base.to_string();
    for _ in 0..1 + g.below(3) {
        let at = boundary(&s, g.below(s.len() + 1));
        match g.below(6) {
            0 => {
                let v = *g.pick(VALUES);
                s.insert_str(at, v);
            }
            1 => {
                let v = *g.pick(ODD);
                s.insert_str(at, v);
            }
            2 => {
                let end = boundary(&s, at + g.below(8));
                s.replace_range(at..end.max(at), "");
            }
            3 => {
                let end = boundary(&s, at + g.below(16));
                let piece = s[at..end.max(at)].to_string();
                s.insert_str(at, &piece.repeat(1 + g.below(50)));
            }
            4 => s.truncate(at),
            _ => {
                let digits = "9".repeat(1 + g.below(40));
                s.insert_str(at, &digits);
            }
        }
    }
    s
}

const START_AT: &[&str] = &[
    "2026-11-29T21:30:00Z",
    "2026-11-29T21:30:00.250Z",
    "2026-11-29T23:30:00+02:00",
    "1795987800.25",
    "aé00000",
    "-5",
];
const ABORTS: &[&str] = &[
    "success_rate < 5% for 30s",
    "login.p99 > 10s for 1m",
    "auth.p95 >= 2s for 2305843009213693952s",
    "gave_up > 1% for 1h 30m",
];
const GATES: &[&str] = &[
    "recovery_time < 3m",
    "verdict in [recovered, never-degraded]",
    "login.p99 < 800ms",
    "gave_up < 1%",
    "retry_amplification < 2.5x",
];

/// A flag's value: accepted (every duration in it within a week), or refused with a
/// message.
fn flag_case(g: &mut Gen) -> (Kind, String, bool) {
    let which = g.below(3);
    let base = *g.pick(match which {
        0 => START_AT,
        1 => ABORTS,
        _ => GATES,
    });
    let text = mutated(g, base);
    guarded(move || {
        let steps = vec!["auth".to_string()];
        let said = |e: String| {
            if e.trim().is_empty() {
                Err(format!("{text:?}: an empty error"))
            } else {
                Ok(Kind::RefusedPlaced)
            }
        };
        match which {
            0 => match stampede::run::start::parse(&text) {
                Ok(_) => Ok(Kind::Accepted),
                Err(e) => said(e.to_string()),
            },
            1 => match stampede::threshold::parse_aborts(std::slice::from_ref(&text), &steps) {
                Ok(a) if a.iter().all(|a| a.hold <= WEEK) => Ok(Kind::Accepted),
                Ok(a) => Err(format!("{text:?}: a hold of {:?} accepted", a[0].hold)),
                Err(e) => said(e.iter().map(|(_, e)| e.to_string()).collect()),
            },
            _ => match stampede::threshold::parse_all(std::slice::from_ref(&text), &steps) {
                Ok(_) => Ok(Kind::Accepted),
                Err(e) => said(e.iter().map(|(_, e)| e.to_string()).collect()),
            },
        }
    })
}

const CSV: &[&str] = &[
    "username,password\nann,pw1\nbob,\"p,w\"\n",
    "u\na\nb\nc\n",
    "user-name,_x\n1,2\n3,4\n",
    "username,pa!S3CR3T!ss\nann,x\n",
    "root:x:0:0:S3CR3T:/root:/bin/bash\nbin:x:1:1::/:\n",
];

/// A data file through the whole profile load: valid, or refused with every problem at
/// a line, the header never echoed unless it is column names.
fn data_case(g: &mut Gen, dir: &Path) -> (Kind, String, bool) {
    let base = *g.pick(CSV);
    let text = mutated(g, base);
    let shuffle = g.chance(30);
    let dir = dir.to_path_buf();
    guarded(move || {
        std::fs::write(dir.join("users.csv"), &text).map_err(|e| e.to_string())?;
        let data = if shuffle {
            "{ file: users.csv, order: shuffle }"
        } else {
            "users.csv"
        };
        let profile = format!(
            "name: d\ntarget: {{ nodes: [http://127.0.0.1:9] }}\npopulation: {{ simulate: 10 }}\nclient:\n  data: {data}\n  login: [ {{ request: POST /login, body: '{{{{data.username}}}}' }} ]\n"
        );
        match stampede::run::parse(&profile, &dir.join("p.yaml"), &|_| None) {
            Ok(p) => {
                let d = p.client.data.as_ref().ok_or("no data")?;
                let _ = d.row(7).count();
                Ok(Kind::Accepted)
            }
            Err(e) => {
                let said = e.to_string();
                let leaked = [
                    format!("!{MARK}"),
                    format!("{MARK}!"),
                    format!(":{MARK}"),
                    format!("{MARK}:"),
                ]
                .iter()
                .any(|m| said.contains(m.as_str()));
                if leaked {
                    return Err(format!("the header leaked: {said}"));
                }
                if e.problems.iter().all(|p| p.line.is_some_and(|l| (1..=7).contains(&l))) {
                    Ok(Kind::RefusedPlaced)
                } else {
                    Err(format!("unplaced: {said}"))
                }
            }
        }
    })
}

/// A report of a short run, to mutate.
fn base_report() -> String {
    let text = r#"
name: fuzz-report
target: { overlay: embedded, timeout: 1s }
population: { simulate: 40 }
baseline: { duration: 1s, rate: 20/s }
storm: { waves: [ { share: 100%, spread: "uniform(500ms)" } ] }
client: { login: [ { name: auth, request: POST /login, body: '{"client": {{client}}}' } ] }
observe: { window: 250ms, until_recovered: 500ms }
gate: [ "login.p99 < 1s" ]
"#;
    let p = stampede::run::parse(text, Path::new("r.yaml"), &|_| None).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let r = rt
        .block_on(stampede::run::run(&p, stampede::run::RunOptions::default(), &mut ()))
        .unwrap();
    r.to_json()
}

/// A JSON-level mutation: a value somewhere replaced by an absurd one, a key deleted,
/// the windows cut, a shard made up.
fn json_mutated(g: &mut Gen, base: &serde_json::Value) -> String {
    let mut v = base.clone();
    for _ in 0..1 + g.below(3) {
        // A path walked on the value as it stands, then one write through it.
        let mut pointer = String::new();
        let mut cur = &v;
        for _ in 0..g.below(5) {
            cur = match cur {
                serde_json::Value::Object(m) if !m.is_empty() => {
                    let (k, next) = m.iter().nth(g.below(m.len())).unwrap();
                    pointer.push('/');
                    pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    next
                }
                serde_json::Value::Array(a) if !a.is_empty() => {
                    let i = g.below(a.len());
                    pointer.push_str(&format!("/{i}"));
                    &a[i]
                }
                _ => break,
            };
        }
        let Some(at) = v.pointer_mut(&pointer) else { continue };
        *at = match g.below(7) {
            0 => serde_json::json!(u64::MAX),
            1 => serde_json::json!(-1),
            2 => serde_json::json!(1e308),
            3 => serde_json::Value::Null,
            4 => serde_json::json!(*g.pick(VALUES)),
            5 => serde_json::json!([[[[[]]]]]),
            _ => serde_json::json!({ "index": g.below(3), "count": 1 + g.below(3) }),
        };
    }
    if g.chance(20)
        && let Some(w) = v.get_mut("windows").and_then(|w| w.as_array_mut())
    {
        let keep = g.below(w.len() + 1);
        w.truncate(keep);
    }
    v.to_string()
}

/// A report read back as `report`, `compare` and `merge` read it.
fn report_case(g: &mut Gen, base: &str, base_v: &serde_json::Value, dir: &Path) -> (Kind, String, bool) {
    let text = if g.chance(50) {
        mutated(g, base)
    } else {
        json_mutated(g, base_v)
    };
    let as_shards = g.chance(50);
    let dir = dir.to_path_buf();
    let base = base.to_string();
    guarded(move || {
        let file = dir.join("report.json");
        std::fs::write(&file, &text).map_err(|e| e.to_string())?;
        let r = match Report::read(&file) {
            Ok(r) => r,
            Err(e) if e.to_string().trim().is_empty() => return Err("an empty error".into()),
            Err(_) => return Ok(Kind::RefusedPlaced),
        };
        let _ = stampede::report::html::render(&r);
        let b: Report = serde_json::from_str(&base).map_err(|e| e.to_string())?;
        if let (Some(br), Some(nr)) = (&b.recovery, &r.recovery) {
            let _ = stampede::analysis::compare(&b.windows, br, &r.windows, nr, 0.1);
        }
        if as_shards {
            let shards = dir.join("shards");
            for i in 0..2u32 {
                let mut s = r.clone();
                s.shard = Some(stampede::plan::Part { index: i, count: 2 });
                let d = shards.join(format!("s{i}"));
                std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
                std::fs::write(d.join("report.json"), s.to_json()).map_err(|e| e.to_string())?;
            }
            use stampede::report::merge::{check, gather, merge_files};
            let merged = gather(&[shards]).and_then(|f| check(&f).and_then(|()| merge_files(&f)));
            if let Ok(m) = merged {
                let _ = stampede::report::html::render(&m);
            }
        }
        Ok(Kind::Accepted)
    })
}

/// Per family: `[accepted, refused, unplaced, panics, hangs, re-run]` (`guard::row`),
/// and the first bad cases.
struct Tally(BTreeMap<&'static str, [u64; 6]>, Vec<String>);

impl Tally {
    fn add(&mut self, family: &'static str, (kind, why, reran): (Kind, String, bool), n: u64) {
        let counts = self.0.entry(family).or_default();
        counts[kind as usize] += 1;
        counts[5] += u64::from(reran && kind != Kind::Hang);
        if kind > Kind::RefusedPlaced && self.1.len() < 10 {
            self.1.push(format!("{family} case {n}: {kind:?}: {why}"));
        }
    }

    fn table(&self) -> String {
        let mut out = format!("{}\n", guard::HEADER);
        for (family, counts) in &self.0 {
            out.push_str(&guard::row(family, counts[..5].iter().sum(), *counts));
            out.push('\n');
        }
        out
    }

    fn check(&self) {
        assert!(self.1.is_empty(), "{}\n{}", self.table(), self.1.join("\n"));
        for (family, counts) in &self.0 {
            for k in [Kind::Accepted, Kind::RefusedPlaced] {
                assert!(counts[k as usize] > 0, "{family} never {k:?}:\n{}", self.table());
            }
        }
    }
}

fn fuzz(cases: u64, seed: u64) -> Tally {
    guard::quiet_panics();
    let dir = tempfile::tempdir().unwrap();
    let base = base_report();
    let base_v: serde_json::Value = serde_json::from_str(&base).unwrap();
    let mut t = Tally(BTreeMap::new(), Vec::new());
    for n in 0..cases {
        let mut g = Gen::new(seed, n);
        t.add("flags", flag_case(&mut g), n);
        let case_dir: PathBuf = dir.path().join(format!("c{}", n % 4));
        std::fs::create_dir_all(&case_dir).unwrap();
        t.add("data", data_case(&mut g, &case_dir), n);
        t.add("reports", report_case(&mut g, &base, &base_v, &case_dir), n);
    }
    t
}

#[test]
fn hostile_flags_data_files_and_reports_never_panic_hang_or_go_unplaced() {
    let t = fuzz(2_000, 23);
    println!("{}", t.table());
    t.check();
}

/// `bench/fuzz.sh`: FUZZ_INPUT_CASES (per family, default 100,000), FUZZ_SEED (23).
#[test]
#[ignore]
fn fuzz_inputs_long() {
    let var = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let t = fuzz(var("FUZZ_INPUT_CASES", 100_000), var("FUZZ_SEED", 23));
    println!("{}", t.table());
    t.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_to_capture_and_cookies_are_classified() {
    let a = answers::answers(300, 200, 23).await;
    println!("{}\n{}", guard::HEADER, guard::row("answers", a.served, a.row()));
    assert!(a.served >= 300, "{a:?}");
    assert!(a.bad.is_empty(), "{a:?}");
}

/// `bench/fuzz.sh`: FUZZ_ANSWER_CASES (default 100,000) hostile answers, served to
/// storms of FUZZ_ANSWER_CLIENTS (default 5,000) clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn hostile_answers_long() {
    let var = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let clients = var("FUZZ_ANSWER_CLIENTS", 5_000);
    let a = answers::answers(var("FUZZ_ANSWER_CASES", 100_000), clients, var("FUZZ_SEED", 23)).await;
    println!("{}\n{}", guard::HEADER, guard::row("answers", a.served, a.row()));
    println!("  ({} storms of {clients} clients)", a.storms);
    assert!(a.bad.is_empty(), "{}", a.bad.join("\n"));
}
