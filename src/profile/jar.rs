//! A client's cookie jar (`client.cookies: true`): RFC 6265's basics — domain
//! (host-only or domain-matched), path, expiry (Max-Age over Expires) — with
//! `Set-Cookie` parsed by the `cookie` crate. One jar per virtual client, held with its
//! captured values and dropped with them when the client reboots.

use std::borrow::Cow;

/// A stored cookie. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    name: String,
    value: String,
    /// Lower case, no leading dot.
    domain: String,
    host_only: bool,
    path: String,
    expires: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jar {
    cookies: Vec<Stored>,
}

/// A jar holds at most this many cookies; the oldest go first (RFC 6265 §6.1 asks for
/// at least 50 per domain; a login sets a handful).
const MAX_COOKIES: usize = 64;
/// The longest cookie kept, name and value (RFC 6265 §6.1's minimum a browser keeps; a
/// longer one is ignored, as browsers ignore it).
pub const MAX_COOKIE: usize = 4096;
/// Bytes one jar holds at most (names, values, domains and paths): past it the oldest
/// cookies go first. A target setting a new 60 KB cookie with every answer cannot grow a
/// client's state, nor its `Cookie` header, beyond it.
pub const MAX_JAR_BYTES: usize = 16 << 10;

impl Stored {
    fn bytes(&self) -> usize {
        self.name.len() + self.value.len() + self.domain.len() + self.path.len()
    }
}

impl Jar {
    /// Whether any cookie held has an expiry: only then does sending them need the time.
    pub fn expiring(&self) -> bool {
        self.cookies.iter().any(|c| c.expires.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Stores what a `Set-Cookie` value says, for an answer to `host` (no port) and
    /// request `path`, at Unix time `now`. A header that does not parse is ignored, as
    /// a browser ignores it.
    pub fn set(&mut self, header: &str, host: &str, path: &str, now: i64) {
        let Ok(c) = cookie::Cookie::parse(header) else {
            return;
        };
        if c.name().len() + c.value().len() > MAX_COOKIE {
            return;
        }
        let host = lower(host);
        let (domain, host_only) = match c.domain().map(|d| d.trim_start_matches('.').to_ascii_lowercase()) {
            Some(d) if !d.is_empty() => {
                if !domain_match(&host, &d) {
                    return; // §5.3 step 6: a domain the host is not in is refused.
                }
                (d, false)
            }
            _ => (host.into_owned(), true),
        };
        let path = match c.path() {
            Some(p) if p.starts_with('/') => p.to_string(),
            _ => default_path(path),
        };
        let expires = match (c.max_age(), c.expires_datetime()) {
            (Some(age), _) => Some(now.saturating_add(age.whole_seconds())),
            (None, Some(at)) => Some(at.unix_timestamp()),
            (None, None) => None,
        };
        self.cookies
            .retain(|s| !(s.name == c.name() && s.domain == domain && s.path == path));
        if expires.is_some_and(|e| e <= now) {
            return; // Expired on arrival: a deletion.
        }
        let new = Stored {
            name: c.name().to_string(),
            value: c.value().to_string(),
            domain,
            host_only,
            path,
            expires,
        };
        if new.bytes() > MAX_JAR_BYTES {
            return;
        }
        let mut held: usize = self.cookies.iter().map(Stored::bytes).sum::<usize>() + new.bytes();
        while !self.cookies.is_empty() && (self.cookies.len() >= MAX_COOKIES || held > MAX_JAR_BYTES) {
            held -= self.cookies.remove(0).bytes();
        }
        self.cookies.push(new);
    }

    /// Bytes the jar holds (names, values, domains, paths): at most [`MAX_JAR_BYTES`].
    pub fn bytes(&self) -> usize {
        self.cookies.iter().map(Stored::bytes).sum()
    }

    /// Writes the `Cookie` header's value for a request to `host` and `path` at `now`;
    /// false (nothing written) when no cookie applies.
    pub fn header(&self, out: &mut String, host: &str, path: &str, now: i64) -> bool {
        let host = lower(host);
        let host = host.as_ref();
        let path = path.split('?').next().unwrap_or(path);
        let mut any = false;
        for c in &self.cookies {
            let domain_ok = if c.host_only {
                host == c.domain
            } else {
                domain_match(host, &c.domain)
            };
            if !domain_ok || !path_match(path, &c.path) || c.expires.is_some_and(|e| e <= now) {
                continue;
            }
            if any {
                out.push_str("; ");
            }
            out.push_str(&c.name);
            out.push('=');
            out.push_str(&c.value);
            any = true;
        }
        any
    }
}

/// A host name in lower case, copied only when it is not already (it is, nearly always).
fn lower(host: &str) -> Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// §5.1.3: the host is the domain or a name under it (never an IP under a suffix).
fn domain_match(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<std::net::IpAddr>().is_err())
}

/// §5.1.4: the request path up to its last `/`, or `/`.
fn default_path(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// §5.1.4's path-match.
fn path_match(req: &str, cookie: &str) -> bool {
    req == cookie
        || (req.starts_with(cookie) && (cookie.ends_with('/') || req.as_bytes().get(cookie.len()) == Some(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(j: &Jar, host: &str, path: &str, now: i64) -> String {
        let mut s = String::new();
        j.header(&mut s, host, path, now);
        s
    }

    #[test]
    fn host_only_domain_and_path_are_matched() {
        let mut j = Jar::default();
        j.set("sid=abc; Path=/", "login.example.com", "/login", 0);
        j.set(
            "wide=1; Domain=.example.com; Path=/app",
            "login.example.com",
            "/login",
            0,
        );
        j.set("near=2", "login.example.com", "/api/login", 0);
        j.set("evil=3; Domain=other.com", "login.example.com", "/", 0);
        assert_eq!(sent(&j, "login.example.com", "/", 0), "sid=abc");
        assert_eq!(sent(&j, "login.example.com", "/app/x", 0), "sid=abc; wide=1");
        assert_eq!(sent(&j, "a.example.com", "/app", 0), "wide=1");
        assert_eq!(sent(&j, "LOGIN.example.com", "/api/join?x=1", 0), "sid=abc; near=2");
        assert_eq!(sent(&j, "login.example.com", "/apix", 0), "sid=abc");
        assert_eq!(sent(&j, "other.com", "/", 0), "");
    }

    #[test]
    fn expiry_replacement_and_deletion() {
        let mut j = Jar::default();
        j.set("a=1; Max-Age=10", "h", "/", 100);
        j.set("b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT", "h", "/", 100);
        assert_eq!(sent(&j, "h", "/", 105), "a=1; b=2");
        assert_eq!(sent(&j, "h", "/", 110), "b=2");
        assert_eq!(sent(&j, "h", "/", 1_445_412_480), "");
        j.set("b=3", "h", "/", 100);
        assert_eq!(sent(&j, "h", "/", 105), "a=1; b=3");
        j.set("a=gone; Max-Age=0", "h", "/", 105);
        assert_eq!(sent(&j, "h", "/", 105), "b=3");
        j.set("not a cookie", "h", "/", 105);
        assert_eq!(j.cookies.len(), 1);
        assert!(!j.is_empty());
    }

    /// A new 60 KB cookie with every answer grew each client by 60 KB an answer (300
    /// clients: 448 MB); now a cookie over 4 KiB is ignored and a jar holds 16 KiB.
    #[test]
    fn a_jar_is_bounded_in_bytes() {
        let mut j = Jar::default();
        j.set(&format!("big={}", "x".repeat(60_000)), "h", "/", 0);
        assert!(j.is_empty(), "a cookie over MAX_COOKIE is ignored");
        for i in 0..1000 {
            j.set(&format!("c{i}={}", "y".repeat(MAX_COOKIE - 10)), "h", "/", 0);
            assert!(j.bytes() <= MAX_JAR_BYTES, "{} after {i}", j.bytes());
        }
        assert!(sent(&j, "h", "/", 0).len() <= MAX_JAR_BYTES + 2 * MAX_COOKIES);
        assert!(sent(&j, "h", "/", 0).contains("c999="), "the newest is kept");
    }
}
