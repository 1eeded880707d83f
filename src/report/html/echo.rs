//! The profile as the page echoes it: clean YAML, the way a person writes it. The report
//! keeps the profile as its raw types serialize (every field, absent ones as nulls,
//! every scalar as the text it was written as); echoed like that it read `seed: '3'`
//! and `cookies: null`. Here nulls and emptied sections go, numbers and booleans lose
//! their quotes, and the top-level sections come in the order of the profile reference
//! (fields inside a section in alphabetical order: the report does not keep the order
//! they were written in).

use serde_json::Value;
use serde_yaml::{Mapping, Value as Yaml};

/// The top-level sections in the order the README's profile reference lists them;
/// anything else follows in its own order.
const ORDER: [&str; 14] = [
    "name",
    "description",
    "seed",
    "target",
    "population",
    "time_scale",
    "baseline",
    "storm",
    "client",
    "observe",
    "slo",
    "gate",
    "abort",
    "sweep",
];

/// `profile` (report.json's) as clean YAML.
pub(super) fn profile_yaml(profile: &Value) -> String {
    let Some(Yaml::Mapping(m)) = clean(profile) else {
        return String::new();
    };
    let mut ordered = Mapping::new();
    for key in ORDER {
        if let Some(v) = m.get(key) {
            ordered.insert(Yaml::from(key), v.clone());
        }
    }
    for (k, v) in m {
        if !ordered.contains_key(&k) {
            ordered.insert(k, v);
        }
    }
    serde_yaml::to_string(&Yaml::Mapping(ordered)).unwrap_or_default()
}

/// A value without its nulls (None when nothing is left), scalars typed as YAML reads
/// them.
fn clean(v: &Value) -> Option<Yaml> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(Yaml::Bool(*b)),
        Value::Number(n) => serde_yaml::to_value(n).ok(),
        Value::String(s) => Some(scalar(s)),
        Value::Array(items) => Some(Yaml::Sequence(items.iter().filter_map(clean).collect())),
        Value::Object(fields) => {
            let m: Mapping = fields
                .iter()
                .filter_map(|(k, v)| Some((Yaml::from(k.as_str()), clean(v)?)))
                .collect();
            (!m.is_empty()).then_some(Yaml::Mapping(m))
        }
    }
}

/// Text that was written as a number or a boolean becomes one again; only when it
/// reads back exactly as written (`007`, `1e3` and `1_000` stay text as written).
fn scalar(s: &str) -> Yaml {
    match s {
        "true" => return Yaml::Bool(true),
        "false" => return Yaml::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>()
        && i.to_string() == s
    {
        return Yaml::from(i);
    }
    if let Ok(u) = s.parse::<u64>()
        && u.to_string() == s
    {
        return Yaml::from(u);
    }
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
        && f.to_string() == s
    {
        return Yaml::from(f);
    }
    Yaml::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unquoted_nulls_dropped_and_sections_ordered() {
        let raw = serde_json::json!({
            "storm": { "waves": [ { "at": "0s", "name": null, "share": "30%" } ], "trace": null },
            "seed": "21",
            "name": "ci-smoke",
            "slo": null,
            "client": { "cookies": null, "retry": { "policy": "none", "base": null, "honor_retry_after": "true" } },
            "population": { "simulate": "2000", "clients": "1_000_000", "ratio": "0.5", "code": "007" },
            "target": { "tls": { "ca": null } },
        });
        let y = profile_yaml(&raw);
        assert_eq!(
            y,
            "name: ci-smoke\nseed: 21\npopulation:\n  clients: 1_000_000\n  code: '007'\n  ratio: 0.5\n  simulate: 2000\nstorm:\n  waves:\n  - at: 0s\n    share: 30%\nclient:\n  retry:\n    honor_retry_after: true\n    policy: none\n"
        );
        assert!(!y.contains("null") && !y.contains("'21'"));
    }
}
