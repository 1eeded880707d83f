//! The model under a storm with explicit time: clients that retry, hosts that leave,
//! and the allocator healing (`healthy`), or not while flooded with failures (`bug-2007`).

use super::tests::{ms, population};
use super::{LoginResult, Model};
use crate::overlay::config::{Allocation, OverlayConfig, SelfShutdown};
use crate::units::{Rate, Share};

/// Clients `0..n` that are up retry a failed login every second (phase by id), and
/// logged-in clients re-login at 500/s in the background. 10 ms ticks.
struct Storm {
    m: Model<u64>,
    n: u64,
    left: Vec<bool>,
    t: u64,
    background: u64,
    out: Vec<(u64, LoginResult)>,
    /// Clients without a session log in again (once a second) and logged-in ones
    /// now and then; false: only a trickle, one logged-out client's login per 10 ms
    /// (retries silenced, a baseline of new logins that find no free slot).
    retrying: bool,
}

impl Storm {
    fn new(cfg: &OverlayConfig) -> Self {
        let n = cfg.initial_online;
        Storm {
            m: Model::new(cfg),
            n,
            left: vec![false; n as usize],
            t: 0,
            background: 0,
            out: Vec::new(),
            retrying: true,
        }
    }

    /// Half of the hosts leave (reboot and stay down).
    fn mass_leave(&mut self) -> usize {
        let hosts: Vec<u64> = self
            .m
            .hosted_supernodes()
            .iter()
            .map(|&s| self.m.host_of(s).unwrap())
            .collect();
        let gone: Vec<u64> = hosts.into_iter().step_by(2).collect();
        for &h in &gone {
            self.m.leave(h);
            self.left[h as usize] = true;
        }
        gone.len()
    }

    fn run_until(&mut self, secs: f64) {
        let end = (secs * 1000.0) as u64;
        while self.t < end {
            self.t += 10;
            let now = ms(self.t);
            let phase = (self.t / 10) % 100;
            if !self.retrying {
                let c = (0..self.n)
                    .map(|i| (self.background + i) % self.n)
                    .find(|&c| !self.left[c as usize] && self.m.session_of(c).is_none());
                self.background += 1;
                if let Some(c) = c {
                    let _ = self.m.enqueue(c, now, c);
                }
                self.m.tick(now, &mut self.out);
                self.out.clear();
                continue;
            }
            let mut c = phase;
            while c < self.n {
                if !self.left[c as usize] && self.m.session_of(c).is_none() {
                    let _ = self.m.enqueue(c, now, c);
                }
                c += 100;
            }
            for _ in 0..5 {
                let c = self.background % self.n;
                self.background += 1;
                if self.m.session_of(c).is_some() {
                    let _ = self.m.enqueue(c, now, c);
                }
            }
            self.m.tick(now, &mut self.out);
            self.out.clear();
        }
    }

    fn logged_out(&self) -> usize {
        (0..self.n)
            .filter(|&c| !self.left[c as usize] && self.m.session_of(c).is_none())
            .count()
    }
}

#[test]
fn healthy_promotion_refills_supernodes_after_a_mass_leave() {
    let mut s = Storm::new(&population(2000, Allocation::Healthy));
    s.run_until(1.0);
    let gone = s.mass_leave();
    assert_eq!(gone, 25);
    s.run_until(2.0);
    assert!(s.logged_out() > 500, "the leave orphaned many: {}", s.logged_out());
    s.run_until(15.0);
    assert_eq!(s.logged_out(), 0, "every client that is up is back");
    assert!(s.m.stats().promotions >= 20, "{:?}", s.m.stats());
    assert!(s.m.supernodes() >= 45);
}

#[test]
fn bug_2007_heals_once_the_retries_stop_the_flood_of_failures() {
    let mut s = Storm::new(&population(2000, Allocation::Bug2007));
    s.run_until(1.0);
    s.mass_leave();
    s.run_until(15.0);
    assert!(s.m.promotion_suspended(ms(s.t)), "the retries' failures hold it");
    assert_eq!(s.m.stats().promotions, 0);

    // Retries silenced: the background alone fails too (no free slot), but it is a
    // trickle, not a flood, and promotion resumes.
    s.retrying = false;
    s.run_until(20.0);
    assert!(!s.m.promotion_suspended(ms(s.t)));
    assert!(s.m.stats().promotions > 0, "promotion resumed: {:?}", s.m.stats());
    s.retrying = true;
    s.run_until(40.0);
    assert_eq!(s.logged_out(), 0, "healed: every client is back");
}

#[test]
fn bug_2007_stops_promoting_while_failures_are_high_and_resumes_after_mega_supernodes() {
    let mut s = Storm::new(&population(2000, Allocation::Bug2007));
    s.run_until(1.0);
    s.mass_leave();
    s.run_until(15.0);
    let stuck = s.logged_out();
    assert!(stuck > 500, "still down after 14 s: {stuck}");
    assert!(s.m.promotion_suspended(ms(s.t)));
    assert_eq!(s.m.stats().promotions, 0, "no healing while failing");

    // The operator's fix: dedicated supernodes, not enough for the whole deficit.
    s.m.inject_mega(1, 1000).unwrap();
    s.run_until(18.0);
    assert!(!s.m.promotion_suspended(ms(s.t)));
    s.run_until(30.0);
    assert_eq!(s.logged_out(), 0);
    assert!(s.m.stats().promotions > 0, "promotion resumed: {:?}", s.m.stats());
}

#[test]
fn self_shutdown_cascades() {
    let cascade = |load: Option<f64>| {
        let cfg = OverlayConfig {
            self_shutdown: load.map(|l| SelfShutdown { load: Share(l) }),
            promotion_rate: Rate(0.0),
            ..population(2000, Allocation::Healthy)
        };
        let mut s = Storm::new(&cfg);
        s.run_until(1.0);
        // 8 of 50 hosts reboot: the others could still hold every client (42 × 50 slots).
        let hosts = s.m.hosted_supernodes();
        for &sn in hosts.iter().take(8) {
            let h = s.m.host_of(sn).unwrap();
            s.m.leave(h);
            s.left[h as usize] = true;
        }
        s.run_until(6.0);
        (s.m.stats().shutdowns_self, s.m.supernodes())
    };
    let (shut, left) = cascade(None);
    assert_eq!((shut, left), (0, 42), "without self-shutdown the spare slots absorb it");
    let (shut, left) = cascade(Some(0.9));
    assert!(shut > 20, "8 lost hosts set off {shut} self-shutdowns");
    assert!(left < 20, "{left} supernodes left");
}
