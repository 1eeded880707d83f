//! Nothing leaves loopback unconfirmed. A node outside 127.0.0.0/8 and ::1 (and the
//! name `localhost`) is stormed only when it was named explicitly: `--allow-target
//! HOST[:PORT]` (repeatable), the `STAMPEDE_ALLOW_TARGET` variable (comma-separated,
//! for CI), or typed at an interactive prompt that shows the storm's size. Checked
//! before any connection (and before any DNS lookup of the target).

use std::net::IpAddr;

use crate::profile::Node;
pub use crate::report::Confirmed;

/// Comma-separated HOST[:PORT] entries, the same as `--allow-target`.
pub const ALLOW_VAR: &str = "STAMPEDE_ALLOW_TARGET";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    #[error(
        "{} is outside loopback and was not confirmed: nothing was sent. Confirm with --allow-target {} (repeatable; exact host, or host:port), or ${ALLOW_VAR}={}, or run it on a terminal to be asked",
        .hosts.join(", "), .hosts[0], .hosts.join(",")
    )]
    Unconfirmed { hosts: Vec<String> },
    #[error("the answer `{typed}` is not `{host}`: nothing was sent")]
    Declined { host: String, typed: String },
}

/// Is this host on the machine itself? Only literal loopback addresses and the name
/// `localhost`: any other name could resolve anywhere.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host:port` as an allow list may name it (IPv6 in brackets): the expanded host, which
/// only the operator's own flag or variable may hold.
fn authority(n: &Node) -> String {
    if n.host.contains(':') {
        format!("[{}]:{}", n.host, n.port)
    } else {
        format!("{}:{}", n.host, n.port)
    }
}

fn host_of(n: &Node) -> String {
    if n.host.contains(':') {
        format!("[{}]", n.host)
    } else {
        n.host.clone()
    }
}

/// Does `entry` (HOST or HOST:PORT, exact, case-insensitive for names) allow `n`? Either
/// the expanded host or the host as the profile wrote it (`${TARGET_HOST}`).
fn allows(entry: &str, n: &Node) -> bool {
    let e = entry.trim();
    [authority(n), host_of(n), n.shown_authority(), n.shown_host()]
        .iter()
        .any(|a| e.eq_ignore_ascii_case(a))
}

/// Checks the nodes against the allow list; asks `prompt` for each host still
/// unconfirmed when there is one (a terminal), with the host the answer must repeat.
pub fn confirm(
    nodes: &[Node],
    allow: &[String],
    prompt: Option<&mut dyn FnMut(&str) -> String>,
) -> Result<Confirmed, ConfirmError> {
    let outside: Vec<&Node> = nodes.iter().filter(|n| !is_loopback(&n.host)).collect();
    if outside.is_empty() {
        return Ok(Confirmed::Loopback);
    }
    let mut unconfirmed: Vec<String> = Vec::new();
    // Every message and the report name the host as written: `${VAR}` may hold a secret.
    for n in &outside {
        let h = n.shown_host();
        if !allow.iter().any(|e| allows(e, n)) && !unconfirmed.contains(&h) {
            unconfirmed.push(h);
        }
    }
    let mut hosts: Vec<String> = Vec::new();
    for n in &outside {
        let a = n.shown_authority();
        if !hosts.contains(&a) {
            hosts.push(a);
        }
    }
    if unconfirmed.is_empty() {
        return Ok(Confirmed::Allowed { hosts });
    }
    let Some(ask) = prompt else {
        return Err(ConfirmError::Unconfirmed { hosts: unconfirmed });
    };
    for h in &unconfirmed {
        let typed = ask(h);
        let named = outside.iter().any(|n| n.shown_host() == *h && allows(typed.trim(), n));
        if !named {
            return Err(ConfirmError::Declined {
                host: h.clone(),
                typed: typed.trim().to_string(),
            });
        }
    }
    Ok(Confirmed::Prompt { hosts })
}

/// The allow list from `--allow-target` values and the environment variable's.
pub fn allow_list(flags: &[String], env: Option<String>) -> Vec<String> {
    let mut all: Vec<String> = flags.to_vec();
    if let Some(v) = env {
        all.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(urls: &[&str]) -> Vec<Node> {
        urls.iter().map(|u| Node::parse(u).unwrap()).collect()
    }

    #[test]
    fn loopback_needs_nothing() {
        let n = nodes(&[
            "http://127.0.0.1:8080",
            "http://127.3.4.5:1",
            "http://[::1]:9",
            "http://localhost:80",
        ]);
        assert_eq!(confirm(&n, &[], None), Ok(Confirmed::Loopback));
    }

    #[test]
    fn anything_else_needs_an_exact_allow_entry() {
        let n = nodes(&["https://login.staging.example:8443", "http://10.0.0.5:80"]);
        let e = confirm(&n, &[], None).unwrap_err();
        assert_eq!(
            e,
            ConfirmError::Unconfirmed {
                hosts: vec!["login.staging.example".into(), "10.0.0.5".into()]
            }
        );
        assert!(e.to_string().contains("--allow-target login.staging.example"), "{e}");
        // A host covers every port; host:port only that one; no suffix or prefix match.
        let allow = allow_list(&["login.staging.example".into()], Some("10.0.0.5:80".into()));
        assert_eq!(
            confirm(&n, &allow, None),
            Ok(Confirmed::Allowed {
                hosts: vec!["login.staging.example:8443".into(), "10.0.0.5:80".into()]
            })
        );
        for wrong in [
            "staging.example",
            "login.staging.example:443",
            "10.0.0.5:8080",
            "10.0.0.50",
        ] {
            let allow = allow_list(&[wrong.into(), "10.0.0.5".into()], None);
            assert!(confirm(&n, &allow, None).is_err(), "{wrong} must not allow it");
        }
    }

    #[test]
    fn the_prompt_must_repeat_the_host() {
        let n = nodes(&["http://[2001:db8::1]:80"]);
        let mut asked = Vec::new();
        let mut yes = |h: &str| {
            asked.push(h.to_string());
            h.to_string()
        };
        assert_eq!(
            confirm(&n, &[], Some(&mut yes)),
            Ok(Confirmed::Prompt {
                hosts: vec!["[2001:db8::1]:80".into()]
            })
        );
        assert_eq!(asked, vec!["[2001:db8::1]"]);
        let mut no = |_: &str| "y".to_string();
        assert!(matches!(
            confirm(&n, &[], Some(&mut no)),
            Err(ConfirmError::Declined { .. })
        ));
    }

    /// A host written as `${VAR}` is named as written in every message and in the
    /// report; the operator may allow it by its value or as written.
    #[test]
    fn a_secret_host_is_named_as_written() {
        let mut n = nodes(&["https://secret-host.example:8443/x"]);
        n[0].shown = "https://${TARGET_HOST}:8443/x".into();
        let e = confirm(&n, &[], None).unwrap_err().to_string();
        assert!(e.contains("${TARGET_HOST}") && !e.contains("secret-host"), "{e}");
        for allow in ["secret-host.example", "${TARGET_HOST}", "secret-host.example:8443"] {
            let got = confirm(&n, &[allow.to_string()], None).unwrap();
            assert_eq!(
                got,
                Confirmed::Allowed {
                    hosts: vec!["${TARGET_HOST}:8443".into()]
                },
                "{allow}"
            );
        }
        let mut typed = |h: &str| {
            assert_eq!(h, "${TARGET_HOST}");
            "secret-host.example".to_string()
        };
        assert!(confirm(&n, &[], Some(&mut typed)).is_ok());
    }
}
