//! Secrets stay templates in every output: a `${VAR}` in a node URL (path, host or port)
//! or the overlay's admin_token is used expanded and shown as written, in the report, the
//! page, the interval log, JUnit, the summary, the terminal and the errors.

mod common;

use std::process::Command;

use common::{Script, profile_file, serve};

const SECRET: &str = "s3cr3t-7f9a2c";

fn profile(node: &str) -> String {
    format!(
        r#"
name: secret
target: {{ nodes: ["{node}"], timeout: 1s }}
population: {{ simulate: 50 }}
storm: {{ waves: [ {{ share: 100%, spread: "uniform(300ms)" }} ] }}
client: {{ login: [ {{ request: POST /login }} ] }}
observe: {{ window: 250ms, until_recovered: 250ms }}
gate: [ "success_rate > 99%" ]
"#
    )
}

fn all_text(dir: &std::path::Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_text(&p, out);
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_in_a_node_url_reaches_the_target_and_no_output() {
    let t = serve(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = profile_file(dir.path(), &profile(&format!("http://{}/t/${{SECRET_TOKEN}}", t.addr)));
    let (out, junit, summary) = (
        dir.path().join("out"),
        dir.path().join("junit.xml"),
        dir.path().join("summary.md"),
    );
    let o = tokio::task::spawn_blocking({
        let (path, out, junit, summary) = (path.clone(), out.clone(), junit.clone(), summary.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_stampede"))
                .arg("run")
                .arg(&path)
                .arg("--out")
                .arg(&out)
                .arg("--junit")
                .arg(&junit)
                .arg("--summary")
                .arg(&summary)
                .env("SECRET_TOKEN", SECRET)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let mut text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        t.requests.load(std::sync::atomic::Ordering::Relaxed) >= 50,
        "the storm was sent"
    );
    all_text(dir.path(), &mut text);
    assert!(text.contains("${SECRET_TOKEN}"), "the template is what is shown");
    assert!(!text.contains(SECRET), "the secret leaked into an output");

    // The error of a node that does not answer.
    let path = profile_file(dir.path(), &profile("http://127.0.0.1:1/t/${SECRET_TOKEN}"));
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out2"))
        .env("SECRET_TOKEN", SECRET)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("${SECRET_TOKEN}") && !err.contains(SECRET), "{err}");

    // A node URL that does not parse: the problem quotes the template.
    let path = profile_file(dir.path(), &profile("http://${SECRET_TOKEN}@127.0.0.1:1/"));
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .arg("validate")
        .arg(&path)
        .env("SECRET_TOKEN", SECRET)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("credentials") && !err.contains(SECRET), "{err}");
}

const TOKEN: &str = "tok-9d41e8b7c2";
const PASSWORD: &str = "pw-5c0ffee77";

/// Answers a token to every login, and fails a check or a capture for some users, so
/// that failure examples are written too.
async fn token_login(body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let u = v["u"].as_str().unwrap_or("").to_string();
    let answer = match u.trim_start_matches("user").parse::<u32>().unwrap_or(0) % 5 {
        0 => format!(r#"{{"ok":false,"access_token":"{TOKEN}{u}"}}"#),
        1 => format!(r#"{{"ok":true,"other":"{TOKEN}{u}"}}"#),
        _ => format!(r#"{{"ok":true,"access_token":"{TOKEN}{u}"}}"#),
    };
    answer.into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_tokens_and_data_values_reach_no_output() {
    let app = axum::Router::new()
        .route("/login", axum::routing::post(token_login))
        .route("/join", axum::routing::post(|| async { "ok" }));
    let addr = common::serve_app(app).await;
    // The profile and its data file live apart from the outputs searched.
    let input = tempfile::tempdir().unwrap();
    let mut csv = String::from("username,password\n");
    for i in 0..10 {
        csv.push_str(&format!("user{i},{PASSWORD}{i}\n"));
    }
    std::fs::write(input.path().join("users.csv"), csv).unwrap();
    let path = profile_file(
        input.path(),
        &format!(
            r#"
name: secret-flow
target: {{ nodes: ["http://{addr}"], timeout: 1s }}
population: {{ simulate: 50 }}
storm: {{ waves: [ {{ share: 100%, spread: "uniform(300ms)" }} ] }}
client:
  data: users.csv
  retry: {{ policy: none }}
  login:
    - name: auth
      request: POST /login
      body: '{{"u":"{{{{data.username}}}}","p":"{{{{data.password}}}}"}}'
      capture: {{ token: {{ json: /access_token }} }}
      expect: {{ status: 200, json: {{ /ok: true }} }}
    - {{ name: join, request: 'POST /join?t={{{{token}}}}', headers: {{ authorization: "Bearer {{{{token}}}}" }} }}
observe: {{ window: 250ms, until_recovered: 250ms }}
"#
        ),
    );
    let out = tempfile::tempdir().unwrap();
    let o = tokio::task::spawn_blocking({
        let (path, dir) = (path.clone(), out.path().to_path_buf());
        move || {
            Command::new(env!("CARGO_BIN_EXE_stampede"))
                .arg("run")
                .arg(&path)
                .arg("--out")
                .arg(dir.join("out"))
                .arg("--junit")
                .arg(dir.join("junit.xml"))
                .arg("--summary")
                .arg(dir.join("summary.md"))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let mut text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    all_text(out.path(), &mut text);
    // The run did what leaks could come from: captures, and both kinds of miss.
    assert!(text.contains("capture") && text.contains("check"), "{text}");
    // The data file and the captures by name and count, in the report, the summary
    // and the page.
    let flow = "data: users.csv, 10 rows · captures: token";
    assert!(String::from_utf8_lossy(&o.stdout).contains(flow), "{text}");
    let page = std::fs::read_to_string(out.path().join("out/report.html")).unwrap();
    assert!(page.contains(flow), "the page names the flow's inputs");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(
        report["plan"]["data"],
        serde_json::json!({ "file": "users.csv", "rows": 10 })
    );
    assert_eq!(report["plan"]["captures"], serde_json::json!(["token"]));
    assert!(!text.contains(TOKEN), "a captured token leaked into an output");
    assert!(!text.contains(PASSWORD), "a data-file value leaked into an output");
    assert!(!text.contains("user3"), "a data-file value leaked into an output");
}

const HOST: &str = "secret-host-7f9a2c.invalid";

/// Runs `stampede ARGS` with `env`, its outputs (report folder, JUnit, summary) in
/// `dir`; returns the exit code and every text it wrote (stdout, stderr, files).
fn run_all(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = dir.join("out");
    let mut c = Command::new(env!("CARGO_BIN_EXE_stampede"));
    c.args(args)
        .arg("--out")
        .arg(&out)
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .arg("--summary")
        .arg(dir.join("summary.md"))
        .env_remove("STAMPEDE_ALLOW_TARGET")
        .env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let mut text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    all_text(dir, &mut text);
    (o.status.code(), text)
}

/// A `${VAR}` in a node's host: the confirmation refusal, the resolution error, the
/// not-started report.json and page, JUnit and the summary all name it as written.
#[test]
fn a_secret_host_reaches_no_message_and_no_output() {
    let input = tempfile::tempdir().unwrap();
    let path = profile_file(input.path(), &profile("http://${SECRET_HOST}:8080/"));
    let path = path.to_str().unwrap();
    let env = [("SECRET_HOST", HOST)];
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run_all(dir.path(), &["run", path], &env);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("${SECRET_HOST}") && text.contains("not confirmed"),
        "{text}"
    );
    assert!(
        !text.contains("secret-host"),
        "the host leaked into the refusal:\n{text}"
    );
    // Allowed by its value: the name does not resolve, and the error says so as written.
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run_all(dir.path(), &["run", path, "--allow-target", HOST], &env);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("${SECRET_HOST}") && text.contains("could not start"),
        "{text}"
    );
    let stderr_and_files = text.replace(&format!("--allow-target {HOST}"), "");
    assert!(!stderr_and_files.contains("secret-host"), "the host leaked:\n{text}");
}

/// A `${VAR}` in a node's port that is no port: the problem names the URL as written.
#[test]
fn a_secret_port_reaches_no_validation_error() {
    let input = tempfile::tempdir().unwrap();
    let path = profile_file(input.path(), &profile("http://127.0.0.1:${SECRET_PORT}/"));
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .arg("validate")
        .arg(&path)
        .env("SECRET_PORT", "7f9a2c")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("${SECRET_PORT}") && err.contains("port"), "{err}");
    assert!(!err.contains("7f9a2c"), "the port leaked: {err}");
}

fn overlay_profile(token: &str) -> String {
    format!(
        r#"
name: admin
target: {{ overlay: {{ preset: healthy, admin_token: "{token}" }}, timeout: 1s }}
population: {{ simulate: 20 }}
storm: {{ waves: [ {{ share: 100%, spread: "uniform(200ms)" }} ] }}
client: {{ login: [ {{ request: POST /login, body: '{{"client": {{{{client}}}}}}' }} ] }}
observe: {{ window: 250ms, until_recovered: 250ms }}
"#
    )
}

/// The embedded overlay's `admin_token`: taken from `${VAR}`, shown as written; a
/// literal one is masked in report.json and the page.
#[test]
fn the_overlays_admin_token_is_read_from_the_environment_and_never_echoed() {
    const ADMIN: &str = "adm1n-t0ken-5e1f0c3d";
    let input = tempfile::tempdir().unwrap();
    let path = profile_file(input.path(), &overlay_profile("${ADMIN_TOKEN}"));
    let path = path.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run_all(dir.path(), &["run", "-q", path], &[("ADMIN_TOKEN", ADMIN)]);
    assert!(matches!(code, Some(0 | 1)), "{text}");
    assert!(text.contains("${ADMIN_TOKEN}"), "the template is what is shown");
    assert!(!text.contains(ADMIN), "the admin token leaked:\n{text}");
    // Unset: refused at its field.
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["validate", path])
        .env_remove("ADMIN_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("admin_token") && err.contains("not set"), "{err}");
    // Written literally: it works, and every output masks it.
    let path = profile_file(input.path(), &overlay_profile(ADMIN));
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run_all(dir.path(), &["run", "-q", path.to_str().unwrap()], &[]);
    assert!(matches!(code, Some(0 | 1)), "{text}");
    assert!(!text.contains(ADMIN), "the admin token leaked:\n{text}");
    assert!(text.contains("<masked>"), "{text}");
}

/// `stampede overlay --config` reads its file as profiles are read: a FIFO or
/// `/dev/zero` is refused at once (it hung, or grew to the machine's memory), and its
/// `admin_token: ${VAR}` is taken from the environment and never echoed.
#[test]
fn the_overlays_config_file_is_read_bounded_and_its_admin_token_from_the_environment() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    const ADMIN: &str = "adm1n-c0nfig-77e0a1b2";
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let overlay = |config: &std::path::Path, env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stampede"));
        c.args(["overlay", "--listen", "127.0.0.1:0", "--config"]).arg(config);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    };
    for (config, why) in [
        (fifo.as_path(), "is not a regular file"),
        (std::path::Path::new("/dev/zero"), "is not a regular file"),
    ] {
        let o = overlay(config, &[]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("overlay config") && err.contains(why), "{err}");
    }
    let config = dir.path().join("o.yaml");
    std::fs::write(&config, "admin_token: ${ADMIN_TOKEN}\ncapacity: 50/s\n").unwrap();
    let o = overlay(&config, &[]).env_remove("ADMIN_TOKEN").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("o.yaml: admin_token: `${ADMIN_TOKEN}` is not set"),
        "{err}"
    );
    // Set: the overlay starts (its first line names its address), and says nothing of it.
    let mut child = overlay(&config, &[("ADMIN_TOKEN", ADMIN)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    child.kill().unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        first.contains("capacity 50/s") && first.contains("http://127.0.0.1:"),
        "{first}{err}"
    );
    assert!(
        !first.contains(ADMIN) && !err.contains(ADMIN),
        "the admin token leaked: {first}{err}"
    );
}

/// A trace and a CA file follow the rule data files do: the profile's folder or below
/// it (links followed), or a folder the operator named in `STAMPEDE_DATA_DIRS`.
#[test]
fn traces_and_ca_files_outside_the_profiles_folder_need_the_operators_permission() {
    let outside = tempfile::tempdir().unwrap();
    let trace = outside.path().join("storm.csv");
    std::fs::write(&trace, "0\n1\n").unwrap();
    let ca = outside.path().join("ca.pem");
    std::fs::write(&ca, "hunter2-not-a-cert\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&trace, dir.path().join("link.csv")).unwrap();
    let text = |trace: &str, ca: &str| {
        format!(
            "name: t\ntarget:\n  nodes: [\"http://127.0.0.1:1\"]\n  tls: {{ ca: \"{ca}\" }}\npopulation: {{ simulate: 10 }}\nstorm:\n  trace: \"{trace}\"\nclient: {{ login: [ {{ request: POST /login }} ] }}\n"
        )
    };
    let path = dir.path().join("p.yaml");
    let parse = |text: &str, env: &dyn Fn(&str) -> Option<String>| {
        stampede::run::parse(text, &path, env)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    for t in [trace.display().to_string(), "link.csv".into()] {
        let e = parse(&text(&t, &ca.display().to_string()), &|_| None).unwrap_err();
        assert!(
            e.contains("p.yaml:7: storm.trace: `")
                && e.contains("is outside the profile's folder: a profile may only name traces"),
            "{e}"
        );
        assert!(
            e.contains("p.yaml:4: target.tls.ca: `") && e.contains("may only name CA files beside it"),
            "{e}"
        );
        assert!(e.contains("STAMPEDE_DATA_DIRS") && !e.contains("hunter2"), "{e}");
    }
    // Named by the operator: both are read (the CA then for what it holds).
    let allowed = outside.path().display().to_string();
    let env = move |k: &str| (k == "STAMPEDE_DATA_DIRS").then(|| format!("/nonexistent:{allowed}"));
    let e = parse(&text(&trace.display().to_string(), &ca.display().to_string()), &env).unwrap_err();
    assert!(!e.contains("outside the profile's folder"), "{e}");
    assert!(
        e.contains("target.tls.ca") && e.contains("holds no PEM certificate"),
        "{e}"
    );
    // Beside the profile: no permission needed.
    std::fs::copy(&trace, dir.path().join("here.csv")).unwrap();
    let text = text("here.csv", "").replace("  tls: { ca: \"\" }\n", "");
    parse(&text, &|_| None).unwrap();
}
