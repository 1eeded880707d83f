//! The documentation tells what the code does, and cannot drift from it:
//! - the recovery rules in docs/recovery.md are RECOVERY.md's (the recovery module's own
//!   documentation), word for word;
//! - every `stampede` command in a shell block of README.md and docs/ names a subcommand
//!   and flags the binary has, and the shipped files it names exist; the commands that
//!   send nothing (`validate`, `completions`, `man`, `--help`) are run and must succeed;
//! - the README stays a short front page whose links all lead somewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<(String, String)> {
    let mut out = vec![(
        "README.md".to_string(),
        std::fs::read_to_string(root().join("README.md")).unwrap(),
    )];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    for p in docs {
        let name = p.strip_prefix(root()).unwrap().display().to_string();
        out.push((name, std::fs::read_to_string(&p).unwrap()));
    }
    out
}

#[test]
fn the_docs_state_the_recovery_rules_the_code_documents() {
    let page = std::fs::read_to_string(root().join("docs/recovery.md")).unwrap();
    let rules = std::fs::read_to_string(root().join("src/analysis/RECOVERY.md")).unwrap();
    let body = rules.split_once('\n').map(|(_, rest)| rest.trim()).unwrap();
    assert!(
        page.contains(body),
        "docs/recovery.md differs from src/analysis/RECOVERY.md: copy it over"
    );
}

/// Shell words as a POSIX shell splits them (quotes kept out, no expansion).
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every stampede command line of the shell blocks of `text`, as words after the
/// program (`stampede …`, `cargo run [--release] -- …`), with the line it starts on.
fn commands(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let (mut in_sh, mut fence, mut pending, mut start) = (false, false, String::new(), 0);
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_sh = !fence && matches!(line.trim().trim_start_matches('`'), "sh" | "bash" | "shell");
            fence = !fence;
            continue;
        }
        if !in_sh {
            continue;
        }
        if pending.is_empty() {
            start = n + 1;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            None => pending.push_str(line),
        }
        let full = std::mem::take(&mut pending);
        // A comment starts at a `#` after a blank (inside no quote in these pages).
        let code = full.find(" #").map_or(full.as_str(), |at| &full[..at]);
        if code.trim_start().starts_with('#') {
            continue;
        }
        for part in code
            .split("&&")
            .flat_map(|p| p.split(';'))
            .map(|p| p.split(['|', '>']).next().unwrap())
        {
            let w = words(part);
            let at = w.iter().position(|x| x == "stampede").map(|i| i + 1).or_else(|| {
                let c = w.iter().position(|x| x == "cargo")?;
                (w.get(c + 1)? == "run" && !w.iter().any(|x| x == "--example"))
                    .then(|| w.iter().position(|x| x == "--").map(|i| i + 1))?
            });
            if let Some(at) = at
                && at < w.len()
            {
                out.push((
                    start,
                    w[at..].iter().filter(|x| !x.is_empty() && *x != "&").cloned().collect(),
                ));
            }
        }
    }
    out
}

fn help(sub: Option<&str>) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stampede"));
    c.args(sub).arg("--help");
    let o = c.output().unwrap();
    assert!(o.status.success(), "`stampede {sub:?} --help` failed");
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn every_documented_command_exists_as_written_and_those_that_send_nothing_run() {
    let top = help(None);
    let mut checked = 0;
    let mut ran = 0;
    for (page, text) in pages() {
        for (line, w) in commands(&text) {
            let at = format!("{page}:{line}: `stampede {}`", w.join(" "));
            let sub = w[0].as_str();
            if sub.starts_with('-') {
                continue;
            }
            assert!(
                top.contains(&format!("\n  {sub} ")) || top.contains(&format!("\n  {sub}\n")),
                "{at}: no subcommand `{sub}`"
            );
            let text = help(Some(sub));
            for a in &w[1..] {
                let flag = a.split('=').next().unwrap();
                if flag.starts_with("--") || (flag.len() == 2 && flag.starts_with('-')) {
                    let known = [" ", ",", "\n", "="]
                        .iter()
                        .any(|end| text.contains(&format!("{flag}{end}")));
                    assert!(known, "{at}: `stampede {sub}` has no {flag}");
                } else if a.starts_with("profiles/") {
                    assert!(root().join(a).exists(), "{at}: {a} is not in the repository");
                }
            }
            checked += 1;
            // What sends nothing runs here, from the repository's root, as written.
            let runs = matches!(sub, "validate" | "completions")
                || (sub == "man" && !w.iter().any(|a| a == "-o"))
                || w.iter().any(|a| a == "--help");
            if runs
                && w.iter()
                    .all(|a| !a.contains('$') && (!a.ends_with(".yaml") || a.starts_with("profiles/")))
            {
                let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
                    .args(&w)
                    .current_dir(root())
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "{at} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                ran += 1;
            }
        }
    }
    assert!(
        checked >= 25,
        "only {checked} commands found in the docs (28 when this was written)"
    );
    assert!(ran >= 3, "only {ran} documented commands ran");
}

#[test]
fn the_readme_is_a_front_page_whose_links_lead_somewhere() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines: the reference belongs in docs/"
    );
    let mut links = 0;
    for (page, text) in pages() {
        let dir = Path::new(&page).parent().unwrap().to_path_buf();
        for (at, _) in text.match_indices("](") {
            let target = &text[at + 2..at + 2 + text[at + 2..].find(')').unwrap()];
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap();
            assert!(
                root().join(&dir).join(path).exists(),
                "{page}: the link to {target} leads nowhere"
            );
            links += 1;
        }
    }
    assert!(links >= 10, "the README points to the docs: {links} links");
    for doc in [
        "profiles",
        "recovery",
        "commands",
        "your-service",
        "performance",
        "scaling",
    ] {
        assert!(
            readme.contains(&format!("docs/{doc}.md")),
            "the README does not point to docs/{doc}.md"
        );
    }
}

#[test]
fn the_command_finder_reads_shell_blocks_as_a_shell_would() {
    let page = "text `stampede run x`\n```sh\nstampede run a.yaml --gate \"p99 < 1s\" \\\n  -o out   # a comment\nexport A=1 && stampede validate b.yaml | head\ncargo run --release -- sweep c.yaml\ncargo run --example login_service -- users.csv\n```\n```\nstampede man\n```\n";
    let found = commands(page);
    assert_eq!(
        found,
        vec![
            (
                3,
                vec![
                    "run".into(),
                    "a.yaml".into(),
                    "--gate".into(),
                    "p99 < 1s".into(),
                    "-o".into(),
                    "out".into()
                ]
            ),
            (5, vec!["validate".into(), "b.yaml".into()]),
            (6, vec!["sweep".into(), "c.yaml".into()]),
        ]
    );
}
