//! The profile's YAML document addressed by the paths problems name fields by:
//! `storm.waves[0].share` is storm, waves, 0, share.

use serde_yaml::Value;

use crate::profile::near::edits;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// `storm.waves[0].share` → storm, waves, 0, share.
pub(super) fn segments(path: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if name.is_empty() {
            return None;
        }
        out.push(Seg::Key(name.to_string()));
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Seg::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

pub(super) fn child<'a>(v: &'a Value, s: &Seg) -> Option<&'a Value> {
    match s {
        Seg::Key(k) => v.as_mapping()?.get(k.as_str()),
        Seg::Index(i) => v.as_sequence()?.get(*i),
    }
}

/// Sets `path` to `value` in `doc`: every step but the last must exist; the last may be
/// a key the profile leaves to its default. False when the path does not lead there.
pub(super) fn set(doc: &mut Value, path: &[Seg], value: Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut v = doc;
    for s in parents {
        let next = match s {
            Seg::Key(k) => v.as_mapping_mut().and_then(|m| m.get_mut(k.as_str())),
            Seg::Index(i) => v.as_sequence_mut().and_then(|q| q.get_mut(*i)),
        };
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    match (last, v) {
        (Seg::Key(k), Value::Mapping(m)) => {
            m.insert(Value::String(k.clone()), value);
            true
        }
        (Seg::Index(i), Value::Sequence(q)) if *i < q.len() => {
            q[*i] = value;
            true
        }
        _ => false,
    }
}

/// Every path in `doc`, to suggest the nearest to one that is not there.
pub(super) fn all_paths(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, c) in m {
                let Some(k) = k.as_str() else { continue };
                let p = if at.is_empty() {
                    k.to_string()
                } else {
                    format!("{at}.{k}")
                };
                out.push(p.clone());
                all_paths(c, &p, out);
            }
        }
        Value::Sequence(q) => {
            for (i, c) in q.iter().enumerate() {
                let p = format!("{at}[{i}]");
                out.push(p.clone());
                all_paths(c, &p, out);
            }
        }
        _ => {}
    }
}

pub(super) fn near(doc: &Value, path: &str) -> String {
    let mut paths = Vec::new();
    all_paths(doc, "", &mut paths);
    paths.sort_by_key(|p| (edits(path, p), p.len()));
    paths.truncate(3);
    if paths.is_empty() {
        String::new()
    } else {
        format!("; nearest: {}", paths.join(", "))
    }
}

pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as a profile would hold it: `300` a number, `10%` a string.
pub(super) fn yaml_value(v: &str) -> Value {
    serde_yaml::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()))
}
