//! The plan's budget, checked once every field is valid: the events the plan will hold
//! and the windows the run will keep, computed from the profile before anything is
//! generated (`PlanSize`), refused beyond the limits at the field that drives them.

use super::Validator;
use crate::profile::budget::{PlanSize, grouped};
use crate::profile::limits::{MAX_EVENTS, MAX_WINDOWS, WINDOW_BYTES};
use crate::profile::spec::{Profile, StormSource};
use crate::units::Dur;

impl Validator<'_> {
    pub(super) fn budget(&mut self, p: &Profile) {
        let size = PlanSize::of(p);
        let run = Dur(size.run);
        if size.events() > MAX_EVENTS as f64 {
            let limit = format!(
                "the limit is {} events per run (16 bytes each: {} MB)",
                grouped(MAX_EVENTS),
                MAX_EVENTS * 16 / 1_000_000
            );
            let storm = size.storm_events();
            if size.background >= storm as f64 {
                self.err_first(
                    &["baseline.rate", "baseline"],
                    format!(
                        "the plan holds {} background logins (baseline.rate {} × run length {run}) and {} storm events; {limit}: lower baseline.rate or shorten the run (baseline.duration, observe.until_recovered, observe.confirm)",
                        grouped(size.background as u64),
                        p.baseline.rate,
                        grouped(storm)
                    ),
                );
            } else {
                let (fields, fix): (&[&str], _) = match p.storm.source {
                    StormSource::Trace { .. } => (&["storm.trace"], "raise the trace's time step or thin it"),
                    _ => (
                        &["population.simulate", "storm.waves", "storm"],
                        "lower population.simulate or the waves' shares",
                    ),
                };
                let reboots = if size.reboots {
                    " (a reboot and a first login each)"
                } else {
                    ""
                };
                self.err_first(
                    fields,
                    format!(
                        "the plan holds {} storm events for {} storm clients{reboots} and {} background logins; {limit}: {fix}",
                        grouped(storm),
                        grouped(size.storm_clients),
                        grouped(size.background as u64)
                    ),
                );
            }
        }
        if size.windows > MAX_WINDOWS {
            let shortest = Dur::from_secs_f64((size.run.as_secs_f64() / MAX_WINDOWS as f64).max(0.001));
            self.err_first(
                &["observe.window", "observe.until_recovered", "observe", "baseline.duration", "storm"],
                format!(
                    "the run lasts up to {run} (baseline + storm ÷ time_scale + observe.until_recovered + observe.confirm): {} windows of {}; the limit is {} windows (each keeps its histograms, about {} KiB): lengthen observe.window to {shortest} or more, or shorten the run",
                    grouped(size.windows),
                    Dur(p.observe.window),
                    grouped(MAX_WINDOWS),
                    WINDOW_BYTES >> 10
                ),
            );
        }
    }

    /// A problem at the first of `fields` the document writes (a default has no line),
    /// else at the first.
    fn err_first(&mut self, fields: &[&str], message: String) {
        let field = fields
            .iter()
            .find(|f| self.lines.line(f).is_some())
            .unwrap_or(&fields[0]);
        self.err(field, message);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::profile::{Profile, ProfileError, parse};

    const BASE: &str =
        "name: b\ntarget: { nodes: [http://127.0.0.1:9] }\nclient:\n  login: [ { request: POST /login } ]\n";

    fn load(extra: &str) -> Result<Profile, ProfileError> {
        parse(&format!("{BASE}{extra}"), Path::new("b.yaml"), &|_| None)
    }

    /// The field, line and text of the problem expected; None: the profile loads.
    type Want = Option<(&'static str, usize, &'static str)>;

    #[test]
    fn plans_beyond_the_budget_are_refused_at_the_field_that_drives_them() {
        let session = "  session: { keepalive: { request: POST /k } }\n";
        let cases: Vec<(String, Want)> = vec![
            // ci-smoke at 1e7/s: 24 s of run.
            (
                "baseline: { duration: 5s, rate: 1e7/s }\nstorm: { waves: [ { share: 30%, spread: uniform(5s) } ], downtime: 'uniform(0s, 2s)' }\nobserve: { until_recovered: 12s }\n".into(),
                Some(("baseline.rate", 5, "240,000,001 background logins (baseline.rate 10000000/s × run length 24s)")),
            ),
            (
                "baseline: { rate: 1e7/s }\nobserve: { until_recovered: 1s }\n".into(),
                None,
            ),
            (
                "baseline:\n  rate: 25/s\n  duration: 100h\nobserve: { until_recovered: 100h }\n".into(),
                Some(("observe.window", 8, "720,001 windows of 1s; the limit is 100,000")),
            ),
            (
                "observe: { window: 10ms, until_recovered: 1h }\n".into(),
                Some(("observe.window", 5, "lengthen observe.window to 36ms or more")),
            ),
            (
                "observe: { window: 2s, until_recovered: 100h }\n".into(),
                Some(("observe.window", 5, "180,001 windows of 2s")),
            ),
            // Ten million clients with reboots plan (the README's figure): twenty million events.
            (
                "population: { clients: 10_000_000, simulate: 10_000_000 }\nstorm: { waves: [ { share: 100% } ] }\n".into(),
                None,
            ),
            (
                format!("{session}population: {{ simulate: 30000000 }}\nstorm: {{ waves: [ {{ share: 100% }} ] }}\n"),
                Some(("population.simulate", 6, "60,000,000 storm events for 30,000,000 storm clients (a reboot and a first login each)")),
            ),
            (
                "population: { simulate: 60000000 }\n".into(),
                Some(("population.simulate", 5, "at most 50000000")),
            ),
            (
                "population: { simulate: 4294967295 }\nstorm: { waves: [ { share: 0% } ] }\nbaseline: { rate: 1/s }\n".into(),
                Some(("population.simulate", 5, "at most 50000000")),
            ),
        ];
        let mut failed = Vec::new();
        for (extra, want) in &cases {
            let started = std::time::Instant::now();
            let got = load(extra);
            let slow = started.elapsed() > std::time::Duration::from_millis(500);
            let ok = match (&got, want) {
                (Ok(_), None) => true,
                (Err(e), Some((field, line, text))) => e
                    .problems
                    .iter()
                    .any(|p| p.field == *field && p.line == Some(*line) && p.message.contains(text)),
                _ => false,
            };
            if !ok || slow {
                failed.push(format!(
                    "{extra}→ {:?}",
                    got.map(|_| "loaded").map_err(|e| e.to_string())
                ));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }
}
