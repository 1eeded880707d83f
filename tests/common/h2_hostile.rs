//! Hostile HTTP/2 servers (issue #25): each breaks HTTP/2 in one way that the `h2`
//! crate's own server would not allow, so most write their frames by hand. `ok`,
//! `refuse-stream` and `calm` are the `h2` crate's server, which is well-behaved by
//! construction. `tests/h2_hostile.rs` checks each on the wire; `examples/h2_hostile.rs`
//! serves one on a command line (`--mode NAME --listen 127.0.0.1:0`).
//!
//! Every flood is bounded: it writes with backpressure (a client that stops reading
//! stops it) and ends when a write fails (the client went away). `Stats::open` counts
//! the connections still served, so a test can see that they end.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The body every answering mode sends: a login's token.
pub const TOKEN_BODY: &[u8] = br#"{"access_token":"t"}"#;

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const WINDOW_UPDATE: u8 = 8;
    pub const CONTINUATION: u8 = 9;
}
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
/// SETTINGS_INITIAL_WINDOW_SIZE.
const INITIAL_WINDOW_SIZE: u16 = 0x4;
/// SETTINGS_MAX_CONCURRENT_STREAMS.
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// A frame larger than this is refused: the default SETTINGS_MAX_FRAME_SIZE.
const MAX_PAYLOAD: usize = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SETTINGS frames without end, never an answer.
    SettingsFlood,
    /// SETTINGS_INITIAL_WINDOW_SIZE 0 and never a WINDOW_UPDATE: a request body cannot
    /// be sent; nothing is answered.
    FlowStall,
    /// Answers a request with HEADERS without END_HEADERS, then CONTINUATION frames
    /// without end.
    ContinuationFlood,
    /// Answers with one header block of 16 KB that decodes to about 50 MB: one 4 KB
    /// dynamic table entry, then 12,377 references to it.
    HpackBomb,
    /// SETTINGS then GOAWAY (last stream 0, NO_ERROR) at once on every connection.
    GoawayLoop,
    /// RST_STREAM REFUSED_STREAM to every stream.
    RefuseStream,
    /// RST_STREAM ENHANCE_YOUR_CALM to every stream.
    Calm,
    /// Answers every request 200, but never ACKs a PING.
    NoPingAck,
    /// Well-behaved (the `h2` crate's server): 200 `{"access_token":"t"}` to
    /// everything, and the connection and stream counts at `/stats`.
    Ok,
}

impl Mode {
    pub const NAMES: &[&str] = &[
        "settings-flood",
        "flow-stall",
        "continuation-flood",
        "hpack-bomb",
        "goaway-loop",
        "refuse-stream",
        "calm",
        "no-ping-ack",
        "ok",
    ];
    const ALL: [Mode; 9] = [
        Mode::SettingsFlood,
        Mode::FlowStall,
        Mode::ContinuationFlood,
        Mode::HpackBomb,
        Mode::GoawayLoop,
        Mode::RefuseStream,
        Mode::Calm,
        Mode::NoPingAck,
        Mode::Ok,
    ];

    pub fn parse(name: &str) -> Option<Mode> {
        Self::NAMES.iter().position(|n| *n == name).map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|m| *m == self).unwrap()]
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests (streams) seen.
    pub streams: AtomicU64,
    /// Connections still being served.
    pub open: AtomicU64,
}

impl Stats {
    pub fn json(&self) -> String {
        format!(
            "{{\"connections\":{},\"streams\":{},\"open\":{}}}",
            self.connections.load(Relaxed),
            self.streams.load(Relaxed),
            self.open.load(Relaxed)
        )
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
}

/// Serves `mode` on `listen` (port 0 allowed) for the rest of the runtime's life.
pub async fn serve(mode: Mode, listen: SocketAddr) -> std::io::Result<Server> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(Stats::default());
    let s = stats.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            s.connections.fetch_add(1, Relaxed);
            s.open.fetch_add(1, Relaxed);
            let s = s.clone();
            tokio::spawn(async move {
                let _ = connection(mode, tcp, &s).await;
                s.open.fetch_sub(1, Relaxed);
            });
        }
    });
    Ok(Server { addr, stats })
}

async fn connection(mode: Mode, tcp: TcpStream, stats: &Arc<Stats>) -> std::io::Result<()> {
    match mode {
        Mode::Ok | Mode::RefuseStream | Mode::Calm => well_formed(mode, tcp, stats).await,
        _ => by_hand(mode, tcp, stats).await,
    }
}

/// One frame: its 9-byte head, then its payload.
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = pairs
        .iter()
        .flat_map(|(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes()))
        .collect();
    let mut out = Vec::new();
    frame(&mut out, kind::SETTINGS, 0, 0, &payload);
    out
}

pub fn goaway(last_stream: u32, code: u32) -> Vec<u8> {
    let mut payload = last_stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&code.to_be_bytes());
    let mut out = Vec::new();
    frame(&mut out, kind::GOAWAY, 0, 0, &payload);
    out
}

#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// Reads one frame; an error for a payload over 16 KB (the default frame size limit).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(std::io::Error::other(format!("a frame of {len} bytes")));
    }
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).await?;
    Ok(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// `:status 200`, `content-type: application/json`, encoded without the dynamic table.
fn ok_head() -> Vec<u8> {
    let mut block = vec![0x88, 0x0f, 0x10]; // indexed :status 200; literal, name index 31
    let ct = b"application/json";
    block.push(ct.len() as u8);
    block.extend_from_slice(ct);
    block
}

/// An HPACK integer with an `n`-bit prefix whose first byte carries `flags` (RFC 7541
/// §5.1).
pub fn hpack_int(out: &mut Vec<u8>, flags: u8, n: u8, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A header block of 16 KB: `:status 200`, one 4,000-byte header added to the
/// dynamic table, then 12,377 references to it (about 50 MB decoded, by RFC 7541's count).
pub fn hpack_bomb() -> Vec<u8> {
    let mut block = vec![0x88, 0x40, 1, b'b']; // literal with incremental indexing, new name "b"
    hpack_int(&mut block, 0, 7, 4000);
    block.extend(std::iter::repeat_n(b'a', 4000));
    block.resize(MAX_PAYLOAD, 0xbe); // indexed field 62: the entry just added
    block
}

/// The modes whose frames are written by hand.
async fn by_hand(mode: Mode, mut tcp: TcpStream, stats: &Stats) -> std::io::Result<()> {
    let mut preface = [0u8; PREFACE.len()];
    tcp.read_exact(&mut preface).await?;
    if preface != PREFACE {
        return Ok(());
    }
    let (mut rd, mut wr) = tcp.into_split();
    match mode {
        Mode::SettingsFlood => {
            // The client's frames (its ACKs) are read and dropped, so that it is the
            // flood, not a full socket buffer, that the client meets.
            let reader = tokio::spawn(async move { while read_frame(&mut rd).await.is_ok() {} });
            let mut burst = Vec::new();
            for i in 0..256u32 {
                burst.extend(settings(&[(MAX_CONCURRENT_STREAMS, 100 + i % 2)]));
            }
            while !reader.is_finished() {
                wr.write_all(&burst).await?;
            }
            return Ok(());
        }
        Mode::GoawayLoop => {
            let mut out = settings(&[]);
            out.extend(goaway(0, 0));
            wr.write_all(&out).await?;
            // Lets the client read the GOAWAY before the close (at most 10 s).
            let drain = async { while read_frame(&mut rd).await.is_ok() {} };
            let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
            return Ok(());
        }
        Mode::FlowStall => wr.write_all(&settings(&[(INITIAL_WINDOW_SIZE, 0)])).await?,
        _ => wr.write_all(&settings(&[])).await?,
    }
    loop {
        let f = read_frame(&mut rd).await?;
        let mut out = Vec::new();
        match f.kind {
            kind::SETTINGS if f.flags & ACK == 0 => frame(&mut out, kind::SETTINGS, ACK, 0, &[]),
            kind::PING if f.flags & ACK == 0 && mode != Mode::NoPingAck => {
                frame(&mut out, kind::PING, ACK, 0, &f.payload)
            }
            kind::HEADERS => {
                stats.streams.fetch_add(1, Relaxed);
                match mode {
                    Mode::ContinuationFlood => return continuation_flood(&mut wr, f.stream).await,
                    Mode::HpackBomb => frame(&mut out, kind::HEADERS, END_HEADERS, f.stream, &hpack_bomb()),
                    Mode::NoPingAck if f.flags & END_STREAM != 0 => answer(&mut out, f.stream),
                    _ => {}
                }
            }
            kind::DATA if mode == Mode::NoPingAck => {
                // Gives the window back, so that a long-lived connection's bodies flow.
                let n = (f.payload.len() as u32).to_be_bytes();
                if !f.payload.is_empty() {
                    frame(&mut out, kind::WINDOW_UPDATE, 0, 0, &n);
                }
                if f.flags & END_STREAM != 0 {
                    answer(&mut out, f.stream);
                } else if !f.payload.is_empty() {
                    frame(&mut out, kind::WINDOW_UPDATE, 0, f.stream, &n);
                }
            }
            _ => {}
        }
        if !out.is_empty() {
            wr.write_all(&out).await?;
        }
    }
}

fn answer(out: &mut Vec<u8>, stream: u32) {
    frame(out, kind::HEADERS, END_HEADERS, stream, &ok_head());
    frame(out, kind::DATA, END_STREAM, stream, TOKEN_BODY);
}

/// HEADERS without END_HEADERS, then 16 KB CONTINUATION frames until the client goes.
async fn continuation_flood<W: AsyncWrite + Unpin>(wr: &mut W, stream: u32) -> std::io::Result<()> {
    let mut first = Vec::new();
    frame(&mut first, kind::HEADERS, 0, stream, &[0x88]);
    wr.write_all(&first).await?;
    // Literal fields without indexing, new name `x`, value `y`: valid HPACK, were it ever decoded.
    let fragment: Vec<u8> = [0x00, 1, b'x', 1, b'y'].repeat(MAX_PAYLOAD / 5);
    let mut next = Vec::new();
    frame(&mut next, kind::CONTINUATION, 0, stream, &fragment);
    loop {
        wr.write_all(&next).await?;
    }
}

/// The modes the `h2` crate's server plays: it reads each request's body whole (giving
/// the window back), then answers or resets the stream.
async fn well_formed(mode: Mode, tcp: TcpStream, stats: &Arc<Stats>) -> std::io::Result<()> {
    let mut conn = h2::server::handshake(tcp).await.map_err(std::io::Error::other)?;
    while let Some(next) = conn.accept().await {
        let (req, mut respond) = next.map_err(std::io::Error::other)?;
        stats.streams.fetch_add(1, Relaxed);
        let reason = match mode {
            Mode::RefuseStream => Some(h2::Reason::REFUSED_STREAM),
            Mode::Calm => Some(h2::Reason::ENHANCE_YOUR_CALM),
            _ => None,
        };
        if let Some(reason) = reason {
            respond.send_reset(reason);
            continue;
        }
        let stats = stats.clone();
        tokio::spawn(async move {
            let (parts, mut body) = req.into_parts();
            while let Some(chunk) = body.data().await {
                let Ok(chunk) = chunk else { return };
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            let text = if parts.uri.path() == "/stats" {
                Bytes::from(stats.json())
            } else {
                Bytes::from_static(TOKEN_BODY)
            };
            let head = http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(())
                .unwrap();
            if let Ok(mut send) = respond.send_response(head, false) {
                let _ = send.send_data(text, true);
            }
        });
    }
    Ok(())
}

// The client side, frame by frame: what the tests read the servers with.

/// A frame-level client: connected, the preface and an empty SETTINGS sent.
pub async fn raw(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    hello(&mut tcp).await;
    tcp
}

/// Sends the preface and an empty SETTINGS on `s`.
pub async fn hello<S: AsyncWrite + Unpin>(s: &mut S) {
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[]));
    s.write_all(&hello).await.unwrap();
}

/// A request's HEADERS: GET or POST `path`, `:authority` 127.0.0.1, HPACK-encoded as
/// literals without the dynamic table.
pub fn request(stream: u32, post: bool, https: bool, path: &str, flags: u8) -> Vec<u8> {
    let method = if post { 0x83 } else { 0x82 };
    let scheme = if https { 0x87 } else { 0x86 };
    let mut block = vec![method, scheme, 0x04, path.len() as u8]; // :path, name index 4
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 9]); // :authority, name index 1
    block.extend_from_slice(b"127.0.0.1");
    let mut out = Vec::new();
    frame(&mut out, kind::HEADERS, END_HEADERS | flags, stream, &block);
    out
}

pub fn ping(flags: u8) -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, kind::PING, flags, 0, b"stampede");
    out
}

/// Frames until (and with) the first one `until` accepts; at most 100,000. The
/// server's SETTINGS and PINGs are acknowledged on the way, as a client does.
pub async fn frames_until<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, until: impl Fn(&Frame) -> bool) -> Vec<Frame> {
    let mut seen = Vec::new();
    for _ in 0..100_000 {
        let f = read_frame(s).await.unwrap();
        if matches!(f.kind, kind::SETTINGS | kind::PING) && f.flags & ACK == 0 {
            let mut ack = Vec::new();
            let payload = if f.kind == kind::PING { &f.payload[..] } else { &[] };
            frame(&mut ack, f.kind, ACK, 0, payload);
            let _ = s.write_all(&ack).await;
        }
        let done = until(&f);
        seen.push(f);
        if done {
            return seen;
        }
    }
    panic!("no such frame among 100,000");
}
