//! The deployment recipes run as shipped. The shard Job's and the merge Job's container
//! args and environment, exactly as deploy/k8s writes them (after the README's envsubst
//! and Kubernetes' own `$(VAR)` expansion), run against a loopback target with the
//! ConfigMap's files where the pod mounts them; the ssh script runs with `ssh` and `scp`
//! standing in for a shell on another host.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{Script, serve};
use stampede::report::Report;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `envsubst '$A $B'`: only the named `${VAR}` are replaced, as the README runs it.
fn envsubst(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_string(), |t, (k, v)| {
        t.replace(&format!("${{{k}}}"), v).replace(&format!("${k}"), v)
    })
}

/// Kubernetes expands `$(VAR)` in a container's args from its environment.
fn k8s_expand(arg: &str, env: &HashMap<String, String>) -> String {
    env.iter()
        .fold(arg.to_string(), |a, (k, v)| a.replace(&format!("$({k})"), v))
}

struct Container {
    args: Vec<String>,
    env: HashMap<String, String>,
    completions: usize,
}

fn container(manifest: &str) -> Container {
    let doc: serde_yaml::Value = serde_yaml::from_str(manifest).unwrap();
    let c = &doc["spec"]["template"]["spec"]["containers"][0];
    let args = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let env = c["env"]
        .as_sequence()
        .map(|l| {
            l.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_string(),
                        e["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let completions = doc["spec"]["completions"].as_u64().unwrap_or(1) as usize;
    Container { args, env, completions }
}

/// The pod's paths, under `root`: the profile volume and the reports volume.
fn pod_path(arg: &str, root: &Path) -> String {
    for mount in ["/profile", "/reports"] {
        if let Some(rest) = arg.strip_prefix(mount) {
            return format!("{}{mount}{rest}", root.display());
        }
    }
    arg.to_string()
}

/// A ConfigMap's `data` as the kubelet mounts it: one file per key.
fn mount_configmap(manifest: &str, dir: &Path) -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(manifest).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let mut keys = Vec::new();
    for (k, v) in doc["data"].as_mapping().unwrap() {
        let k = k.as_str().unwrap();
        std::fs::write(dir.join(k), v.as_str().unwrap()).unwrap();
        keys.push(k.to_string());
    }
    keys
}

fn stampede(args: &[String], env: &HashMap<String, String>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stampede"));
    c.args(args).env_remove("STAMPEDE_ALLOW_TARGET").envs(env);
    c
}

#[test]
fn the_configmap_carries_every_file_its_profile_reads_and_the_job_confirms_its_target() {
    let manifest = std::fs::read_to_string(root().join("deploy/k8s/profile-configmap.yaml")).unwrap();
    let pod = tempfile::tempdir().unwrap();
    let keys = mount_configmap(&manifest, &pod.path().join("profile"));
    let job = std::fs::read_to_string(root().join("deploy/k8s/shards-job.yaml")).unwrap();
    let filled = envsubst(
        &job,
        &[
            ("RUN_ID", "storm-1"),
            ("START_AT", "2026-11-29T21:32:00Z"),
            ("TARGET_HOST", "login.staging.example"),
            ("TARGET_PORT", "8443"),
        ],
    );
    let c = container(&filled);
    let profile = pod.path().join("profile/profile.yaml");
    let mut files = stampede(
        &["validate".into(), "--files".into(), profile.display().to_string()],
        &c.env,
    );
    let o = files.output().unwrap();
    assert!(
        o.status.success(),
        "the ConfigMap's profile does not load in the pod: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let listed = String::from_utf8(o.stdout).unwrap();
    assert!(
        !listed.trim().is_empty(),
        "the example reads a data file: `validate --files` must list it"
    );
    for f in listed.lines() {
        assert!(
            Path::new(f).is_file(),
            "the profile reads {f}, which the ConfigMap ({keys:?}) does not carry"
        );
    }
    // The Job's environment confirms the host the profile expands to, and only it.
    let text = std::fs::read_to_string(&profile).unwrap();
    let lookup = |k: &str| c.env.get(k).cloned();
    let p = stampede::run::parse(&text, &profile, &lookup).unwrap_or_else(|e| panic!("{e}"));
    let stampede::profile::Endpoint::Nodes(nodes) = &p.target.endpoint else {
        panic!("the example names nodes")
    };
    use stampede::run::confirm::{allow_list, confirm};
    let allow = allow_list(&[], c.env.get("STAMPEDE_ALLOW_TARGET").cloned());
    assert!(
        confirm(nodes, &allow, None).is_ok(),
        "the Job does not confirm its own target: {allow:?}"
    );
    assert!(confirm(nodes, &allow_list(&[], Some("other.example".into())), None).is_err());
}

const PROFILE: &str = r#"
name: recipe
target: { nodes: ["http://${TARGET_HOST}:${TARGET_PORT}"], timeout: 5s }
population: { simulate: 240 }
storm: { waves: [ { share: 100%, spread: "uniform(1s)" } ] }
client:
  data: users.csv
  login: [ { request: POST /login, body: '{"user": "{{data.username}}", "client": {{client}}}' } ]
observe: { window: 250ms, until_recovered: 500ms }
gate: [ "success_rate > 99%" ]
"#;

/// The user's profile and the file it reads, as `kubectl create configmap --from-file`
/// puts them in the pod.
fn user_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("profile.yaml"), PROFILE).unwrap();
    std::fs::write(dir.join("users.csv"), "username,password\nalice,a\nbob,b\ncarol,c\n").unwrap();
}

fn start_in(secs: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(secs)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shard_and_merge_jobs_run_as_written() {
    let t = serve(Script::default()).await;
    let pod = tempfile::tempdir().unwrap();
    user_files(&pod.path().join("profile"));
    let port = t.addr.port().to_string();
    let start_at = start_in(4);
    let vars = [
        ("RUN_ID", "storm-test"),
        ("START_AT", start_at.as_str()),
        ("TARGET_HOST", "127.0.0.1"),
        ("TARGET_PORT", port.as_str()),
    ];
    let shards = container(&envsubst(
        &std::fs::read_to_string(root().join("deploy/k8s/shards-job.yaml")).unwrap(),
        &vars,
    ));
    assert!(shards.completions >= 2, "the Job is Indexed over several pods");
    let runs: Vec<_> = (0..shards.completions)
        .map(|i| {
            let mut env = shards.env.clone();
            env.insert("JOB_COMPLETION_INDEX".into(), i.to_string());
            let args: Vec<String> = shards
                .args
                .iter()
                .map(|a| pod_path(&k8s_expand(a, &env), pod.path()))
                .collect();
            let mut c = stampede(&args, &env);
            tokio::task::spawn_blocking(move || c.output().unwrap())
        })
        .collect();
    for (i, r) in runs.into_iter().enumerate() {
        let o = r.await.unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "shard {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let merge = container(&envsubst(
        &std::fs::read_to_string(root().join("deploy/k8s/merge-job.yaml")).unwrap(),
        &vars,
    ));
    let args: Vec<String> = merge
        .args
        .iter()
        .map(|a| pod_path(&k8s_expand(a, &merge.env), pod.path()))
        .collect();
    let mut c = stampede(&args, &merge.env);
    let o = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "merge: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("merged report of {} shards", shards.completions)));
    let merged = Report::read(&pod.path().join("reports/storm-test/merged")).unwrap();
    let sent: u64 = merged.windows.iter().map(|w| w.counts.attempts).sum();
    let ok: u64 = merged.windows.iter().map(|w| w.counts.logins_ok).sum();
    assert_eq!(
        t.requests.load(std::sync::atomic::Ordering::Relaxed),
        sent,
        "the merged run counts what the target saw"
    );
    let failed: Vec<_> = merged
        .windows
        .iter()
        .flat_map(|w| w.outcomes.iter())
        .filter(|(k, _)| k.as_str() != "ok")
        .collect();
    assert_eq!(
        ok, 240,
        "every client of every shard logged in once; failed: {failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssh_script_runs_as_shipped() {
    let t = serve(Script::default()).await;
    let work = tempfile::tempdir().unwrap();
    user_files(&work.path().join("mine"));
    // `ssh HOST CMD` runs CMD in a local shell; `scp [-q] [-r] A B` copies with HOST: cut.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("ssh"), "#!/usr/bin/env bash\nshift\nexec bash -c \"$*\"\n").unwrap();
    std::fs::write(
        bin.join("scp"),
        "#!/usr/bin/env bash\nargs=()\nfor a in \"$@\"; do case $a in -q|-r) ;; *) args+=(\"${a#*:}\");; esac; done\nexec cp -r \"${args[@]}\"\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_stampede"), bin.join("stampede")).unwrap();
    for f in ["ssh", "scp"] {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = work.path().join("out");
    let mut c = Command::new("bash");
    c.arg(root().join("deploy/ssh/run-shards.sh"))
        .arg(work.path().join("mine/profile.yaml"))
        .args(["host-a", "host-b"])
        .current_dir(work.path())
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("LEAD", "4")
        .env("OUT", &out)
        .env("TARGET_HOST", "127.0.0.1")
        .env("TARGET_PORT", t.addr.port().to_string())
        .env_remove("STAMPEDE_ALLOW_TARGET");
    let o = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    let said = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    if let Some(id) = said.split_whitespace().find(|w| w.starts_with("sharded-")) {
        let _ = std::fs::remove_dir_all(format!("/tmp/stampede-{}", id.trim_end_matches(':')));
    }
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(said.contains("merged report of 2 shards"), "{said}");
    let merged = Report::read(&out.join("merged")).unwrap();
    let ok: u64 = merged.windows.iter().map(|w| w.counts.logins_ok).sum();
    assert_eq!(
        ok, 240,
        "both hosts' shards ran with the profile's data file and variables: {said}"
    );
}
