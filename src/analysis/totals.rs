//! The whole run's figures, added up exactly from its windows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{Counts, HistError, HistSummary, Window, as_totals, merge};

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
    /// Every window's counts added up. Written inline, `gave_up` as `clients_gave_up`.
    #[serde(flatten, with = "as_totals")]
    pub counts: Counts,
    /// Logins ok ÷ logins completed over the whole run ([`Counts::success_rate`]); None
    /// when no login completed. What every output calls the success rate.
    #[serde(default)]
    pub success_rate: Option<f64>,
    /// Attempts sent ÷ logins wanted (first attempts), over the whole run. Not named
    /// `retry_amplification`: that figure, of thresholds and verdicts, is the
    /// recovery's, from the trigger on, and one name in report.json has one meaning.
    /// (Reports written before the rename called this one so too: still read.)
    #[serde(alias = "retry_amplification")]
    pub attempts_per_client: f64,
    pub outcomes: BTreeMap<String, u64>,
    pub latency_ms: HistSummary,
    pub service_ms: HistSummary,
    pub steps: Vec<StepTotals>,
    /// The waits the target asked for with `Retry-After`, over the whole run.
    #[serde(default)]
    pub retry_after_ms: HistSummary,
    /// A connected population's figures (`client.session.connect`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<super::held::HeldTotals>,
    /// An HTTP/2 run's connections, over the whole run; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h2: Option<crate::record::H2Window>,
}

impl Totals {
    /// Exact: counts add up, histograms are merged.
    pub fn of(windows: &[Window]) -> Result<Totals, HistError> {
        let mut t = Totals::default();
        for w in windows {
            t.counts += &w.counts;
            for (k, v) in &w.outcomes {
                *t.outcomes.entry(k.clone()).or_default() += v;
            }
        }
        let c = &t.counts;
        t.success_rate = c.success_rate();
        t.attempts_per_client = if c.first_attempts > 0 {
            c.attempts as f64 / c.first_attempts as f64
        } else {
            0.0
        };
        t.latency_ms = HistSummary::of(&merge(windows.iter().map(|w| &w.latency_ms))?);
        t.service_ms = HistSummary::of(&merge(windows.iter().map(|w| &w.service_ms))?);
        t.retry_after_ms = HistSummary::of(&merge(windows.iter().map(|w| &w.retry_after_ms))?);
        t.held = super::held::HeldTotals::of(windows)?;
        for h in windows.iter().filter_map(|w| w.h2.as_ref()) {
            *t.h2.get_or_insert_default() += h;
        }
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
