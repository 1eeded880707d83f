//! A test-only HTTP/2 server written frame by frame, for what a well-behaved server
//! (the `h2` crate's) will not do: a GOAWAY with a chosen last-stream-id, resets with
//! chosen codes, PINGs never answered, a header block over the client's limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The first connection holds its first `n` streams, then answers half of them and
    /// sends GOAWAY(NO_ERROR) with the last answered one as last-stream-id; later
    /// connections answer everything.
    Goaway(usize),
    /// RST_STREAM with this code on every stream.
    Reset(u32),
    /// Never answers a stream or a PING.
    Silent,
    /// Answers PINGs, never a stream: a live connection to a slow server.
    Unanswered,
    /// Answers with a header block of this many bytes.
    BigHeaders(usize),
    /// Advertises a stream window of 0 and never opens it: no request body goes out.
    Stall,
    /// Sends this many SETTINGS frames right after its preface.
    SettingsFlood(usize),
    /// Answers the first stream, then closes the connection without a GOAWAY.
    CloseAfterAnswer,
    /// Sends GOAWAY with this code and the first stream's id as last-stream-id, never
    /// answers it, and closes.
    GoawayError(u32),
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

pub struct Raw {
    pub addr: SocketAddr,
    /// HTTP/2 connections (the preflight's bare connect is not one).
    pub connections: Arc<AtomicUsize>,
    pub streams: Arc<AtomicUsize>,
}

pub async fn serve(mode: Mode) -> Raw {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let streams = Arc::new(AtomicUsize::new(0));
    let (c, s) = (connections.clone(), streams.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (c, s) = (c.clone(), s.clone());
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(20), connection(tcp, mode, c, s)).await;
            });
        }
    });
    Raw {
        addr,
        connections,
        streams,
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + payload.len());
    crate::common::h2_hostile::frame(&mut f, kind, flags, stream, payload);
    f
}

/// `:status 200` (HPACK static index 8) and a small JSON body.
fn answer(stream: u32) -> Vec<u8> {
    let mut out = frame(HEADERS, END_HEADERS, stream, &[0x88]);
    out.extend(frame(DATA, END_STREAM, stream, br#"{"access_token":"t"}"#));
    out
}

/// `:status 200` and literal headers (not indexed) of 8 KiB each up to `size` bytes,
/// in HEADERS and CONTINUATION frames of 16 KiB, then the body.
fn big_headers(stream: u32, size: usize) -> Vec<u8> {
    let mut block = vec![0x88];
    let mut i = 0;
    while block.len() < size {
        let name = format!("x-bomb-{i}");
        block.push(0x00);
        crate::common::h2_hostile::hpack_int(&mut block, 0, 7, name.len());
        block.extend_from_slice(name.as_bytes());
        crate::common::h2_hostile::hpack_int(&mut block, 0, 7, 8192);
        block.extend(std::iter::repeat_n(b'a', 8192));
        i += 1;
    }
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = block.chunks(16384).collect();
    for (k, c) in chunks.iter().enumerate() {
        let kind = if k == 0 { HEADERS } else { CONTINUATION };
        let flags = if k + 1 == chunks.len() { END_HEADERS } else { 0 };
        out.extend(frame(kind, flags, stream, c));
    }
    out.extend(frame(DATA, END_STREAM, stream, br#"{"access_token":"t"}"#));
    out
}

async fn connection(
    mut tcp: TcpStream,
    mode: Mode,
    connections: Arc<AtomicUsize>,
    streams: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    tcp.read_exact(&mut preface).await?;
    let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
    match mode {
        // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 0.
        Mode::Stall => tcp.write_all(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 0])).await?,
        Mode::SettingsFlood(n) => {
            let flood: Vec<u8> = (0..n).flat_map(|_| frame(SETTINGS, 0, 0, &[])).collect();
            tcp.write_all(&flood).await?;
        }
        _ => tcp.write_all(&frame(SETTINGS, 0, 0, &[])).await?,
    }
    let mut held = Vec::new();
    loop {
        let mut head = [0u8; 9];
        tcp.read_exact(&mut head).await?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await?;
        match kind {
            SETTINGS if flags & ACK == 0 => tcp.write_all(&frame(SETTINGS, ACK, 0, &[])).await?,
            PING if flags & ACK == 0 && mode != Mode::Silent => tcp.write_all(&frame(PING, ACK, 0, &payload)).await?,
            HEADERS | DATA if flags & END_STREAM != 0 => {
                streams.fetch_add(1, Ordering::SeqCst);
                let out = match mode {
                    Mode::Goaway(n) if first => {
                        held.push(id);
                        if held.len() < n {
                            continue;
                        }
                        let keep = &held[..n / 2];
                        let mut out: Vec<u8> = keep.iter().flat_map(|&s| answer(s)).collect();
                        let mut goaway = keep.last().copied().unwrap_or(0).to_be_bytes().to_vec();
                        goaway.extend(0u32.to_be_bytes());
                        out.extend(frame(GOAWAY, 0, 0, &goaway));
                        tcp.write_all(&out).await?;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        return Ok(());
                    }
                    Mode::Goaway(_) => answer(id),
                    Mode::GoawayError(code) => {
                        let mut goaway = id.to_be_bytes().to_vec();
                        goaway.extend(code.to_be_bytes());
                        tcp.write_all(&frame(GOAWAY, 0, 0, &goaway)).await?;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return Ok(());
                    }
                    Mode::CloseAfterAnswer => {
                        tcp.write_all(&answer(id)).await?;
                        // A FIN, not a reset: what the client sent is read first (a
                        // socket closed with unread bytes sends RST).
                        tcp.shutdown().await?;
                        let mut sink = [0u8; 4096];
                        let drain = async { while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {} };
                        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
                        return Ok(());
                    }
                    Mode::Reset(code) => frame(RST_STREAM, 0, id, &code.to_be_bytes()),
                    Mode::Silent | Mode::Unanswered | Mode::Stall | Mode::SettingsFlood(_) => continue,
                    Mode::BigHeaders(size) => big_headers(id, size),
                };
                tcp.write_all(&out).await?;
            }
            _ => {}
        }
    }
}
