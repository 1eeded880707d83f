use std::time::Duration;

use super::*;
use crate::profile::Template;

fn step(method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Step {
    let env = |_: &str| None;
    Step {
        name: "s".into(),
        method: method.parse().unwrap(),
        path: Template::parse(path, &env).unwrap(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), Template::parse(v, &env).unwrap()))
            .collect(),
        body: body.map(|b| Template::parse(b, &env).unwrap()),
        ..Step::plain("s", http::Method::GET, Template::literal("/"), vec![200])
    }
}

fn vars() -> Vars<'static> {
    Vars {
        client: 42,
        attempt: 2,
        node: 1,
        values: None,
    }
}

fn composed(s: &Step, base: &str) -> String {
    let mut out = Vec::new();
    compose(s, "127.0.0.1:8080", base, vars(), false, &mut out, &mut String::new()).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_closing_request_says_so_and_a_kept_one_does_not() {
    let s = step("GET", "/login", None, &[]);
    let mut out = Vec::new();
    compose(&s, "h:1", "", vars(), true, &mut out, &mut String::new()).unwrap();
    assert_eq!(out, b"GET /login HTTP/1.1\r\nhost: h:1\r\nconnection: close\r\n\r\n");
    assert!(!composed(&s, "").contains("connection"));
}

/// Captured values and cookies make a request's head: past MAX_REQUEST_HEAD it is
/// refused with its length rather than composed without end.
#[test]
fn a_request_head_over_its_cap_is_refused() {
    let long = "a".repeat(MAX_REQUEST_HEAD);
    let s = step("POST", "/login", None, &[("authorization", long.as_str())]);
    let mut out = Vec::new();
    let e = compose(&s, "h:1", "", vars(), false, &mut out, &mut String::new()).unwrap_err();
    assert!(e > MAX_REQUEST_HEAD, "{e}");
}

#[test]
fn composes_a_get_and_a_templated_post() {
    assert_eq!(
        composed(&step("GET", "/login", None, &[]), ""),
        "GET /login HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n"
    );
    let s = step(
        "POST",
        "/c/{{client}}",
        Some(r#"{"client":{{client}},"try":{{attempt}}}"#),
        &[("x-node", "{{node}}")],
    );
    assert_eq!(
        composed(&s, "/api"),
        "POST /api/c/42 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-node: 1\r\n\
         content-type: application/json\r\ncontent-length: 23\r\n\r\n{\"client\":42,\"try\":2}"
            .replace("23", &r#"{"client":42,"try":2}"#.len().to_string())
    );
    let typed = step("PUT", "/x", Some("a=1"), &[("Content-Type", "text/plain")]);
    let t = composed(&typed, "");
    assert!(t.contains("content-type: text/plain\r\n") && !t.contains("json"), "{t}");
    assert!(composed(&step("POST", "/x", None, &[]), "").contains("content-length: 0\r\n"));
}

#[test]
fn a_line_break_cannot_split_the_request() {
    let s = step("GET", "/a", None, &[("x-evil", "a\r\nx-injected: 1")]);
    let t = composed(&s, "");
    assert!(t.contains("x-evil: ax-injected: 1\r\n"), "{t}");
}

#[test]
fn reads_heads_and_their_framing() {
    let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", false)
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.status, h.framing, h.close, h.len),
        (200, Framing::Length(3), false, 38)
    );
    assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Len", false), Ok(None));
    let h = parse_head(
        b"HTTP/1.1 503 x\r\nretry-after: 2.5\r\ncontent-length: 0\r\n\r\n",
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (h.status, h.retry_after, h.framing),
        (
            503,
            Some(RetryAfter::Delay(Duration::from_millis(2500))),
            Framing::Empty
        )
    );
    let h = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false)
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::Chunked);
    let h = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false)
        .unwrap()
        .unwrap();
    assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
    let h = parse_head(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", false)
        .unwrap()
        .unwrap();
    assert!(h.close, "HTTP/1.0 closes unless it says keep-alive");
    let h = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n", false).unwrap().unwrap();
    assert_eq!(h.framing, Framing::Empty);
    let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true)
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::Empty, "a HEAD answer has no body");
    let h = parse_head(
        b"HTTP/1.1 429 x\r\nretry-after: soon\r\ncontent-length: 0\r\n\r\n",
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.retry_after, Some(RetryAfter::Invalid));
}

#[test]
fn rejects_what_is_not_http() {
    assert_eq!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n", false), Err(BadResponse::Parse));
    assert_eq!(
        parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", false),
        Err(BadResponse::Length)
    );
    assert_eq!(
        parse_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            false
        ),
        Err(BadResponse::Length)
    );
    let mut long = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
    long.resize(MAX_HEAD + 10, b'a');
    assert_eq!(parse_head(&long, false), Err(BadResponse::HeadTooLong));
}

#[test]
fn bounds_what_a_target_may_announce() {
    let many = format!("HTTP/1.1 200 OK\r\n{}", "x: y\r\n".repeat(MAX_HEADERS + 1));
    assert_eq!(parse_head(many.as_bytes(), false), Err(BadResponse::TooManyHeaders));
    assert_eq!(
        parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n", false),
        Err(BadResponse::LengthTooLong(1 << 30))
    );
    let at_cap = format!("HTTP/1.1 200 OK\r\ncontent-length: {MAX_BODY}\r\n\r\n");
    let h = parse_head(at_cap.as_bytes(), false).unwrap().unwrap();
    assert_eq!(h.framing, Framing::Length(MAX_BODY));
    assert_eq!(Chunked::default().feed(b"40000000\r\n"), Err(BadResponse::BodyTooLong));
    assert!(Chunked::default().feed(b"ffffffffffffffffff\r\n").is_err());
}

#[test]
fn finds_the_end_of_a_chunked_body_fed_in_any_pieces() {
    let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-t: 1\r\n\r\nNEXT";
    let end = body.len() - 4;
    for split in 1..body.len() {
        let mut c = Chunked::default();
        let mut used = 0;
        for piece in body.chunks(split) {
            if c.is_done() {
                break;
            }
            used += c.feed(piece).unwrap();
        }
        assert!(c.is_done(), "split {split}");
        assert_eq!(used, end, "split {split}");
    }
    let mut c = Chunked::default();
    assert_eq!(c.feed(b"0\r\n\r\n"), Ok(5));
    assert!(c.is_done());
    assert_eq!(Chunked::default().feed(b"zz\r\n"), Err(BadResponse::Chunk));
    assert_eq!(Chunked::default().feed(b"2\r\nabX"), Err(BadResponse::Chunk));
}
