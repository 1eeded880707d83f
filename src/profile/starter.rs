//! `stampede init`: a commented starter profile for a real endpoint, from a few answers
//! (the URL, the login request, the credentials file, where the token is). Small on
//! purpose: a baseline, one reboot wave and an SLO a newcomer can read, each field
//! explained in a line. The text is checked by the profile's own validation before it
//! is written.

use std::fmt::Write as _;
use std::time::Duration;

use crate::units::Dur;

/// The README section every comment points to.
pub const README_SECTION: &str = "docs/your-service.md";

/// What the starter profile is made from.
#[derive(Debug, Clone)]
pub struct Starter {
    pub name: String,
    /// The node, `http://127.0.0.1:8080`.
    pub url: String,
    /// `POST /login`.
    pub login: String,
    /// The login's body; None: built from the data columns (a JSON object of them), or
    /// the client's id without data.
    pub body: Option<String>,
    /// `client.data` as the profile names it (relative to the profile's folder), and its
    /// columns.
    pub data: Option<(String, Vec<String>)>,
    /// The JSON Pointer of the token in the login's answer.
    pub token_json: Option<String>,
    /// `GET /me`: a request that keeps the session alive (with the token when there is one).
    pub keepalive: Option<String>,
    /// Virtual clients driven.
    pub clients: u32,
    /// From the first request to the end of the observation: a third baseline, a third
    /// the wave, a third watching the recovery.
    pub duration: Duration,
}

/// Why the answers cannot make a profile: names the flag.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StarterError {
    #[error("--login `{0}`: write the method and the path, e.g. `POST /login`")]
    Login(String),
    #[error("--keepalive `{0}`: write the method and the path, e.g. `GET /me`")]
    Keepalive(String),
    #[error("--token-json `{0}`: a JSON Pointer starts with `/`, e.g. `/access_token`")]
    Pointer(String),
    #[error("--duration {0}: at least 3s (a third each for the baseline, the wave and the recovery)")]
    Duration(Dur),
}

/// `METHOD /path`, or None.
fn request(text: &str) -> Option<String> {
    let (method, path) = text.trim().split_once(char::is_whitespace)?;
    let path = path.trim();
    let ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_alphabetic()) && path.starts_with('/');
    ok.then(|| format!("{} {path}", method.to_ascii_uppercase()))
}

/// A YAML scalar holding `s` exactly (a JSON string is a YAML double-quoted one).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The profile's text.
pub fn render(s: &Starter) -> Result<String, StarterError> {
    let login = request(&s.login).ok_or_else(|| StarterError::Login(s.login.clone()))?;
    let keepalive = match &s.keepalive {
        Some(k) => Some(request(k).ok_or_else(|| StarterError::Keepalive(k.clone()))?),
        None => None,
    };
    if let Some(p) = &s.token_json
        && !p.starts_with('/')
    {
        return Err(StarterError::Pointer(p.clone()));
    }
    if s.duration < Duration::from_secs(3) {
        return Err(StarterError::Duration(Dur(s.duration)));
    }
    let third = Duration::from_secs(s.duration.as_secs() / 3);
    let hold = Duration::from_secs((third.as_secs() / 2).max(1));
    let body = s.body.clone().unwrap_or_else(|| match &s.data {
        Some((_, cols)) => {
            let fields: Vec<String> = cols.iter().map(|c| format!("{}: \"{{{{data.{c}}}}}\"", q(c))).collect();
            format!("{{{}}}", fields.join(", "))
        }
        None => "{\"client\": {{client}}}".to_string(),
    });
    let third = Dur(third);
    let mut l: Vec<(String, &str)> = Vec::new();
    let mut line = |yaml: String, comment: &'static str| l.push((yaml, comment));
    line(format!("name: {}", q(&s.name)), "names the report folder");
    line(
        format!(
            "description: {}",
            q(&format!("One reboot wave of logins against {}.", s.url))
        ),
        "",
    );
    line("seed: 1".into(), "same seed, same storm, on any machine");
    line("target:".into(), "");
    line(
        format!("  nodes: [{}]", q(&s.url)),
        "where logins go; a host outside loopback needs --allow-target HOST",
    );
    line("  timeout: 2s".into(), "an answer later than this counts as `timeout`");
    line(
        "  connection: fresh".into(),
        "each login opens its own connection, as a rebooted client does",
    );
    line("population:".into(), "");
    line(format!("  clients: {}", s.clients), "the population you model ...");
    line(
        format!("  simulate: {}", s.clients),
        "... and the clients stampede drives (here one each)",
    );
    line("time_scale: 1".into(), "the storm's times below are real time");
    line(
        format!("baseline: {{ duration: {third}, rate: 20/s }}"),
        "background logins, before the wave and on through the run: what healthy looks like",
    );
    line("storm:".into(), "");
    line(
        "  waves:".into(),
        "half the clients reboot at the trigger and log in again",
    );
    line(
        format!("    - {{ name: reboot, at: 0s, share: 50%, spread: \"uniform({third})\" }}"),
        "",
    );
    line(
        "  downtime: uniform(0s, 1s)".into(),
        "a rebooted client waits this long before its first login",
    );
    line("client:".into(), "");
    if let Some((file, _)) = &s.data {
        line(
            format!("  data: {}", q(file)),
            "one row per client (client N takes row N mod rows); its columns are {{data.NAME}}",
        );
    }
    line("  login:".into(), "every step must pass for a login to count");
    line("    - name: auth".into(), "");
    line(format!("      request: {login}"), "");
    line(format!("      body: {}", q(&body)), "");
    if let Some(p) = &s.token_json {
        line(
            format!("      capture: {{ token: {{ json: {} }} }}", q(p)),
            "the token in the answer, sent later as {{token}}",
        );
    }
    line("      expect: 200".into(), "the status(es) that mean success");
    line(
        "  retry: { policy: exponential, base: 500ms, cap: 4s, jitter: full, max_attempts: 5 }".into(),
        "how a failed client tries again",
    );
    if let Some(k) = keepalive {
        line("  session:".into(), "after login, each client keeps its session alive");
        let auth = match &s.token_json {
            Some(_) => ", headers: { authorization: \"Bearer {{token}}\" }",
            None => "",
        };
        line(format!("    keepalive: {{ request: {k}{auth} }}"), "");
        line(
            "    every: 5s".into(),
            "a failed keepalive sends the client back to log in",
        );
    }
    line(
        format!("observe: {{ window: 1s, until_recovered: {third} }}"),
        "1 s windows; watch this long after the wave",
    );
    line(
        format!("slo: {{ success_rate: 99%, p99: 500ms, hold: {} }}", Dur(hold)),
        "a healthy window; recovered = healthy for `hold`",
    );
    line("gate:".into(), "`stampede run` exits 1 when one fails");
    line("  - \"verdict in [recovered, never-degraded]\"".into(), "");
    line("  - \"success_rate > 95%\"".into(), "");
    let mut o = format!(
        "# A starter profile written by `stampede init`: one reboot wave against your login.\n\
         # Each field is explained in a line; the whole story is in {README_SECTION}.\n\
         # Next: `stampede validate` this file (nothing sent), `stampede try` it (one login),\n\
         # then `stampede run` it (the storm, its verdict and report.html).\n"
    );
    // Comments start in one column, past the longest short line.
    let col = l.iter().map(|(y, _)| y.len()).filter(|n| *n <= 48).max().unwrap_or(0) + 2;
    for (yaml, comment) in l {
        if comment.is_empty() {
            let _ = writeln!(o, "{yaml}");
        } else if yaml.len() + 2 > col {
            // Too long to share its line: the comment goes above, at the line's indent.
            let indent = yaml.len() - yaml.trim_start().len();
            let _ = writeln!(o, "{:indent$}# {comment}\n{yaml}", "");
        } else {
            let _ = writeln!(o, "{yaml:<col$}# {comment}");
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starter() -> Starter {
        Starter {
            name: "my-service".into(),
            url: "http://127.0.0.1:8080".into(),
            login: "post /login".into(),
            body: None,
            data: Some(("users.csv".into(), vec!["username".into(), "password".into()])),
            token_json: Some("/access_token".into()),
            keepalive: Some("GET /me".into()),
            clients: 100,
            duration: Duration::from_secs(30),
        }
    }

    #[test]
    fn the_starter_sends_the_data_columns_captures_the_token_and_keeps_the_session_with_it() {
        let text = render(&starter()).unwrap();
        for want in [
            "request: POST /login",
            r#"body: "{\"username\": \"{{data.username}}\", \"password\": \"{{data.password}}\"}""#,
            r#"capture: { token: { json: "/access_token" } }"#,
            r#"keepalive: { request: GET /me, headers: { authorization: "Bearer {{token}}" } }"#,
            "baseline: { duration: 10s,",
            "hold: 5s",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
    }

    #[test]
    fn each_bad_answer_names_its_flag() {
        let bad = |f: fn(&mut Starter)| {
            let mut s = starter();
            f(&mut s);
            render(&s).unwrap_err().to_string()
        };
        assert!(bad(|s| s.login = "/login".into()).starts_with("--login"));
        assert!(bad(|s| s.keepalive = Some("me".into())).starts_with("--keepalive"));
        assert!(bad(|s| s.token_json = Some("access_token".into())).starts_with("--token-json"));
        assert!(bad(|s| s.duration = Duration::from_secs(2)).starts_with("--duration"));
    }
}
