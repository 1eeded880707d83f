//! The held-connection table and the resume's admission, with explicit time.

use std::time::Duration;

use futures_util::FutureExt;

use super::table::{Cause, Ending, Table, Upgrade};
use crate::overlay::config::{GatewayConfig, OverlayConfig, QueuePolicy};
use crate::overlay::model::{LoginResult, Model, Reject};
use crate::units::{Dur, Rate, Share};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn drops(t: &Table, cause: Cause) -> u64 {
    t.snapshot().drops.iter().find(|d| d.0 == cause).unwrap().1
}

#[test]
fn a_slot_is_held_replaced_and_released_once() {
    let t = Table::new(4, 1);
    let a = t.hold(5, ms(0)).unwrap();
    let b = t.hold(9, ms(0)).unwrap();
    assert_eq!(t.held(), 2);
    assert_eq!(t.snapshot().per_node, [0, 2, 0, 0]);
    assert!(a.ended().now_or_never().is_none(), "held: nothing to wake for");

    let a2 = t.hold(5, ms(1)).unwrap();
    assert_eq!(a.ended().now_or_never(), Some(Cause::Replaced));
    assert_eq!(Cause::Replaced.ending(), Ending::Abrupt);
    assert_eq!((t.held(), drops(&t, Cause::Replaced)), (2, 1));
    assert!(!t.release(5, &a, Some(Cause::ClientReset)), "already ended");
    assert_eq!(t.held(), 2, "the old slot does not take the new one with it");

    assert!(t.release(5, &a2, Some(Cause::ClientClosed)));
    assert_eq!((t.held(), drops(&t, Cause::ClientClosed)), (1, 1));
    assert!(t.release(9, &b, None), "an uncounted release");
    assert_eq!(t.held(), 0);
    assert_eq!(t.snapshot().per_node, [0, 0, 0, 0]);
    let total: u64 = t.snapshot().drops.iter().map(|d| d.1).sum();
    assert_eq!(total, 2);

    t.close();
    assert!(t.hold(1, ms(2)).is_none(), "a stopping overlay holds nothing new");
}

#[test]
fn orphans_end_abruptly_and_only_if_held() {
    let t = Table::new(4, 1);
    let slots: Vec<_> = (0..10).map(|c| t.hold(c, ms(0)).unwrap()).collect();
    assert_eq!(t.end(&[1, 3, 3, 42], Cause::SupernodeLeft), 2);
    assert_eq!(slots[1].cause(), Some(Cause::SupernodeLeft));
    assert_eq!(slots[2].cause(), None);
    assert_eq!(Cause::SupernodeLeft.ending(), Ending::Abrupt);
    assert_eq!((t.held(), drops(&t, Cause::SupernodeLeft)), (8, 2));
}

#[test]
fn drop_connections_takes_a_seeded_share_different_each_call() {
    let chosen = |seed: u64, calls: usize| {
        let t = Table::new(4, seed);
        let slots: Vec<_> = (0..1000).map(|c| t.hold(c, ms(0)).unwrap()).collect();
        let mut n = Vec::new();
        for _ in 0..calls {
            n.push(t.drop_share(0.3));
        }
        let gone: Vec<u64> = (0..1000).filter(|&c| slots[c as usize].cause().is_some()).collect();
        (n, gone, t)
    };
    let (n, a, t) = chosen(7, 1);
    assert_eq!(n, [300]);
    assert_eq!(a.len(), 300);
    assert_eq!((t.held(), drops(&t, Cause::DropAction)), (700, 300));
    assert_eq!(t.snapshot().per_node.iter().sum::<u64>(), 700);
    assert_eq!(chosen(7, 1).1, a, "same seed, same choice");
    assert_ne!(chosen(8, 1).1, a, "another seed, another choice");
    let (n, b, _) = chosen(7, 2);
    assert_eq!(n, [300, 210], "30% of what is left");
    assert_eq!(b.len(), 510);
    assert_eq!(Table::new(4, 1).drop_share(0.3), 0, "nothing held");
    let t = Table::new(4, 1);
    t.hold(1, ms(0)).unwrap();
    assert_eq!(t.drop_share(0.3), 0, "rounds to none");
    assert_eq!(t.drop_share(1.0), 1);
}

#[test]
fn restart_closes_one_nodes_connections_with_1012() {
    let t = Table::new(4, 1);
    let slots: Vec<_> = (0..10).map(|c| t.hold(c, ms(0)).unwrap()).collect();
    assert_eq!(t.restart(1), 3, "clients 1, 5, 9");
    assert_eq!(t.restart(1), 0);
    assert_eq!(slots[5].cause(), Some(Cause::Restart));
    assert_eq!(slots[4].cause(), None);
    assert_eq!(Cause::Restart.ending(), Ending::Close(1012, "retry after 2"));
    assert_eq!(t.snapshot().per_node, [3, 0, 2, 2]);
}

#[test]
fn the_sweep_ends_connections_silent_past_the_timeout() {
    let t = Table::new(4, 1);
    let quiet = t.hold(1, ms(0)).unwrap();
    let chatty = t.hold(2, ms(0)).unwrap();
    chatty.touch(ms(80_000));
    assert_eq!(t.sweep(ms(90_000), Duration::ZERO), 0, "0 = never");
    assert_eq!(t.sweep(ms(90_000), ms(90_000)), 0, "not past it yet");
    assert_eq!(t.sweep(ms(90_001), ms(90_000)), 1);
    assert_eq!(quiet.cause(), Some(Cause::HeartbeatTimeout));
    assert_eq!(
        Cause::HeartbeatTimeout.ending(),
        Ending::Close(4009, "heartbeat timeout")
    );
    assert_eq!(chatty.cause(), None);
    assert_eq!(t.sweep(ms(170_001), ms(90_000)), 1);
    assert_eq!(drops(&t, Cause::HeartbeatTimeout), 2);
}

#[test]
fn counters_by_label() {
    let t = Table::new(2, 1);
    t.count_upgrade(Upgrade::Ok);
    t.count_upgrade(Upgrade::Overloaded);
    t.count_upgrade(Upgrade::Overloaded);
    t.count_heartbeat();
    t.count_ignored();
    let s = t.snapshot();
    let names: Vec<&str> = s.upgrades.iter().map(|u| u.0.into()).collect();
    assert_eq!(names, ["ok", "unauthorized", "session_lost", "overloaded"]);
    assert_eq!(s.upgrades.iter().map(|u| u.1).collect::<Vec<_>>(), [1, 0, 0, 2]);
    let causes: Vec<&str> = s.drops.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(
        causes,
        [
            "supernode_left",
            "drop_action",
            "restart",
            "heartbeat_timeout",
            "client_closed",
            "client_reset",
            "replaced"
        ]
    );
    assert_eq!((s.heartbeats, s.ignored), (1, 1));
}

/// Clients 0..100 online on supernodes of 10 slots; a login server of `capacity`.
fn server(capacity: f64, resume_cost: f64) -> Model<u64> {
    let cfg = OverlayConfig {
        capacity: Rate(capacity),
        client_timeout: Dur::from_secs_f64(1.0),
        queue: QueuePolicy::Bounded,
        initial_online: 100,
        supernode_slots: 10,
        gateway: GatewayConfig {
            resume_cost: Share(resume_cost),
            ..GatewayConfig::default()
        },
        ..OverlayConfig::default()
    };
    Model::new(&cfg)
}

#[test]
fn a_resume_costs_its_share_of_a_login_in_the_same_queue() {
    let mut m = server(1000.0, 0.2);
    let mut out = Vec::new();
    m.tick(ms(0), &mut out);
    for i in 0..5000 {
        m.enqueue_resume(i % 100, ms(0), i).unwrap();
    }
    // The bound is 1000 logins' work: 5000 resumes fill it, one more does not fit.
    assert_eq!(m.enqueue_resume(1, ms(0), 0), Err((Reject::QueueFull, 0)));
    assert_eq!(m.enqueue(1, ms(0), 0), Err((Reject::QueueFull, 0)));
    for t in 1..=200 {
        m.tick(ms(t), &mut out);
    }
    // 200 ms at 1000 logins/s: the work of 200 logins, 1000 resumes.
    assert!((995..=1005).contains(&m.stats().resumes), "{:?}", m.stats());
    assert_eq!(m.stats().completed, 0, "resumes are not logins");
    assert!(out.iter().all(|(_, r)| matches!(r, LoginResult::Ok { .. })));
    assert_eq!(m.stats().resumes_rejected, 1);
    assert_eq!(m.stats().rejected_queue_full, 1);
    // Past the client timeout the rest expire, and bug-2007 does not count them.
    out.clear();
    m.tick(ms(1200), &mut out);
    assert!(out.iter().all(|(_, r)| *r == LoginResult::Rejected(Reject::Expired)));
    assert!(out.len() > 3000, "{}", out.len());
    assert_eq!(m.stats().rejected_expired, 0);
    assert_eq!(m.snapshot(ms(1200)).failure_ratio, 1.0, "only the one login refused");
    assert_eq!(m.queue_depth(), 0);
    m.enqueue(3, ms(1200), 0).unwrap();
}

#[test]
fn a_resume_finds_its_session_or_its_loss_and_orphans_are_handed_out() {
    let mut m = server(1000.0, 0.2);
    let mut out = Vec::new();
    let sn = m.session_of(3).unwrap();
    let host = m.host_of(sn).unwrap();
    let members = m.members_of(sn);
    assert!(m.hosts(host));
    m.leave(host);
    let mut orphans = Vec::new();
    m.take_orphans(&mut orphans);
    orphans.sort_unstable();
    let expected: Vec<u64> = members.iter().copied().filter(|&c| c != host).collect();
    assert_eq!(orphans, expected);
    m.take_orphans(&mut orphans);
    assert_eq!(orphans.len(), expected.len(), "handed out once");

    m.enqueue_resume(3, ms(0), 3).unwrap();
    let other = (0..100).find(|c| m.session_of(*c).is_some()).unwrap();
    m.enqueue_resume(other, ms(0), other).unwrap();
    m.tick(ms(5), &mut out);
    assert!(out.contains(&(3, LoginResult::SessionLost)), "{out:?}");
    assert!(out.contains(&(
        other,
        LoginResult::Ok {
            supernode: m.session_of(other).unwrap()
        }
    )));
}
