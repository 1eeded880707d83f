//! Hostile profiles (issue #10): every one is refused with a placed problem (line,
//! field, the allowed range) or loads; none panics and none takes long.

use std::path::Path;
use std::time::{Duration, Instant};

use super::parse;
use crate::profile::{Profile, ProfileError, Vars};

const BASE: &str = r#"name: hostile
target: { nodes: ["http://127.0.0.1:9"] }
population: { clients: 3, simulate: 3 }
client:
  login:
    - { request: POST /login }
# extra
"#;

const LOGIN: &str = "    - { request: POST /login }";

enum Want {
    Loads,
}

fn load(text: &str, dir: &Path) -> Result<Profile, ProfileError> {
    parse(text, &dir.join("p.yaml"), &|_| None)
}

/// Runs every case, panics caught, and fails with the list of those that went wrong.
fn check_all(cases: &[(&str, String, Want)], dir: &Path) {
    let mut failed = Vec::new();
    for (label, text, want) in cases {
        let started = Instant::now();
        let got = std::panic::catch_unwind(|| load(text, dir));
        let took = started.elapsed();
        let verdict = match (got, want) {
            (Err(_), _) => Some("panicked".to_string()),
            (Ok(Ok(_)), Want::Loads) => None,
            (Ok(Err(e)), Want::Loads) => Some(format!("refused: {e}")),
        };
        let verdict = verdict.or_else(|| (took > Duration::from_secs(1)).then(|| format!("took {took:?}")));
        if let Some(v) = verdict {
            failed.push(format!("{label}: {v}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn step(flow: &str) -> String {
    BASE.replace(LOGIN, flow)
}

#[test]
fn non_ascii_text_and_a_bom_load() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("body é", step("    - { request: POST /login, body: 'é' }"), Want::Loads),
        (
            "emoji after a variable",
            step("    - { request: POST /login, body: '{{client}}😀' }"),
            Want::Loads,
        ),
        (
            "header value",
            step("    - { request: POST /login, headers: { x-who: '中{{client}}' } }"),
            Want::Loads,
        ),
        ("path", step("    - { request: 'POST /é/{{client}}/ü' }"), Want::Loads),
        ("leading BOM", format!("\u{feff}{BASE}"), Want::Loads),
    ];
    check_all(&cases, dir.path());
    let p = load(
        &step("    - { request: POST /login, body: '{{client}}😀' }"),
        dir.path(),
    )
    .unwrap();
    let vars = Vars {
        client: 7,
        attempt: 1,
        node: 0,
    };
    assert_eq!(p.client.login[0].body.as_ref().unwrap().render(vars), "7😀");
}
