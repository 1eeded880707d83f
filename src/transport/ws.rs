//! A held connection: a client's own WebSocket (RFC 6455 through tokio-tungstenite, over
//! the transport's own TCP and TLS), its upgrade timed like a login step, then held
//! with heartbeats until it drops. What ends it is the drop's class: a close code, a
//! reset, a heartbeat not answered, a frame that breaks the protocol or its limits.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::conn::Io;
use super::failure::classify_io;
use super::retry_after::RetryAfter;
use super::ws_upgrade::{Refused, upgrade};
use super::{FlowResult, Transport};
use crate::outcome::{Class, StepResult};
use crate::profile::{Connect, Heartbeat, HeartbeatSend, Vars};

/// The largest frame and message a held client reads: a gateway's messages are small,
/// and a server streaming a gigabyte must not take the client's memory (`ws_too_big`).
pub const MAX_MESSAGE: usize = 1 << 20;
/// Bytes read at a time. tungstenite keeps a read buffer of this capacity per
/// connection for its whole life (its default, 128 KiB, would be 32 GB for 250,000
/// idle clients); a heartbeat's answer is tens of bytes.
const READ_BUFFER: usize = 512;
/// Pings a second past which a server's pings are a flood, not keepalive.
const PING_FLOOD: u32 = 100;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(64 << 10)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// A client's held WebSocket.
pub struct Held {
    ws: WebSocketStream<Io>,
    /// What the connect's last poll read already (a frame that came with the 101):
    /// the connection is established, so this is the held connection's first event,
    /// a drop if it is an error, never a failed connect.
    early: Option<Result<Message, Class>>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

/// What ended a connect or a held connection besides its class: the close code the
/// server sent, and the wait its reason named (`retry after 5`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Closed {
    pub code: Option<u16>,
    pub reason_wait: Option<Duration>,
}

/// A held connection's end.
#[derive(Debug, Clone, Copy)]
pub struct Dropped {
    pub class: Class,
    pub closed: Closed,
    pub at: Instant,
    /// The connection carried a message from the server before it dropped: it was in
    /// use, and its client comes back at once. One that dropped before is a connect
    /// that failed, and the client backs off (a server that accepts and drops at once
    /// must not get a reconnect loop without pause).
    pub proven: bool,
}

/// What held connections report while they run, drained by the engine each pass: the
/// heartbeats they sent and the answers with their round trips from the beat's
/// intended instant. The engine's one task polls every held connection, so the lock is
/// never contended; it only keeps the future `Send`.
#[derive(Debug, Default)]
pub struct Beats {
    inner: Mutex<BeatLog>,
}

#[derive(Debug, Default)]
pub struct BeatLog {
    /// (intended instant of the beat, its round trip) for each answered beat.
    pub answered: Vec<(Instant, Duration)>,
    pub sent: Vec<Instant>,
    /// Messages received on held connections (heartbeat answers included).
    pub messages: u64,
}

impl Beats {
    /// Takes what was reported since the last call.
    pub fn take(&self) -> BeatLog {
        std::mem::take(&mut *self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn with(&self, f: impl FnOnce(&mut BeatLog)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The class of a WebSocket error, and the server's close if it was one.
fn classify(e: &WsError) -> Class {
    match e {
        WsError::Io(e) => classify_io(e),
        WsError::ConnectionClosed | WsError::AlreadyClosed => Class::Reset,
        WsError::Capacity(_) => Class::WsTooBig,
        WsError::Utf8(_) => Class::WsUtf8,
        WsError::Protocol(p) => {
            use tokio_tungstenite::tungstenite::error::ProtocolError as P;
            match p {
                P::ResetWithoutClosingHandshake => Class::Reset,
                P::SecWebSocketAcceptKeyMismatch
                | P::MissingConnectionUpgradeHeader
                | P::MissingUpgradeWebSocketHeader
                | P::WrongHttpVersion
                | P::HttparseError(_)
                | P::HandshakeIncomplete
                | P::JunkAfterRequest
                | P::CustomResponseSuccessful
                | P::InvalidHeader(_) => Class::WsHandshake,
                _ => Class::WsProtocol,
            }
        }
        _ => Class::WsProtocol,
    }
}

/// The wait a back-off close names in its reason: its first number, in seconds
/// (`retry after 5`, `5`, `try again in 2.5s`). At most a day: a reason is the
/// target's text.
pub fn reason_wait(reason: &str) -> Option<Duration> {
    let start = reason.find(|c: char| c.is_ascii_digit())?;
    let num: String = reason[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .take(12)
        .collect();
    match RetryAfter::parse(num.trim_end_matches('.').as_bytes()) {
        RetryAfter::Delay(d) => Some(d.min(Duration::from_secs(86_400))),
        _ => None,
    }
}

fn closed(frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>, from_reason: bool) -> Closed {
    match frame {
        None => Closed {
            code: Some(1005),
            reason_wait: None,
        },
        Some(f) => Closed {
            code: Some(u16::from(f.code)),
            reason_wait: if from_reason { reason_wait(&f.reason) } else { None },
        },
    }
}

impl Transport {
    /// Opens the client's WebSocket: TCP from its source address, TLS for `https://`
    /// nodes (`wss://`), the upgrade with the profile's headers, and (with
    /// `connect.ready`) the server's first message; all within `target.timeout`. A
    /// refused upgrade is classed like an answer (`http_401`, 503 with its
    /// `Retry-After`); a server that closes before it is ready, by its close code.
    pub async fn connect_held(
        &self,
        c: &Connect,
        vars: Vars<'_>,
        started: Instant,
    ) -> (FlowResult, Closed, Option<Held>) {
        let node = vars.node;
        let d = &self.dests[node];
        let sent = Instant::now();
        let deadline = sent + self.timeout;
        let mut retry_after: Option<RetryAfter> = None;
        let mut close = Closed::default();
        let r = tokio::time::timeout_at(deadline, async {
            let tls = self.tls.as_ref().map(|t| &t.0).zip(d.tls.as_ref());
            let io = Io::open(d.addr, self.source_of(vars.client), tls).await.map_err(|f| {
                self.examples.note(f.class, || f.cause.to_string());
                f.class
            })?;
            // A client whose machine reboots vanishes: its connection resets, with no
            // close handshake and no FIN (SO_LINGER 0 when it is dropped).
            let _ = socket2::SockRef::from(io.tcp()).set_linger(Some(Duration::ZERO));
            let mut io = io;
            let path = format!("{}{}", d.base_path, c.upgrade.path.render(vars));
            let mut headers = Vec::with_capacity(c.upgrade.headers.len());
            for (name, t) in &c.upgrade.headers {
                let v = t.render(vars);
                if HeaderValue::from_str(&v).is_err() {
                    self.examples.note(Class::Check, || {
                        format!("header `{name}` of the upgrade is not a valid header value")
                    });
                    return Err(Class::Check);
                }
                headers.push((name.clone(), v));
            }
            let tail = match upgrade(&mut io, &d.host, &path, &headers).await {
                Ok(tail) => tail,
                Err(refused) => {
                    if let Refused::Status(_, ra) = &refused {
                        retry_after = *ra;
                    }
                    let class = refused.class();
                    self.examples.note(class, || refused.to_string());
                    return Err(class);
                }
            };
            let mut ws = WebSocketStream::from_partially_read(io, tail, Role::Client, Some(config())).await;
            if let Some(ready) = &c.ready {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) if t.as_str().contains(ready.as_str()) => break,
                        Some(Ok(Message::Close(f))) => {
                            close = closed(f.as_ref(), c.retry_after_from_reason);
                            let code = close.code.unwrap_or(1005);
                            return Err(Class::WsClose(code));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(classify(&e)),
                        None => return Err(Class::Reset),
                    }
                }
            }
            // Whatever waited on this socket so far (this connect) is not its holder:
            // a waker left registered would keep the connect's whole state alive.
            let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
            // The upgrade was accepted: the connection is up, and whatever came with
            // the 101 (a message, or a frame too big) is the held connection's.
            let early = match ws.poll_next_unpin(&mut cx) {
                std::task::Poll::Pending => None,
                std::task::Poll::Ready(Some(m)) => Some(m.map_err(|e| classify(&e))),
                std::task::Poll::Ready(None) => Some(Err(Class::Reset)),
            };
            Ok((ws, early))
        })
        .await;
        let done = Instant::now();
        let (class, held) = match r {
            Err(_) => {
                self.examples.note(Class::Timeout, || {
                    format!("the upgrade was not done within {}", crate::units::Dur(self.timeout))
                });
                (Class::Timeout, None)
            }
            Ok(Err(class)) => (class, None),
            Ok(Ok((ws, early))) => (Class::Ok, Some(Held { ws, early })),
        };
        let res = FlowResult {
            class,
            retry_after: retry_after.and_then(|r| r.wait(SystemTime::now)),
            retry_after_invalid: false,
            started,
            sent,
            done,
            steps: smallvec::smallvec![StepResult {
                class,
                latency: done - started,
                service: done - sent,
            }],
            node,
        };
        (res, close, held)
    }
}

impl Held {
    /// Holds the connection until it drops: a heartbeat at `first_beat` and every
    /// `hb.every` after it, each answered (by any message, or the pong of a ping)
    /// within `hb.expect_within` or the connection is dropped; pings are answered; the
    /// server's messages are counted. Dropping the future resets the connection (a
    /// reboot, the end of the run).
    pub async fn hold(mut self, hb: &Heartbeat, first_beat: Instant, from_reason: bool, beats: &Beats) -> Dropped {
        let mut next_beat = first_beat;
        // The intended instant of the oldest heartbeat not yet answered.
        let mut pending: Option<Instant> = None;
        let (mut pings, mut pings_since) = (0u32, Instant::now());
        let mut proven = false;
        match self.early.take() {
            None | Some(Ok(Message::Ping(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Pong(_))) => {
                proven = true;
                beats.with(|b| b.messages += 1);
            }
            Some(Ok(Message::Close(f))) => {
                let c = closed(f.as_ref(), from_reason);
                return Dropped {
                    class: Class::WsClose(c.code.unwrap_or(1005)),
                    closed: c,
                    at: Instant::now(),
                    proven,
                };
            }
            Some(Err(class)) => {
                return Dropped {
                    class,
                    closed: Closed::default(),
                    at: Instant::now(),
                    proven,
                };
            }
        }
        loop {
            let end = |class: Class, closed: Closed| Dropped {
                class,
                closed,
                at: Instant::now(),
                proven,
            };
            let deadline = pending.map(|p| p + hb.expect_within);
            let wake = deadline.map_or(next_beat, |d| d.min(next_beat));
            tokio::select! {
                biased;
                msg = self.ws.next() => match msg {
                    Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Pong(_))) => {
                        let now = Instant::now();
                        proven = true;
                        beats.with(|b| {
                            b.messages += 1;
                            if let Some(p) = pending.take() {
                                b.answered.push((p, now.saturating_duration_since(p)));
                            }
                        });
                    }
                    Some(Ok(Message::Ping(_))) => {
                        let now = Instant::now();
                        if now.duration_since(pings_since) >= Duration::from_secs(1) {
                            (pings, pings_since) = (0, now);
                        }
                        pings += 1;
                        if pings > PING_FLOOD {
                            return end(Class::PingFlood, Closed::default());
                        }
                    }
                    Some(Ok(Message::Close(f))) => {
                        let c = closed(f.as_ref(), from_reason);
                        // The close handshake's answer, best effort: the client goes on
                        // at once whatever the server does with its half.
                        let _ = tokio::time::timeout(Duration::from_millis(50), self.ws.flush()).await;
                        return end(Class::WsClose(c.code.unwrap_or(1005)), c);
                    }
                    Some(Ok(Message::Frame(_))) => {}
                    Some(Err(e)) => return end(classify(&e), Closed::default()),
                    None => return end(Class::Reset, Closed::default()),
                },
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return end(Class::HeartbeatTimeout, Closed::default());
                    }
                    if now >= next_beat {
                        let msg = match &hb.send {
                            HeartbeatSend::Text(t) => Message::text(t.as_str()),
                            HeartbeatSend::Ping => Message::Ping(Default::default()),
                        };
                        // A server that stops reading fills the socket: the beat cannot
                        // leave, and that is a heartbeat gone unanswered.
                        match tokio::time::timeout(hb.expect_within, self.ws.send(msg)).await {
                            Err(_) => return end(Class::HeartbeatTimeout, Closed::default()),
                            Ok(Err(e)) => return end(classify(&e), Closed::default()),
                            Ok(Ok(())) => {}
                        }
                        let intended = next_beat;
                        beats.with(|b| b.sent.push(intended));
                        pending.get_or_insert(intended);
                        next_beat += hb.every;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_names_its_wait() {
        let s = |x: u64| Some(Duration::from_secs(x));
        assert_eq!(reason_wait("retry after 5"), s(5));
        assert_eq!(reason_wait("5"), s(5));
        assert_eq!(reason_wait("try again in 2.5s"), Some(Duration::from_millis(2500)));
        assert_eq!(reason_wait("overloaded"), None);
        assert_eq!(reason_wait("retry after 99999999999999999999"), s(86_400));
        assert_eq!(reason_wait("é 3"), s(3));
    }
}
