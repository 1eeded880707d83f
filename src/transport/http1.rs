//! The bytes of HTTP/1.1 on the hot path, without I/O: composing a step's request into
//! a reused buffer, and reading a response head and body framing out of what has
//! arrived. The transport drives these over its sockets; everything here is tested
//! without a network.
//!
//! Why not hyper: a login is one small request and one small answer. hyper's client
//! runs a connection task per connection and hands every request and response across
//! channels, which profiled as the largest user-space cost per login (bench/compare.sh).
//! Here a login is a write of bytes composed in place and a read parsed by `httparse`
//! (the parser hyper itself uses), inside the task that scheduled it.

use std::io::Write as _;

use super::retry_after::RetryAfter;
use crate::profile::{Step, Vars};

/// The longest response head read before the answer is called malformed.
pub const MAX_HEAD: usize = 64 * 1024;
pub const MAX_HEADERS: usize = 64;
/// The most body bytes read of one answer (16 MiB): a login's answer is small, and a
/// target that streams without end must not hold an attempt (or memory) for it.
pub const MAX_BODY: u64 = 16 << 20;
/// Informational (1xx) answers skipped before the final one; past these the answer is
/// bad (a target may send `100 Continue` without end).
pub const MAX_INFORMATIONAL: u32 = 4;
/// The longest request head composed: captured values (at most
/// [`super::capture::MAX_CAPTURE`] each) and cookies (a jar holds at most
/// `profile::jar::MAX_JAR_BYTES`) cannot make a client's request grow without end.
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Appends the request of `step` to `out`. `close` asks the server to close the
/// connection after its answer (a fresh connection's last request): the side that
/// closes first keeps the TIME_WAIT, and it belongs on the server, not on a client
/// that opens thousands of connections a second. A head longer than
/// [`MAX_REQUEST_HEAD`] is refused with its length (`out` then holds part of it).
pub fn compose(
    step: &Step,
    host: &str,
    base_path: &str,
    vars: Vars,
    close: bool,
    out: &mut Vec<u8>,
    scratch: &mut String,
) -> Result<(), usize> {
    out.extend_from_slice(step.method.as_str().as_bytes());
    out.push(b' ');
    scratch.clear();
    scratch.push_str(base_path);
    step.path.render_into(scratch, vars);
    if scratch.is_empty() {
        scratch.push('/');
    }
    // A rendered path is the profile's own text; keep it on one request line.
    push_clean(out, scratch);
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    if step.cookies
        && let Some(jar) = vars.values.map(|v| &v.jar).filter(|j| !j.is_empty())
    {
        let path = std::mem::take(scratch);
        // The clock only for cookies that can expire: a read per request otherwise.
        let now = if jar.expiring() { unix_now() } else { 0 };
        if jar.header(scratch, host_name(host), &path, now) {
            out.extend_from_slice(b"cookie: ");
            push_clean(out, scratch);
            out.extend_from_slice(b"\r\n");
        }
        *scratch = path;
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    let mut has_type = false;
    for (name, value) in &step.headers {
        has_type |= name == http::header::CONTENT_TYPE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        scratch.clear();
        value.render_into(scratch, vars);
        push_clean(out, scratch);
        out.extend_from_slice(b"\r\n");
    }
    // Before the body: its length is the profile's and the captures' (each bounded).
    if out.len() > MAX_REQUEST_HEAD {
        return Err(out.len());
    }
    match &step.body {
        Some(t) => {
            if !has_type {
                out.extend_from_slice(b"content-type: application/json\r\n");
            }
            scratch.clear();
            t.render_into(scratch, vars);
            let _ = write!(out, "content-length: {}\r\n\r\n", scratch.len());
            out.extend_from_slice(scratch.as_bytes());
        }
        None => {
            if matches!(step.method.as_str(), "POST" | "PUT" | "PATCH") {
                out.extend_from_slice(b"content-length: 0\r\n");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    Ok(())
}

/// The host of a `host` header value, without its port or IPv6 brackets: what cookies
/// are matched against.
pub fn host_name(host: &str) -> &str {
    let h = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    h.trim_start_matches('[').trim_end_matches(']')
}

/// Unix seconds, for cookie expiry.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Line breaks and NULs would split a request line or header: they are left out, and
/// the target's answer says what is wrong with what remains.
fn push_clean(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        out.extend(s.bytes().filter(|b| !matches!(b, b'\r' | b'\n' | 0)));
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub retry_after: Option<RetryAfter>,
    pub framing: Framing,
    /// The server will close the connection (or did not speak HTTP/1.1 keep-alive).
    pub close: bool,
    /// Bytes of the head, up to and including the blank line.
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadResponse {
    #[error("not an HTTP/1.x response")]
    Parse,
    #[error("response head longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("invalid content-length")]
    Length,
    #[error("content-length {0} is more than the 16 MiB read of an answer")]
    LengthTooLong(u64),
    #[error("body longer than the 16 MiB read of an answer")]
    BodyTooLong,
    #[error("body longer than the 1 MiB kept of an answer to capture from or check")]
    KeptTooLong,
    #[error("the run's 256 MiB for answers kept to capture from or check is full (answers in flight too long)")]
    KeptBudget,
    #[error("invalid chunked body")]
    Chunk,
    #[error("more than {MAX_INFORMATIONAL} informational (1xx) answers before the final one")]
    Informational,
}

impl BadResponse {
    /// Is the head at fault (class `head`), rather than the body (class `body`)?
    pub fn is_head(self) -> bool {
        matches!(
            self,
            BadResponse::Parse
                | BadResponse::HeadTooLong
                | BadResponse::TooManyHeaders
                | BadResponse::Length
                | BadResponse::LengthTooLong(_)
                | BadResponse::Informational
        )
    }
}

/// Room for a head's fields, left uninitialised for the parser to fill: initialising
/// 64 empty headers (2 KiB) on every answer was a third of `parse_head`'s time
/// (measured, #27).
pub type HeadFields<'b> = [std::mem::MaybeUninit<httparse::Header<'b>>; MAX_HEADERS];

/// Fresh room for a head's fields.
pub fn head_fields<'b>() -> HeadFields<'b> {
    [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS]
}

/// Parses a response head into `r`, its fields into `fields`.
pub fn parse_response<'h, 'b>(
    r: &mut httparse::Response<'h, 'b>,
    buf: &'b [u8],
    fields: &'h mut HeadFields<'b>,
) -> httparse::Result<usize> {
    httparse::ParserConfig::default().parse_response_with_uninit_headers(r, buf, fields)
}

/// Reads a response head from the start of `buf`: `Ok(None)` until all of it has
/// arrived. Informational (1xx) heads are returned like any other; the caller skips them.
pub fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, BadResponse> {
    let mut headers = head_fields();
    let mut r = httparse::Response::new(&mut []);
    let len = match parse_response(&mut r, buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(BadResponse::HeadTooLong),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(BadResponse::TooManyHeaders),
        Err(_) => return Err(BadResponse::Parse),
    };
    let status = r.code.ok_or(BadResponse::Parse)?;
    let mut close = r.version != Some(1);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut retry_after = None;
    for h in r.headers.iter() {
        let v = h.value;
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(BadResponse::Length)?;
            if length.is_some_and(|l| l != n) {
                return Err(BadResponse::Length);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must be the last coding; anything else is read until close.
            let last = v.rsplit(|&b| b == b',').next().unwrap_or(v);
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            if !chunked {
                close = true;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in v.split(|&b| b == b',') {
                let t = token.trim_ascii();
                if t.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") && r.version == Some(0) {
                    close = false;
                }
            }
        } else if h.name.eq_ignore_ascii_case("retry-after") {
            retry_after = Some(RetryAfter::parse(v));
        }
    }
    let framing = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err(BadResponse::LengthTooLong(n));
        }
        if n == 0 { Framing::Empty } else { Framing::Length(n) }
    } else {
        close = true;
        Framing::UntilClose
    };
    Ok(Some(Head {
        status,
        retry_after,
        framing,
        close,
        len,
    }))
}

/// A chunked body, decoded only as far as knowing where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chunked {
    /// Reading a chunk-size line: the size so far, and whether an extension began.
    #[default]
    Start,
    Size(u64, bool),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    /// Reading trailer lines; true when the current line is empty so far.
    Trailer(bool),
    TrailerLf(bool),
    Done,
}

impl Chunked {
    /// Feeds bytes; returns how many were consumed. Stops at the end of the body, so
    /// what follows (a next response) is left over.
    pub fn feed(&mut self, buf: &[u8]) -> Result<usize, BadResponse> {
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            *self = match *self {
                Chunked::Start => match hex(b) {
                    Some(d) => Chunked::Size(d, false),
                    None => return Err(BadResponse::Chunk),
                },
                Chunked::Size(n, ext) => match (hex(b), ext) {
                    (Some(d), false) => {
                        if n > (u64::MAX >> 8) {
                            return Err(BadResponse::Chunk);
                        }
                        Chunked::Size(n << 4 | d, false)
                    }
                    _ if b == b'\r' => Chunked::SizeLf(n),
                    (_, true) => Chunked::Size(n, true),
                    _ if b == b';' || b == b' ' || b == b'\t' => Chunked::Size(n, true),
                    _ => return Err(BadResponse::Chunk),
                },
                Chunked::SizeLf(n) => match b {
                    _ if n > MAX_BODY => return Err(BadResponse::BodyTooLong),
                    b'\n' if n == 0 => Chunked::Trailer(true),
                    b'\n' => Chunked::Data(n),
                    _ => return Err(BadResponse::Chunk),
                },
                Chunked::Data(n) => {
                    let take = n.min((buf.len() - i) as u64);
                    i += take as usize;
                    *self = if take == n {
                        Chunked::DataCr
                    } else {
                        Chunked::Data(n - take)
                    };
                    continue;
                }
                Chunked::DataCr if b == b'\r' => Chunked::DataLf,
                Chunked::DataLf if b == b'\n' => Chunked::Start,
                Chunked::DataCr | Chunked::DataLf => return Err(BadResponse::Chunk),
                Chunked::Trailer(empty) => match b {
                    b'\r' => Chunked::TrailerLf(empty),
                    _ => Chunked::Trailer(false),
                },
                Chunked::TrailerLf(empty) => match b {
                    b'\n' if empty => {
                        *self = Chunked::Done;
                        return Ok(i + 1);
                    }
                    b'\n' => Chunked::Trailer(true),
                    _ => return Err(BadResponse::Chunk),
                },
                Chunked::Done => return Ok(i),
            };
            i += 1;
        }
        Ok(i)
    }

    pub fn is_done(&self) -> bool {
        *self == Chunked::Done
    }
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

#[cfg(test)]
#[path = "http1_tests.rs"]
mod tests;
