//! A target node: `http://host:port/base` or `https://…`, parsed once when the profile
//! loads.

/// A node URL that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("`{0}` must start with http:// or https://")]
    Scheme(String),
    #[error("`{0}` has no host")]
    NoHost(String),
    #[error("`{0}`: unclosed `[` around an IPv6 address")]
    Unclosed(String),
    #[error("`{url}`: the host `{host}` holds a character a host name cannot (spaces, `@`, `[`, `]`, ...)")]
    BadHost { url: String, host: String },
    #[error(
        "`{0}` carries credentials (`user:password@`): stampede does not send them from the URL; put them in a header or a data file"
    )]
    Credentials(String),
    #[error("`{url}`: port `{port}` is not a number from 1 to 65535")]
    Port { url: String, port: String },
}

impl NodeError {
    /// What is wrong, without any part of the URL: for a URL whose `${VAR}` were
    /// expanded, whose values must not be shown.
    pub fn what(&self) -> &'static str {
        match self {
            NodeError::Scheme(_) => "does not start with http:// or https://",
            NodeError::NoHost(_) => "has no host",
            NodeError::Unclosed(_) => "has an unclosed `[` around an IPv6 address",
            NodeError::BadHost { .. } => "has a host holding a character a host name cannot",
            NodeError::Credentials(_) => "carries credentials (`user:password@`)",
            NodeError::Port { .. } => "has a port that is not a number from 1 to 65535",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The URL requests go to, `${VAR}` expanded: never print it.
    pub url: String,
    /// The URL as the profile wrote it (`${VAR}` unexpanded): the one to show.
    pub shown: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix every request path is appended to (without a trailing `/`).
    pub base_path: String,
}

impl Node {
    /// The host as the profile wrote it (`${VAR}` unexpanded), IPv6 in brackets: the one
    /// every message and output shows.
    pub fn shown_host(&self) -> String {
        let (host, _) = self.shown_parts();
        host
    }

    /// `host:port` as the profile wrote it (the port as written, or the scheme's).
    pub fn shown_authority(&self) -> String {
        let (host, port) = self.shown_parts();
        match port {
            Some(p) => format!("{host}:{p}"),
            None => format!("{host}:{}", if self.tls { 443 } else { 80 }),
        }
    }

    /// (host, port) cut from [`Node::shown`] the way [`Node::parse`] cuts the URL.
    fn shown_parts(&self) -> (String, Option<String>) {
        let rest = self.shown.split_once("://").map_or(self.shown.as_str(), |(_, r)| r);
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if authority.starts_with('[')
            && let Some(end) = authority.find(']')
        {
            let port = authority[end + 1..].strip_prefix(':').map(str::to_string);
            return (authority[..=end].to_string(), port);
        }
        match authority.rsplit_once(':') {
            // `${VAR}` holds no `:`, so a `:` outside one is the port's.
            Some((h, p)) if !p.contains('}') || p.starts_with("${") => (h.to_string(), Some(p.to_string())),
            _ => (authority.to_string(), None),
        }
    }

    pub fn parse(url: &str) -> Result<Node, NodeError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(NodeError::Scheme(url.to_string()));
        };
        let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(NodeError::Credentials(url.to_string()));
        }
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let (h, after) = h.split_once(']').ok_or_else(|| NodeError::Unclosed(url.to_string()))?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(NodeError::BadHost {
                    url: url.to_string(),
                    host: format!("[{h}]"),
                });
            }
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(NodeError::NoHost(url.to_string()));
        }
        let host_ok = host.contains(':') // an IPv6 address, checked above
            || host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !host_ok {
            return Err(NodeError::BadHost {
                url: url.to_string(),
                host,
            });
        }
        let port = match port {
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(NodeError::Port {
                        url: url.to_string(),
                        port: p.to_string(),
                    });
                }
            },
            None if tls => 443,
            None => 80,
        };
        Ok(Node {
            url: url.to_string(),
            shown: url.to_string(),
            tls,
            host,
            port,
            base_path: path.trim_end_matches('/').to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_and_port_are_shown_as_written() {
        let mut n = Node::parse("http://10.0.0.7:8443/api").unwrap();
        n.shown = "http://${HOST}:${PORT}/api".into();
        assert_eq!(
            (n.shown_host(), n.shown_authority()),
            ("${HOST}".into(), "${HOST}:${PORT}".into())
        );
        n.shown = "https://${HOST}/x".into();
        n.tls = true;
        assert_eq!(n.shown_authority(), "${HOST}:443");
        let n = Node::parse("http://[::1]:9000").unwrap();
        assert_eq!(
            (n.shown_host(), n.shown_authority()),
            ("[::1]".into(), "[::1]:9000".into())
        );
    }

    #[test]
    fn nodes_parse() {
        let n = Node::parse("https://login-1.example:8443/api/").unwrap();
        assert_eq!(
            (n.tls, n.host.as_str(), n.port, n.base_path.as_str()),
            (true, "login-1.example", 8443, "/api")
        );
        let n = Node::parse("http://[::1]:9000").unwrap();
        assert_eq!((n.host.as_str(), n.port), ("::1", 9000));
        assert_eq!(Node::parse("http://127.0.0.1").unwrap().port, 80);
    }

    #[test]
    fn hostile_urls_are_refused_with_their_reason() {
        type Is = fn(&NodeError) -> bool;
        let cases: &[(&str, Is)] = &[
            ("ftp://x", |e| matches!(e, NodeError::Scheme(_))),
            ("http://x:99999", |e| matches!(e, NodeError::Port { .. })),
            ("http://x:0", |e| matches!(e, NodeError::Port { .. })),
            ("http://:80", |e| matches!(e, NodeError::NoHost(_))),
            ("http://[]:9", |e| matches!(e, NodeError::BadHost { .. })),
            ("http://[::1", |e| matches!(e, NodeError::Unclosed(_))),
            ("http://a b", |e| matches!(e, NodeError::BadHost { .. })),
            ("http://user:pw@127.0.0.1:9", |e| matches!(e, NodeError::Credentials(_))),
        ];
        for (url, want) in cases {
            let e = Node::parse(url).unwrap_err();
            assert!(want(&e), "{url}: {e:?}");
        }
    }
}
