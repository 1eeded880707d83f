//! Figures that add: over windows into a run's totals, over engine threads, over the
//! shards of a distributed run. A struct of them is declared once with `tally!`, which
//! writes its `+=` too, so that a new counter cannot be forgotten in one of the sums.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How one figure adds another engine's (or window's) figure of the same kind.
pub trait Tally {
    fn tally(&mut self, other: &Self);
}

// Saturating: figures read back from reports (`merge`) may hold anything, and a sum
// that wraps would pass for a small count.
impl Tally for u64 {
    fn tally(&mut self, other: &u64) {
        *self = self.saturating_add(*other);
    }
}

impl Tally for u32 {
    fn tally(&mut self, other: &u32) {
        *self = self.saturating_add(*other);
    }
}

/// Examples in words, one per key: the first one seen stands.
impl Tally for BTreeMap<String, String> {
    fn tally(&mut self, other: &Self) {
        for (k, v) in other {
            self.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// Counts by name: each name's counts add.
impl Tally for BTreeMap<String, u64> {
    fn tally(&mut self, other: &Self) {
        for (k, v) in other {
            self.entry(k.clone()).or_default().tally(v);
        }
    }
}

/// Messages: all of them, in order.
impl Tally for Vec<String> {
    fn tally(&mut self, other: &Self) {
        self.extend(other.iter().cloned());
    }
}

/// Declares a struct whose every field is a [`Tally`], and its `+=` field by field.
macro_rules! tally {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl std::ops::AddAssign<&$name> for $name {
            fn add_assign(&mut self, other: &$name) {
                $( $crate::record::Tally::tally(&mut self.$field, &other.$field); )*
            }
        }

        impl $name {
            /// Writes the fields as map entries in declaration order, each under
            /// `rename(its Rust name)` (field-level serde attributes do not apply here).
            #[allow(dead_code)]
            pub fn serialize_entries<M: serde::ser::SerializeMap>(
                &self,
                map: &mut M,
                rename: impl Fn(&'static str) -> &'static str,
            ) -> Result<(), M::Error> {
                $( map.serialize_entry(rename(stringify!($field)), &self.$field)?; )*
                Ok(())
            }
        }
    };
}

pub(crate) use tally;

tally! {
    /// What happened to the clients' logins, counted. A window counts what was intended
    /// in it; a run's totals and the live progress add windows up.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(default)]
    pub struct Counts {
        /// Login attempts that were sent (first attempts + retries).
        pub attempts: u64,
        /// Attempts that began a login: a client that started wanting to log in.
        pub first_attempts: u64,
        pub retries: u64,
        pub logins_ok: u64,
        pub logins_failed: u64,
        /// Clients that gave up (max attempts or retry budget) after an attempt.
        /// (The run's totals call it `clients_gave_up`.)
        #[serde(alias = "clients_gave_up")]
        pub gave_up: u64,
        /// Attempts the client's adaptive throttle refused to send.
        pub throttled: u64,
        /// Attempts the engine could not start (its in-flight ceiling was reached).
        pub unstarted: u64,
        /// Attempts that failed in the generator itself (out of file descriptors or
        /// local ports: classes `fds`, `ports`): the target never saw them. Not counted
        /// as attempts or logins; their window is not judged.
        pub generator_failed: u64,
        pub reboots: u64,
        pub keepalives_ok: u64,
        pub keepalives_failed: u64,
        /// Sessions that a failed keepalive sent back to the login path.
        pub relogins: u64,
        /// 429/503 answers whose `Retry-After` could not be read (neither seconds nor
        /// an HTTP-date): ignored, the client's own backoff applied.
        pub retry_after_invalid: u64,
        /// `Retry-After` waits longer than the run's cap on them, cut to the cap.
        pub retry_after_capped: u64,
    }
}

impl Counts {
    /// The success rate: logins ok ÷ logins completed (ok + failed), None when none
    /// completed. The one computation behind every output's "success rate" (terminal,
    /// summary, thresholds and JUnit, the page, report.json, compare), over whatever
    /// windows were added up; [`crate::units::pct`] is its one rounding rule.
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.logins_ok + self.logins_failed;
        (done > 0).then(|| self.logins_ok as f64 / done as f64)
    }

    /// Every window's counts added up.
    pub fn sum<'a>(counts: impl IntoIterator<Item = &'a Counts>) -> Counts {
        let mut out = Counts::default();
        for c in counts {
            out += c;
        }
        out
    }
}

/// `Counts` as the run's totals write them: `gave_up` is `clients_gave_up` there (the
/// name report.json has always had). Reading takes either name.
pub mod as_totals {
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Counts;

    pub fn serialize<S: Serializer>(c: &Counts, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        c.serialize_entries(&mut m, |name| if name == "gave_up" { "clients_gave_up" } else { name })?;
        m.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Counts, D::Error> {
        Counts::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_field_by_field_and_totals_rename_gave_up() {
        let one = Counts {
            attempts: 3,
            gave_up: 1,
            relogins: 2,
            ..Counts::default()
        };
        let mut sum = one;
        sum += &one;
        assert_eq!((sum.attempts, sum.gave_up, sum.relogins), (6, 2, 4));

        #[derive(Serialize, Deserialize)]
        struct T {
            #[serde(flatten, with = "as_totals")]
            c: Counts,
        }
        let json = serde_json::to_value(T { c: one }).unwrap();
        assert_eq!(json["clients_gave_up"], 1);
        assert!(json.get("gave_up").is_none(), "{json}");
        let back: T = serde_json::from_value(json).unwrap();
        assert_eq!(back.c, one);
        let plain = serde_json::to_value(one).unwrap();
        assert_eq!(plain["gave_up"], 1);
    }
}
