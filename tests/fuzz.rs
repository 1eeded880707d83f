//! Fuzzing the profile loader and the plan (issue #10): hostile variants of every
//! shipped profile (see `fuzz/mutate.rs`) go through `run::parse` (or `run::load` for
//! bytes that are not UTF-8) and, when they validate, through `Plan::new`, each on its
//! own thread under `catch_unwind` with a 5 s limit (a case over it is re-run once
//! alone before it counts as a hang: `fuzz/guard.rs`).
//!
//! A refused case is **placed** when every problem carries a line inside the file (1 to
//! its line count + 1: the line after the last is where a missing value would go):
//! the line is what lets a person find what to fix; the field, when the problem is
//! about one, names it.
//!
//! `cargo test --test fuzz` runs 2,000 cases; `bench/fuzz.sh` runs the ignored
//! `fuzz_long` in release with `FUZZ_CASES` (default 100,000) and writes samples of
//! valid cases for the real binary.

#[path = "fuzz/guard.rs"]
mod guard;
#[path = "fuzz/mutate.rs"]
mod mutate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guard::{Guarded, guarded, quiet_panics};

use mutate::{Gen, mutate};
use stampede::plan::Plan;
use stampede::profile::{Endpoint, ProfileError, limits};

/// A case over this is a hang: 5 s in release (`bench/fuzz.sh`). A debug build
/// (`cargo test`) runs the same code some ten times slower on a shared machine, so a
/// plan of a few million events, a second in release, may take 5 s there: 30 s.
const LIMIT: Duration = Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 5 });

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Valid,
    RefusedPlaced,
    RefusedUnplaced,
    Panic,
    Hang,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Valid => "valid (planned)",
            Kind::RefusedPlaced => "refused, every problem placed",
            Kind::RefusedUnplaced => "refused, a problem without a place",
            Kind::Panic => "panic",
            Kind::Hang => "hang (over the limit)",
        }
    }
}

struct Outcome {
    kind: Kind,
    /// What went wrong, for the report of a bad case.
    detail: String,
    /// A valid case's run length and target, to pick samples for the binary.
    end: Option<(Duration, bool)>,
}

/// The shipped profiles, their traces and data files copied beside the cases, and the
/// hostile traces.
struct Corpus {
    profiles: Vec<(String, String)>,
    dir: PathBuf,
    heavy: bool,
}

impl Corpus {
    /// `heavy`: the long run's corpus (a trace of a million rows, plans up to the budget).
    fn new(dir: &Path, heavy: bool) -> Corpus {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let mut profiles: Vec<(String, String)> = std::fs::read_dir(&shipped)
            .unwrap()
            .filter_map(|e| {
                let p = e.ok()?.path();
                (p.extension()? == "yaml").then(|| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(&p).unwrap())
                })
            })
            .collect();
        profiles.sort();
        // Their data files (users.csv) beside the cases, as beside the profiles.
        for e in std::fs::read_dir(&shipped).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "csv") {
                std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
            }
        }
        std::fs::create_dir_all(dir.join("traces")).unwrap();
        for e in std::fs::read_dir(shipped.join("traces")).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, dir.join("traces").join(p.file_name().unwrap())).unwrap();
        }
        mutate::traces(dir, if heavy { 1_000_000 } else { 20_000 }).unwrap();
        Corpus {
            profiles,
            dir: dir.to_path_buf(),
            heavy,
        }
    }

    /// Case `n`: the profile it mutates and its bytes.
    fn case(&self, seed: u64, n: u64) -> (&str, Vec<u8>) {
        let mut g = Gen::new(seed, n);
        let (name, text) = g.pick(&self.profiles);
        (name, mutate(text, &mut g, self.heavy))
    }
}

fn placed(e: &ProfileError, lines: usize) -> bool {
    e.problems
        .iter()
        .all(|p| p.line.is_some_and(|l| (1..=lines + 1).contains(&l)))
}

/// Loads and plans one case.
fn load_and_plan(bytes: &[u8], path: &Path) -> Outcome {
    let lines = bytes.split(|&b| b == b'\n').count();
    let loaded = match std::str::from_utf8(bytes) {
        Ok(text) => stampede::run::parse(text, path, &|k| (k != "UNSET_FUZZ_VAR").then(|| "fuzz".into())),
        Err(_) => {
            std::fs::write(path, bytes).unwrap();
            let r = stampede::run::load(path);
            let _ = std::fs::remove_file(path);
            r
        }
    };
    match loaded {
        Ok(p) => {
            let plan = Plan::new(&p);
            if plan.events.len() as u64 > limits::HARD_EVENTS {
                return Outcome {
                    kind: Kind::Panic,
                    detail: format!("a plan of {} events", plan.events.len()),
                    end: None,
                };
            }
            let embedded = matches!(p.target.endpoint, Endpoint::Embedded(_));
            Outcome {
                kind: Kind::Valid,
                detail: String::new(),
                end: Some((plan.end, embedded)),
            }
        }
        Err(e) if placed(&e, lines) => Outcome {
            kind: Kind::RefusedPlaced,
            detail: String::new(),
            end: None,
        },
        Err(e) => Outcome {
            kind: Kind::RefusedUnplaced,
            detail: e.to_string(),
            end: None,
        },
    }
}

/// One case on its own thread under [`LIMIT`] (`guard::guarded`): the outcome, the
/// time its counted attempt took, and whether it was re-run.
fn run_case(bytes: Vec<u8>, path: PathBuf) -> (Outcome, Duration, bool) {
    let ran = guarded(LIMIT, Arc::new(move || load_and_plan(&bytes, &path)));
    let outcome = match ran.end {
        Guarded::Done(o) => o,
        Guarded::Panicked(detail) => Outcome {
            kind: Kind::Panic,
            detail,
            end: None,
        },
        Guarded::Hung => Outcome {
            kind: Kind::Hang,
            detail: format!("over {LIMIT:?} twice, or still running {:?} after the first", ran.took),
            end: None,
        },
    };
    (outcome, ran.took, ran.reran)
}

/// Where valid cases are written for the binary (`bench/fuzz.sh`).
struct Samples {
    dir: PathBuf,
    validate: usize,
    run: usize,
}

struct Tally {
    cases: u64,
    kinds: BTreeMap<Kind, u64>,
    bad: Vec<String>,
    /// Cases over the limit once that passed when re-run alone.
    reran: u64,
    took: Duration,
    /// The five slowest cases: (time, case).
    slowest: Vec<(Duration, u64)>,
}

fn fuzz(cases: u64, seed: u64, dir: &Path, samples: Option<&Samples>) -> Tally {
    quiet_panics();
    let corpus = Corpus::new(dir, samples.is_some());
    let started = Instant::now();
    let mut tally = Tally {
        cases,
        kinds: BTreeMap::new(),
        bad: Vec::new(),
        reran: 0,
        took: Duration::ZERO,
        slowest: Vec::new(),
    };
    let (mut validated, mut runs) = (0, 0);
    let mut slow: Vec<(Duration, u64)> = Vec::new();
    for n in 0..cases {
        let (name, bytes) = corpus.case(seed, n);
        let path = corpus.dir.join(format!("case-{n}.yaml"));
        let (o, took, reran) = run_case(bytes.clone(), path);
        if reran && o.kind != Kind::Hang {
            tally.reran += 1;
            if tally.bad.len() < 20 {
                tally
                    .bad
                    .push(format!("case {n} (from {name}): over {LIMIT:?}, then {took:.2?} alone"));
            }
        }
        slow.push((took, n));
        slow.sort_by(|a, b| b.cmp(a));
        slow.truncate(5);
        *tally.kinds.entry(o.kind).or_default() += 1;
        if o.kind > Kind::RefusedPlaced && tally.bad.len() < 20 {
            tally
                .bad
                .push(format!("case {n} (from {name}): {:?}: {}", o.kind, o.detail));
        }
        if let (Some(s), Some((end, embedded))) = (samples, o.end) {
            if validated < s.validate {
                std::fs::write(s.dir.join(format!("validate-{n}.yaml")), &bytes).unwrap();
                validated += 1;
            }
            // Short runs against the embedded overlay only: nothing leaves the machine.
            if embedded && end <= Duration::from_secs(40) && runs < s.run {
                std::fs::write(s.dir.join(format!("run-{n}.yaml")), &bytes).unwrap();
                runs += 1;
            }
        }
    }
    let _ = std::panic::take_hook();
    tally.slowest = slow;
    tally.took = started.elapsed();
    tally
}

fn table(t: &Tally) -> String {
    let mut out = format!(
        "fuzz: {} cases in {:.1}s ({:.0} cases/s)\n  {:<40} {:>9}\n",
        t.cases,
        t.took.as_secs_f64(),
        t.cases as f64 / t.took.as_secs_f64().max(1e-9),
        "outcome",
        "cases"
    );
    let slow: Vec<String> = t.slowest.iter().map(|(d, n)| format!("case {n} {d:.2?}")).collect();
    out.push_str(&format!("  slowest: {}\n", slow.join(", ")));
    for k in [
        Kind::Valid,
        Kind::RefusedPlaced,
        Kind::RefusedUnplaced,
        Kind::Panic,
        Kind::Hang,
    ] {
        out.push_str(&format!(
            "  {:<40} {:>9}\n",
            k.label(),
            t.kinds.get(&k).copied().unwrap_or(0)
        ));
    }
    let n = |k| t.kinds.get(&k).copied().unwrap_or(0);
    out.push_str(&format!(
        "{}\n{}\n",
        guard::HEADER,
        guard::row(
            "profiles",
            t.cases,
            [
                n(Kind::Valid),
                n(Kind::RefusedPlaced),
                n(Kind::RefusedUnplaced),
                n(Kind::Panic),
                n(Kind::Hang),
                t.reran
            ]
        )
    ));
    out
}

fn check(t: &Tally) {
    let bad: u64 = t
        .kinds
        .iter()
        .filter(|(k, _)| **k > Kind::RefusedPlaced)
        .map(|(_, n)| n)
        .sum();
    assert!(bad == 0, "{}\n{}", table(t), t.bad.join("\n---\n"));
    // The generator must reach both sides: a fuzzer whose cases all fail to parse tests
    // nothing past the parser.
    for k in [Kind::Valid, Kind::RefusedPlaced] {
        assert!(t.kinds.get(&k).copied().unwrap_or(0) * 20 > t.cases, "{}", table(t));
    }
}

#[test]
fn hostile_profiles_never_panic_hang_or_go_unplaced() {
    let dir = tempfile::tempdir().unwrap();
    let t = fuzz(2_000, 10, dir.path(), None);
    println!("{}", table(&t));
    check(&t);
}

/// `bench/fuzz.sh`: FUZZ_CASES (100,000), FUZZ_SEED (10), FUZZ_DIR (where samples go),
/// FUZZ_VALIDATE_SAMPLE (300), FUZZ_RUN_SAMPLE (20).
#[test]
#[ignore]
fn fuzz_long() {
    let var = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let dir = std::env::var("FUZZ_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("stampede-fuzz"));
    std::fs::create_dir_all(&dir).unwrap();
    let samples = Samples {
        dir: dir.clone(),
        validate: var("FUZZ_VALIDATE_SAMPLE", 300) as usize,
        run: var("FUZZ_RUN_SAMPLE", 20) as usize,
    };
    let t = fuzz(var("FUZZ_CASES", 100_000), var("FUZZ_SEED", 10), &dir, Some(&samples));
    println!("{}", table(&t));
    for b in t.bad.iter().take(5) {
        println!("---\n{b}");
    }
    check(&t);
}

/// `FUZZ_SHOW=N cargo test --test fuzz show_case -- --ignored --nocapture`: case N's text
/// (seed FUZZ_SEED, default 10) and what loading it gives.
#[test]
#[ignore]
fn show_case() {
    let var = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let dir = tempfile::tempdir().unwrap();
    let corpus = Corpus::new(dir.path(), var("FUZZ_HEAVY", 0) == 1);
    let n = var("FUZZ_SHOW", 0);
    let (name, bytes) = corpus.case(var("FUZZ_SEED", 10), n);
    println!("case {n} from {name}:\n{}", String::from_utf8_lossy(&bytes));
    let (o, took, reran) = run_case(bytes, dir.path().join("case.yaml"));
    let again = if reran { " (re-run alone)" } else { "" };
    println!("{:?} in {took:.2?}{again}: {}", o.kind, o.detail);
}

/// The guard's re-run: a case over the limit once is waited for and run again alone;
/// it counts as what the second attempt ends in, re-run, and a hang only when that one
/// is over the limit too. (The limits are generous against the sleeps: the asserts are
/// on outcomes, not speed.)
#[test]
fn a_case_over_the_limit_once_is_re_run_alone_before_it_is_a_hang() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let limit = Duration::from_millis(500);
    let slow_first = |slow_attempts: u32| {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let ran = guarded(
            limit,
            Arc::new(move || {
                if counted.fetch_add(1, Ordering::SeqCst) < slow_attempts {
                    std::thread::sleep(limit * 2);
                }
                7
            }),
        );
        (ran, calls.load(Ordering::SeqCst))
    };
    let (ran, calls) = slow_first(1);
    assert!(matches!(ran.end, Guarded::Done(7)) && ran.reran, "passed when re-run");
    assert_eq!(calls, 2);
    let (ran, calls) = slow_first(2);
    assert!(
        matches!(ran.end, Guarded::Hung) && ran.reran,
        "over the limit twice: a hang"
    );
    assert_eq!(calls, 2);
    let (ran, calls) = slow_first(0);
    assert!(matches!(ran.end, Guarded::Done(7)) && !ran.reran);
    assert_eq!(calls, 1);
    let ran = guarded(limit, Arc::new(|| -> u32 { panic!("boom") }));
    assert!(matches!(ran.end, Guarded::Panicked(ref m) if m.starts_with("boom at ")));
}
