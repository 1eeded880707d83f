//! What a step takes from its answer (captures) and what the answer must hold beyond
//! its status (checks). Both are validated here, so that a run never meets a bad JSON
//! Pointer or a regex that does not compile.

/// A value a step takes from its answer, kept per client under `name`.
#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    /// The value's place in the client's `Values`.
    pub slot: usize,
    pub from: CaptureFrom,
}

#[derive(Debug, Clone)]
pub enum CaptureFrom {
    /// A JSON Pointer into the body (`/access_token`); a string is taken as is, any
    /// other JSON value as its JSON text.
    Json(String),
    /// A response header, by name (the first one).
    Header(http::header::HeaderName),
    /// The first group of a regex matched against the body.
    Regex(regex::Regex),
}

/// Checks of the answer's body beyond its status.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// (JSON Pointer, the value expected there).
    pub json: Vec<(String, serde_json::Value)>,
    pub body_contains: Option<String>,
}

impl Checks {
    pub fn is_empty(&self) -> bool {
        self.json.is_empty() && self.body_contains.is_none()
    }
}

/// Why a capture cannot be written: returned to validation, which places it.
pub fn check_pointer(p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "`{p}` is not a JSON Pointer: it starts with `/`, e.g. `/access_token`"
        ))
    }
}

/// A capture's regex: it compiles, and has exactly one group (the value).
/// The regex crate's error on one line (its own spans several, with a caret under the
/// pattern): what it says, and where in the pattern when it says so.
fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    let what = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error:"))
        .map(str::trim);
    match what {
        Some(w) => w.to_string(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

pub fn capture_regex(text: &str) -> Result<regex::Regex, String> {
    // Bounded: a profile's regex runs on every answer of its step.
    let re = regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("the regex does not compile: {}", one_line(&e)))?;
    match re.captures_len() {
        2 => Ok(re),
        n => Err(format!(
            "the regex needs exactly one group `( )` around the value; it has {}",
            n - 1
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_need_one_group_and_pointers_a_slash() {
        assert!(capture_regex("sid=([a-z0-9]+)").is_ok());
        assert!(capture_regex("sid=[a-z]+").unwrap_err().contains("has 0"));
        assert!(capture_regex("(a)(b)").unwrap_err().contains("has 2"));
        let e = capture_regex("(").unwrap_err();
        assert!(
            e.contains("does not compile: unclosed group") && !e.contains('\n'),
            "{e}"
        );
        assert!(check_pointer("/a/0").is_ok());
        assert!(check_pointer("access_token").is_err());
    }
}
