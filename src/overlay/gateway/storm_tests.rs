//! The 2007 mechanism through held connections, with explicit time: half the supernode
//! hosts reboot (their connections end without a close frame), every connection their
//! supernodes held drops at once, and the orphans resume (4004), log in again and look
//! for a free slot, as the server and its clients do it, through the model and the table.

use std::sync::Arc;
use std::time::Duration;

use super::table::{Cause, Slot, Table};
use crate::overlay::config::{Allocation, OverlayConfig};
use crate::overlay::model::{LoginResult, Model};
use crate::units::{Dur, Rate, Share};

enum Client {
    Held(Arc<Slot>),
    /// Upgrades (a resume) at this instant, in ms.
    Resume(u64),
    /// Logs in at this instant, in ms.
    Login(u64),
    /// Waits for the login server.
    Queued,
    /// Rebooted, and stays down.
    Down,
}

/// The client a queued request is for, and whether it is a resume.
type Ticket = (u64, bool);

/// A client waits this long after a 503 or a 1013 (the overlay's `retry_after` is 2 s;
/// its phase spreads by id).
fn retry_at(t: u64, c: u64) -> u64 {
    t + 1000 + c % 1000
}

struct Reconnects {
    m: Model<Ticket>,
    table: Table,
    clients: Vec<Client>,
    t: u64,
    out: Vec<(Ticket, LoginResult)>,
    /// False: reconnects and relogins are silenced (what the confirmation probe does).
    retrying: bool,
    logins: u64,
}

fn population(allocation: Allocation) -> OverlayConfig {
    OverlayConfig {
        seed: 7,
        capacity: Rate(20_000.0),
        initial_online: 2000,
        allocation,
        promotion_delay: Dur::from_secs_f64(2.0),
        failure_window: Dur::from_secs_f64(2.0),
        // 200 failed logins/s: the stuck clients' relogins (one a second each) are a flood.
        bug_flood: Share(0.01),
        ..OverlayConfig::default()
    }
}

impl Reconnects {
    /// Every client online holds its connection.
    fn new(cfg: &OverlayConfig) -> Self {
        let table = Table::new(cfg.gateway.nodes, cfg.seed);
        let clients = (0..cfg.initial_online)
            .map(|c| Client::Held(table.hold(c, Duration::ZERO).unwrap()))
            .collect();
        Reconnects {
            m: Model::new(cfg),
            table,
            clients,
            t: 0,
            out: Vec::new(),
            retrying: true,
            logins: 0,
        }
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.t)
    }

    /// Half the hosts reboot: their own connections end without a close frame, which
    /// takes their supernodes down (as `held::run` does). How many orphans dropped.
    fn reboot_half_the_hosts(&mut self) -> usize {
        let hosts: Vec<u64> = self
            .m
            .hosted_supernodes()
            .iter()
            .map(|&s| self.m.host_of(s).unwrap())
            .collect();
        for h in hosts.into_iter().step_by(2) {
            let Client::Held(slot) = std::mem::replace(&mut self.clients[h as usize], Client::Down) else {
                panic!("host {h} was not held");
            };
            assert!(self.table.release(h, &slot, Some(Cause::ClientReset)));
            assert!(self.m.hosts(h));
            self.m.leave(h);
        }
        self.settle()
    }

    /// Drops the orphans' connections (as `Gateway::apply` does); they resume soon after.
    fn settle(&mut self) -> usize {
        let mut orphans = Vec::new();
        self.m.take_orphans(&mut orphans);
        let dropped = self.table.end(&orphans, Cause::SupernodeLeft);
        for c in orphans {
            if let Client::Held(slot) = &self.clients[c as usize] {
                assert_eq!(slot.cause(), Some(Cause::SupernodeLeft));
                self.clients[c as usize] = Client::Resume(self.t + c % 100);
            }
        }
        dropped
    }

    fn run_until(&mut self, secs: u64) {
        while self.t < secs * 1000 {
            self.t += 10;
            let (t, now) = (self.t, self.now());
            for c in 0..self.clients.len() as u64 {
                let due = match self.clients[c as usize] {
                    Client::Resume(at) if at <= t => true,
                    Client::Login(at) if at <= t => false,
                    _ => continue,
                };
                if !self.retrying {
                    continue;
                }
                let queued = if due {
                    self.m.enqueue_resume(c, now, (c, true))
                } else {
                    self.logins += 1;
                    self.m.enqueue(c, now, (c, false))
                };
                self.clients[c as usize] = match (queued, due) {
                    (Ok(()), _) => Client::Queued,
                    (Err(_), true) => Client::Resume(retry_at(t, c)),
                    (Err(_), false) => Client::Login(retry_at(t, c)),
                };
            }
            self.m.tick(now, &mut self.out);
            for ((c, resume), result) in std::mem::take(&mut self.out) {
                self.clients[c as usize] = match (resume, result) {
                    (true, LoginResult::Ok { .. }) => Client::Held(self.table.hold(c, now).unwrap()),
                    // 4004: log in again at once.
                    (true, LoginResult::SessionLost) => Client::Login(t),
                    (true, LoginResult::Rejected(_)) => Client::Resume(retry_at(t, c)),
                    // Logged in: connect at once.
                    (false, LoginResult::Ok { .. }) => Client::Resume(t),
                    (false, _) => Client::Login(retry_at(t, c)),
                };
            }
            self.settle();
        }
    }

    /// Clients up but not holding a connection.
    fn disconnected(&self) -> usize {
        self.clients
            .iter()
            .filter(|c| !matches!(c, Client::Held(_) | Client::Down))
            .count()
    }
}

#[test]
fn healthy_promotion_brings_every_dropped_connection_back() {
    let mut s = Reconnects::new(&population(Allocation::Healthy));
    s.run_until(1);
    let dropped = s.reboot_half_the_hosts();
    assert!(dropped > 500, "the reboots dropped {dropped} connections at once");
    assert_eq!(s.table.held() + dropped + 25, 2000, "25 hosts rebooted");
    s.run_until(15);
    assert_eq!(
        s.disconnected(),
        0,
        "every client that is up holds its connection again"
    );
    assert_eq!(s.table.held(), 2000 - 25);
    assert!(s.m.stats().promotions >= 20, "{:?}", s.m.stats());
}

#[test]
fn bug_2007_stays_down_while_the_orphans_reconnect_and_heals_once_they_stop() {
    let mut s = Reconnects::new(&population(Allocation::Bug2007));
    s.run_until(1);
    let dropped = s.reboot_half_the_hosts();
    s.run_until(5);
    let logins_by_5s = s.logins;
    s.run_until(15);
    let stuck = s.disconnected();
    assert!(
        stuck > 500,
        "still {stuck} of {dropped} dropped clients disconnected after 14 s"
    );
    assert!(s.m.promotion_suspended(s.now()), "the relogins' failures hold it");
    assert_eq!(s.m.stats().promotions, 0, "no healing while the flood goes on");
    assert!(
        s.logins - logins_by_5s > 3 * stuck as u64,
        "the flood went on: {} relogins in 10 s",
        s.logins - logins_by_5s
    );
    assert!(
        s.m.stats().resumes > dropped as u64,
        "each orphan resumed first, and 4004 sent it to log in"
    );

    // Reconnects and relogins silenced: the failures stop, and promotion resumes.
    s.retrying = false;
    s.run_until(20);
    assert!(!s.m.promotion_suspended(s.now()));
    assert!(s.m.stats().promotions > 0, "promotion resumed: {:?}", s.m.stats());
    s.retrying = true;
    s.run_until(40);
    assert_eq!(s.disconnected(), 0, "healed: every client holds its connection again");
}
