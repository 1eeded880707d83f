//! The conventions a command-line tool is expected to keep (issue #24 point 8), checked
//! over every subcommand clap knows, so that a subcommand added later is held to them
//! too: every subcommand says what it does, every positional what it takes, every
//! output folder is `-o/--out`, every alias shows in the help; shell completions and
//! man pages come from the same definitions, and the pages shipped in `man/` are the
//! ones the current CLI generates.

mod common;

use std::path::Path;

use clap::{CommandFactory, ValueEnum};
use stampede::cli::Cli;

use common::bin;

/// Every command with its path (`stampede run`), the top one included, depth first.
fn commands() -> Vec<(String, clap::Command)> {
    fn walk(path: String, cmd: &clap::Command, all: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            walk(format!("{path} {}", sub.get_name()), sub, all);
        }
        all.push((path, cmd.clone()));
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut all = Vec::new();
    walk("stampede".into(), &cmd, &mut all);
    // `help` is clap's own: it has an about, and its positional is clap's to describe.
    all.retain(|(path, _)| !path.split(' ').any(|w| w == "help"));
    all
}

#[test]
fn every_subcommand_has_an_about_and_every_positional_a_description() {
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        if cmd.get_about().is_none_or(|a| a.to_string().trim().is_empty()) {
            missing.push(format!("`{path}` has no about (a doc comment on its variant)"));
        }
        for arg in cmd.get_positionals() {
            if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                missing.push(format!("`{path}`: positional <{}> has no help text", arg.get_id()));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    // The walk saw the subcommands (a walk that sees none passes vacuously).
    assert!(commands().len() > 5);
}

#[test]
fn every_out_flag_has_the_short_o() {
    let mut outs = 0;
    for (path, cmd) in commands() {
        for arg in cmd.get_arguments() {
            if arg.get_long() == Some("out") {
                outs += 1;
                assert_eq!(arg.get_short(), Some('o'), "`{path} --out` has no `-o`");
            }
            // `-o` means `--out` and nothing else.
            if arg.get_short() == Some('o') {
                assert_eq!(arg.get_long(), Some("out"), "`{path}`: `-o` is not `--out`");
            }
        }
    }
    assert!(outs >= 6, "only {outs} --out flags seen");
}

#[test]
fn every_alias_shows_in_the_help() {
    for (path, cmd) in commands() {
        let all: Vec<&str> = cmd.get_all_aliases().collect();
        let shown: Vec<&str> = cmd.get_visible_aliases().collect();
        assert_eq!(all, shown, "`{path}` has an alias its help does not show");
        for arg in cmd.get_arguments() {
            assert_eq!(
                arg.get_all_aliases(),
                arg.get_visible_aliases(),
                "`{path} --{}` has an alias its help does not show",
                arg.get_id()
            );
        }
    }
    let help = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[alias: plan]"), "{help}");
}

#[test]
fn every_shell_gets_a_completion_script_naming_every_subcommand() {
    let subcommands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for shell in clap_complete::Shell::value_variants() {
        let name = shell.to_possible_value().unwrap().get_name().to_string();
        let out = bin().args(["completions", &name]).output().unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in &subcommands {
            assert!(script.contains(sub.as_str()), "{name}: `{sub}` is not completed");
        }
        // A flag of a subcommand, too: the scripts complete below the first word.
        assert!(script.contains("max-rate"), "{name}: `run --max-rate` is not completed");
    }
    let bad = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("possible values"));
}

#[test]
fn man_writes_one_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin().arg("man").arg("-o").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut expected = vec!["stampede.1".to_string()];
    expected.extend(
        Cli::command()
            .get_subcommands()
            .map(|s| format!("stampede-{}.1", s.get_name())),
    );
    for name in &expected {
        let page = std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(page.contains(".TH ") && page.contains(".SH SYNOPSIS"), "{name}: {page}");
    }
    assert!(!dir.path().join("stampede-help.1").exists());
    // Without -o: stampede(1) on stdout, for `stampede man | man -l -`.
    let top = bin().arg("man").output().unwrap();
    let top = String::from_utf8(top.stdout).unwrap();
    assert_eq!(top, std::fs::read_to_string(dir.path().join("stampede.1")).unwrap());
    assert!(
        top.contains("stampede\\-run(1)") || top.contains("stampede\\-run"),
        "{top}"
    );
}

/// The pages in `man/` are what the current CLI generates: a changed flag or help text
/// must be shipped with its pages.
#[test]
fn the_shipped_man_pages_are_the_current_ones() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let regen = "regenerate them with `cargo run -- man -o man` and commit man/";
    let pages = stampede::cli::man_pages();
    let mut stale = Vec::new();
    for (name, text) in &pages {
        match std::fs::read(shipped.join(name)) {
            Ok(on_disk) if on_disk == *text => {}
            Ok(_) => stale.push(format!("man/{name} differs from what the CLI generates")),
            Err(_) => stale.push(format!("man/{name} is missing")),
        }
    }
    for entry in std::fs::read_dir(&shipped).unwrap_or_else(|e| panic!("man/: {e}; {regen}")) {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !pages.iter().any(|(n, _)| *n == name) {
            stale.push(format!("man/{name} is no page of the current CLI"));
        }
    }
    assert!(stale.is_empty(), "{}\n{regen}", stale.join("\n"));
}
