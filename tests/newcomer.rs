//! What a newcomer does with a login service of their own (README: "Storm your own
//! service in five minutes"): `init` a profile from a few flags, `validate` it, `try`
//! one login, then `run` the storm, all with the real binary against a small loopback
//! login service.

#[path = "common/login_service.rs"]
mod login_service;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use login_service::Users;

const PASSWORD: &str = "pw-7-hunter2";

/// A users.csv of 40 users; user1's (the first row's, the one `try` takes) is `PASSWORD`.
fn users_csv() -> String {
    let mut t = String::from("username,password\n");
    for i in 1..=40 {
        let pw = if i == 1 {
            PASSWORD.to_string()
        } else {
            format!("pw-{i}-secret")
        };
        t.push_str(&format!("user{i},{pw}\n"));
    }
    t
}

async fn serve(users: Arc<Users>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, login_service::router(users)).await });
    addr
}

/// Runs `stampede ARGS` in `dir` (off the runtime: the service answers meanwhile).
async fn stampede(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let (dir, args): (std::path::PathBuf, Vec<String>) = (dir.into(), args.iter().map(|s| s.to_string()).collect());
    let o: Output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_stampede"))
            .args(&args)
            .current_dir(&dir)
            .env_remove("STAMPEDE_ALLOW_TARGET")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (o.status.code().unwrap_or(-1), text(&o.stdout), text(&o.stderr))
}

fn init_args<'a>(url: &'a str, token: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "init",
        "--url",
        url,
        "--login",
        "POST /login",
        "--data",
        "users.csv",
        "--token-json",
        token,
        "--keepalive",
        "GET /me",
        "--duration",
        "6s",
        "--clients",
        "40",
        "-o",
        out,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_validate_try_and_run_against_ones_own_login_service() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("users.csv"), users_csv()).unwrap();
    let users = Arc::new(Users::from_csv(&users_csv()));
    let url = format!("http://{}", serve(users.clone()).await);

    let (code, out, err) = stampede(d, &init_args(&url, "/access_token", "my-service.yaml")).await;
    assert_eq!(code, 0, "{out}{err}");
    let profile = std::fs::read_to_string(d.join("my-service.yaml")).unwrap();
    assert!(
        profile.contains("# ") && profile.contains("docs/your-service.md"),
        "{profile}"
    );
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/your-service.md");
    assert!(
        std::fs::read_to_string(docs).is_ok_and(|t| t.contains("Storm your own service")),
        "the starter profile points at a page that tells its story"
    );
    let (code, _, err) = stampede(d, &init_args(&url, "/access_token", "my-service.yaml")).await;
    assert_eq!(code, 2, "init must not overwrite: {err}");
    assert!(err.contains("--force"), "{err}");

    let (code, out, err) = stampede(d, &["validate", "my-service.yaml"]).await;
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = stampede(d, &["try", "my-service.yaml"]).await;
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        &format!("→ POST {url}/login"),
        "\"username\": \"user1\"",
        "check `status` 200: got 200 (ok)",
        "capture `token` at /access_token: found (40 chars)",
        "authorization: Bearer {{token}}",
        "keepalive: ok",
        "\"username\":\"user1\"",
    ] {
        assert!(out.contains(want), "`{want}` not in\n{out}");
    }
    // The password and the token reached the service, and no output.
    let tokens = users.all_tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 1, "one login, one token");
    for secret in tokens.iter().map(String::as_str).chain([PASSWORD]) {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "`{secret}` shown:\n{out}{err}"
        );
    }
    assert!(out.contains("{{data.password}}"), "{out}");

    let (code, out, err) = stampede(d, &["try", "my-service.yaml", "--data-row", "41"]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--data-row 41") && err.contains("40 row(s)"), "{err}");

    let (code, out, err) = stampede(d, &init_args(&url, "/token", "wrong.yaml")).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = stampede(d, &["try", "wrong.yaml"]).await;
    assert_eq!(code, 1, "a capture that never matches fails the try: {out}{err}");
    assert!(
        out.contains(
            "capture `token` at /token: NOT FOUND: step `auth`: capture `token`: nothing at /token in the body"
        ),
        "{out}"
    );
    assert!(err.contains("try failed: login"), "{err}");
    // Nothing captured it, and still the token in the answer is not shown.
    assert!(
        out.contains(r#"{"access_token":"<masked: 40 chars>","token_type":"Bearer"}"#),
        "{out}"
    );
    for token in users.all_tokens.lock().unwrap().iter() {
        assert!(!out.contains(token.as_str()), "`{token}` shown:\n{out}");
    }
    assert!(!out.contains("keepalive:"), "no keepalive without a session: {out}");

    // The storm of that profile stops on its first logins, before the trigger, naming why.
    let (code, out, err) = stampede(d, &["run", "wrong.yaml", "-q", "--out", "wrong"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("stopped by the preflight guard")
            && err.contains(
                "all failed with `capture` (first capture: step `auth`: capture `token`: nothing at /token in the body)"
            ),
        "{err}"
    );
    assert!(out.contains("(stopped by the preflight guard)"), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("wrong/report.json")).unwrap()).unwrap();
    assert_eq!(report["stop_reason"], "preflight");
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let errors: Vec<String> = jsonschema::validator_for(&schema)
        .unwrap()
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the stopped run's report breaks its schema: {errors:?}"
    );
    assert_eq!(report["preflight"]["class"], "capture");
    let page = std::fs::read_to_string(d.join("wrong/report.html")).unwrap();
    assert!(
        page.contains("stopped by the preflight guard at ") && page.contains(": the first "),
        "the page says why it stopped"
    );
    assert!(
        report["preflight"]["logins"].as_u64().unwrap() >= 20,
        "{}",
        report["preflight"]
    );
    let trigger = report["plan"]["trigger_start_ms"].as_u64().unwrap();
    assert!(report["preflight"]["at_ms"].as_u64().unwrap() <= trigger, "{report:#}");
    // --no-preflight storms anyway: the whole run, its thresholds failed.
    let (code, out, err) = stampede(d, &["run", "wrong.yaml", "-q", "--no-preflight", "--out", "anyway"]).await;
    assert_eq!(code, 1, "{out}{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("anyway/report.json")).unwrap()).unwrap();
    assert_eq!(report["stop_reason"], "completed", "{out}{err}");
    assert!(report.get("preflight").is_none());

    let (code, out, err) = stampede(d, &["run", "my-service.yaml", "-q", "--out", "run"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("verdict: never-degraded") || out.contains("verdict: recovered"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/report.json")).unwrap()).unwrap();
    assert!(report["recovery"]["verdict"].is_string(), "{}", report["recovery"]);
    assert_eq!(report["stop_reason"], "completed", "the guard let a working flow storm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_sends_nothing_to_a_host_outside_loopback_unless_it_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("users.csv"), users_csv()).unwrap();
    // TEST-NET-1: never routed; refused before any connection, so the test never waits on it.
    let (code, out, err) = stampede(d, &init_args("http://192.0.2.1:8080", "/access_token", "far.yaml")).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = stampede(d, &["try", "far.yaml"]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("192.0.2.1") && err.contains("--allow-target"), "{err}");
    assert!(out.is_empty(), "nothing tried: {out}");
}
