//! What watches a run besides the caller's progress display: the metrics endpoint, the
//! window stream and the brake. All of them are fed from the progress path (snapshots
//! and closed windows), never from the engine's hot path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::RunOptions;
use super::abort::Brake;
use super::guard::Guard;
use super::metrics::Exporter;
use super::stream::Stream;
use crate::engine::{EngineOptions, Progress, Snapshot};
use crate::profile::Profile;
use crate::record::Window;

pub(super) struct Tee<'a> {
    pub inner: &'a mut dyn Progress,
    pub metrics: Option<Arc<Exporter>>,
    pub stream: Option<Arc<Mutex<Stream>>>,
    pub brake: Option<Brake>,
    pub guard: Option<Guard>,
}

impl<'a> Tee<'a> {
    /// The observers `opts` asks for around the caller's `progress`; with abort
    /// conditions or the preflight guard, the engine's stop becomes theirs too.
    /// `trigger`: the storm's start, before which the guard judges.
    pub fn new(
        p: &Profile,
        opts: &RunOptions,
        engine: &mut EngineOptions,
        trigger: Duration,
        progress: &'a mut dyn Progress,
    ) -> Tee<'a> {
        let stop = (!p.abort.is_empty() || opts.preflight.is_some()).then(|| {
            let (tx, rx) = stop_channel(engine.stop.take());
            engine.stop = Some(rx);
            tx
        });
        let brake = stop
            .clone()
            .filter(|_| !p.abort.is_empty())
            .map(|tx| Brake::new(p.abort.clone(), tx));
        let guard = stop
            .zip(opts.preflight)
            .map(|(tx, need)| Guard::new(need, trigger.as_millis() as u64, tx));
        if let Some(m) = &opts.metrics {
            m.set_slo(&p.slo);
            m.set_info(
                &p.name,
                p.seed,
                opts.shard.unwrap_or(crate::plan::Part::WHOLE),
                p.target.protocol(),
            );
        }
        Tee {
            inner: progress,
            metrics: opts.metrics.clone(),
            stream: opts.stream.clone(),
            brake,
            guard,
        }
    }
}

impl Progress for Tee<'_> {
    fn update(&mut self, s: &Snapshot) {
        self.inner.update(s);
        // The warm-up's logins are not the run's: the metrics start at time zero.
        if let Some(m) = &self.metrics
            && s.warmup.is_none()
        {
            m.update(s);
        }
    }

    fn countdown(&mut self, remaining: Duration) {
        self.inner.countdown(remaining);
    }

    fn window(&mut self, w: &Window) {
        self.inner.window(w);
        if let Some(m) = &self.metrics {
            m.window(w);
        }
        if let Some(s) = &self.stream {
            s.lock().unwrap_or_else(|e| e.into_inner()).window(w);
        }
        if let Some(b) = &mut self.brake {
            b.window(w);
        }
        if let Some(g) = &mut self.guard {
            g.window(w);
        }
    }
}

/// The stop the brake and the guard raise (to 1), and the one the engine must watch:
/// the caller's (Ctrl-C) passed through.
fn stop_channel(caller_stop: Option<watch::Receiver<u8>>) -> (Arc<watch::Sender<u8>>, watch::Receiver<u8>) {
    let (tx, rx) = watch::channel(0u8);
    let tx = Arc::new(tx);
    if let Some(mut outer) = caller_stop {
        let fwd = tx.clone();
        tokio::spawn(async move {
            while outer.changed().await.is_ok() {
                let level = *outer.borrow_and_update();
                fwd.send_if_modified(|l| {
                    let raise = level > *l;
                    if raise {
                        *l = level;
                    }
                    raise
                });
            }
        });
    }
    (tx, rx)
}
