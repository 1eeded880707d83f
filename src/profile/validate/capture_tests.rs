//! Captures and checks as a profile writes them: where a captured name is known, and
//! every mistake placed at its line and field.

use std::path::Path;

use super::parse;
use crate::profile::CaptureFrom;

fn no_env(_: &str) -> Option<String> {
    None
}

fn profile(client: &str) -> String {
    format!(
        r#"name: flows
target: {{ nodes: [http://127.0.0.1:8080] }}
population: {{ clients: 10, simulate: 10 }}
baseline: {{ duration: 1s, rate: 1/s }}
client:
{client}
"#
    )
}

const GOOD: &str = r#"  login:
    - name: auth
      request: POST /login
      capture:
        token: { json: /access_token }
        loc: { header: location }
        sid: { regex: 'sid=([a-z0-9]+)' }
      expect: { status: [200, 201], json: { /ok: true }, body_contains: welcome }
    - name: join
      request: POST /join/{{sid}}
      headers: { authorization: 'Bearer {{token}}' }
      expect: [200, 204]
  session:
    keepalive: { request: 'POST /keepalive', headers: { authorization: 'Bearer {{token}}' } }
  on_reboot:
    - { request: 'POST /logout', body: '{"t":"{{token}}"}' }"#;

#[test]
fn captures_become_variables_of_later_steps() {
    let p = parse(&profile(GOOD), Path::new("p.yaml"), &no_env).unwrap_or_else(|e| panic!("{e}"));
    // A step's captures take their slots in name order (the mapping is sorted).
    assert_eq!(p.client.captures, vec!["loc", "sid", "token"]);
    let auth = &p.client.login[0];
    assert_eq!(auth.expect, vec![200, 201]);
    assert_eq!(auth.checks.json, vec![("/ok".to_string(), serde_json::json!(true))]);
    assert_eq!(auth.checks.body_contains.as_deref(), Some("welcome"));
    assert!(matches!(auth.captures[0].from, CaptureFrom::Header(_)));
    assert_eq!(auth.captures[2].slot, 2);
    assert!(auth.keeps_body() && auth.keeps_head());
    let join = &p.client.login[1];
    assert_eq!(join.expect, vec![200, 204]);
    assert!(!join.keeps_body() && !join.keeps_head() && join.checks.is_empty());
}

#[test]
fn a_name_no_earlier_step_captures_is_a_placed_error() {
    let bad = profile(
        r#"  login:
    - name: auth
      request: POST /login/{{token}}
      capture: { token: { json: /access_token } }
    - name: join
      request: POST /join
      headers: { x-sid: '{{sid}}' }"#,
    );
    let e = parse(&bad, Path::new("p.yaml"), &no_env).unwrap_err().to_string();
    assert!(e.contains("p.yaml:8: client.login[0].request"), "{e}");
    assert!(e.contains("`{{token}}`"), "{e}");
    assert!(
        e.contains("client.login[1].headers.x-sid") && e.contains("`{{sid}}`"),
        "{e}"
    );
}

#[test]
fn bad_captures_and_checks_are_placed() {
    let bad = profile(
        r#"  login:
    - name: auth
      request: POST /login
      capture:
        a: { regex: 'sid=[a-z]+' }
        b: { json: access_token }
        c: { json: /x, header: location }
        client: { json: /x }
      expect: { status: 700, json: { ok: true } }"#,
    );
    let e = parse(&bad, Path::new("p.yaml"), &no_env).unwrap_err().to_string();
    for want in [
        "client.login[0].capture.a.regex: the regex needs exactly one group",
        "client.login[0].capture.b.json: `access_token` is not a JSON Pointer",
        "client.login[0].capture.c: say where the value is with exactly one",
        "client.login[0].capture.client: `client` cannot name a capture",
        "client.login[0].expect.status: `700` is not an HTTP status",
        "client.login[0].expect.json.ok: `ok` is not a JSON Pointer",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
}

fn with_data(csv: Option<&str>, data: &str, body: &str) -> Result<crate::profile::Profile, String> {
    let dir = tempfile::tempdir().unwrap();
    if let Some(csv) = csv {
        std::fs::write(dir.path().join("users.csv"), csv).unwrap();
    }
    let text = profile(&format!(
        "  data: {data}\n  login:\n    - {{ name: auth, request: POST /login, body: '{body}' }}"
    ));
    parse(&text, &dir.path().join("p.yaml"), &no_env).map_err(|e| e.to_string())
}

#[test]
fn data_columns_are_variables_and_their_problems_are_placed() {
    let body = r#"{"u":"{{data.username}}","p":"{{data.password}}"}"#;
    let p = with_data(Some("username,password\nann,pw1\nbob,pw2\n"), "users.csv", body).unwrap();
    let d = p.client.data.as_ref().unwrap();
    assert_eq!((d.file.as_str(), d.rows), ("users.csv", 2));
    assert_eq!(p.client.captures, vec!["data.username", "data.password"]);
    let e = with_data(Some("username\nann\n"), "users.csv", body).unwrap_err();
    assert!(
        e.contains("p.yaml:8: client.login[0].body") && e.contains("`{{data.password}}`"),
        "{e}"
    );
    let e = with_data(None, "users.csv", body).unwrap_err();
    assert!(e.contains("p.yaml:6: client.data: cannot read"), "{e}");
    let e = with_data(Some("username,password\nann\n"), "users.csv", body).unwrap_err();
    assert!(e.contains("users.csv:line 2:"), "{e}");
    let e = with_data(
        Some("username,password\n"),
        "{ file: users.csv, order: sideways }",
        body,
    )
    .unwrap_err();
    assert!(
        e.contains("client.data.order") && e.contains("no row below the header"),
        "{e}"
    );
}

/// `data: /proc/self/environ` (or `~/.git-credentials`) printed the file's first line as
/// the known columns; a file outside the profile's folder is now refused unless the
/// operator named its folder, and a header that names no columns is never shown.
#[test]
fn a_data_file_outside_the_profiles_folder_needs_the_operators_permission() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("creds");
    std::fs::write(&secret, "https://ann:hunter2@git.example\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("link.csv")).unwrap();
    let body = "{{data.nothing}}";
    for data in [
        secret.display().to_string(),
        "link.csv".into(),
        "/proc/self/environ".into(),
    ] {
        let text = profile(&format!(
            "  data: {data}\n  login:\n    - {{ name: auth, request: POST /login, body: '{body}' }}"
        ));
        let e = parse(&text, &dir.path().join("p.yaml"), &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("outside the profile's folder") && e.contains("STAMPEDE_DATA_DIRS"),
            "{e}"
        );
        assert!(!e.contains("hunter2") && !e.contains("PATH"), "{e}");
    }
    // Named by the operator: read, and its header (no column names) still not shown.
    let allowed = outside.path().display().to_string();
    let env = move |k: &str| (k == "STAMPEDE_DATA_DIRS").then(|| allowed.clone());
    let text = profile(&format!(
        "  data: {}\n  login:\n    - {{ name: auth, request: POST /login, body: '{body}' }}",
        secret.display()
    ));
    let e = parse(&text, &dir.path().join("p.yaml"), &env).unwrap_err().to_string();
    assert!(e.contains("no usable name") && !e.contains("hunter2"), "{e}");
}

/// A regex that does not compile was one problem over several lines (the later ones
/// without file:line) and then "unknown template variable" at every use of its capture.
#[test]
fn a_regex_that_does_not_compile_is_one_placed_problem_on_one_line() {
    let bad = profile(
        r#"  login:
    - name: auth
      request: POST /login
      capture: { sid: { regex: 'sid=([a-z' } }
    - { name: join, request: 'POST /join?s={{sid}}', headers: { x-sid: "{{sid}}" }, body: "{{sid}}" }"#,
    );
    let e = parse(&bad, Path::new("p.yaml"), &no_env).unwrap_err();
    assert_eq!(e.problems.len(), 1, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("p.yaml:9: client.login[0].capture.sid.regex: the regex does not compile"),
        "{text}"
    );
    for line in text.lines().skip(1) {
        assert!(
            line.trim_start().starts_with("p.yaml:"),
            "a line without its place: {line:?}"
        );
    }
}

/// Issue #24, item 5: a template in an `expect` check passed `validate` and was compared
/// literally, so every login failed `check` and the report blamed the target.
#[test]
fn a_template_in_an_expect_check_is_refused_with_the_reason() {
    let text = profile(
        r#"  login:
    - name: me
      request: GET /me
      expect: { json: { /username: "{{client}}", /ok: true }, body_contains: "${WHO}" }"#,
    );
    let e = parse(&text, Path::new("p.yaml"), &|_| Some("x".into()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("client.login[0].expect.json./username: `{{...}}` and `${...}` are not expanded in `expect` checks"),
        "{e}"
    );
    assert!(e.contains("client.login[0].expect.body_contains: `{{...}}`"), "{e}");
    assert!(!e.contains("/ok"), "a literal check is fine: {e}");
}

/// Issue #24, item 6: a missing data file was one problem and then an "unknown template
/// variable" at every use of its columns.
#[test]
fn a_missing_data_file_is_one_problem_not_a_cascade() {
    let text = profile(
        r#"  data: absent.csv
  login:
    - { name: auth, request: POST /login, body: '{"u": "{{data.user}}", "p": "{{data.password}}"}', headers: { x-u: "{{data.user}}" } }
    - { name: me, request: 'GET /me?c={{nope}}' }"#,
    );
    let e = parse(&text, Path::new("p.yaml"), &no_env).unwrap_err();
    let fields: Vec<&str> = e.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["client.data", "client.login[1].request"],
        "only the file, and a name that is no column: {e}"
    );
}
