//! The grid of a map: `--vary PATH=V1,V2,…` sets the value at a profile path (as problems
//! name fields: `storm.waves[0].share`, `target.overlay.capacity`) in the profile's YAML
//! document, and each point is parsed and validated exactly as a file would be, so any
//! field can be varied without a table of fields. `--intensity` is an axis too (it
//! scales the storm of the parsed profile, see [`super::sweep::at_intensity`]).

use std::path::Path;
use std::str::FromStr;

use serde_yaml::Value;

use self::doc::{Seg, all_paths, child, near, scalar_text, segments, set, yaml_value};

use super::sweep::{IntensityError, at_intensity};
use crate::analysis::map::MapAxis;
use crate::profile::{Problem, Profile};
use crate::units::{Dur, Rate, Share};

mod doc;

/// Axes one map may have.
pub const MAX_AXES: usize = 2;
/// Points one map may have (each is `--seeds` whole runs).
pub const MAX_POINTS: usize = 100;

/// One axis as asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisSpec {
    Intensity(Vec<f64>),
    /// `--vary` as written, its path and its values.
    Field {
        spec: String,
        path: String,
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VaryError {
    #[error("--vary {0:?}: write PATH=V1,V2,… with at least one value, e.g. storm.waves[0].share=10%,20%,40%")]
    Syntax(String),
    #[error("--vary {spec:?}: `{value}` is given twice")]
    Twice { spec: String, value: String },
    #[error("{0} axes (--intensity counts as one): a map has at most {MAX_AXES}")]
    TooManyAxes(usize),
    #[error("{0} points: a map has at most {MAX_POINTS} (each is --seeds whole runs)")]
    TooManyPoints(usize),
    #[error("--vary {spec:?}: {path} is not in the profile{near}")]
    NoPath { spec: String, path: String, near: String },
    #[error("--vary {spec:?}: {path} is {kind}, not one value{fields}")]
    NotScalar {
        spec: String,
        path: String,
        kind: &'static str,
        fields: String,
    },
    #[error("--vary {spec:?}: {path}={value}: {why}")]
    Value {
        spec: String,
        path: String,
        value: String,
        why: String,
    },
    #[error("point {point}: {why}")]
    Point { point: String, why: String },
    #[error("the profile is not a YAML mapping: {0}")]
    Document(String),
}

/// `PATH=V1,V2,…`; values split at commas outside brackets (`uniform(6s, 30s)` is one).
pub fn parse_vary(spec: &str) -> Result<AxisSpec, VaryError> {
    let syntax = || VaryError::Syntax(spec.to_string());
    let (path, list) = spec.split_once('=').ok_or_else(syntax)?;
    let (path, mut values, mut depth, mut cur) = (path.trim(), Vec::new(), 0i32, String::new());
    for c in list.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                values.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    values.push(cur.trim().to_string());
    if path.is_empty() || values.iter().any(String::is_empty) || segments(path).is_none() {
        return Err(syntax());
    }
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(VaryError::Twice {
                spec: spec.to_string(),
                value: v.clone(),
            });
        }
    }
    Ok(AxisSpec::Field {
        spec: spec.to_string(),
        path: path.to_string(),
        values,
    })
}

/// A value's magnitude: a number, a share (`10%` → 0.1), a rate (per second) or a
/// duration (seconds).
pub fn magnitude(v: &str) -> Option<f64> {
    let t = v.trim().replace('_', "");
    t.parse::<f64>()
        .ok()
        .or_else(|| {
            t.ends_with('%')
                .then(|| Share::from_str(&t).ok().map(|s| s.0))
                .flatten()
        })
        .or_else(|| t.contains('/').then(|| Rate::from_str(&t).ok().map(|r| r.0)).flatten())
        .or_else(|| Dur::from_str(&t).ok().map(|d| d.0.as_secs_f64()))
        .filter(|x| x.is_finite())
}

fn problems(ps: &[Problem]) -> String {
    ps.iter()
        .map(|p| {
            if p.field.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.field, p.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One point of the grid, parsed and validated.
#[derive(Debug, Clone)]
pub struct Point {
    /// The index of its value on each axis.
    pub at: Vec<usize>,
    /// Its value on each axis, as written.
    pub values: Vec<String>,
    /// For a person: `share=10%, capacity=100/s`.
    pub label: String,
    /// For a folder name: `share=10pct_capacity=100per-s`.
    pub dir: String,
    pub intensity: f64,
    pub profile: Profile,
}

#[derive(Debug, Clone)]
pub struct Grid {
    pub axes: Vec<MapAxis>,
    /// Axis 1 outer, axis 2 inner.
    pub points: Vec<Point>,
}

fn safe(v: &str) -> String {
    v.chars()
        .flat_map(|c| match c {
            '%' => "pct".chars().collect::<Vec<_>>(),
            '/' => "per-".chars().collect(),
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') => vec![c],
            _ => vec!['_'],
        })
        .collect()
}

impl Grid {
    /// The one-dimensional sweep of `p` over `intensities`.
    pub fn intensities(p: &Profile, intensities: &[f64]) -> Result<Grid, Vec<VaryError>> {
        Grid::build(
            p,
            "",
            Path::new(""),
            &|_| None,
            vec![AxisSpec::Intensity(intensities.to_vec())],
        )
    }

    /// Every point of the grid of `axes` over the profile `base` (parsed from `text`, read
    /// from `file`), each validated as a hand-written profile; every problem, or the grid.
    pub fn build(
        base: &Profile,
        text: &str,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        axes: Vec<AxisSpec>,
    ) -> Result<Grid, Vec<VaryError>> {
        if axes.len() > MAX_AXES {
            return Err(vec![VaryError::TooManyAxes(axes.len())]);
        }
        let points: usize = axes
            .iter()
            .map(|a| match a {
                AxisSpec::Intensity(v) => v.len(),
                AxisSpec::Field { values, .. } => values.len(),
            })
            .product();
        if points > MAX_POINTS {
            return Err(vec![VaryError::TooManyPoints(points)]);
        }
        let has_fields = axes.iter().any(|a| matches!(a, AxisSpec::Field { .. }));
        let doc: Value = if has_fields {
            serde_yaml::from_str(text).map_err(|e| vec![VaryError::Document(e.to_string())])?
        } else {
            Value::Null
        };
        let parse = |d: &Value| -> Result<Profile, Vec<Problem>> {
            let t = serde_yaml::to_string(d).expect("a YAML value serializes");
            super::parse(&t, file, env).map_err(|e| e.problems)
        };
        let mut errors = Vec::new();
        let mut shown = Vec::new();
        let mut seg_of = Vec::new();
        for a in &axes {
            match a {
                AxisSpec::Intensity(ks) => {
                    let values: Vec<String> = ks.iter().map(|k| k.to_string()).collect();
                    // Alone, each intensity scales the profile as written; beside a
                    // field that may change the storm, each point is checked instead.
                    for k in ks.iter().filter(|_| !has_fields) {
                        if let Err(e) = at_intensity(base, *k) {
                            errors.push(VaryError::Point {
                                point: format!("intensity={k}"),
                                why: e.to_string(),
                            });
                        }
                    }
                    shown.push(MapAxis {
                        path: "intensity".into(),
                        relative: ks.iter().map(|k| Some(*k)).collect(),
                        values,
                        profile_value: Some("1".into()),
                    });
                    seg_of.push(None);
                }
                AxisSpec::Field { spec, path, values } => match field_axis(&doc, spec, path, values, &parse) {
                    Ok((axis, segs)) => {
                        shown.push(axis);
                        seg_of.push(Some(segs));
                    }
                    Err(mut e) => errors.append(&mut e),
                },
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let names: Vec<String> = shown
            .iter()
            .map(|a| {
                let leaf = a.path.rsplit('.').next().unwrap_or(&a.path);
                let leaf = &leaf[..leaf.find('[').unwrap_or(leaf.len())];
                let twice = shown.iter().filter(|b| b.path.ends_with(leaf)).count() > 1;
                if twice { a.path.clone() } else { leaf.to_string() }
            })
            .collect();
        let mut grid = Vec::new();
        let cols = shown[0].values.len();
        let rows = shown.get(1).map_or(1, |a| a.values.len());
        for i in 0..cols {
            for j in 0..rows {
                let at: Vec<usize> = if shown.len() > 1 { vec![i, j] } else { vec![i] };
                let values: Vec<String> = at.iter().zip(&shown).map(|(&k, a)| a.values[k].clone()).collect();
                let label = names
                    .iter()
                    .zip(&values)
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let dir = names
                    .iter()
                    .zip(&values)
                    .map(|(n, v)| format!("{}={}", safe(n), safe(v)))
                    .collect::<Vec<_>>()
                    .join("_");
                let mut d = doc.clone();
                let mut intensity = 1.0;
                for (idx, &k) in at.iter().enumerate() {
                    match (&seg_of[idx], &axes[idx]) {
                        (Some(segs), _) => {
                            set(&mut d, segs, yaml_value(&shown[idx].values[k]));
                        }
                        (None, AxisSpec::Intensity(ks)) => intensity = ks[k],
                        (None, AxisSpec::Field { .. }) => unreachable!("a field axis has its path"),
                    }
                }
                let profile = if has_fields { parse(&d) } else { Ok(base.clone()) };
                let profile = profile
                    .map_err(|ps| problems(&ps))
                    .and_then(|p| at_intensity(&p, intensity).map_err(|e: IntensityError| e.to_string()));
                match profile {
                    Ok(profile) => grid.push(Point {
                        at,
                        values,
                        label,
                        dir,
                        intensity,
                        profile,
                    }),
                    Err(why) => errors.push(VaryError::Point { point: label, why }),
                }
            }
        }
        if errors.is_empty() {
            Ok(Grid {
                axes: shown,
                points: grid,
            })
        } else {
            Err(errors)
        }
    }
}

type Parse<'a> = dyn Fn(&Value) -> Result<Profile, Vec<Problem>> + 'a;

/// One `--vary` axis checked against the document: the path is there (or a key its
/// parent may have), and each value alone makes a valid profile.
fn field_axis(
    doc: &Value,
    spec: &str,
    path: &str,
    values: &[String],
    parse: &Parse,
) -> Result<(MapAxis, Vec<Seg>), Vec<VaryError>> {
    let segs = segments(path).expect("checked by parse_vary");
    let no_path = || {
        vec![VaryError::NoPath {
            spec: spec.to_string(),
            path: path.to_string(),
            near: near(doc, path),
        }]
    };
    let mut at = Some(doc);
    for s in &segs {
        at = at.and_then(|v| child(v, s));
    }
    if let Some(v @ (Value::Mapping(_) | Value::Sequence(_))) = at {
        let mut fields = Vec::new();
        all_paths(v, path, &mut fields);
        fields.truncate(4);
        return Err(vec![VaryError::NotScalar {
            spec: spec.to_string(),
            path: path.to_string(),
            kind: crate::units::yaml_kind(v),
            fields: format!("; vary one of its fields, e.g. {}", fields.join(", ")),
        }]);
    }
    let profile_value = at.and_then(scalar_text);
    let mut errors = Vec::new();
    for v in values {
        let mut d = doc.clone();
        if !set(&mut d, &segs, yaml_value(v)) {
            return Err(no_path());
        }
        if let Err(ps) = parse(&d) {
            // The profile's own keys say `unknown field` at the path; the overlay's
            // settings say it at the parent, naming the key.
            let unknown = |p: &Problem| {
                (p.field == path && p.message.starts_with("unknown field"))
                    || path.rsplit_once('.').is_some_and(|(parent, key)| {
                        p.field == parent && p.message.starts_with(&format!("unknown field `{key}`"))
                    })
            };
            if ps.iter().any(unknown) {
                return Err(no_path());
            }
            errors.push(VaryError::Value {
                spec: spec.to_string(),
                path: path.to_string(),
                value: v.clone(),
                why: problems(&ps),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut values = values.to_vec();
    if values.iter().all(|v| magnitude(v).is_some()) {
        values.sort_by(|a, b| magnitude(a).unwrap_or(0.0).total_cmp(&magnitude(b).unwrap_or(0.0)));
    }
    let base = profile_value.as_deref().and_then(magnitude).filter(|b| *b != 0.0);
    // Rounded: 10% of 30% is 0.333333333, not 0.33333333333333337.
    let relative = values
        .iter()
        .map(|v| Some(((magnitude(v)? / base?) * 1e9).round() / 1e9))
        .collect();
    Ok((
        MapAxis {
            path: path.to_string(),
            values,
            profile_value,
            relative,
        },
        segs,
    ))
}

#[cfg(test)]
mod tests;
