//! The plan's table tests: shapes, seeds, shards, sizes, and the shipped profiles' plans frozen.

use std::path::Path;

use super::*;
use crate::profile::Arrivals;

fn profile(storm: &str) -> Profile {
    parse(&text_of(storm))
}

fn parse(text: &str) -> Profile {
    crate::profile::parse(text, Path::new("t.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn text_of(storm: &str) -> String {
    format!(
        "name: t\nseed: 3\ntarget: {{ nodes: [http://127.0.0.1:1] }}\npopulation: {{ clients: 10000, simulate: 1000 }}\ntime_scale: 60\nbaseline: {{ duration: 10s, rate: 20/s }}\n{storm}\nclient:\n  login: [ {{ request: POST /login }} ]\nobserve: {{ until_recovered: 30s }}\n"
    )
}

#[test]
fn same_seed_same_plan_and_ordered() {
    let p =
        profile("storm: { waves: [ { at: 0s, share: 50%, spread: normal(sd 5m) } ], downtime: 'uniform(30s, 2m)' }");
    let a = Plan::new(&p);
    let b = Plan::new(&p);
    assert_eq!(a.events, b.events);
    assert!(a.events.windows(2).all(|w| w[0].at_us <= w[1].at_us));
    let mut other = p.clone();
    other.seed = 4;
    assert_ne!(Plan::new(&other).events, a.events);
}

#[test]
fn waves_give_their_share_in_the_scaled_window() {
    let p = profile(
        "storm: { waves: [ { at: 0s, share: 30%, spread: uniform(10m) }, { at: 20m, share: 20%, spread: spike } ], downtime: 1m }",
    );
    let plan = Plan::new(&p);
    assert_eq!(plan.storm_clients, 500);
    let storm: Vec<&Event> = plan.events.iter().filter(|e| e.client < plan.storm_clients).collect();
    assert_eq!(storm.len(), 500);
    // Scale 60: wave 1 spans 10 s of run time after the trigger (10 s) plus 1 s downtime.
    for e in &storm {
        let t = e.at().as_secs_f64();
        if e.client < 300 {
            assert!((11.0..=21.0).contains(&t), "wave 1 at {t}");
        } else {
            assert!((t - 31.0).abs() < 1e-6, "wave 2 at {t}");
        }
    }
    assert!((plan.storm_end.as_secs_f64() - 31.0).abs() < 1e-6);
    assert_eq!(plan.end, plan.storm_end + Duration::from_secs(30));
}

#[test]
fn background_is_poisson_at_the_rate() {
    let p = profile("");
    let plan = Plan::new(&p);
    assert_eq!(plan.storm_clients, 0);
    // 20/s over 40 s: 800 expected; Poisson sd ≈ 28.
    let n = plan.background_clients as f64;
    assert!((n - 800.0).abs() < 120.0, "{n}");
    assert!(plan.events.iter().all(|e| e.client >= plan.background_first));
}

#[test]
fn shards_partition_the_plan() {
    let p = profile("storm: { waves: [ { at: 0s, share: 100%, spread: uniform(1m) } ] }");
    let full = Plan::new(&p);
    let parts: Vec<Plan> = (0..3)
        .map(|i| Plan::new(&p).part(Part { index: i, count: 3 }))
        .collect();
    let total: usize = parts.iter().map(|s| s.events.len()).sum();
    assert_eq!(total, full.events.len());
    assert!(parts.iter().all(|s| s.events.len() > full.events.len() / 4));
}

#[test]
fn apportion_gives_the_rounded_total_by_largest_remainder() {
    let cases: &[(&[f64], u32, &[u32])] = &[
        (&[0.5, 0.5, 0.0], 3, &[2, 1, 0]),
        (&[0.35, 0.40], 50_000, &[17_500, 20_000]),
        (&[1.0 / 3.0; 3], 10, &[4, 3, 3]),
        (&[0.25, 0.25, 0.25, 0.25], 3, &[1, 1, 1, 0]),
        (&[0.1, 0.2], 0, &[0, 0]),
        (&[0.5, 0.5 + 1e-9], u32::MAX, &[2_147_483_645, 2_147_483_650]),
        (&[0.0, 0.0], 7, &[0, 0]),
        (&[], 7, &[]),
    ];
    for (shares, n, want) in cases {
        let got = apportion(shares, *n);
        assert_eq!(&got, want, "{shares:?} of {n}");
        let total: u64 = got.iter().map(|&s| s as u64).sum();
        assert!(total <= *n as u64);
    }
}

#[test]
fn wave_sizes_never_wrap_and_add_up_to_the_rounded_total() {
    let text = "name: t\ntarget: { nodes: [http://127.0.0.1:1] }\npopulation: { clients: 3, simulate: 3 }\nstorm: { waves: [ { share: 50% }, { share: 50% }, { share: 0% } ] }\nclient:\n  login: [ { request: POST /login } ]\n";
    let p = crate::profile::parse(text, Path::new("t.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let plan = std::panic::catch_unwind(|| Plan::new(&p)).expect("no overflow");
    assert_eq!(plan.storm_clients, 3);
}
/// FNV-1a over every event and the plan's instants: one number that moves when any
/// event does.
fn digest(plan: &Plan) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    };
    for e in &plan.events {
        eat(e.at_us);
        eat(e.client as u64);
        eat(e.kind as u64);
    }
    eat(plan.end.as_micros() as u64);
    eat(plan.background_clients as u64);
    h
}

fn shipped(name: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    crate::profile::parse(&text, &path, &|_| Some("x".into())).unwrap_or_else(|e| panic!("{e}"))
}

/// Digests taken from the plans before `baseline.arrivals` existed: every shipped
/// profile, which chooses no arrivals, plans the very same events.
#[test]
fn shipped_profiles_plan_the_same_events_as_before_arrivals() {
    let frozen: &[(&str, usize, u64)] = &[
        ("ci-smoke.yaml", 2132, 0xf8cd121a84b003e1),
        ("december-2010.yaml", 7900, 0x10884042bb932052),
        ("patch-tuesday-2007-fix.yaml", 11140, 0x6a38ed78849914b7),
        ("patch-tuesday-2007.yaml", 10203, 0xd8ae0deaf07e88e8),
        ("patch-tuesday.yaml", 10203, 0xd8ae0deaf07e88e8),
        ("retry-storm-backoff.yaml", 2162, 0x631c6941593aff72),
        ("retry-storm.yaml", 2162, 0x631c6941593aff72),
        ("trace-replay.yaml", 8197, 0x6a61b5f1fa9d639d),
    ];
    for &(name, n, want) in frozen {
        let mut p = shipped(name);
        // A confirmation probe rounds the plan's end up to a window and plans its own
        // background after it: the digests are of the plans without one.
        p.observe.confirm = None;
        assert_eq!(p.baseline.arrivals, Arrivals::Poisson, "{name}");
        let plan = Plan::new(&p);
        assert_eq!((plan.events.len(), digest(&plan)), (n, want), "{name}");
    }
}

#[test]
fn uniform_arrivals_change_the_background_and_nothing_else() {
    let storm = "storm: { waves: [ { at: 0s, share: 50%, spread: normal(sd 5m) } ] }";
    let poisson = profile(storm);
    let explicit = parse(&text_of(storm).replace("rate: 20/s", "rate: 20/s, arrivals: poisson"));
    assert!(explicit.raw.baseline.as_ref().unwrap().arrivals.is_some());
    let mut uniform = poisson.clone();
    uniform.baseline.arrivals = Arrivals::Uniform;
    let (a, b, u) = (Plan::new(&poisson), Plan::new(&explicit), Plan::new(&uniform));
    assert_eq!(a.events, b.events);
    let storm_of = |p: &Plan| -> Vec<Event> {
        p.events
            .iter()
            .filter(|e| e.client < p.storm_clients)
            .copied()
            .collect()
    };
    assert_eq!(storm_of(&a), storm_of(&u));
    // 20/s, evenly: every whole second of the run holds exactly 20 background logins.
    let mut per_s = vec![0u32; u.end.as_secs() as usize];
    for e in u.events.iter().filter(|e| e.client >= u.background_first) {
        if let Some(n) = per_s.get_mut((e.at_us / 1_000_000) as usize) {
            *n += 1;
        }
    }
    assert!(per_s.iter().all(|&n| n == 20), "{per_s:?}");
    assert_ne!(a.events, u.events);
}

#[test]
fn baseline_arrivals_are_read_from_the_profile() {
    let cases = [
        ("", Some(Arrivals::Poisson)),
        ("arrivals: poisson", Some(Arrivals::Poisson)),
        ("arrivals: uniform", Some(Arrivals::Uniform)),
        ("arrivals: even", None),
    ];
    for (yaml, want) in cases {
        let text = format!(
            "name: t\ntarget: {{ nodes: [http://127.0.0.1:1] }}\nbaseline:\n  rate: 5/s\n  {yaml}\nclient:\n  login: [ {{ request: POST /login }} ]\n"
        );
        let got = crate::profile::parse(&text, Path::new("t.yaml"), &|_| None);
        match (got, want) {
            (Ok(p), Some(a)) => assert_eq!(p.baseline.arrivals, a, "{yaml}"),
            (Err(e), None) => {
                let p = &e.problems[0];
                assert_eq!((p.field.as_str(), p.line), ("baseline.arrivals", Some(5)), "{e}");
                assert!(p.message.contains("poisson, uniform"), "{e}");
            }
            (got, _) => panic!("{yaml}: {got:?}"),
        }
    }
}

/// A profile that skipped validation (a rate of a billion per second over 40 s) gets
/// a plan cut at the cap, not an abort on memory.
#[test]
fn an_unchecked_profile_is_cut_at_the_cap() {
    let mut p = profile("storm: { waves: [ { at: 0s, share: 100%, spread: uniform(1m) } ] }");
    p.baseline.rate = crate::units::Rate(1e9);
    let size = PlanSize::of(&p);
    assert!(!size.fits() && size.background > 4e10, "{size:?}");
    let started = std::time::Instant::now();
    let plan = Plan::capped(&p, 5_000);
    assert_eq!(plan.events.len(), 5_000);
    assert!(plan.events.capacity() <= 5_000, "reserved {}", plan.events.capacity());
    assert_eq!(plan.storm_clients, 1000);
    assert_eq!(plan.background_clients, 4_000);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // And a storm larger than the cap stops inside the storm.
    p.baseline.rate = crate::units::Rate(0.0);
    let plan = Plan::capped(&p, 300);
    assert_eq!(
        (plan.events.len(), plan.storm_clients, plan.background_clients),
        (300, 300, 0)
    );
}

#[test]
fn a_probe_rounds_the_end_up_to_a_window_and_holds_the_baseline_after_it() {
    let storm = "storm: { waves: [ { at: 0s, share: 50%, spread: normal(sd 5m) } ], downtime: 'uniform(30s, 2m)' }";
    let plain = Plan::new(&profile(storm));
    let text = text_of(storm).replace("until_recovered: 30s", "until_recovered: 30s, window: 2s, confirm: 40s");
    let probed = Plan::new(&parse(&text));
    let end = probed.end.as_micros() as u64;
    assert_eq!(end % 2_000_000, 0, "{:?}", probed.end);
    assert!(probed.end >= plain.end && probed.end < plain.end + Duration::from_secs(2));
    // The plan's own events are the plain plan's, up to the end both share.
    let shared = |p: &Plan| {
        p.events
            .iter()
            .filter(|e| e.at() < plain.end)
            .copied()
            .collect::<Vec<_>>()
    };
    assert_eq!(shared(&probed), shared(&plain));
    // The probe's: background logins at 20/s over the 40 s after the end, fresh clients.
    assert!((600..1000).contains(&probed.probe.len()), "{}", probed.probe.len());
    assert!(
        probed
            .probe
            .iter()
            .all(|e| e.kind == EventKind::Login && e.at_us >= end)
    );
    assert!(probed.probe.iter().all(|e| e.at_us < end + 40_000_000));
    let first = probed.background_first + probed.background_clients;
    assert_eq!(probed.probe[0].client, first);
    assert_eq!(probed.probe_clients as usize, probed.probe.len());
    assert!(plain.probe.is_empty());
    // A part holds its clients' probe events.
    let half = probed.part(Part { index: 1, count: 2 });
    assert!(half.probe.iter().all(|e| e.client % 2 == 1) && !half.probe.is_empty());
}
