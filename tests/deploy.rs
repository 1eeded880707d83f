//! The deployment recipes call the CLI as it is: every subcommand and flag that the
//! Kubernetes manifests and the ssh script use exists in `stampede <command> --help`.
//! (Their schema is checked by deploy/validate.sh in .ci/run.)

use std::path::Path;
use std::process::Command;

fn help(sub: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args([sub, "--help"])
        .output()
        .unwrap();
    assert!(o.status.success(), "`stampede {sub} --help` failed");
    String::from_utf8(o.stdout).unwrap()
}

/// Checks `args` (a stampede command line without the program name).
fn check(origin: &str, args: &[String]) -> usize {
    let sub = &args[0];
    let text = help(sub);
    let mut flags = 0;
    for a in &args[1..] {
        if let Some(flag) = a.strip_prefix("--") {
            let flag = flag.split('=').next().unwrap();
            assert!(
                text.contains(&format!("--{flag} ")) || text.contains(&format!("--{flag}\n")),
                "{origin}: `stampede {sub}` has no --{flag}"
            );
            flags += 1;
        }
    }
    flags
}

#[test]
fn manifests_use_only_flags_that_exist() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let containers = &doc["spec"]["template"]["spec"]["containers"];
        let Some(list) = containers.as_sequence() else { continue };
        for c in list {
            let args: Vec<String> = c["args"]
                .as_sequence()
                .expect("the image's entrypoint is stampede: the command is in args")
                .iter()
                .map(|a| {
                    a.as_str()
                        .expect("every arg is a string (quote numbers and instants)")
                        .to_string()
                })
                .collect();
            checked += check(&path.display().to_string(), &args);
        }
    }
    assert!(checked >= 7, "only {checked} flags found in the manifests");
}

#[test]
fn the_ssh_script_uses_only_flags_that_exist() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ssh/run-shards.sh");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut checked = 0;
    // Command lines continue over `\` line ends.
    let joined = text.replace("\\\n", " ");
    for line in joined.lines() {
        let Some(at) = line.find("stampede run").or_else(|| line.find("stampede merge")) else {
            continue;
        };
        let args: Vec<String> = line[at + "stampede ".len()..]
            .split_whitespace()
            .map(|a| a.trim_matches(|c| c == '"' || c == '\'').to_string())
            .take_while(|a| !a.starts_with('&') && !a.starts_with('|'))
            .collect();
        checked += check(&path.display().to_string(), &args);
    }
    assert!(checked >= 6, "only {checked} flags found in the script");
}
