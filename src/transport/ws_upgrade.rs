//! The WebSocket upgrade itself (RFC 6455 §4.1): the request written in one piece, the
//! answer's head read with httparse, the accept key checked with tungstenite's
//! `derive_accept_key`. Done here rather than by tungstenite's client handshake, which
//! keeps a 4 KiB read buffer and an 8 KiB transient per connect and leaves the
//! connection holding the connect's wakers: for 250,000 idle clients that was most of
//! the memory they cost. The frames stay tungstenite's.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::conn::Io;
use super::retry_after::RetryAfter;
use crate::outcome::Class;

/// The largest answer head read before the connection is refused as not WebSocket.
const MAX_HEAD: usize = 16 << 10;

/// Why an upgrade did not give a WebSocket.
#[derive(Debug)]
pub(super) enum Refused {
    /// Answered with this status instead of 101 (with its `Retry-After`, if any).
    Status(u16, Option<RetryAfter>),
    /// Not a valid WebSocket answer, in words.
    Handshake(String),
    Io(io::Error),
}

impl Refused {
    pub fn class(&self) -> Class {
        match self {
            Refused::Status(s, Some(ra)) if (*s == 429 || *s == 503) && *ra != RetryAfter::Invalid => {
                Class::RetryAfter(*s)
            }
            Refused::Status(s, _) => Class::Status(*s),
            Refused::Handshake(_) => Class::WsHandshake,
            Refused::Io(e) => super::failure::classify_io(e),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Status(s, _) => write!(f, "the upgrade was answered {s} instead of 101 Switching Protocols"),
            Refused::Handshake(why) => write!(f, "the upgrade's answer is not a WebSocket's: {why}"),
            Refused::Io(e) => write!(f, "the upgrade: {e}"),
        }
    }
}

/// Upgrades `io` for `path` on `host` with `headers` (name, value); returns the bytes
/// read past the answer's head (the first frames, if the server sent them at once).
pub(super) async fn upgrade(
    io: &mut Io,
    host: &str,
    path: &str,
    headers: &[(http::HeaderName, String)],
) -> Result<Vec<u8>, Refused> {
    let key = generate_key();
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-version: 13\r\nsec-websocket-key: {key}\r\n"
    );
    for (name, value) in headers {
        req.push_str(name.as_str());
        req.push_str(": ");
        req.push_str(value);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await.map_err(Refused::Io)?;
    drop(req);
    let mut buf = Vec::with_capacity(512);
    loop {
        let mut chunk = [0u8; 512];
        let n = io.read(&mut chunk).await.map_err(Refused::Io)?;
        if n == 0 {
            return Err(Refused::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut parsed = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut parsed);
        match res.parse(&buf) {
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(Refused::Handshake(format!("no whole head in {} KiB", MAX_HEAD >> 10)));
            }
            Err(e) => return Err(Refused::Handshake(e.to_string())),
            Ok(httparse::Status::Complete(len)) => {
                let status = res.code.unwrap_or(0);
                let header = |name: &str| {
                    res.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| h.value)
                };
                if status != 101 {
                    let ra = header("retry-after").map(RetryAfter::parse);
                    return Err(Refused::Status(status, ra));
                }
                let has = |name: &str, token: &str| {
                    header(name).is_some_and(|v| {
                        String::from_utf8_lossy(v)
                            .split(',')
                            .any(|t| t.trim().eq_ignore_ascii_case(token))
                    })
                };
                if !has("upgrade", "websocket") || !has("connection", "upgrade") {
                    return Err(Refused::Handshake("101 without `upgrade: websocket`".into()));
                }
                if header("sec-websocket-accept") != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
                    return Err(Refused::Handshake("the accept key is not the request's".into()));
                }
                // Exactly the bytes past the head: tungstenite keeps this buffer's
                // capacity as the connection's read buffer.
                return Ok(buf[len..].to_vec());
            }
        }
    }
}
