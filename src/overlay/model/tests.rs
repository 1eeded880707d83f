//! The model with explicit time: no clock, no network, fixed seeds.

use std::time::Duration;

use super::{LoginResult, MegaRefused, Model, Reject};
use crate::overlay::config::{Action, Allocation, MAX_MEGA_PER_CALL, OverlayConfig, QueuePolicy};
use crate::units::{Dur, Rate, Share};

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An empty overlay with one mega-supernode big enough for everyone: only the login
/// server matters.
fn server_only(capacity: f64, timeout_s: f64, queue: QueuePolicy) -> Model<u64> {
    let cfg = OverlayConfig {
        capacity: Rate(capacity),
        client_timeout: Dur::from_secs_f64(timeout_s),
        queue,
        initial_online: 0,
        ..OverlayConfig::default()
    };
    let mut m = Model::new(&cfg);
    m.inject_mega(1, 10_000_000).unwrap();
    m
}

#[test]
fn capacity_is_respected() {
    let mut m = server_only(1000.0, 30.0, QueuePolicy::Bounded);
    for c in 0..5000 {
        m.enqueue(c, Duration::ZERO, c).unwrap();
    }
    let mut out = Vec::new();
    for t in 0..=1000 {
        m.tick(ms(t), &mut out);
    }
    let done = m.stats().completed;
    assert!((999..=1001).contains(&done), "completed {done} in 1 s at 1000/s");
    assert_eq!(out.len() as u64, done);
    assert_eq!(m.queue_depth() as u64, 5000 - done);
    // FIFO: the first to arrive are the first served.
    assert!(out.iter().take(10).map(|(c, _)| *c).eq(0..10));
}

#[test]
fn capacity_does_not_depend_on_tick_size() {
    for step in [1, 7, 50, 250] {
        let mut m = server_only(2000.0, 30.0, QueuePolicy::Unbounded);
        for c in 0..10_000 {
            m.enqueue(c, Duration::ZERO, c).unwrap();
        }
        let mut out = Vec::new();
        let mut t = 0;
        while t <= 2000 {
            m.tick(ms(t), &mut out);
            t += step;
        }
        let done = m.stats().completed;
        assert!((3990..=4010).contains(&done), "step {step} ms: {done}");
    }
}

#[test]
fn idle_capacity_does_not_pile_up() {
    let mut m = server_only(1000.0, 30.0, QueuePolicy::Bounded);
    let mut out = Vec::new();
    m.tick(ms(0), &mut out);
    m.tick(ms(10_000), &mut out); // ten idle seconds
    for c in 0..1000 {
        m.enqueue(c, ms(10_000), c).unwrap();
    }
    m.tick(ms(10_001), &mut out);
    assert!(m.stats().completed <= 21, "{}", m.stats().completed);
}

#[test]
fn bounded_queue_rejects_over_its_bound() {
    // bound = 100/s × 1 s = 100
    let mut m = server_only(100.0, 1.0, QueuePolicy::Bounded);
    let mut rejected = 0;
    for c in 0..150 {
        match m.enqueue(c, Duration::ZERO, c) {
            Ok(()) => {}
            Err((Reject::QueueFull, ticket)) => {
                assert_eq!(ticket, c, "the ticket comes back to be answered");
                rejected += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(rejected, 50);
    assert_eq!(m.queue_depth(), 100);
    assert_eq!(m.stats().rejected_queue_full, 50);
    let unbounded = &mut server_only(100.0, 1.0, QueuePolicy::Unbounded);
    for c in 0..150 {
        assert!(unbounded.enqueue(c, Duration::ZERO, c).is_ok());
    }
}

#[test]
fn deadline_aware_queue_drops_expired_work() {
    let mut m = server_only(100.0, 1.0, QueuePolicy::Bounded);
    let mut out = Vec::new();
    m.tick(ms(0), &mut out);
    for c in 0..50 {
        m.enqueue(c, ms(0), c).unwrap();
    }
    for c in 50..60 {
        m.enqueue(c, ms(1000), c).unwrap();
    }
    // The server was stalled for 1.2 s: the first 50 clients have given up.
    m.tick(ms(1200), &mut out);
    let expired: Vec<u64> = out
        .iter()
        .filter(|(_, r)| *r == LoginResult::Rejected(Reject::Expired))
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(expired, (0..50).collect::<Vec<_>>());
    let ok: Vec<u64> = out
        .iter()
        .filter(|(_, r)| matches!(r, LoginResult::Ok { .. }))
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(ok, (50..60).collect::<Vec<_>>());
    let s = m.stats();
    assert_eq!((s.completed, s.wasted, s.rejected_expired), (10, 0, 50));
}

/// Offers `offered` logins/s (distinct clients) for `secs`; returns the
/// (completed, wasted) deltas over the second half of the run.
fn overload(queue: QueuePolicy, offered: u64, secs: u64) -> (u64, u64) {
    let mut m = server_only(100.0, 1.0, queue);
    let mut out = Vec::new();
    let mut next = 0;
    let mut half = (0, 0);
    for t in 0..=secs * 1000 {
        // `offered` per second, spread over the milliseconds
        let due = (t + 1) * offered / 1000;
        while next < due {
            let _ = m.enqueue(next, ms(t), next);
            next += 1;
        }
        m.tick(ms(t), &mut out);
        if t == secs * 500 {
            half = (m.stats().completed, m.stats().wasted);
        }
    }
    let s = m.stats();
    (s.completed - half.0, s.wasted - half.1)
}

#[test]
fn unbounded_queue_wastes_capacity_on_clients_that_gave_up() {
    // 3× overload at 100/s with a 1 s client timeout, 10 s: measured over the last 5 s.
    let (completed, wasted) = overload(QueuePolicy::Unbounded, 300, 10);
    assert!((495..=505).contains(&completed), "throughput stays μ: {completed}");
    assert_eq!(wasted, completed, "goodput is zero");
    let (completed, wasted) = overload(QueuePolicy::Bounded, 300, 10);
    assert!((495..=505).contains(&completed), "{completed}");
    assert_eq!(wasted, 0, "the deadline-aware queue serves only waiting clients");
}

pub(super) fn population(n: u64, allocation: Allocation) -> OverlayConfig {
    OverlayConfig {
        seed: 7,
        capacity: Rate(20_000.0),
        initial_online: n,
        allocation,
        promotion_delay: Dur::from_secs_f64(2.0),
        failure_window: Dur::from_secs_f64(2.0),
        // 200 failed logins/s: the stuck clients' retries (one a second each) are a flood.
        bug_flood: Share(0.01),
        ..OverlayConfig::default()
    }
}

#[test]
fn initial_population_is_logged_in_over_eligible_hosts() {
    let m: Model<()> = Model::new(&population(2000, Allocation::Healthy));
    assert_eq!(m.online(), 2000);
    assert!((0..2000).all(|c| m.session_of(c).is_some()));
    // 2000 × 1.25 / 50 slots
    assert_eq!(m.supernodes(), 50);
    for sn in m.hosted_supernodes() {
        let host = m.host_of(sn).unwrap();
        assert!(host < 2000 && m.is_eligible(host));
        assert_eq!(m.members_of(sn).len(), 40, "spread evenly");
    }
}

#[test]
fn eligibility_is_a_deterministic_share_of_ids() {
    let a: Model<()> = Model::new(&OverlayConfig {
        initial_online: 0,
        ..OverlayConfig::default()
    });
    let b: Model<()> = Model::new(&OverlayConfig {
        initial_online: 0,
        seed: 2,
        ..OverlayConfig::default()
    });
    let n = (0..100_000).filter(|&c| a.is_eligible(c)).count();
    assert!((4700..5300).contains(&n), "{n} of 100000 at 5%");
    let same = (0..100_000).filter(|&c| a.is_eligible(c) && b.is_eligible(c)).count();
    assert!(same < 500, "another seed picks other hosts: {same} in common");
}

#[test]
fn a_leaving_host_orphans_exactly_its_clients() {
    let mut m: Model<()> = Model::new(&population(1000, Allocation::Healthy));
    let sn = m.hosted_supernodes()[3];
    let host = m.host_of(sn).unwrap();
    let members = m.members_of(sn);
    assert!(!members.is_empty());
    m.leave(host);
    assert_eq!(m.host_of(sn), None);
    for c in (0..1000).filter(|&c| c != host) {
        let orphan = members.contains(&c);
        assert_eq!(m.session_of(c).is_none(), orphan, "client {c}");
        assert_eq!(m.keepalive(c), !orphan, "client {c}");
    }
    let orphaned = members.iter().filter(|&&c| c != host).count() as u64;
    assert_eq!(m.stats().orphaned, orphaned);
    assert_eq!(m.stats().keepalive_gone, orphaned);
    // A plain client leaving orphans nobody.
    let plain = (0..1000).find(|&c| m.session_of(c).is_some() && !m.is_eligible(c));
    m.leave(plain.unwrap());
    assert_eq!(m.stats().orphaned, orphaned);
}

#[test]
fn keepalive_cost_takes_login_capacity_until_shed() {
    let run = |shed: bool| {
        let cfg = OverlayConfig {
            capacity: Rate(1000.0),
            keepalive_cost: Share(0.5),
            client_timeout: Dur::from_secs_f64(30.0),
            initial_online: 100,
            ..OverlayConfig::default()
        };
        let mut m: Model<u64> = Model::new(&cfg);
        m.set_shed(shed);
        for c in 0..5000 {
            m.enqueue(c, Duration::ZERO, c).unwrap();
        }
        let mut out = Vec::new();
        for t in 0..=1000 {
            m.keepalive(t % 100); // 1000 keepalives/s at half a login each
            m.tick(ms(t), &mut out);
        }
        m.stats().completed
    };
    let loaded = run(false);
    assert!((495..=505).contains(&loaded), "{loaded}");
    let shed = run(true);
    assert!((999..=1001).contains(&shed), "{shed}");
}

#[test]
fn config_actions_fire_at_their_time() {
    let cfg: OverlayConfig = serde_yaml::from_str(
        "initial_online: 0\nactions: [{ at: 2s, inject_mega_supernodes: 3, slots: 10 }, { at: 1s, shed: true }]",
    )
    .unwrap();
    let mut m: Model<u64> = Model::new(&cfg);
    let mut out = Vec::new();
    m.tick(ms(999), &mut out);
    assert!(!m.snapshot(ms(999)).shed);
    m.tick(ms(1000), &mut out);
    assert!(m.snapshot(ms(1000)).shed);
    assert_eq!(m.supernodes(), 0);
    m.tick(ms(2500), &mut out);
    let snap = m.snapshot(ms(2500));
    assert_eq!((snap.supernodes, snap.mega_supernodes, snap.slots_total), (3, 3, 30));
}

#[test]
fn a_client_that_leaves_while_queued_is_not_attached() {
    let mut m = server_only(1000.0, 30.0, QueuePolicy::Bounded);
    m.enqueue(1, ms(0), 1).unwrap();
    m.leave(1);
    let mut out = Vec::new();
    m.tick(ms(10), &mut out);
    assert_eq!(out, [(1, LoginResult::Rejected(Reject::NoSlot))]);
    assert_eq!(m.online(), 0);
}

#[test]
fn a_small_initial_population_is_all_logged_in() {
    for n in [1, 3, 10, 49] {
        let m: Model<()> = Model::new(&OverlayConfig {
            initial_online: n,
            ..OverlayConfig::default()
        });
        assert_eq!(m.online() as u64, n, "initial_online {n}");
    }
}

#[test]
fn mega_injections_are_bounded_per_call_and_in_all_with_the_actions_share_kept() {
    let cfg = OverlayConfig {
        initial_online: 0,
        max_mega_supernodes: 10,
        max_mega_slots: 1_000,
        actions: vec![Action {
            at: Dur::from_secs_f64(1.0),
            inject_mega_supernodes: Some(4),
            slots: Some(100),
            ..Action::default()
        }],
        ..OverlayConfig::default()
    };
    assert!(cfg.validate().is_empty());
    let mut m: Model<u64> = Model::new(&cfg);
    assert_eq!(m.inject_mega(0, 5), Err(MegaRefused::Count(0)));
    assert_eq!(
        m.inject_mega(MAX_MEGA_PER_CALL + 1, 1),
        Err(MegaRefused::Count(MAX_MEGA_PER_CALL + 1))
    );
    assert_eq!(m.inject_mega(1, 0), Err(MegaRefused::NoSlots));
    assert!(MegaRefused::NoSlots.is_bad_input());
    // 4 supernodes and 400 slots are the action's: 6 and 600 are left.
    let e = m.inject_mega(7, 1).unwrap_err();
    assert_eq!(
        e,
        MegaRefused::TooMany {
            count: 7,
            total: 11,
            max: 10,
            reserved: 4
        }
    );
    assert!(!e.is_bad_input());
    assert!(
        e.to_string().contains("over max_mega_supernodes (10, 4 of them kept"),
        "{e}"
    );
    let e = m.inject_mega(1, u32::MAX).unwrap_err();
    assert!(
        matches!(
            e,
            MegaRefused::TooManySlots {
                reserved: 400,
                max: 1000,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(m.inject_mega(5, 100).unwrap().len(), 5);
    assert_eq!(m.inject_mega(1, 100).unwrap().len(), 1);
    assert!(matches!(m.inject_mega(1, 1), Err(MegaRefused::TooMany { .. })));
    let mut out = Vec::new();
    m.tick(ms(1000), &mut out);
    let s = m.snapshot(ms(1000));
    assert_eq!(
        (s.mega_supernodes, s.slots_total),
        (10, 1_000),
        "the action still fired"
    );
    assert_eq!(s.stats.mega_injected, 10);
    assert!(matches!(
        m.inject_mega(1, 1),
        Err(MegaRefused::TooMany { reserved: 0, .. })
    ));
}
