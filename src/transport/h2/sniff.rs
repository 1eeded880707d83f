//! The server's frames as they pass to h2, read for what h2 does not say: the GOAWAY's
//! last-stream-id and code (a graceful GOAWAY ends h2's connection with `Ok`, and a
//! stream above the last-stream-id fails with the same error as one below it), and a
//! flood of SETTINGS or PING frames (h2 acknowledges every one, whatever the rate).
//! Only the 9-byte frame heads and a GOAWAY's first 8 payload bytes are looked at.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// SETTINGS and PING frames from the server within one second, at most: a server
/// sends one SETTINGS per change and answers PINGs; a keepalive sends a few a minute.
pub(super) const FLOOD: u32 = 100;
const FLOOD_PER: Duration = Duration::from_secs(1);

const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;

/// What the frames said, shared with the connection's handles.
#[derive(Debug)]
pub(super) struct Seen {
    /// The last GOAWAY's last-stream-id and code, `NONE` before any.
    goaway_last: AtomicU32,
    goaway_code: AtomicU32,
    /// SETTINGS and PING frames received (a figure for the reason of a flood).
    pub control: AtomicU64,
    /// The connection was ended for a flood (h2 keeps only the words of the read's
    /// error, so its streams are told by this).
    pub flooded: AtomicBool,
}

const NONE: u32 = u32::MAX;

impl Default for Seen {
    fn default() -> Self {
        Seen {
            goaway_last: AtomicU32::new(NONE),
            goaway_code: AtomicU32::new(NONE),
            control: AtomicU64::new(0),
            flooded: AtomicBool::new(false),
        }
    }
}

impl Seen {
    /// The last GOAWAY received: (last-stream-id, error code).
    pub fn goaway(&self) -> Option<(u32, u32)> {
        let code = self.goaway_code.load(Ordering::Acquire);
        (code != NONE).then(|| (self.goaway_last.load(Ordering::Acquire), code))
    }
}

/// The error a flood ends the connection with (told apart from the socket's own by
/// its inner type).
#[derive(Debug, thiserror::Error)]
#[error("the server sent more than {FLOOD} SETTINGS or PING frames within a second")]
pub(super) struct Flood;

/// A byte stream whose received bytes are read for frame heads on their way through.
#[derive(Debug)]
pub(super) struct Sniff<S> {
    inner: S,
    seen: std::sync::Arc<Seen>,
    /// The current frame head's bytes so far (9 when whole), then the payload left.
    head: [u8; 9],
    have: usize,
    left: u32,
    /// A GOAWAY's first 8 payload bytes, while they arrive.
    goaway: Option<([u8; 8], usize)>,
    window: (Instant, u32),
}

impl<S> Sniff<S> {
    pub fn new(inner: S, seen: std::sync::Arc<Seen>) -> Self {
        Sniff {
            inner,
            seen,
            head: [0; 9],
            have: 0,
            left: 0,
            goaway: None,
            window: (Instant::now(), 0),
        }
    }

    /// Reads `bytes` (just received) for frame heads; Err on a flood.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Flood> {
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = (self.left as usize).min(bytes.len());
                if let Some((buf, got)) = &mut self.goaway {
                    let take = (8 - *got).min(n);
                    buf[*got..*got + take].copy_from_slice(&bytes[..take]);
                    *got += take;
                    if *got == 8 {
                        let last = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) & 0x7fff_ffff;
                        let code = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                        self.seen.goaway_last.store(last, Ordering::Release);
                        self.seen.goaway_code.store(code, Ordering::Release);
                        self.goaway = None;
                    }
                }
                self.left -= n as u32;
                bytes = &bytes[n..];
                continue;
            }
            let take = (9 - self.have).min(bytes.len());
            self.head[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            if self.have < 9 {
                break;
            }
            self.have = 0;
            let h = self.head;
            self.left = u32::from_be_bytes([0, h[0], h[1], h[2]]);
            let (kind, flags) = (h[3], h[4]);
            if kind == GOAWAY && self.left >= 8 {
                self.goaway = Some(([0; 8], 0));
            }
            if (kind == SETTINGS || kind == PING) && flags & ACK == 0 {
                self.seen.control.fetch_add(1, Ordering::Relaxed);
                self.flood_check()?;
            }
        }
        Ok(())
    }

    fn flood_check(&mut self) -> Result<(), Flood> {
        let now = Instant::now();
        if now.saturating_duration_since(self.window.0) >= FLOOD_PER {
            self.window = (now, 0);
        }
        self.window.1 += 1;
        if self.window.1 > FLOOD {
            self.seen.flooded.store(true, Ordering::Release);
            return Err(Flood);
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniff<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r
            && me.feed(&buf.filled()[before..]).is_err()
        {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, Flood)));
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniff<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() as u32).to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 0];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_goaway_is_read_whatever_the_reads_cut_it_into() {
        let mut bytes = frame(SETTINGS, 0, &[0; 6]);
        bytes.extend(frame(0x0, 0x1, b"hello"));
        let mut goaway = 7u32.to_be_bytes().to_vec();
        goaway.extend(11u32.to_be_bytes());
        goaway.extend(b"debug");
        bytes.extend(frame(GOAWAY, 0, &goaway));
        // Known once its last-stream-id and code are in (the debug data may follow).
        let known_at = bytes.len() - b"debug".len();
        for cut in 1..bytes.len() {
            let seen = Arc::new(Seen::default());
            let mut s = Sniff::new((), seen.clone());
            s.feed(&bytes[..cut]).unwrap();
            assert_eq!(seen.goaway().is_some(), cut >= known_at, "cut at {cut}");
            s.feed(&bytes[cut..]).unwrap();
            assert_eq!(seen.goaway(), Some((7, 11)), "cut at {cut}");
            assert_eq!(seen.control.load(Ordering::Relaxed), 1);
        }
    }

    #[test]
    fn settings_and_pings_beyond_the_flood_limit_end_the_connection_and_acks_do_not_count() {
        let seen = Arc::new(Seen::default());
        let mut s = Sniff::new((), seen);
        for _ in 0..FLOOD * 2 {
            s.feed(&frame(SETTINGS, ACK, &[])).unwrap();
        }
        for _ in 0..FLOOD / 2 {
            s.feed(&frame(SETTINGS, 0, &[])).unwrap();
            s.feed(&frame(PING, 0, &[0; 8])).unwrap();
        }
        assert!(s.feed(&frame(PING, 0, &[0; 8])).is_err(), "the 101st within a second");
    }
}
