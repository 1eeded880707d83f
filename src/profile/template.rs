//! Request templates: `{{client}}` (the virtual client's id), `{{attempt}}` (1 for a
//! first attempt), `{{node}}` (index of the node the request goes to), and the values a
//! client captured in earlier steps (`{{token}}`), which validation resolves to slots.
//! Generated: `{{uuid}}` and `{{random(a, b)}}` (counter-based draws from the profile's
//! seed, the client, the attempt and the place in the text: the same seed sends the same
//! values), `{{now_ms}}` (Unix milliseconds when the request is composed).
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
    /// A version-4 UUID drawn from (salt, client, attempt).
    Uuid(u64),
    /// An integer in [lo, hi], drawn like `Uuid`.
    Random {
        lo: i64,
        hi: i64,
        salt: u64,
    },
    NowMs,
}

/// What a template may name beyond the built-ins: the values captured so far (`slot`
/// resolves a name, `known` lists them for errors), and the seed generated values
/// draw from.
pub struct Scope<'a> {
    pub slot: &'a dyn Fn(&str) -> Option<usize>,
    pub known: &'a [&'a str],
    pub seed: u64,
}

/// Keeps template draws apart from every other use of the seed.
const DOMAIN: u64 = 0x7E4D_A7E5;

impl Part {
    /// A generated part, or why `var` is not one (None: not a generator's name).
    fn generated(var: &str, salt: u64) -> Option<Result<Part, String>> {
        match var {
            "uuid" => return Some(Ok(Part::Uuid(salt))),
            "now_ms" => return Some(Ok(Part::NowMs)),
            _ => {}
        }
        let args = var.strip_prefix("random")?.trim_start().strip_prefix('(')?;
        let bad = || format!("`{{{{{var}}}}}`: write `random(lo, hi)` with two integers, lo ≤ hi");
        let Some((a, b)) = args.strip_suffix(')').and_then(|a| a.split_once(',')) else {
            return Some(Err(bad()));
        };
        Some(match (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
            (Ok(lo), Ok(hi)) if lo <= hi => Ok(Part::Random { lo, hi, salt }),
            _ => Err(bad()),
        })
    }
}

/// The draw of a generated part for one request.
fn gen_draw(salt: u64, v: &Vars<'_>, k: u64) -> u64 {
    use crate::rng::mix64;
    mix64(mix64(mix64(salt ^ v.client) ^ u64::from(v.attempt).rotate_left(32)) ^ k)
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
        let scope = Scope {
            slot: &|_| None,
            known: &[],
            seed: 0,
        };
        Template::parse_scoped(text, env, &scope)
    }

    /// [`Template::parse`], where `{{name}}` may also be a value captured earlier.
    pub fn parse_scoped(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        scope: &Scope<'_>,
    ) -> Result<Template, Vec<String>> {
        let (slot, known) = (scope.slot, scope.known);
        // Each generated part draws apart: by the text and its place in it.
        let text_salt = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
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
                        None if let Some(g) = Part::generated(
                            other,
                            crate::rng::mix64(scope.seed ^ DOMAIN ^ text_salt) ^ parts.len() as u64,
                        ) =>
                        {
                            g.unwrap_or_else(|e| {
                                errors.push(e);
                                Part::Lit(String::new())
                            })
                        }
                        None => {
                            let mut names = String::from("client, attempt, node, uuid, random(a, b), now_ms");
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
                Part::Uuid(salt) => {
                    let (a, b) = (gen_draw(*salt, &v, 0), gen_draw(*salt, &v, 1));
                    // Version 4, variant 10: the bits RFC 9562 fixes.
                    let a = (a & !0xF000) | 0x4000;
                    let b = (b & !(0b11 << 62)) | (0b10 << 62);
                    let _ = write!(
                        out,
                        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                        a >> 32,
                        (a >> 16) & 0xFFFF,
                        a & 0xFFFF,
                        b >> 48,
                        b & 0xFFFF_FFFF_FFFF
                    );
                }
                Part::Random { lo, hi, salt } => {
                    let span = hi.abs_diff(*lo).saturating_add(1);
                    let d = gen_draw(*salt, &v, 0);
                    let off = if span == 0 { d } else { d % span };
                    let _ = write!(out, "{}", lo.wrapping_add(off as i64));
                }
                Part::NowMs => {
                    let ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis());
                    let _ = write!(out, "{ms}");
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
        let scope = Scope {
            slot: &slot,
            known: &["token"],
            seed: 1,
        };
        let t = Template::parse_scoped("Bearer {{token}}", &env, &scope).unwrap();
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
        let e = Template::parse_scoped("{{sid}}", &env, &scope).unwrap_err();
        assert!(e[0].contains("`{{sid}}`") && e[0].contains("token"), "{e:?}");
    }

    #[test]
    fn generated_values_follow_the_seed() {
        let parse = |text: &str, seed| {
            let scope = Scope {
                slot: &|_| None,
                known: &[],
                seed,
            };
            Template::parse_scoped(text, &env, &scope).unwrap()
        };
        let v = |client| Vars {
            client,
            attempt: 1,
            node: 0,
            values: None,
        };
        let t = parse("{{uuid}} {{uuid}} {{random(5, 7)}}", 9);
        let a = t.render(v(1));
        assert_eq!(
            a,
            parse("{{uuid}} {{uuid}} {{random(5, 7)}}", 9).render(v(1)),
            "same seed"
        );
        assert_ne!(a, parse("{{uuid}} {{uuid}} {{random(5, 7)}}", 10).render(v(1)));
        assert_ne!(a, t.render(v(2)), "another client");
        let parts: Vec<&str> = a.split(' ').collect();
        assert_ne!(parts[0], parts[1], "two places, two values");
        let u = parts[0].as_bytes();
        assert_eq!((u.len(), u[14], u[8], u[13]), (36, b'4', b'-', b'-'), "{}", parts[0]);
        assert!(matches!(u[19], b'8' | b'9' | b'a' | b'b'), "{}", parts[0]);
        let r = parse("{{random(-2, 2)}}", 3);
        let seen: std::collections::BTreeSet<i64> = (0..200).map(|c| r.render(v(c)).parse().unwrap()).collect();
        assert_eq!(seen, (-2..=2).collect());
        let ms: u128 = parse("{{now_ms}}", 0).render(v(0)).parse().unwrap();
        assert!(ms > 1_700_000_000_000);
        for bad in ["{{random(3, 1)}}", "{{random(1)}}", "{{random(a, b)}}"] {
            assert!(
                Template::parse_scoped(
                    bad,
                    &env,
                    &Scope {
                        slot: &|_| None,
                        known: &[],
                        seed: 0
                    }
                )
                .is_err(),
                "{bad}"
            );
        }
    }
}
