//! What a step takes from its answer and what it checks there beyond the status. Only
//! steps with captures or body checks keep their answer (`Kept`); every other step
//! reads and drops its body as before, at no cost. Failure reasons name the step, the
//! capture or the check, never a value: a value may be a token or a password.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::RetryAfter;
use super::json_pointer;
use crate::outcome::Class;
use crate::profile::{CaptureFrom, Step, Values, Vars};

/// The most body bytes kept of one answer for its captures and checks (1 MiB): a login's
/// answer is a few hundred bytes, and a page to check for a word is rarely more. Longer
/// is a `body` failure; an answer that is not kept is still read up to `MAX_BODY`.
pub(super) const MAX_KEPT_BODY: usize = 1 << 20;
/// The longest value a capture keeps: a token, a session id or a URL is a few hundred
/// bytes; a client holds its values for its session's life, so a target answering
/// megabytes cannot grow every client's state (a longer one is a `capture` failure).
pub const MAX_CAPTURE: usize = 8 << 10;
/// Every kept body of the process at once (256 MiB, all engine threads): a target that
/// streams endless answers to thousands of attempts in flight must not take the
/// machine's memory (bench/hostile-rss.sh measured 424 MiB with 16 MiB kept per
/// attempt and only 64 in flight). Past it an attempt fails `body`, with the reason.
const KEPT_BUDGET: usize = 256 << 20;
/// Bytes of kept-body buffers allocated now, against `KEPT_BUDGET`.
static KEPT_NOW: AtomicUsize = AtomicUsize::new(0);
/// A buffer over this size is freed between answers rather than kept for the next one.
const KEEP_BETWEEN: usize = 64 << 10;

/// Why a body could not be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeepRefused {
    /// Over `MAX_KEPT_BODY`.
    TooLong,
    /// Over `KEPT_BUDGET`, with everything else kept in flight.
    Budget,
}

/// The answer of a step that keeps it: the head's bytes (for header captures) and the
/// body as received (still chunked when it came so).
#[derive(Debug)]
pub(super) struct Kept {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub chunked: bool,
    /// The body buffer's capacity counted in `pool`.
    counted: usize,
    /// What kept bodies hold now, and the most they may (`KEPT_NOW`, `KEPT_BUDGET`).
    pool: (&'static AtomicUsize, usize),
}

impl Default for Kept {
    fn default() -> Self {
        Kept {
            head: Vec::new(),
            body: Vec::new(),
            chunked: false,
            counted: 0,
            pool: (&KEPT_NOW, KEPT_BUDGET),
        }
    }
}

impl Kept {
    pub fn clear(&mut self) {
        self.head.clear();
        self.body.clear();
        self.chunked = false;
        if self.counted > KEEP_BETWEEN {
            self.body = Vec::new();
            self.release();
        }
    }

    /// Appends body bytes, within the per-answer limit and the process's budget.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<(), KeepRefused> {
        let len = self.body.len() + bytes.len();
        if len > MAX_KEPT_BODY {
            return Err(KeepRefused::TooLong);
        }
        if len > self.counted {
            // Grow as a Vec would (doubling), counted before it is allocated.
            let want = len.max(self.counted * 2).clamp(4096, MAX_KEPT_BODY);
            let more = want - self.counted;
            let (now, budget) = self.pool;
            if now.fetch_add(more, Ordering::Relaxed) + more > budget {
                now.fetch_sub(more, Ordering::Relaxed);
                return Err(KeepRefused::Budget);
            }
            self.counted = want;
            self.body.reserve_exact(want - self.body.len());
        }
        self.body.extend_from_slice(bytes);
        Ok(())
    }

    fn release(&mut self) {
        self.pool.0.fetch_sub(self.counted, Ordering::Relaxed);
        self.counted = 0;
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.release();
    }
}

/// A step that failed on its answer's content: `check` or `capture`, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Miss {
    pub class: Class,
    pub reason: String,
}

/// After an answer whose status was judged `status`: stores its cookies (whatever the
/// status), then, for an answer the status accepts, checks it and takes its captures.
/// `dest` is the node's (host header, base path).
pub(super) fn judge(
    step: &Step,
    status: (Class, Option<RetryAfter>),
    kept: &Kept,
    dest: (&str, &str),
    vars: Vars<'_>,
    mut values: Option<&mut Values>,
) -> Result<(Class, Option<RetryAfter>), Miss> {
    // Most answers set no cookie (a join's 204): the path is rendered, and the head
    // parsed again, only for one that does.
    if step.cookies && sets_cookie(&kept.head) {
        let rendered = Vars {
            values: values.as_deref(),
            ..vars
        };
        let path = format!("{}{}", dest.1, step.path.render(rendered));
        store_cookies(kept, dest.0, &path, values.as_deref_mut());
    }
    if status.0 != Class::Ok || !step.keeps_body() {
        return Ok(status);
    }
    take(step, kept, values)?;
    Ok((Class::Ok, None))
}

/// A kept answer's body, de-chunked when it came chunked.
pub(super) fn body_of(kept: &Kept) -> Vec<u8> {
    if kept.chunked {
        dechunk(&kept.body)
    } else {
        kept.body.clone()
    }
}

/// Checks the answer, then stores its captures into `values`.
fn take(step: &Step, kept: &Kept, values: Option<&mut Values>) -> Result<(), Miss> {
    let body = if kept.chunked {
        std::borrow::Cow::Owned(dechunk(&kept.body))
    } else {
        std::borrow::Cow::Borrowed(&kept.body[..])
    };
    let wants_json =
        !step.checks.json.is_empty() || step.captures.iter().any(|c| matches!(c.from, CaptureFrom::Json(_)));
    // Parsed once for every check and capture that needs it.
    let json: Option<Result<Value, String>> =
        wants_json.then(|| serde_json::from_slice(&body).map_err(|e| format!("the body is not JSON ({e})")));
    let miss = |class, what: String| Miss {
        class,
        reason: format!("step `{}`: {what}", step.name),
    };
    for (pointer, want) in &step.checks.json {
        let found = match &json {
            Some(Ok(v)) => json_pointer::find(v, pointer),
            Some(Err(e)) => return Err(miss(Class::Check, format!("check json {pointer}: {e}"))),
            None => None,
        };
        match found {
            Some(v) if v == want => {}
            Some(_) => {
                return Err(miss(
                    Class::Check,
                    format!("check json {pointer}: not the value expected"),
                ));
            }
            None => return Err(miss(Class::Check, format!("check json {pointer}: nothing there"))),
        }
    }
    if let Some(text) = &step.checks.body_contains
        && !contains(&body, text.as_bytes())
    {
        return Err(miss(
            Class::Check,
            "check body_contains: the text is not in the body".into(),
        ));
    }
    let Some(values) = values else {
        return Ok(());
    };
    for c in &step.captures {
        let got: Result<String, String> = match &c.from {
            CaptureFrom::Json(p) => match &json {
                Some(Ok(v)) => match json_pointer::find(v, p) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(Value::Null) | None => Err(format!("nothing at {p} in the body")),
                    Some(other) => Ok(other.to_string()),
                },
                Some(Err(e)) => Err(e.clone()),
                None => Err("the body was not read".into()),
            },
            CaptureFrom::Header(h) => header(&kept.head, h.as_str()).ok_or_else(|| format!("no `{h}` header")),
            CaptureFrom::Regex(re) => match std::str::from_utf8(&body) {
                Ok(text) => re
                    .captures(text)
                    .and_then(|m| m.get(1))
                    .map(|m| m.as_str().to_string())
                    .ok_or_else(|| "the regex does not match the body".to_string()),
                Err(_) => Err("the body is not UTF-8 text".into()),
            },
        };
        match got {
            Ok(v) if v.len() > MAX_CAPTURE => {
                return Err(miss(
                    Class::Capture,
                    format!("capture `{}`: value longer than {MAX_CAPTURE} bytes", c.name),
                ));
            }
            Ok(v) => values.set(c.slot, v),
            Err(why) => return Err(miss(Class::Capture, format!("capture `{}`: {why}", c.name))),
        }
    }
    Ok(())
}

/// Stores the answer's `Set-Cookie` headers in the client's jar; `host` is the
/// request's `host` header value, `path` the request path as sent.
fn store_cookies(kept: &Kept, host: &str, path: &str, values: Option<&mut Values>) {
    let Some(values) = values else {
        return;
    };
    let mut fields = super::http1::head_fields();
    let mut r = httparse::Response::new(&mut []);
    if super::http1::parse_response(&mut r, &kept.head, &mut fields).is_err() {
        return;
    }
    let mut now = None;
    let host = super::http1::host_name(host);
    for h in r.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("set-cookie")) {
        if let Ok(v) = std::str::from_utf8(h.value) {
            let now = *now.get_or_insert_with(super::http1::unix_now);
            values.jar.set(v, host, path, now);
        }
    }
}

/// Whether a head has a `Set-Cookie` field: a line that starts with the name, in any
/// case (the status line never does).
fn sets_cookie(head: &[u8]) -> bool {
    const NAME: &[u8] = b"set-cookie:";
    head.split(|&b| b == b'\n')
        .any(|line| line.len() >= NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// The first header `name` of a head, as text.
fn header(head: &[u8], name: &str) -> Option<String> {
    let mut fields = super::http1::head_fields();
    let mut r = httparse::Response::new(&mut []);
    super::http1::parse_response(&mut r, head, &mut fields).ok()?;
    r.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(|v| v.trim().to_string())
}

/// The data of a chunked body whose framing `Chunked` has already checked.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = rest[..eol].split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size_text)
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        rest = &rest[eol + 2..];
        if size == 0 || size > rest.len() {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Capture, Template};

    fn step(captures: Vec<(&str, CaptureFrom)>) -> Step {
        let mut s = Step::plain("auth", http::Method::POST, Template::literal("/login"), vec![200]);
        s.captures = captures
            .into_iter()
            .enumerate()
            .map(|(slot, (name, from))| Capture {
                name: name.into(),
                slot,
                from,
            })
            .collect();
        s
    }

    fn kept(head: &str, body: &str, chunked: bool) -> Kept {
        let mut k = Kept::default();
        k.head = head.as_bytes().to_vec();
        k.body = body.as_bytes().to_vec();
        k.chunked = chunked;
        k
    }

    #[test]
    fn a_kept_body_stops_at_its_limit_and_at_the_budget_and_gives_back_what_it_held() {
        let mut one = Kept::default();
        assert_eq!(one.extend(&vec![b'x'; MAX_KEPT_BODY]), Ok(()));
        assert_eq!(one.extend(b"y"), Err(KeepRefused::TooLong));

        // A budget of its own: the process's is shared with every other test.
        let now: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let pooled = || {
            let mut k = Kept::default();
            k.pool = (now, 3 * MAX_KEPT_BODY);
            k
        };
        let mut held: Vec<Kept> = (0..3).map(|_| pooled()).collect();
        for k in &mut held {
            assert_eq!(k.extend(&vec![b'x'; MAX_KEPT_BODY]), Ok(()));
        }
        let mut fourth = pooled();
        assert_eq!(fourth.extend(&[b'x'; 10_000]), Err(KeepRefused::Budget));
        assert_eq!(
            now.load(Ordering::Relaxed),
            3 * MAX_KEPT_BODY,
            "a refusal holds nothing"
        );
        // A large buffer is freed between answers; a dropped one gives back its share.
        held[0].clear();
        assert_eq!(fourth.extend(&[b'x'; 10_000]), Ok(()));
        drop(held);
        drop(fourth);
        assert_eq!(now.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn captures_from_json_header_and_regex() {
        let s = step(vec![
            ("token", CaptureFrom::Json("/access_token".into())),
            ("loc", CaptureFrom::Header(http::header::LOCATION)),
            (
                "sid",
                CaptureFrom::Regex(crate::profile::capture_regex("sid=([a-z0-9]+)").unwrap()),
            ),
            ("n", CaptureFrom::Json("/n".into())),
        ]);
        let k = kept(
            "HTTP/1.1 200 OK\r\nLocation: /home\r\n\r\n",
            r#"{"access_token":"t0k","n":7,"x":"sid=ab12;"}"#,
            false,
        );
        let mut v = Values::new(4);
        take(&s, &k, Some(&mut v)).unwrap();
        assert_eq!(
            (v.get(0), v.get(1), v.get(2), v.get(3)),
            (Some("t0k"), Some("/home"), Some("ab12"), Some("7"))
        );
    }

    #[test]
    fn a_missing_capture_names_step_and_capture_but_no_value() {
        let s = step(vec![("token", CaptureFrom::Json("/access_token".into()))]);
        let k = kept("HTTP/1.1 200 OK\r\n\r\n", r#"{"secret":"hunter2"}"#, false);
        let m = take(&s, &k, Some(&mut Values::new(1))).unwrap_err();
        assert_eq!(m.class, Class::Capture);
        assert!(
            m.reason.contains("`auth`") && m.reason.contains("`token`"),
            "{}",
            m.reason
        );
        assert!(!m.reason.contains("hunter2"));
        let m = take(&s, &kept("", "not json", false), Some(&mut Values::new(1))).unwrap_err();
        assert!(m.reason.contains("not JSON"), "{}", m.reason);
    }

    /// A 1 MB regex capture sent back as a 1 MB header: 500 clients held 608 MB. A value
    /// over MAX_CAPTURE is now a `capture` failure, and nothing of it is kept.
    #[test]
    fn a_captured_value_over_its_cap_is_a_capture_failure() {
        let s = step(vec![(
            "sid",
            CaptureFrom::Regex(crate::profile::capture_regex("sid=([a-z]+)").unwrap()),
        )]);
        let body = format!("sid={}", "a".repeat(MAX_CAPTURE + 1));
        let mut v = Values::new(1);
        let m = take(&s, &kept("", &body, false), Some(&mut v)).unwrap_err();
        assert_eq!(m.class, Class::Capture);
        assert!(
            m.reason.contains(&format!("value longer than {MAX_CAPTURE} bytes")),
            "{}",
            m.reason
        );
        assert_eq!(v.get(0), None);
        let fits = format!("sid={}", "a".repeat(MAX_CAPTURE));
        take(&s, &kept("", &fits, false), Some(&mut v)).unwrap();
        assert_eq!(v.get(0).map(str::len), Some(MAX_CAPTURE));
    }

    #[test]
    fn checks_json_values_and_body_text() {
        let mut s = step(vec![]);
        s.checks.json = vec![("/ok".into(), serde_json::json!(true))];
        s.checks.body_contains = Some("welcome".into());
        assert!(take(&s, &kept("", r#"{"ok":true,"m":"welcome"}"#, false), None).is_ok());
        let m = take(&s, &kept("", r#"{"ok":false,"m":"welcome"}"#, false), None).unwrap_err();
        assert_eq!(m.class, Class::Check);
        assert!(m.reason.contains("/ok"));
        let m = take(&s, &kept("", r#"{"ok":true}"#, false), None).unwrap_err();
        assert!(m.reason.contains("body_contains"), "{}", m.reason);
    }

    #[test]
    fn chunked_bodies_are_decoded_first() {
        let s = step(vec![("token", CaptureFrom::Json("/t".into()))]);
        let k = kept("", "4\r\n{\"t\"\r\n6;x=1\r\n:\"abc\"\r\n1\r\n}\r\n0\r\n\r\n", true);
        let mut v = Values::new(1);
        take(&s, &k, Some(&mut v)).unwrap();
        assert_eq!(v.get(0), Some("abc"));
    }

    #[test]
    fn a_head_sets_a_cookie_only_with_the_field_at_a_line_start() {
        assert!(sets_cookie(b"HTTP/1.1 200 OK\r\nSET-Cookie: a=1\r\n\r\n"));
        assert!(sets_cookie(
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nset-cookie:a=1\r\n\r\n"
        ));
        assert!(!sets_cookie(b"HTTP/1.1 200 OK\r\nx-set-cookie: a=1\r\n\r\n"));
        assert!(!sets_cookie(b"HTTP/1.1 204 No Content\r\n\r\n"));
    }
}
