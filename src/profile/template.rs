//! Request templates: `{{client}}` (the virtual client's id), `{{attempt}}` (1 for a
//! first attempt), `{{node}}` (index of the node the request goes to). `${VAR}` is read
//! from the environment when the profile loads; the report keeps the `${VAR}` form, so
//! secrets never reach it.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Client,
    Attempt,
    Node,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// What a template can refer to when rendered.
#[derive(Debug, Clone, Copy)]
pub struct Vars {
    pub client: u64,
    pub attempt: u32,
    pub node: usize,
}

impl Template {
    /// Parses `text`, resolving `${VAR}` through `env`. Every problem is returned.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Template, Vec<String>> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut errors = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{{") {
                let Some(end) = after.find("}}") else {
                    errors.push("`{{` without a closing `}}`".to_string());
                    break;
                };
                let var = after[..end].trim();
                let part = match var {
                    "client" => Part::Client,
                    "attempt" => Part::Attempt,
                    "node" => Part::Node,
                    other => {
                        errors.push(format!(
                            "unknown template variable `{{{{{other}}}}}` (known: client, attempt, node)"
                        ));
                        Part::Lit(String::new())
                    }
                };
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(part);
                rest = &after[end + 2..];
            } else if let Some(after) = rest.strip_prefix("${") {
                let Some(end) = after.find('}') else {
                    errors.push("`${` without a closing `}`".to_string());
                    break;
                };
                let name = &after[..end];
                match env(name) {
                    Some(v) => lit.push_str(&v),
                    None => errors.push(format!("environment variable `{name}` is not set")),
                }
                rest = &after[end + 1..];
            } else {
                // Skip the first char whole: a byte offset of 1 splits `é` or `😀`.
                let first = rest.chars().next().map_or(1, char::len_utf8);
                let next = rest[first..].find(['{', '$']).map_or(rest.len(), |i| i + first);
                lit.push_str(&rest[..next]);
                rest = &rest[next..];
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        if errors.is_empty() {
            Ok(Template { parts })
        } else {
            Err(errors)
        }
    }

    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Lit(text.to_string())],
        }
    }

    pub fn render_into(&self, out: &mut String, v: Vars) {
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Client => {
                    let _ = write!(out, "{}", v.client);
                }
                Part::Attempt => {
                    let _ = write!(out, "{}", v.attempt);
                }
                Part::Node => {
                    let _ = write!(out, "{}", v.node);
                }
            }
        }
    }

    pub fn render(&self, v: Vars) -> String {
        let mut s = String::new();
        self.render_into(&mut s, v);
        s
    }

    /// True when rendering does not depend on the variables.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_string())
    }

    #[test]
    fn renders_variables_and_environment() {
        let t = Template::parse(r#"{"client":"{{client}}","try":{{ attempt }},"t":"${TOKEN}"}"#, &env).unwrap();
        let s = t.render(Vars {
            client: 42,
            attempt: 3,
            node: 0,
        });
        assert_eq!(s, r#"{"client":"42","try":3,"t":"s3cret"}"#);
        assert!(!t.is_static());
        assert!(Template::parse("/login", &env).unwrap().is_static());
    }

    #[test]
    fn reports_every_problem() {
        let e = Template::parse("{{who}} ${MISSING} {{client", &env).unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].contains("who"));
        assert!(e[1].contains("MISSING"));
    }

    #[test]
    fn non_ascii_text_is_kept_whole() {
        let vars = Vars {
            client: 5,
            attempt: 2,
            node: 1,
        };
        let cases = [
            ("é", "é"),
            ("{{client}}😀", "5😀"),
            ("中{{client}}", "中5"),
            ("ü${TOKEN}ß{{node}}", "üs3cretß1"),
            ("{{ attempt }}€", "2€"),
        ];
        for (text, want) in cases {
            let t =
                std::panic::catch_unwind(|| Template::parse(text, &env)).unwrap_or_else(|_| panic!("{text} panicked"));
            assert_eq!(t.unwrap().render(vars), want, "{text}");
        }
        assert!(Template::parse("é{{", &env).is_err());
    }
}
