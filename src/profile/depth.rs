//! How deeply a YAML text nests, found by a cheap scan before any parser runs: libyaml
//! (under serde_yaml) takes quadratic time on deep flow nesting (100,000 `[` took 16 s)
//! and yaml-rust2 stops at 255 levels with an error of its own. The scan counts block
//! indentation levels, `- ` and `? ` entries, and `[`/`{` outside quotes and comments.
//! It may count a level less than a parser would, never more on a profile's YAML; the
//! line walk (`lines.rs`) stops at the exact limit as well.

/// Nesting a profile may use; its own schema needs five or six levels.
pub const MAX_DEPTH: usize = 64;

/// The first line whose nesting goes deeper than [`MAX_DEPTH`], if any.
pub fn too_deep(text: &str) -> Option<usize> {
    let mut scan = Scan::default();
    for (i, line) in text.lines().enumerate() {
        if scan.line(line) > MAX_DEPTH {
            return Some(i + 1);
        }
    }
    None
}

#[derive(Default)]
struct Scan {
    /// Indentations of the open block nodes.
    indents: Vec<usize>,
    /// Open `[` and `{`, carried across lines.
    flow: usize,
    /// Block depth where the open flow collection started.
    flow_base: usize,
    /// A quoted scalar left open at the end of a line.
    quote: Option<char>,
    /// Indentation of the line that opened a `|` or `>` block scalar: its text is not YAML.
    block_scalar: Option<usize>,
}

impl Scan {
    /// The deepest nesting reached on this line.
    fn line(&mut self, line: &str) -> usize {
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        if let Some(i) = self.block_scalar {
            if content.is_empty() || indent > i {
                return 0;
            }
            self.block_scalar = None;
        }
        let mut rest = content;
        let mut base = self.flow_base;
        if self.flow == 0 && self.quote.is_none() {
            if content.is_empty() || content.starts_with('#') {
                return 0;
            }
            while self.indents.last().is_some_and(|&top| top > indent) {
                self.indents.pop();
            }
            if self.indents.last() != Some(&indent) {
                self.indents.push(indent);
            }
            base = self.indents.len();
            // The indentation level stands for the sequence (or complex-key mapping) an
            // entry belongs to; every further `- ` or `? ` on the line opens one more.
            let mut entries = 0usize;
            while let Some(r) = rest
                .strip_prefix("- ")
                .or_else(|| rest.strip_prefix("? "))
                .or((rest == "-").then_some(""))
            {
                entries += 1;
                rest = r.trim_start_matches(' ');
            }
            base += entries.saturating_sub(1);
            self.flow_base = base;
            if opens_block_scalar(rest) {
                self.block_scalar = Some(indent);
            }
        }
        base + self.flow_scan(rest)
    }

    /// Follows quotes and flow brackets through `rest`; returns the deepest flow level.
    fn flow_scan(&mut self, rest: &str) -> usize {
        let mut deepest = self.flow;
        let mut prev = ' ';
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if let Some(q) = self.quote {
                match c {
                    '\\' if q == '"' => {
                        chars.next();
                    }
                    '\'' if q == '\'' && chars.peek() == Some(&'\'') => {
                        chars.next();
                    }
                    c if c == q => self.quote = None,
                    _ => {}
                }
                prev = c;
                continue;
            }
            // Quotes, brackets and comments count only where a token can start: an
            // apostrophe in `don't` or a brace in `GET /a{b}` is text.
            let token_start = prev.is_whitespace() || (self.flow > 0 && matches!(prev, '[' | '{' | ','));
            match c {
                '#' if prev.is_whitespace() => break,
                '\'' | '"' if token_start || (self.flow > 0 && prev == ':') => self.quote = Some(c),
                '[' | '{' if token_start || self.flow > 0 => {
                    self.flow += 1;
                    deepest = deepest.max(self.flow);
                }
                ']' | '}' if self.flow > 0 => self.flow -= 1,
                _ => {}
            }
            prev = c;
        }
        deepest
    }
}

/// `key: |`, `- >-`, `|2+ # note`: the lines that follow, indented deeper, are text.
fn opens_block_scalar(rest: &str) -> bool {
    let before_comment = rest.split(" #").next().unwrap_or("");
    let last = before_comment.split_whitespace().last().unwrap_or("");
    let mut cs = last.chars();
    matches!(cs.next(), Some('|' | '>')) && cs.all(|c| matches!(c, '+' | '-' | '0'..='9'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        let mut s = Scan::default();
        text.lines().map(|l| s.line(l)).max().unwrap_or(0)
    }

    #[test]
    fn counts_block_flow_and_entry_nesting() {
        let cases = [
            ("a: 1", 1),
            ("a:\n  b:\n    c: 1", 3),
            ("a: [1, [2, {b: 3}]]", 4),
            ("a:\n  - - - x", 4),
            ("a:\n  - x\n  - y: 1\n    z: 2", 3),
            ("a: [\n  [\n    [1]\n  ]\n]", 4),
            ("a: 'don''t [[[ {'", 1),
            ("a: \"[[[ \\\" {{\"", 1),
            ("a: GET /a{b}[c]", 1),
            ("a: x # [[[[", 1),
            ("a: |\n  {[[[[\n    [[[[\n  x\nb: 1", 1),
            ("a: >-\n  [[[[[\n\n  [[[[\nb: [1]", 2),
            ("a: 'two\n  lines [[[['\nb: 1", 1),
        ];
        for (text, want) in cases {
            assert_eq!(depth(text), want, "{text:?}");
        }
    }

    #[test]
    fn the_shipped_profiles_and_their_fields_stay_shallow() {
        let text = r#"
name: x
target: { nodes: ["http://a:1"], tls: { verify: true } }
storm:
  waves:
    - { name: a, at: 0s, share: 35%, spread: 'normal(sd 8m)' }
client:
  login:
    - { name: auth, request: POST /login, body: '{"client":"{{client}}"}', headers: { x-a: "{{node}}" } }
"#;
        assert!(depth(text) <= 5, "{}", depth(text));
        assert_eq!(too_deep(text), None);
    }

    #[test]
    fn finds_the_line_where_a_hostile_document_goes_too_deep() {
        let n = 100_000;
        assert_eq!(
            too_deep(&format!("a: 1\nb: {}{}", "[".repeat(n), "]".repeat(n))),
            Some(2)
        );
        assert_eq!(too_deep(&format!("a:\n{}1", "- ".repeat(n))), Some(2));
        let stairs: String = (0..100).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert_eq!(too_deep(&stairs), Some(MAX_DEPTH + 1));
        assert_eq!(too_deep(&format!("b: {}{}", "[".repeat(63), "]".repeat(63))), None);
    }
}
