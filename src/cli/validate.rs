//! `stampede validate` (alias `plan`): the storm's shape from the profile, nothing sent.

use std::path::Path;
use std::time::Instant;

use super::{CliError, load};
use crate::analysis::min_requests_reachable;
use crate::plan::Part as Shard;
use crate::profile::limits::{MAX_EVENTS, MAX_WINDOWS};
use crate::profile::{Arrivals, RetryKind};
use crate::report::terminal;
use crate::report::terminal::sparkline;
use crate::run::plan_for;
use crate::units::{Dur, format_duration};

pub(super) fn validate(path: &Path, shard: Option<Shard>, files: bool) -> Result<(), CliError> {
    let p = load(path)?;
    if files {
        for (_, f) in p.files() {
            out!("{}", f.display());
        }
        return Ok(());
    }
    let started = Instant::now();
    let plan = plan_for(&p, shard);
    let took = started.elapsed();
    let per_window = plan.logins_per_window(p.observe.window);
    let peak = per_window.iter().max().copied().unwrap_or(0) as f64 / p.observe.window.as_secs_f64();
    let first = plan.first_logins();
    out!("{}: valid", path.display());
    out!(
        "  {} — {}",
        p.name,
        if p.description.is_empty() {
            "(no description)"
        } else {
            &p.description
        }
    );
    out!(
        "  clients: {} rebooting in the storm + {} background logins (population {} modelled, {} simulated, 1 stands for {:.0})",
        terminal::thousands(plan.storm_clients as u64),
        terminal::thousands(plan.background_clients as u64),
        terminal::thousands(p.population.modelled),
        terminal::thousands(p.population.simulated as u64),
        p.population.weight()
    );
    out!(
        "  first attempts due: {} · peak {:.0}/s (per {} window)",
        terminal::thousands(first),
        peak,
        Dur(p.observe.window)
    );
    out!(
        "  trigger at {} · storm ends {} · sending stops {} (time scale {}×)",
        format_duration(plan.trigger_start),
        format_duration(plan.storm_end),
        format_duration(plan.end),
        p.time_scale
    );
    if let Some(c) = p.observe.confirm {
        out!(
            "  then, if not recovered: a confirmation probe of at most {} (retries and relogins silenced, {} baseline logins planned for it)",
            Dur(c),
            terminal::thousands(plan.probe.len() as u64)
        );
    }
    if let Some(w) = drain_line(&p) {
        out!("  {w}");
    }
    if let Some(w) = warmup_line(&p) {
        out!("  {w}");
    }
    if let Some(w) = files_line(&p, path) {
        out!("  {w}");
    }
    let r = &p.client.retry;
    let wait = match r.kind {
        RetryKind::None => None,
        RetryKind::Immediate => Some("immediate, no wait".to_string()),
        RetryKind::Fixed => Some(format!("fixed, every {}", Dur(r.base))),
        RetryKind::Exponential => Some(format!(
            "exponential, base {} cap {} jitter {}",
            Dur(r.base),
            Dur(r.cap),
            <&str>::from(r.jitter)
        )),
    };
    match wait {
        None => out!("  retry: none (one attempt per login)"),
        Some(w) => out!(
            "  retry: {w}, at most {} attempts{}",
            r.max_attempts,
            if r.honor_retry_after {
                format!(", honours Retry-After up to {}", Dur(r.retry_after_cap))
            } else {
                String::new()
            }
        ),
    }
    let rate = p.baseline.rate.per_sec();
    if !min_requests_reachable(rate, p.observe.window, p.slo.min_requests) {
        out!(
            "  warning: the baseline's {rate}/s gives {:.1} logins per {} window, below slo.min_requests ({}): \
             windows with only background traffic will not be judged, and a recovered target may read as \
             insufficient data; lengthen observe.window or lower slo.min_requests",
            rate * p.observe.window.as_secs_f64(),
            Dur(p.observe.window),
            p.slo.min_requests
        );
    }
    out!(
        "  {}",
        size_line(plan.events.len() as u64, per_window.len() as u64, p.baseline.arrivals)
    );
    for line in held_lines(&p, plan.background_clients as u64) {
        out!("  {line}");
    }
    for line in action_lines(&p, &plan) {
        out!("  {line}");
    }
    out!("  shape |{}|", sparkline(&per_window, 60));
    out!("  (plan built in {took:.2?}; nothing was sent)");
    Ok(())
}

/// What may come after sending stops: the target's drain watched, for at most
/// `analysis::drain::bound` (30 s, or three windows), when its scrape holds series of
/// outstanding work. None when nothing is scraped or none of the kept series is work.
/// Every command the profile would run (`storm.actions`), when, and whether it may.
fn action_lines(p: &crate::profile::Profile, plan: &crate::plan::Plan) -> Vec<String> {
    let sched = crate::run::actions::schedule(p, plan);
    if sched.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "actions: {} command{} on the target, run only with --allow-actions:",
        sched.len(),
        if sched.len() == 1 { "" } else { "s" }
    )];
    for (a, at) in sched {
        out.push(format!(
            "  at {} (run time {}, timeout {}): {}",
            Dur(a.at),
            format_duration(at),
            format_duration(a.timeout),
            a.shown_line()
        ));
    }
    out
}

fn drain_line(p: &crate::profile::Profile) -> Option<String> {
    use crate::analysis::drain::{bound, is_work};
    let m = p.target.metrics.as_ref()?;
    let at_most = Dur(bound(p.observe.window));
    if m.series.is_empty() {
        return Some(format!(
            "then: if the target's metrics hold series of outstanding work (a name with queue, in_flight, \
             pending or backlog), their drain is watched for at most {at_most} after sending stops"
        ));
    }
    let work: Vec<&str> = m.series.iter().map(String::as_str).filter(|s| is_work(s)).collect();
    (!work.is_empty()).then(|| {
        format!(
            "then: the target's drain ({}) is watched for at most {at_most} after sending stops",
            work.join(", ")
        )
    })
}

/// Who logs in before the clock starts: the online clients of a flow that holds a
/// session, or (warm-up off) a word that their first keepalives will log them in.
/// None when the flow holds no session or no client is online at the start.
/// The files the profile reads beside itself, relative to its folder where they are in
/// it: a ConfigMap or a shard host needs every one of them next to the profile.
fn files_line(p: &crate::profile::Profile, path: &Path) -> Option<String> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let files: Vec<String> = p
        .files()
        .into_iter()
        .map(|(field, f)| format!("{} ({field})", f.strip_prefix(dir).unwrap_or(&f).display()))
        .collect();
    (!files.is_empty()).then(|| {
        format!(
            "reads: {} — ship them with the profile (a ConfigMap: one --from-file each)",
            files.join(", ")
        )
    })
}

fn warmup_line(p: &crate::profile::Profile) -> Option<String> {
    let n = p.warmup_clients();
    if n > 0 {
        let rate = p.population.warmup.rate.0;
        return Some(format!(
            "warm-up: {} online clients log in before the clock starts, at most {rate}/s (about {}); not in the windows",
            terminal::thousands(n as u64),
            format_duration(std::time::Duration::from_secs_f64(n as f64 / rate))
        ));
    }
    let online = p.client.session.as_ref().is_some_and(|s| s.initially_online);
    let holds = p.client.cookies || p.client.login.iter().any(|s| !s.captures.is_empty());
    (online && holds && !p.population.warmup.enabled).then(|| {
        format!(
            "warm-up: off (population.warmup.enabled: false): the {} online clients hold no session and log in when their first keepalive is refused",
            terminal::thousands(p.population.simulated as u64)
        )
    })
}

/// A connected population: what each client holds, and whether the open-files limit
/// lets this process hold them all.
fn held_lines(p: &crate::profile::Profile, background: u64) -> Vec<String> {
    let Some(c) = p.client.session.as_ref().and_then(|s| s.connect.as_ref()) else {
        return Vec::new();
    };
    let hb = &c.heartbeat;
    let send = match &hb.send {
        crate::profile::HeartbeatSend::Ping => "a ping".to_string(),
        crate::profile::HeartbeatSend::Text(t) => format!("`{t}`"),
    };
    let mut lines = vec![format!(
        "held: every online client holds a WebSocket; {send} every {}, answered within {}; close codes {:?} log in again",
        format_duration(hb.every),
        format_duration(hb.expect_within),
        c.relogin_on
    )];
    if let Some(need) = crate::run::descriptors::needed(p, background) {
        let limit = crate::run::descriptors::limits().map_or("unknown".to_string(), |(_, h)| h.to_string());
        lines.push(format!(
            "descriptors: about {need} at the peak (hard limit on open files here: {limit})"
        ));
        if let Some(short) = crate::run::descriptors::shortfall(need) {
            lines.push(format!("WARNING: {short}"));
        }
    }
    lines
}

/// The plan's size against the budget validation holds it to, so that an ops engineer
/// sees how near a profile is to being refused.
fn size_line(events: u64, windows: u64, arrivals: Arrivals) -> String {
    format!(
        "plan: {} events ({:.1}% of the {} limit, 16 bytes each) · {} windows (limit {}) · background arrivals {}",
        terminal::thousands(events),
        events as f64 * 100.0 / MAX_EVENTS as f64,
        terminal::thousands(MAX_EVENTS),
        terminal::thousands(windows),
        terminal::thousands(MAX_WINDOWS),
        <&str>::from(arrivals)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warmup_line_says_who_logs_in_before_the_clock() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let p = crate::run::load(&dir.join("token-login.yaml")).unwrap();
        let line = warmup_line(&p).unwrap();
        assert!(
            line.contains("2,000 online clients log in before the clock starts, at most 2000/s (about 1s)"),
            "{line}"
        );
        let text = std::fs::read_to_string(dir.join("token-login.yaml")).unwrap();
        let off = text.replace("simulate: 2_000 }", "simulate: 2_000, warmup: { enabled: false } }");
        let p = crate::run::parse(&off, &dir.join("token-login.yaml"), &|_| None).unwrap();
        assert!(warmup_line(&p).unwrap().contains("warm-up: off"));
        assert_eq!(p.warmup_clients(), 0);
    }

    /// `validate` said nothing of the watch that can add 30 s after sending stops.
    #[test]
    fn the_drain_watch_is_announced_when_it_can_happen() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let p = crate::run::load(&dir.join("patch-tuesday-2007.yaml")).unwrap();
        let line = drain_line(&p).unwrap();
        assert!(line.contains("watched for at most 30s after sending stops"), "{line}");
        let p = crate::run::load(&dir.join("ci-smoke.yaml")).unwrap();
        assert_eq!(drain_line(&p), None, "nothing scraped, nothing watched");
    }

    #[test]
    fn the_size_line_gives_the_plan_against_its_limits() {
        assert_eq!(
            size_line(2_132, 25, Arrivals::Poisson),
            "plan: 2,132 events (0.0% of the 50,000,000 limit, 16 bytes each) · 25 windows (limit 100,000) · background arrivals poisson"
        );
        assert!(size_line(25_000_000, 99_000, Arrivals::Uniform).contains("(50.0% of the"));
        assert!(size_line(0, 1, Arrivals::Uniform).ends_with("arrivals uniform"));
    }
}
