//! Every shipped profile loads, validates and plans; a session profile warms its
//! online clients up before the clock starts.

use std::path::Path;

#[test]
fn every_shipped_profile_is_valid_and_plans() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut seen = 0;
    // The examples' profiles too (their node ports and nginx's folder come from the
    // environment, as the scripts that run them set it).
    let entries = std::fs::read_dir(&dir)
        .unwrap()
        .chain(std::fs::read_dir(dir.join("examples")).unwrap());
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .or_else(|| k.ends_with("_PORT").then(|| "18082".to_string()))
            .or_else(|| (k == "NGINX_PREFIX").then(|| "/etc/nginx".to_string()))
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let p = stampede::run::parse(&text, &path, &env).unwrap_or_else(|e| panic!("{e}"));
        let plan = stampede::plan::Plan::new(&p);
        assert!(plan.first_logins() > 0, "{}: plans no login", path.display());
        assert!(
            !p.description.is_empty(),
            "{}: say what it shows in `description`",
            path.display()
        );
        // Shipped profiles finish in under 3 minutes here.
        assert!(plan.end.as_secs() < 170, "{}: runs {:?}", path.display(), plan.end);
        seen += 1;
    }
    assert!(seen >= 14, "{seen} profiles found in {}", dir.display());
}

/// A shipped session profile against the embedded overlay: the clients online at the
/// start log in before the clock (two engine threads meeting at one start), so none of
/// their first keepalives in the baseline is refused and none logs in again there.
/// Without the warm-up each of them got 401 on its first keepalive and logged in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_session_profile_warms_its_online_clients_up() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/token-login.yaml");
    let p = stampede::run::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let online = p.population.simulated as u64;
    let opts = stampede::run::RunOptions {
        threads: Some(2),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let r = stampede::run::run(&p, opts, &mut seen)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let w = r.engine.stats.warmup;
    assert_eq!((w.clients, w.ok, w.failed), (online, online, 0), "{w:?}");
    // The live display was told how far the warm-up was, before the clock started.
    let warm: Vec<_> = seen.0.iter().filter_map(|(_, w)| *w).collect();
    assert!(!warm.is_empty(), "no warm-up progress shown");
    assert!(
        warm.iter()
            .all(|w| w.clients == online && w.answered <= w.clients && w.ok <= w.answered),
        "{warm:?}"
    );
    assert!(warm.windows(2).all(|p| p[0].answered <= p[1].answered), "{warm:?}");
    let first_run = seen
        .0
        .iter()
        .position(|(e, w)| w.is_none() && !e.is_zero())
        .expect("the run's own progress");
    assert!(
        seen.0[first_run..].iter().all(|(_, w)| w.is_none()),
        "warm-up progress after the clock started"
    );
    let baseline: Vec<_> = r
        .windows
        .iter()
        .filter(|w| w.start_ms + w.len_ms <= r.plan.trigger_start_ms)
        .collect();
    let kept: u64 = baseline.iter().map(|w| w.counts.keepalives_ok).sum();
    let refused: u64 = baseline.iter().map(|w| w.counts.keepalives_failed).sum();
    let relogins: u64 = baseline.iter().map(|w| w.counts.relogins).sum();
    assert!(kept >= online, "every online client kept its session alive: {kept}");
    assert_eq!((refused, relogins), (0, 0), "first keepalives refused in the baseline");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["engine"]["warmup"]["ok"], online, "report.json counts the warm-up");
}

/// Every progress update: run time, and the warm-up's progress when it was one.
#[derive(Default)]
struct Seen(Vec<(std::time::Duration, Option<stampede::engine::WarmupProgress>)>);

impl stampede::engine::Progress for Seen {
    fn update(&mut self, s: &stampede::engine::Snapshot) {
        self.0.push((s.elapsed, s.warmup));
    }
}
