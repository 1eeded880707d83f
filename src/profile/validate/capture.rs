//! A step's `capture:` and `expect:` (status, JSON values, body text), and the data
//! file whose columns every step may use (`client.data`). A capture's
//! name becomes a template variable of every later step; the slot it gets is its place
//! in the order captures are declared.

use super::Validator;
use crate::profile::capture::{capture_regex, check_pointer};
use crate::profile::data::parse_csv;
use crate::profile::file::read_text;
use crate::profile::raw::{RawCapture, RawData, RawExpect, RawStatus};
use crate::profile::spec::DataOrder;
use crate::profile::{Capture, CaptureFrom, Checks, DataFile, limits};
use crate::units::Text;

/// Why a template in an `expect` check is refused: it would be compared as written, and
/// every login would fail `check` with the target blamed.
const NO_TEMPLATES: &str = "`{{...}}` and `${...}` are not expanded in `expect` checks: the answer would be \
compared with the text as written and every login would fail `check`; write the literal value expected";

/// Does an `expect` value hold a template (`{{name}}` or `${VAR}`)?
fn templated(text: &str) -> bool {
    text.contains("{{") || text.contains("${")
}

/// Names a capture may not take: the built-in template variables.
const BUILT_IN: [&str; 3] = ["client", "attempt", "node"];

impl Validator<'_> {
    /// The step's captures, each given a slot; a name captured again (a refreshed
    /// token, say) keeps its slot.
    pub(super) fn captures(
        &mut self,
        field: &str,
        raw: Option<&std::collections::BTreeMap<String, RawCapture>>,
    ) -> Vec<Capture> {
        let mut out = Vec::new();
        for (name, c) in raw.into_iter().flatten() {
            let f = format!("{field}.capture.{name}");
            let good_name = !name.is_empty() && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !good_name || BUILT_IN.contains(&name.as_str()) {
                self.err(
                    &f,
                    format!(
                        "`{name}` cannot name a capture: use letters, digits and `_`, and none of {}",
                        BUILT_IN.join(", ")
                    ),
                );
                continue;
            }
            let from = match (&c.json, &c.header, &c.regex) {
                (Some(p), None, None) => check_pointer(p)
                    .map(|()| CaptureFrom::Json(p.clone()))
                    .map_err(|e| (format!("{f}.json"), e)),
                (None, Some(h), None) => http::header::HeaderName::from_bytes(h.trim().as_bytes())
                    .map(CaptureFrom::Header)
                    .map_err(|_| (format!("{f}.header"), format!("`{h}` is not a header name"))),
                (None, None, Some(r)) => capture_regex(r)
                    .map(CaptureFrom::Regex)
                    .map_err(|e| (format!("{f}.regex"), e)),
                _ => Err((
                    f.clone(),
                    "say where the value is with exactly one of `json: /pointer`, `header: name`, `regex: '...(value)...'`"
                        .to_string(),
                )),
            };
            let slot = match self.slots.iter().position(|s| s == name) {
                Some(i) => i,
                None => {
                    self.slots.push(name.clone());
                    self.slots.len() - 1
                }
            };
            // A capture whose source is wrong is still a name the later steps may use:
            // one problem, at its line, not one "unknown variable" per use.
            match from {
                Ok(from) => out.push(Capture {
                    name: name.clone(),
                    slot,
                    from,
                }),
                Err((at, e)) => self.err(&at, e),
            }
        }
        out
    }

    /// The statuses a step accepts and the checks of its body.
    pub(super) fn expect(&mut self, field: &str, raw: Option<&RawExpect>, default: &[u16]) -> (Vec<u16>, Checks) {
        let statuses = |v: &mut Self, f: &str, one: Option<&Text>, many: Option<&[Text]>| -> Vec<u16> {
            match (one, many) {
                (Some(t), _) => vec![v.status(f, t)],
                (None, Some(ts)) => ts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| v.status(&format!("{f}[{i}]"), t))
                    .collect(),
                (None, None) => default.to_vec(),
            }
        };
        match raw {
            None => (default.to_vec(), Checks::default()),
            Some(RawExpect::One(t)) => (statuses(self, field, Some(t), None), Checks::default()),
            Some(RawExpect::Many(ts)) => (statuses(self, field, None, Some(ts)), Checks::default()),
            Some(RawExpect::Checks(c)) => {
                let f = format!("{field}.status");
                let status = match &c.status {
                    None => default.to_vec(),
                    Some(RawStatus::One(t)) => statuses(self, &f, Some(t), None),
                    Some(RawStatus::Many(ts)) => statuses(self, &f, None, Some(ts)),
                };
                let mut json = Vec::new();
                for (p, want) in c.json.iter().flatten() {
                    match check_pointer(p) {
                        Ok(()) if templated(&want.to_string()) => {
                            self.err(&format!("{field}.json.{p}"), NO_TEMPLATES);
                        }
                        Ok(()) => json.push((p.clone(), want.clone())),
                        Err(e) => self.err(&format!("{field}.json.{p}"), e),
                    }
                }
                if c.body_contains.as_deref() == Some("") {
                    self.err(&format!("{field}.body_contains"), "an empty text is in every body");
                }
                if c.body_contains.as_deref().is_some_and(templated) {
                    self.err(&format!("{field}.body_contains"), NO_TEMPLATES);
                }
                let checks = Checks {
                    json,
                    body_contains: c.body_contains.clone().filter(|b| !b.is_empty()),
                };
                (status, checks)
            }
        }
    }
}

impl Validator<'_> {
    /// `client.data`: read, parsed and given the first slots, before any step, so that
    /// every step may use its columns.
    pub(super) fn data(&mut self, raw: Option<&RawData>, seed: u64) -> Option<DataFile> {
        let (file, order) = match raw? {
            RawData::File(f) => (f.clone(), None),
            RawData::Spec { file, order } => (file.clone(), order.clone()),
        };
        let order = self.choice("client.data.order", &order, DataOrder::InOrder);
        let path = self.named_file("client.data", &file, "data files")?;
        let text = match read_text(&path, limits::DATA_BYTES) {
            Ok(t) => t,
            Err(e) => {
                self.err("client.data", e);
                return None;
            }
        };
        let shuffled = (order == DataOrder::Shuffle).then_some(seed);
        let data = match parse_csv(&file, &text, shuffled) {
            Ok(d) => d,
            Err(e) => {
                self.err("client.data", format!("{}:{e}", path.display()));
                return None;
            }
        };
        self.slots.extend(data.columns.iter().map(|c| format!("data.{c}")));
        Some(data)
    }
}
