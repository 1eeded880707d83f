//! The report as CI scripts read it: report.json against its schema.

use serde_json::{Value, json};
use strum::VariantArray;

use super::testkit::{gated, report};
use crate::outcome::Verdict;

fn schema() -> Value {
    serde_json::from_str(include_str!("report.schema.json")).expect("the schema is JSON")
}

/// Where `v` breaks the schema, one line each.
fn violations(v: &Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Breaks a report one way.
type Mutation = fn(&mut Value);

fn valid_report() -> Value {
    let r = gated(
        report(60, 45, "patch-tuesday", ""),
        &["login.p99 < 2ms", "verdict == recovered", "success_rate > 99%"],
    );
    serde_json::to_value(&r).unwrap()
}

#[test]
fn a_report_matches_its_schema() {
    let v = valid_report();
    assert_eq!(violations(&v), Vec::<String>::new());
    assert_eq!(v["thresholds"].as_array().unwrap().len(), 3);
}

#[test]
fn the_schema_names_every_verdict_and_nothing_else() {
    let names: Vec<&str> = Verdict::VARIANTS.iter().map(|v| v.as_str()).collect();
    assert_eq!(schema()["$defs"]["verdict"]["enum"], json!(names));
}

#[test]
fn the_schema_rejects_what_a_ci_script_would_misread() {
    let mutations: [(&str, Mutation); 9] = [
        ("a verdict that is no verdict", |v| {
            v["recovery"]["verdict"] = json!("bogus")
        }),
        ("no verdict", |v| {
            drop(v["recovery"].as_object_mut().unwrap().remove("verdict"))
        }),
        ("no recovery", |v| drop(v.as_object_mut().unwrap().remove("recovery"))),
        ("a null recovery", |v| v["recovery"] = Value::Null),
        ("a recovery time in words", |v| {
            v["recovery"]["recovery_time_ms"] = json!("35s")
        }),
        ("no thresholds", |v| {
            drop(v.as_object_mut().unwrap().remove("thresholds"))
        }),
        ("a threshold without `passed`", |v| {
            drop(v["thresholds"][0].as_object_mut().unwrap().remove("passed"))
        }),
        ("a threshold in furlongs", |v| {
            v["thresholds"][0]["unit"] = json!("furlongs")
        }),
        ("a threshold value in words", |v| {
            v["thresholds"][0]["value"] = json!("2.3ms")
        }),
    ];
    assert_eq!(violations(&valid_report()), Vec::<String>::new());
    for (what, break_it) in mutations {
        let mut v = valid_report();
        break_it(&mut v);
        assert!(!violations(&v).is_empty(), "the schema accepts {what}");
    }
}
