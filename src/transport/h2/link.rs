//! One HTTP/2 connection: its handshake, its driver task, and a request sent on it as
//! a stream.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use h2::client::{Builder, SendRequest};
use tokio::sync::Notify;

use super::classify::{class_of, goaway_name};
use super::sniff::{self, Seen, Sniff};
use super::{MAX_HEADER_LIST, Tally};
use crate::outcome::Class;
use crate::transport::capture::{KeepRefused, Kept};
use crate::transport::conn::Io;
use crate::transport::failure::{Cause, Failure};
use crate::transport::http1::{self, BadResponse};
use crate::transport::retry_after::RetryAfter;

/// A connection's shared state: what its frames said, and why it ended.
#[derive(Debug)]
struct State {
    seen: Arc<Seen>,
    /// Why the connection is gone; unset while it lives.
    ended: OnceLock<Class>,
    ping: tokio::sync::Mutex<Option<h2::PingPong>>,
    /// A stream's PING went unanswered: the driver drops the connection.
    kill: Notify,
    /// Streams sent on it: a connection that carried more than the one that opened it
    /// was in use, and its client comes back at once when it drops.
    streams: std::sync::atomic::AtomicU32,
}

/// A handle on one connection: cheap to clone, one per stream in flight.
#[derive(Debug, Clone)]
pub struct Link {
    send: SendRequest<Bytes>,
    state: Arc<State>,
    /// Alive while anything holds the link (a client, a pool slot, a stream): a
    /// connection that ends with none left was closed by this side, not dropped.
    _held: Arc<()>,
}

/// How far a stream got before it failed or its deadline passed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    /// The request body waits for flow-control capacity.
    pub sending: bool,
    /// The answer's head arrived.
    pub answered: bool,
}

/// A stream that failed.
#[derive(Debug)]
pub enum StreamError {
    /// Never processed by the server: above a GOAWAY's last-stream-id, or refused at
    /// `ready` after one. Sent again at once on a new connection.
    Unprocessed,
    Failed(Failure),
}

/// The client's limits on what a server may make it hold.
fn builder() -> Builder {
    let mut b = Builder::new();
    b.max_header_list_size(MAX_HEADER_LIST)
        // 16 KiB, the protocol's floor: a bigger frame is FRAME_SIZE_ERROR.
        .max_frame_size(16 << 10)
        // What the server may send ahead of reads: the engine reads every body at once.
        .initial_window_size(256 << 10)
        .initial_connection_window_size(1 << 20)
        .max_concurrent_reset_streams(64)
        .max_send_buffer_size(64 << 10)
        .enable_push(false);
    b
}

impl Link {
    /// The h2 handshake on `io` (its ALPN already checked), and its driver spawned.
    /// `ping_every`: a held connection's PING interval, answered within `timeout`.
    /// `owner`: the client whose own connection this is (`connection: fresh`): when the
    /// server drops it while something still holds it, the client is named for a redial.
    pub async fn start(
        io: Io,
        tally: Arc<Tally>,
        ping_every: Option<Duration>,
        timeout: Duration,
        owner: Option<u64>,
    ) -> Result<Link, Failure> {
        let seen = Arc::new(Seen::default());
        let (send, mut conn) = builder()
            .handshake::<_, Bytes>(Sniff::new(io, seen.clone()))
            .await
            .map_err(|e| h2_failure(&e))?;
        let state = Arc::new(State {
            seen,
            ended: OnceLock::new(),
            ping: tokio::sync::Mutex::new(conn.ping_pong()),
            kill: Notify::new(),
            streams: Default::default(),
        });
        let s = state.clone();
        let held = Arc::new(());
        let holders = Arc::downgrade(&held);
        tokio::spawn(async move {
            let pinger = async {
                let Some(every) = ping_every else {
                    return std::future::pending().await;
                };
                loop {
                    tokio::time::sleep(every).await;
                    if ping(&s, timeout).await == Some(false) {
                        return;
                    }
                }
            };
            // A close without a GOAWAY (h2 says EOF as an io error): its drop is named
            // `closed`, not `reset`, which is a TCP reset.
            let mut closed = false;
            let end = tokio::select! {
                r = &mut conn => r.err().map(|e| if s.seen.flooded.load(Ordering::Acquire) {
                    Class::H2SettingsFlood
                } else {
                    closed = e.get_io().is_some_and(|io| {
                        matches!(io.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe)
                    });
                    class_of(&e)
                }),
                _ = s.kill.notified() => Some(Class::PingTimeout),
                _ = pinger => Some(Class::PingTimeout),
            };
            let goaway = s.seen.goaway();
            let class = match (goaway, end) {
                (Some((_, code)), _) if code == u32::from(h2::Reason::ENHANCE_YOUR_CALM) => Class::EnhanceYourCalm,
                (Some(_), _) => Class::GoAway,
                (None, Some(c)) => c,
                // Closed by this side: every handle was dropped.
                (None, None) => Class::Ok,
            };
            let _ = s.ended.set(class);
            // Ended while its client still had it: the server dropped it (we end a
            // connection only by letting go of every handle). It comes back at once if
            // the connection was in use (it carried a stream besides the one that opened
            // it), as a held WebSocket does when it carried a message: a server that
            // closes after every answer paces the client at its keepalives, not in a loop.
            if holders.strong_count() > 0
                && s.streams.load(Ordering::Relaxed) >= 2
                && let Some(c) = owner
            {
                tally.redial(c);
            }
            match (goaway, end) {
                (Some((_, code)), _) => tally.dropped(goaway_name(code)),
                (None, Some(_)) if closed => tally.dropped("closed".into()),
                (None, Some(c)) => tally.dropped(c.to_string()),
                // Ended cleanly while a client still held it: the server closed it.
                (None, None) if holders.strong_count() > 0 => tally.dropped("closed".into()),
                (None, None) => {}
            }
        });
        Ok(Link {
            send,
            state,
            _held: held,
        })
    }

    /// Still open, and no GOAWAY received: a new stream may go on it.
    pub fn usable(&self) -> bool {
        self.state.ended.get().is_none() && self.state.seen.goaway().is_none()
    }

    /// Sends `req` with `body` as one stream and reads its whole answer into `kept`
    /// (its head as an HTTP/1.1 head, for the captures that read one, when `keep_head`;
    /// its body when `keep_body`). Returns the status and Retry-After.
    pub async fn exchange(
        &self,
        req: http::Request<()>,
        body: Bytes,
        keep: (bool, bool),
        kept: &mut Kept,
        progress: &mut Progress,
    ) -> Result<(u16, Option<RetryAfter>), StreamError> {
        let mut send = self.send.clone().ready().await.map_err(|e| self.failed(&e, None))?;
        self.state.streams.fetch_add(1, Ordering::Relaxed);
        let (answer, mut stream) = send
            .send_request(req, body.is_empty())
            .map_err(|e| self.failed(&e, None))?;
        let id = stream.stream_id().as_u32();
        if !body.is_empty() {
            progress.sending = true;
            let mut body = body;
            while !body.is_empty() {
                stream.reserve_capacity(body.len());
                let cap = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
                    Some(Ok(n)) => n,
                    Some(Err(e)) => return Err(self.failed(&e, Some(id))),
                    None => {
                        return Err(self.failed_plain(Class::StreamReset, "the stream closed before its body was sent"));
                    }
                };
                let chunk = body.split_to(cap.min(body.len()));
                let last = body.is_empty();
                stream.send_data(chunk, last).map_err(|e| self.failed(&e, Some(id)))?;
            }
            progress.sending = false;
        }
        let answer = answer.await.map_err(|e| self.failed(&e, Some(id)))?;
        progress.answered = true;
        let (head, mut recv) = answer.into_parts();
        let status = head.status.as_u16();
        let retry_after = head
            .headers
            .get(http::header::RETRY_AFTER)
            .map(|v| RetryAfter::parse(v.as_bytes()));
        if keep.0 {
            // The head as HTTP/1.1 text: captures and cookies read it with the same code
            // whichever protocol carried it.
            kept.head
                .extend_from_slice(format!("HTTP/1.1 {status} \r\n").as_bytes());
            for (name, value) in &head.headers {
                kept.head.extend_from_slice(name.as_str().as_bytes());
                kept.head.extend_from_slice(b": ");
                kept.head.extend_from_slice(value.as_bytes());
                kept.head.extend_from_slice(b"\r\n");
            }
            kept.head.extend_from_slice(b"\r\n");
        }
        let mut read = 0u64;
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(|e| self.failed(&e, Some(id)))?;
            let _ = recv.flow_control().release_capacity(chunk.len());
            read += chunk.len() as u64;
            if read > http1::MAX_BODY {
                return Err(StreamError::Failed(Failure::bad(BadResponse::BodyTooLong)));
            }
            if keep.1
                && let Err(refused) = kept.extend(&chunk)
            {
                return Err(StreamError::Failed(Failure::bad(match refused {
                    KeepRefused::TooLong => BadResponse::KeptTooLong,
                    KeepRefused::Budget => BadResponse::KeptBudget,
                })));
            }
        }
        Ok((status, retry_after))
    }

    /// A stream's error: unprocessed when above the last GOAWAY's last-stream-id (or,
    /// `id` None, never given one), else its class; the connection's own end (a PING
    /// timeout) overrides what h2 says of the stream.
    fn failed(&self, e: &h2::Error, id: Option<u32>) -> StreamError {
        if let Some((last, code)) = self.state.seen.goaway() {
            if id.is_none_or(|id| id > last) {
                return StreamError::Unprocessed;
            }
            // At or below the last-stream-id, under a GOAWAY that says something went
            // wrong: lost to it, whatever h2 saw last (often the close that followed).
            if code == u32::from(h2::Reason::ENHANCE_YOUR_CALM) {
                return self.failed_plain(
                    Class::EnhanceYourCalm,
                    &format!("the server sent {}", goaway_name(code)),
                );
            }
            if code != u32::from(h2::Reason::NO_ERROR) {
                return self.failed_plain(Class::GoAway, &format!("the server sent {}", goaway_name(code)));
            }
        }
        // This side dropped the connection (its PING went unanswered): h2 only says the
        // stream was cut. Otherwise the stream's own error says most (the connection's
        // loses a GOAWAY's debug data).
        if self.state.ended.get() == Some(&Class::PingTimeout) {
            return self.failed_plain(Class::PingTimeout, "the connection's PING went unanswered");
        }
        if self.state.seen.flooded.load(Ordering::Acquire) {
            return self.failed_plain(Class::H2SettingsFlood, &sniff::Flood.to_string());
        }
        StreamError::Failed(h2_failure(e))
    }

    fn failed_plain(&self, class: Class, why: &str) -> StreamError {
        StreamError::Failed(Failure {
            class,
            cause: Cause::H2(why.to_string()),
        })
    }

    /// Pings the server from a stream that has waited half its timeout: an answer
    /// means the connection lives (the stream is merely slow); none within `within`
    /// means it is dead: the driver drops it and the stream is `ping_timeout`.
    pub async fn watch(&self, after: Duration, within: Duration) -> Class {
        tokio::time::sleep(after).await;
        if ping(&self.state, within).await == Some(false) {
            self.state.kill.notify_one();
            let _ = self.state.ended.set(Class::PingTimeout);
            return Class::PingTimeout;
        }
        std::future::pending().await
    }
}

/// One PING: Some(true) answered, Some(false) not within `within`, None when none could
/// be sent (another is in flight, or the connection is gone).
async fn ping(state: &State, within: Duration) -> Option<bool> {
    let mut guard = state.ping.try_lock().ok()?;
    let pp = guard.as_mut()?;
    match tokio::time::timeout(within, pp.ping(h2::Ping::opaque())).await {
        Ok(Ok(_)) => Some(true),
        Ok(Err(_)) => None,
        Err(_) => Some(false),
    }
}

fn h2_failure(e: &h2::Error) -> Failure {
    Failure {
        class: class_of(e),
        cause: Cause::H2(e.to_string()),
    }
}
