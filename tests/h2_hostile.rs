//! The hostile HTTP/2 servers (tests/common/h2_hostile.rs) do on the wire what their
//! names say: read with a hand-written frame reader where the point is the frames
//! themselves, and with the `h2` crate's client where the point is what a real client
//! meets. Each test ends by closing the client and seeing the server let go of the
//! connection: no flood outlives its client.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::h2_hostile::{
    ACK, END_HEADERS, END_STREAM, Frame, Mode, Server, Stats, TOKEN_BODY, frames_until, kind, ping, raw, read_frame,
    request, serve,
};
use h2::Reason;
use std::sync::atomic::Ordering::Relaxed;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn start(mode: Mode) -> Server {
    serve(mode, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// Waits (at most 10 s) until the server serves no connection.
async fn lets_go(stats: &Stats) {
    for _ in 0..1000 {
        if stats.open.load(Relaxed) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the server still serves {} connection(s) after its client left",
        stats.open.load(Relaxed)
    );
}

/// An `h2` client connected with prior knowledge, its connection driven in a task.
async fn client(
    addr: SocketAddr,
) -> (
    h2::client::SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    (send, tokio::spawn(conn))
}

/// One request's answer: its status and body, or the error that ended it.
async fn exchange(
    send: &mut h2::client::SendRequest<Bytes>,
    path: &str,
    body: &'static [u8],
) -> Result<(u16, Vec<u8>), h2::Error> {
    let req = http::Request::post(format!("http://127.0.0.1{path}")).body(()).unwrap();
    let mut send = send.clone().ready().await?;
    let (answer, mut stream) = send.send_request(req, body.is_empty())?;
    if !body.is_empty() {
        stream.send_data(Bytes::from_static(body), true)?;
    }
    let answer = answer.await?;
    let status = answer.status().as_u16();
    let mut body = answer.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    Ok((status, text))
}

/// Serves `mode`, sends it a GET on a frame-level client; the answer's first HEADERS.
async fn answer_head(mode: Mode) -> (Server, TcpStream, Frame) {
    let server = start(mode).await;
    let mut tcp = raw(server.addr).await;
    tcp.write_all(&request(1, false, false, "/login", END_STREAM))
        .await
        .unwrap();
    let mut seen = frames_until(&mut tcp, |f| f.kind == kind::HEADERS).await;
    (server, tcp, seen.pop().unwrap())
}

/// A POST with a body and one without, each answered 200 with the token.
async fn logs_in_twice(send: &mut h2::client::SendRequest<Bytes>) {
    for body in [&b"{\"client\":1}"[..], b""] {
        let (status, text) = exchange(send, "/login", body).await.unwrap();
        assert_eq!((status, text.as_slice()), (200, TOKEN_BODY));
    }
}

/// What ends a request on a connection of its own, which is then closed.
async fn one_failed_exchange(addr: SocketAddr) -> h2::Error {
    let (mut send, conn) = client(addr).await;
    let e = exchange(&mut send, "/login", b"").await.unwrap_err();
    drop(send);
    let _ = conn.await;
    e
}

#[tokio::test]
async fn ok_answers_every_stream_and_counts_them() {
    let server = start(Mode::Ok).await;
    let (mut send, conn) = client(server.addr).await;
    logs_in_twice(&mut send).await;
    let (_, stats) = exchange(&mut send, "/stats", b"").await.unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();
    assert_eq!(
        (stats["connections"].as_u64(), stats["streams"].as_u64()),
        (Some(1), Some(3)),
        "{stats}"
    );
    drop(send);
    conn.await.unwrap().unwrap();
    lets_go(&server.stats).await;
}

#[tokio::test]
async fn refuse_stream_and_calm_reset_every_stream_with_their_code() {
    for (mode, reason) in [
        (Mode::RefuseStream, Reason::REFUSED_STREAM),
        (Mode::Calm, Reason::ENHANCE_YOUR_CALM),
    ] {
        let server = start(mode).await;
        let (mut send, conn) = client(server.addr).await;
        for _ in 0..3 {
            let e = exchange(&mut send, "/login", b"{}").await.unwrap_err();
            assert_eq!(e.reason(), Some(reason), "{mode:?}: {e}");
            assert!(e.is_reset() && e.is_remote(), "{mode:?}: {e}");
        }
        assert_eq!(server.stats.streams.load(Relaxed), 3);
        drop(send);
        let _ = conn.await;
        lets_go(&server.stats).await;
    }
}

#[tokio::test]
async fn goaway_loop_sends_goaway_on_every_connection() {
    let server = start(Mode::GoawayLoop).await;
    for _ in 0..2 {
        let mut tcp = raw(server.addr).await;
        let seen = frames_until(&mut tcp, |f| f.kind == kind::GOAWAY).await;
        let goaway = seen.last().unwrap();
        assert_eq!(goaway.payload, [0, 0, 0, 0, 0, 0, 0, 0], "last stream 0, NO_ERROR");
        assert_eq!(seen[0].kind, kind::SETTINGS, "{seen:?}");
        // And the h2 client meets it as a GOAWAY: its request is never processed.
        let e = one_failed_exchange(server.addr).await;
        assert!(e.is_go_away() && e.reason() == Some(Reason::NO_ERROR), "{e:?}");
        drop(tcp);
    }
    assert_eq!(server.stats.connections.load(Relaxed), 4);
    lets_go(&server.stats).await;
}

#[tokio::test]
async fn settings_flood_never_ends_while_the_client_stays() {
    let server = start(Mode::SettingsFlood).await;
    let mut tcp = raw(server.addr).await;
    let mut settings_frames = 0;
    while settings_frames < 5000 {
        let f = read_frame(&mut tcp).await.unwrap();
        assert_eq!((f.kind, f.flags & ACK), (kind::SETTINGS, 0), "{f:?}");
        settings_frames += 1;
    }
    drop(tcp);
    lets_go(&server.stats).await;
}

#[tokio::test]
async fn flow_stall_closes_the_window_and_never_opens_it() {
    let server = start(Mode::FlowStall).await;
    let mut tcp = raw(server.addr).await;
    let first = read_frame(&mut tcp).await.unwrap();
    assert_eq!(first.kind, kind::SETTINGS);
    assert_eq!(first.payload, [0, 4, 0, 0, 0, 0], "SETTINGS_INITIAL_WINDOW_SIZE = 0");
    // A POST whose body waits for the window, then a PING: the server handles frames in
    // order, so everything it had to say about the POST comes before the PING's ACK.
    let mut out = request(1, true, false, "/login", 0);
    out.extend(ping(0));
    tcp.write_all(&out).await.unwrap();
    let seen = frames_until(&mut tcp, |f| f.kind == kind::PING && f.flags & ACK != 0).await;
    for f in &seen {
        assert!(
            !matches!(
                f.kind,
                kind::WINDOW_UPDATE | kind::HEADERS | kind::DATA | kind::RST_STREAM
            ),
            "the window opened or the stream was answered: {f:?}"
        );
    }
    assert_eq!(server.stats.streams.load(Relaxed), 1);
    drop(tcp);
    lets_go(&server.stats).await;
}

#[tokio::test]
async fn continuation_flood_never_ends_the_header_block() {
    let (server, mut tcp, head) = answer_head(Mode::ContinuationFlood).await;
    assert_eq!(head.flags & END_HEADERS, 0);
    for _ in 0..200 {
        let f = read_frame(&mut tcp).await.unwrap();
        assert_eq!(
            (f.kind, f.flags & END_HEADERS, f.stream),
            (kind::CONTINUATION, 0, 1),
            "{f:?}"
        );
    }
    drop(tcp);
    // The h2 client gives up on the endless block rather than buffer it.
    let e = one_failed_exchange(server.addr).await;
    assert!(e.is_go_away() && e.reason() == Some(Reason::ENHANCE_YOUR_CALM), "{e:?}");
    lets_go(&server.stats).await;
}

#[tokio::test]
async fn hpack_bomb_is_16_kb_that_decode_to_about_50_mb() {
    let (server, tcp, head) = answer_head(Mode::HpackBomb).await;
    let block = &head.payload;
    assert!(block.len() <= 16_384);
    // `:status 200`, a literal added to the dynamic table (name `b`, 4,000 bytes), then
    // references to table entry 62, each decoding to that header again.
    assert_eq!(&block[..4], [0x88, 0x40, 1, b'b']);
    assert_eq!(
        &block[4..7],
        [0x7f, 0xa1, 0x1e],
        "4000 as an HPACK integer, 7-bit prefix"
    );
    assert!(block[7..4007].iter().all(|b| *b == b'a'));
    let references = block[4007..].iter().filter(|b| **b == 0xbe).count();
    assert_eq!(references, block.len() - 4007);
    // RFC 7541 §4.1: an entry's size is its name's and value's lengths plus 32.
    assert!(references * (1 + 4000 + 32) > 48_000_000, "{references} references");
    drop(tcp);
    // The h2 client refuses a header list past its limit rather than decode it whole.
    let e = one_failed_exchange(server.addr).await;
    assert!(
        e.is_reset() && !e.is_remote() && e.reason() == Some(Reason::PROTOCOL_ERROR),
        "{e:?}"
    );
    lets_go(&server.stats).await;
}

#[tokio::test]
async fn no_ping_ack_answers_requests_but_no_ping() {
    let server = start(Mode::NoPingAck).await;
    let (mut send, conn) = client(server.addr).await;
    logs_in_twice(&mut send).await;
    drop(send);
    let _ = conn.await;
    // On the wire: a PING, then a request; the answer comes, the PING's ACK never before it.
    let mut tcp = raw(server.addr).await;
    let mut out = ping(0);
    out.extend(request(1, false, false, "/login", END_STREAM));
    tcp.write_all(&out).await.unwrap();
    let seen = frames_until(&mut tcp, |f| f.kind == kind::DATA && f.flags & END_STREAM != 0).await;
    assert!(!seen.iter().any(|f| f.kind == kind::PING), "{seen:?}");
    assert_eq!(seen.last().unwrap().payload, TOKEN_BODY);
    drop(tcp);
    lets_go(&server.stats).await;
}

#[test]
fn every_mode_has_a_name_it_is_parsed_from() {
    assert_eq!(Mode::NAMES.len(), 9);
    for name in Mode::NAMES {
        assert_eq!(Mode::parse(name).unwrap().name(), *name);
    }
    assert_eq!(Mode::parse("settings_flood"), None);
}
