//! The flows in flight, as long-lived runners: each is one future in the engine's flow
//! set that runs a flow, hands its completion over, waits for the next flow and runs
//! that one, for the whole run. A flow's start is then a hand-off to an idle runner,
//! not a new future: no allocation and no copy of a kilobyte of future state into the
//! set per request, no link into and unlink from the set (measured on the keep-alive
//! path, #27: `FuturesUnordered::push` and the task's drop were 2.2 % of the core,
//! half of it the future copied three times on its way into its task).
//!
//! Everything here belongs to the engine's one task: `Cell`s and `Rc`s, no atomics.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::flow::{Flowed, Job};
use super::timer;
use crate::transport::Conn;

/// One runner's hand-off: the flow it runs next, and its waker while it waits for one.
#[derive(Default)]
pub(super) struct Runner {
    next: Cell<Option<(Job, Option<Conn>)>>,
    waker: Cell<Option<Waker>>,
}

impl Runner {
    /// Hands the runner its next flow and wakes it.
    fn hand(&self, job: Job, conn: Option<Conn>) {
        self.next.set(Some((job, conn)));
        if let Some(w) = self.waker.take() {
            w.wake_by_ref();
            self.waker.set(Some(w));
        }
    }

    /// The next flow, once handed over. The waker is the set's task waker for this
    /// runner, the same every time: cloned once, not at each wait.
    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<(Job, Option<Conn>)> {
        if let Some(j) = self.next.take() {
            return Poll::Ready(j);
        }
        match self.waker.take() {
            Some(w) if w.will_wake(cx.waker()) => self.waker.set(Some(w)),
            _ => self.waker.set(Some(cx.waker().clone())),
        }
        Poll::Pending
    }
}

/// The runners' shared books: which are idle, what they finished since the engine last
/// took their completions, and how much the current poll of the set may take.
#[derive(Default)]
pub(super) struct Runners {
    /// Idle runners, the most recently idle last (its state is the warmest in cache).
    idle: RefCell<Vec<Rc<Runner>>>,
    done: RefCell<Vec<Flowed>>,
    /// This poll of the set began at this instant, and takes at most `max` completions.
    began: Cell<Option<Instant>>,
    max: Cell<usize>,
    /// The poll has taken what it may: runners woken meanwhile wait for the next one.
    spent: Cell<bool>,
}

impl Runners {
    /// An idle runner, if any, to hand a flow to.
    pub fn idle(&self) -> Option<Rc<Runner>> {
        self.idle.borrow_mut().pop()
    }

    /// A new runner with its first flow, for a start that found none idle: there are as
    /// many runners as flows were ever in flight at once.
    pub fn new_runner(&self, job: Job, conn: Option<Conn>) -> Rc<Runner> {
        let r = Rc::new(Runner::default());
        r.next.set(Some((job, conn)));
        r
    }

    /// A runner finished a flow: its completion is booked and it is idle again.
    fn finished(&self, f: Flowed, me: &Rc<Runner>) {
        let end = f.res.done;
        let mut done = self.done.borrow_mut();
        done.push(f);
        if done.len() >= self.max.get()
            || self
                .began
                .get()
                .is_some_and(|b| end.saturating_duration_since(b) >= timer::RESOLUTION)
        {
            self.spent.set(true);
        }
        self.idle.borrow_mut().push(me.clone());
    }
}

/// Starts a flow: on an idle runner, or on a new one pushed into the set.
pub(super) fn start<'a, F>(
    runners: &'a Runners,
    set: &mut FuturesUnordered<F>,
    make: impl FnOnce(Rc<Runner>) -> F,
    job: Job,
    conn: Option<Conn>,
) where
    F: Future<Output = ()> + 'a,
{
    match runners.idle() {
        Some(r) => r.hand(job, conn),
        None => set.push(make(runners.new_runner(job, conn))),
    }
}

/// One runner, for the whole run: each flow handed to it, one after another (`run`
/// makes a flow's future: `run_job`, borrowing what every flow borrows). A runner woken
/// once the engine's poll has taken what it may (`Runners::spent`) waits for the next
/// poll without touching its flow.
pub(super) async fn runner<R: Future<Output = Flowed>>(
    runners: &Runners,
    me: Rc<Runner>,
    run: impl Fn(Job, Option<Conn>) -> R,
) {
    loop {
        let (job, conn) = poll_fn(|cx| me.poll_next(cx)).await;
        let mut flow = pin!(run(job, conn));
        let f = poll_fn(|cx| {
            if runners.spent.get() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            flow.as_mut().poll(cx)
        })
        .await;
        runners.finished(f, &me);
    }
}

/// Polls the runners for completions: at most `max` of them, and for about the timer's
/// resolution at most (a completion may carry CPU work, a TLS handshake say, and the
/// schedule must not wait behind a long batch of them). Only ever returns pending when
/// none is ready (the waker is then registered).
pub(super) fn poll_completions<F: Future<Output = ()>>(
    set: &mut FuturesUnordered<F>,
    runners: &Runners,
    cx: &mut Context<'_>,
    out: &mut Vec<Flowed>,
    max: usize,
) -> Poll<()> {
    // Each completion carries its end instant: the batch's bound is read from them, no
    // clock read of its own per completion.
    runners.began.set(Some(Instant::now()));
    runners.max.set(max);
    runners.spent.set(false);
    // Runners never end: the set answers pending once it has polled every runner woken
    // (or it yields, having polled as many as it holds), or none (empty).
    let _ = set.poll_next_unpin(cx);
    out.append(&mut runners.done.borrow_mut());
    if out.is_empty() { Poll::Pending } else { Poll::Ready(()) }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::engine::flow::JobKind;
    use crate::outcome::Class;
    use crate::profile::Vars;
    use crate::transport::{Closed, FlowResult};

    /// A flow of client `client` (its id rides in the job's variables).
    fn job(client: u64) -> Job {
        Job {
            kind: JobKind::OnReboot,
            steps: Arc::from(Vec::new()),
            vars: Vars {
                client,
                attempt: 1,
                node: 0,
                values: None,
            },
            values: None,
            pooled: false,
            started: Instant::now(),
            queued: Duration::ZERO,
        }
    }

    /// A flow that ends once `gate` holds its client, answering with the client as its node.
    async fn gated(gate: &RefCell<Vec<u64>>, j: Job) -> Flowed {
        let client = j.vars.client;
        poll_fn(|cx| {
            if gate.borrow().contains(&client) {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
        let mut res = FlowResult::unsent(Class::Ok, Instant::now());
        res.node = client as usize;
        Flowed {
            kind: j.kind,
            pooled: false,
            res,
            conn: None,
            values: None,
            queued: Duration::ZERO,
            held: None,
            closed: Closed::default(),
        }
    }

    /// Polls the set once for completions, as the engine's loop does: the clients done.
    fn poll_once<F: Future<Output = ()>>(set: &mut FuturesUnordered<F>, runners: &Runners, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let waker = Waker::noop();
        let _ = poll_completions(set, runners, &mut Context::from_waker(waker), &mut out, max);
        out.iter().map(|f| f.res.node as u64).collect()
    }

    #[test]
    fn flows_one_after_another_reuse_one_runner_and_concurrent_ones_get_their_own() {
        let gate = RefCell::new(Vec::new());
        let runners = Runners::default();
        let mut set = FuturesUnordered::new();
        let flow = |j, _| gated(&gate, j);
        let made = Cell::new(0);
        let make = |r| {
            made.set(made.get() + 1);
            runner(&runners, r, flow)
        };
        for client in 0..5 {
            start(&runners, &mut set, make, job(client), None);
            assert!(poll_once(&mut set, &runners, 512).is_empty(), "not done yet");
            gate.borrow_mut().push(client);
            assert_eq!(poll_once(&mut set, &runners, 512), vec![client]);
        }
        assert_eq!(made.get(), 1, "one flow at a time: one runner, reused");
        for client in 10..13 {
            start(&runners, &mut set, make, job(client), None);
        }
        assert_eq!(poll_once(&mut set, &runners, 512), Vec::<u64>::new());
        assert_eq!(made.get(), 3, "three at once: the idle one and two new");
        gate.borrow_mut().extend([10, 11, 12]);
        let mut done = poll_once(&mut set, &runners, 512);
        done.sort();
        assert_eq!(done, vec![10, 11, 12]);
        for client in 20..23 {
            start(&runners, &mut set, make, job(client), None);
        }
        gate.borrow_mut().extend([20, 21, 22]);
        assert_eq!(poll_once(&mut set, &runners, 512).len(), 3);
        assert_eq!(made.get(), 3, "no new runner while three are idle");
    }

    #[test]
    fn a_poll_takes_at_most_its_share_and_the_rest_wait_for_the_next_one_untouched() {
        let gate = RefCell::new((0..10).collect::<Vec<u64>>());
        let runners = Runners::default();
        let mut set = FuturesUnordered::new();
        let flow = |j, _| gated(&gate, j);
        let make = |r| runner(&runners, r, flow);
        for client in 0..10 {
            start(&runners, &mut set, make, job(client), None);
        }
        let mut all = Vec::new();
        let mut polls = 0;
        while all.len() < 10 && polls < 20 {
            let batch = poll_once(&mut set, &runners, 4);
            assert!(batch.len() <= 4, "a batch of {}: {batch:?}", batch.len());
            all.extend(batch);
            polls += 1;
        }
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>(), "every completion taken, none twice");
        assert!(
            polls >= 3,
            "ten completions four at a time take three polls at least: {polls}"
        );
    }
}
