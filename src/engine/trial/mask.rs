//! Secrets out of what `stampede try` shows: the profile's `${VAR}` values and the data
//! columns that hold credentials are shown as their templates, captured values as
//! `{{name}}`, and credential headers (`authorization`, `cookie`, `set-cookie`) whose
//! value is still in clear as `<masked: N chars>`.

use crate::profile::{DataFile, Values};

/// A secret shorter than this is not masked in running text: masking a one-letter value
/// would blank every such letter and hide nothing worth hiding.
const SHORTEST: usize = 4;

/// Column names that hold a credential (a row's username stays readable).
const SECRET_COLUMNS: [&str; 6] = ["pass", "secret", "token", "key", "pin", "credential"];

/// JSON keys whose string value is a credential (by the key's ending, lower case): a
/// login's answer holds its token whether or not a capture found it.
const SECRET_KEYS: [&str; 9] = [
    "token",
    "password",
    "passwd",
    "secret",
    "session",
    "sessionid",
    "session_id",
    "key",
    "jwt",
];

/// Headers whose value is a credential whatever it holds.
const SECRET_HEADERS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "set-cookie"];

/// Values to hide, each with what is shown instead; longest first, so that a value
/// holding another is replaced whole.
#[derive(Debug, Default, Clone)]
pub struct Mask {
    secrets: Vec<(String, String)>,
}

impl Mask {
    /// The `${VAR}` names written in `profile_text`, with their values from `env`.
    pub fn from_profile(profile_text: &str, env: &dyn Fn(&str) -> Option<String>) -> Mask {
        let mut m = Mask::default();
        let mut rest = profile_text;
        while let Some(i) = rest.find("${") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find('}') else { break };
            let name = &rest[..end];
            if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && let Some(v) = env(name)
            {
                m.add(v, format!("${{{name}}}"));
            }
            rest = &rest[end..];
        }
        m
    }

    /// The data row's credential columns (`password`, `api_key`, …).
    pub fn data_row(&mut self, data: &DataFile, client: u64) {
        for (column, v) in data.columns.iter().zip(data.row(client)) {
            let lower = column.to_ascii_lowercase();
            if SECRET_COLUMNS.iter().any(|s| lower.contains(s)) {
                self.add(v.to_string(), format!("{{{{data.{column}}}}}"));
            }
        }
    }

    /// Every value captured so far, shown by its capture's name. `names` are the
    /// client's value names by slot (`data.<column>` first, then captures).
    pub fn captured(&mut self, names: &[String], values: &Values) {
        for (slot, name) in names.iter().enumerate() {
            if name.starts_with("data.") {
                continue;
            }
            if let Some(v) = values.get(slot) {
                self.add(v.to_string(), format!("{{{{{name}}}}}"));
            }
        }
    }

    /// The string values of credential keys in a JSON body (`access_token`, `password`,
    /// `api_key`), at any depth, shown by their length. A body that is not JSON adds
    /// nothing.
    pub fn json_body(&mut self, body: &[u8]) {
        fn walk(v: &serde_json::Value, m: &mut Mask) {
            match v {
                serde_json::Value::Object(o) => {
                    for (k, v) in o {
                        let k = k.to_ascii_lowercase();
                        match v {
                            serde_json::Value::String(s) if SECRET_KEYS.iter().any(|e| k.ends_with(e)) => {
                                m.add(s.clone(), format!("<masked: {} chars>", s.chars().count()));
                            }
                            other => walk(other, m),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, m)),
                _ => {}
            }
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            walk(&v, self);
        }
    }

    fn add(&mut self, value: String, shown: String) {
        if value.len() < SHORTEST || self.secrets.iter().any(|(v, _)| *v == value) {
            return;
        }
        self.secrets.push((value, shown));
        self.secrets.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    /// `text` with every known secret replaced by its template.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, shown) in &self.secrets {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), shown);
            }
        }
        out
    }

    /// A header's value as shown: masked like text, and a credential header's value that
    /// is still in clear (a literal token, a server's session cookie) as its length,
    /// after its scheme (`Bearer <masked: 40 chars>`).
    pub fn header(&self, name: &str, value: &str) -> String {
        let shown = self.text(value);
        if !SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || shown.contains("{{") || shown.contains("${")
        {
            return shown;
        }
        match shown.split_once(' ') {
            Some((scheme, rest)) if matches!(scheme.to_ascii_lowercase().as_str(), "bearer" | "basic" | "digest") => {
                format!("{scheme} <masked: {} chars>", rest.len())
            }
            _ => format!("<masked: {} chars>", shown.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_captures_and_credential_columns_are_shown_as_templates() {
        let env = |k: &str| (k == "API_KEY").then(|| "k-123456789".to_string());
        let mut m = Mask::from_profile("headers: { x-key: \"${API_KEY}\" } # ${UNSET} ${bad name}", &env);
        let data = crate::profile::data::parse_csv("u.csv", "username,password\nalice,hunter2!\n", None).unwrap();
        m.data_row(&data, 0);
        let mut v = Values::new(3);
        v.set(0, "alice".into());
        v.set(1, "hunter2!".into());
        v.set(2, "tok-abcdef".into());
        m.captured(&["data.username".into(), "data.password".into(), "token".into()], &v);
        assert_eq!(
            m.text("alice:hunter2! k-123456789 tok-abcdef"),
            "alice:{{data.password}} ${API_KEY} {{token}}"
        );
    }

    #[test]
    fn a_credential_header_in_clear_is_shown_by_its_length_only() {
        let m = Mask::default();
        assert_eq!(m.header("Authorization", "Bearer abcdef"), "Bearer <masked: 6 chars>");
        assert_eq!(m.header("set-cookie", "sid=xyz; Path=/"), "<masked: 15 chars>");
        assert_eq!(m.header("content-type", "text/plain"), "text/plain");
    }

    #[test]
    fn a_token_in_a_json_answer_is_masked_whether_or_not_a_capture_took_it() {
        let mut m = Mask::default();
        let body = br#"{"access_token":"abcdef123456","token_type":"Bearer","user":{"api_key":"k-99999"},"n":1}"#;
        m.json_body(body);
        assert_eq!(
            m.text(std::str::from_utf8(body).unwrap()),
            r#"{"access_token":"<masked: 12 chars>","token_type":"Bearer","user":{"api_key":"<masked: 7 chars>"},"n":1}"#
        );
        m.json_body(b"not json");
    }

    #[test]
    fn a_short_value_is_not_masked_in_running_text() {
        let env = |_: &str| Some("ab".to_string());
        assert_eq!(Mask::from_profile("${X}", &env).text("abc"), "abc");
    }
}
