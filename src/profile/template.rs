//! Request templates: `{{client}}` (the virtual client's id), `{{attempt}}` (1 for a
//! first attempt), `{{node}}` (index of the node the request goes to), and the values a
//! client captured in earlier steps (`{{token}}`), which validation resolves to slots.
//! `${VAR}` is read from the environment when the profile loads; the report keeps the
//! `${VAR}` form, so secrets never reach it.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Client,
    Attempt,
    Node,
    /// A captured value, by its slot in the client's [`Values`].
    Slot(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// What a template can refer to when rendered.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub client: u64,
    pub attempt: u32,
    pub node: usize,
    /// The client's captured values; `None` for a flow that captures nothing (a slot
    /// then renders empty, which validation rules out).
    pub values: Option<&'a Values>,
}

/// One client's captured values, by slot (the order the profile declares captures in).
/// Only clients of a flow with captures have one: a flow without pays nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    slots: Vec<Option<String>>,
    /// The client's cookies (`client.cookies: true`); empty, never allocated, otherwise.
    pub jar: super::Jar,
}

impl Values {
    pub fn new(slots: usize) -> Values {
        Values {
            slots: vec![None; slots],
            jar: super::Jar::default(),
        }
    }

    pub fn get(&self, slot: usize) -> Option<&str> {
        self.slots.get(slot)?.as_deref()
    }

    pub fn set(&mut self, slot: usize, value: String) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(value);
        }
    }
}

impl Template {
    /// Parses `text`, resolving `${VAR}` through `env`. Every problem is returned.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Template, Vec<String>> {
        Template::parse_scoped(text, env, &|_| None, &[])
    }

    /// [`Template::parse`], where `{{name}}` may also be a value captured earlier:
    /// `slot` resolves a name to its slot, `known` lists the names for the error.
    pub fn parse_scoped(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        slot: &dyn Fn(&str) -> Option<usize>,
        known: &[&str],
    ) -> Result<Template, Vec<String>> {
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
                    other => match slot(other) {
                        Some(i) => Part::Slot(i),
                        None => {
                            let mut names = String::from("client, attempt, node");
                            for k in known {
                                names.push_str(", ");
                                names.push_str(k);
                            }
                            errors.push(format!(
                                "unknown template variable `{{{{{other}}}}}` (known here: {names}; a capture is \
                                 known from the step after the one that captures it)"
                            ));
                            Part::Lit(String::new())
                        }
                    },
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

    pub fn render_into(&self, out: &mut String, v: Vars<'_>) {
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
                Part::Slot(i) => {
                    if let Some(x) = v.values.and_then(|vals| vals.get(*i)) {
                        out.push_str(x);
                    }
                }
            }
        }
    }

    pub fn render(&self, v: Vars<'_>) -> String {
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
            values: None,
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
            values: None,
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

    #[test]
    fn captured_values_render_by_slot_and_unknown_names_are_refused() {
        let slot = |n: &str| (n == "token").then_some(1);
        let t = Template::parse_scoped("Bearer {{token}}", &env, &slot, &["token"]).unwrap();
        let mut vals = Values::new(2);
        fn vars(values: Option<&Values>) -> Vars<'_> {
            Vars {
                client: 1,
                attempt: 1,
                node: 0,
                values,
            }
        }
        assert_eq!(t.render(vars(Some(&vals))), "Bearer ");
        vals.set(1, "abc".into());
        assert_eq!(t.render(vars(Some(&vals))), "Bearer abc");
        let e = Template::parse_scoped("{{sid}}", &env, &slot, &["token"]).unwrap_err();
        assert!(e[0].contains("`{{sid}}`") && e[0].contains("token"), "{e:?}");
    }
}
