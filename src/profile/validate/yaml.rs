//! The YAML parser's errors as a newcomer needs them: placed, a tab named as a tab, an
//! indentation error with what to look at, and an unknown key with the known one
//! nearest it.

use crate::profile::{Lines, Problem};

/// serde_yaml's error, placed: at its own location, or (it has none for "repetition
/// limit exceeded") at the first alias, whose expansion is the likely cause, or else
/// at line 1, so that no problem goes out without a line.
pub(super) fn problem(e: &serde_yaml::Error, lines: &Lines, text: &str) -> Problem {
    if let Some(l) = e.location() {
        return Problem {
            line: Some(l.line()),
            field: String::new(),
            message: worded(e, &l, text),
        };
    }
    // serde_yaml has no public error kinds: its wording is all there is to tell by.
    let repetition = e.to_string().contains("repetition limit");
    match lines.first_alias().filter(|_| repetition) {
        Some((field, line)) => Problem {
            line: Some(line),
            field: field.to_string(),
            message: format!("{e}: the aliases (`*name`) expand to more than a profile can hold; the first is here"),
        },
        None => Problem {
            line: Some(1),
            field: String::new(),
            message: e.to_string(),
        },
    }
}

/// serde_yaml's words for an error at `l`, with what a person needs beside them: a tab
/// in the indentation (YAML forbids them, and the parser says only "cannot start any
/// token") is named, and an error of the block structure gets an indentation hint.
fn worded(e: &serde_yaml::Error, l: &serde_yaml::Location, text: &str) -> String {
    let line = text.lines().nth(l.line().saturating_sub(1)).unwrap_or("");
    let indent: &str = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
    let tab = indent
        .find('\t')
        .or_else(|| (line.chars().nth(l.column().saturating_sub(1)) == Some('\t')).then(|| l.column() - 1));
    if let Some(col) = tab {
        return format!(
            "a tab at line {} col {}: YAML indents with spaces (replace the tab with spaces)",
            l.line(),
            line[..col].chars().count() + 1
        );
    }
    let said = e.to_string();
    const BLOCK: [&str; 4] = [
        "mapping values are not allowed",
        "did not find expected key",
        "did not find expected '-'",
        "while parsing a block",
    ];
    if BLOCK.iter().any(|b| said.contains(b)) {
        return format!(
            "{said}: check the indentation here (line {} is indented {} spaces): fields of one mapping line up, \
             and a field sits further in than the key it belongs to",
            l.line(),
            indent.len()
        );
    }
    said
}

/// The problem of an unknown key at `path` (`client.retry.max_attempt`), with the
/// nearest key its mapping knows (`tree`: the raw profile as read, every field of a
/// mapping present, null when absent).
pub(super) fn unknown_field(tree: &serde_json::Value, path: &str) -> String {
    const PLAIN: &str = "unknown field (check its spelling and its place; see docs/profiles.md)";
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let mut node = tree;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        node = &node[pieces.next().unwrap_or_default()];
        for index in pieces {
            node = &node[index.trim_end_matches(']').parse::<usize>().unwrap_or(usize::MAX)];
        }
    }
    let near = node
        .as_object()
        .and_then(|m| crate::profile::near::nearest(key, m.keys().map(String::as_str)));
    match near {
        Some(k) => format!("unknown field: did you mean `{k}`?"),
        None => PLAIN.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::profile::parse;
    use std::path::Path;

    fn problem(text: &str) -> String {
        parse(text, Path::new("p.yaml"), &|_| None).unwrap_err().to_string()
    }

    #[test]
    fn a_tab_is_named_and_an_indentation_error_gets_a_hint() {
        let e = problem("name: x\ntarget:\n\ttimeout: 2s\n");
        assert!(
            e.contains("p.yaml:3: a tab at line 3 col 1: YAML indents with spaces"),
            "{e}"
        );
        let e = problem("name: x\ntarget:\n  timeout: 2s\n  pick:\trandom\n  x: [\t1]\n");
        assert!(!e.contains("tab"), "a tab after the indentation is YAML's to take: {e}");
        let e = problem("name: x\ntarget:\n  overlay: embedded\n   timeout: 2s\n");
        assert!(
            e.contains("p.yaml:4: mapping values are not allowed")
                && e.contains("check the indentation here (line 4 is indented 3 spaces)"),
            "{e}"
        );
        let e = problem("name: x\ntarget:\n  overlay: embedded\n timeout: 2s\n");
        assert!(
            e.contains("did not find expected key") && e.contains("indented 1 spaces"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_key_names_the_nearest_known_one_of_its_mapping() {
        let e = problem(
            "name: x\ntarget: { overlay: embedded, timout: 2s }\npopulation: { simulate: 10 }\nstorm: { waves: [ { share: 10%, spred: \"uniform(1s)\" } ] }\nclient:\n  login: [ { request: POST /login } ]\n  retry: { max_attempt: 3 }\n  zzz: 1\n",
        );
        assert!(
            e.contains("p.yaml:7: client.retry.max_attempt: unknown field: did you mean `max_attempts`?"),
            "{e}"
        );
        assert!(
            e.contains("target.timout: unknown field: did you mean `timeout`?"),
            "{e}"
        );
        assert!(
            e.contains("storm.waves[0].spred: unknown field: did you mean `spread`?"),
            "{e}"
        );
        assert!(e.contains("client.zzz: unknown field (check its spelling"), "{e}");
    }
}
