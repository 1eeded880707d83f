//! What `stampede try` shows of a flow: every request as sent and every answer as
//! received, kept only by a transport built with [`Transport::new_traced`]. A storm's
//! transport keeps nothing: its hot path pays one branch per step.

use std::sync::Mutex;

use super::Conn;
use super::capture::{Kept, body_of};

/// One step's request and answer, as bytes on the wire (secrets in clear: the caller
/// masks them before anything is shown).
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    pub step: String,
    /// The request's head and body as composed (empty when the connection failed first).
    pub request: Vec<u8>,
    /// The answer's head (empty when none came).
    pub head: Vec<u8>,
    /// The answer's body, de-chunked.
    pub body: Vec<u8>,
}

/// The exchanges of a traced transport, in the order they happened.
#[derive(Debug, Default)]
pub(super) struct Tracer {
    seen: Mutex<Vec<Exchange>>,
}

impl Tracer {
    /// Notes one step's exchange on `conn` (None: it never had a connection).
    pub fn note(&self, step: &str, conn: Option<&Conn>) {
        let x = Exchange {
            step: step.to_string(),
            request: conn.map(|c| c.out.clone()).unwrap_or_default(),
            head: conn.map(|c| c.kept.head.clone()).unwrap_or_default(),
            body: conn.map(|c| body_of(&c.kept)).unwrap_or_default(),
        };
        self.push(x);
    }

    /// Notes one step's HTTP/2 exchange: the request as composed, the answer's head
    /// with its protocol on the status line (`HTTP/2 200`).
    pub fn note_h2(&self, step: &str, request: &[u8], kept: &Kept) {
        let head = match kept.head.strip_prefix(b"HTTP/1.1 ") {
            Some(rest) => [b"HTTP/2 ".as_slice(), rest].concat(),
            None => kept.head.clone(),
        };
        self.push(Exchange {
            step: step.to_string(),
            request: request.to_vec(),
            head,
            body: body_of(kept),
        });
    }

    fn push(&self, x: Exchange) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(x);
    }

    pub fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
