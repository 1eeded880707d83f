//! The whole run's figures, added up exactly from its windows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{HistError, HistSummary, Window, merge};

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct StepTotals {
    pub name: String,
    pub ok: u64,
    pub failed: u64,
    pub latency_ms: HistSummary,
    pub service_ms: HistSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Totals {
    pub attempts: u64,
    pub first_attempts: u64,
    pub retries: u64,
    pub logins_ok: u64,
    pub logins_failed: u64,
    pub clients_gave_up: u64,
    pub throttled: u64,
    pub unstarted: u64,
    pub relogins: u64,
    pub keepalives_ok: u64,
    pub keepalives_failed: u64,
    /// Attempts sent ÷ logins wanted (first attempts).
    pub retry_amplification: f64,
    pub outcomes: BTreeMap<String, u64>,
    pub latency_ms: HistSummary,
    pub service_ms: HistSummary,
    pub steps: Vec<StepTotals>,
}

impl Totals {
    /// Exact: counts add up, histograms are merged.
    pub fn of(windows: &[Window]) -> Result<Totals, HistError> {
        let mut t = Totals::default();
        for w in windows {
            t.attempts += w.attempts;
            t.first_attempts += w.first_attempts;
            t.retries += w.retries;
            t.logins_ok += w.logins_ok;
            t.logins_failed += w.logins_failed;
            t.clients_gave_up += w.gave_up;
            t.throttled += w.throttled;
            t.unstarted += w.unstarted;
            t.relogins += w.relogins;
            t.keepalives_ok += w.keepalives_ok;
            t.keepalives_failed += w.keepalives_failed;
            for (k, v) in &w.outcomes {
                *t.outcomes.entry(k.clone()).or_default() += v;
            }
        }
        t.retry_amplification = if t.first_attempts > 0 {
            t.attempts as f64 / t.first_attempts as f64
        } else {
            0.0
        };
        t.latency_ms = HistSummary::of(&merge(windows.iter().map(|w| &w.latency_ms))?);
        t.service_ms = HistSummary::of(&merge(windows.iter().map(|w| &w.service_ms))?);
        let names: Vec<String> = windows
            .iter()
            .find(|w| !w.steps.is_empty())
            .map(|w| w.steps.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        for (i, name) in names.into_iter().enumerate() {
            let steps: Vec<_> = windows.iter().filter_map(|w| w.steps.get(i)).collect();
            t.steps.push(StepTotals {
                name,
                ok: steps.iter().map(|s| s.ok).sum(),
                failed: steps.iter().map(|s| s.failed).sum(),
                latency_ms: HistSummary::of(&merge(steps.iter().map(|s| &s.latency_ms))?),
                service_ms: HistSummary::of(&merge(steps.iter().map(|s| &s.service_ms))?),
            });
        }
        Ok(t)
    }
}
