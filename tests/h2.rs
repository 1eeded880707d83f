//! HTTP/2 (`target.http: 2`) against servers in the test: h2c with prior knowledge, one
//! connection per client carrying its login flow and keepalives as streams, a shared
//! pool that keeps to the server's SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY and resets
//! as their own classes, ALPN over TLS.

mod common;
#[path = "h2/raw.rs"]
mod raw;
#[path = "h2/server.rs"]
mod server;

use std::time::Duration;

use stampede::run::{RunOptions, run};

/// A profile of `clients` clients logging in at once with `flow` under `target`.
fn profile(target: &str, clients: u32, flow: &str, session: &str) -> stampede::profile::Profile {
    let text = format!(
        r#"
name: h2
seed: 5
target: {{ {target} }}
population: {{ simulate: {clients} }}
storm:
  waves: [ {{ at: 0s, share: 100%, spread: "uniform(200ms)" }} ]
client:
  login:
{flow}
  retry: {{ policy: none }}
{session}
observe: {{ window: 250ms, until_recovered: 1s }}
"#
    );
    stampede::run::parse(&text, std::path::Path::new("h2.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

const FLOW: &str = r#"    - name: auth
      request: POST /login
      body: "{{client}}"
      capture: { token: { json: /access_token } }
    - name: join
      request: POST /join
      body: "{{client}}"
      headers: { authorization: "Bearer {{token}}" }"#;

const KEEPALIVE: &str = r#"  session:
    keepalive: { request: POST /keepalive, headers: { authorization: "Bearer {{token}}" } }
    every: 300ms
    initially_online: false"#;

async fn storm(p: &stampede::profile::Profile) -> stampede::report::Report {
    tokio::time::timeout(Duration::from_secs(40), run(p, RunOptions::default(), &mut ()))
        .await
        .expect("bounded")
        .unwrap()
}

#[tokio::test]
async fn each_client_holds_one_connection_for_its_flow_and_keepalives_with_captures_carried() {
    let (addr, seen) = server::serve(100, Duration::ZERO).await;
    let p = profile(
        &format!(r#"nodes: ["http://{addr}"], http: 2, timeout: 2s"#),
        20,
        FLOW,
        KEEPALIVE,
    );
    let r = storm(&p).await;
    let o = &r.totals.outcomes;
    assert_eq!(o.get("ok"), Some(&20), "{o:?}");
    assert_eq!(
        seen.connections(),
        20,
        "one connection per client: {:?}",
        seen.streams.lock().unwrap()
    );
    let streams = seen.streams.lock().unwrap().clone();
    assert!(
        streams.iter().all(|&n| n >= 3),
        "the login's two steps and at least one keepalive on each client's own connection: {streams:?}"
    );
    assert_eq!(seen.bad_bearer.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(seen.good_bearer.load(std::sync::atomic::Ordering::SeqCst) >= 40);
}

const LOGIN: &str = r#"    - { name: auth, request: POST /login, body: "{{client}}" }"#;

async fn outcomes_against(
    mode: raw::Mode,
    target: &str,
    clients: u32,
) -> (
    std::collections::BTreeMap<String, u64>,
    raw::Raw,
    stampede::report::Report,
) {
    let server = raw::serve(mode).await;
    let p = profile(
        &format!(r#"nodes: ["http://{}"], http: 2, {target}"#, server.addr),
        clients,
        LOGIN,
        "",
    );
    let r = storm(&p).await;
    (r.totals.outcomes.clone(), server, r)
}

#[tokio::test]
async fn streams_above_a_goaways_last_stream_id_are_sent_again_at_once_and_none_fails() {
    // One shared connection: its first 6 streams are held, 3 answered, then GOAWAY
    // with the third's id as last-stream-id: the other 3 were never processed.
    let (o, server, r) = outcomes_against(
        raw::Mode::Goaway(6),
        "connection: reuse, max_connections: 1, timeout: 3s",
        12,
    )
    .await;
    assert_eq!(
        o.get("ok"),
        Some(&12),
        "the unprocessed streams were retried, not failed: {o:?}"
    );
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one reconnect"
    );
    assert_eq!(
        server.streams.load(std::sync::atomic::Ordering::SeqCst),
        12 + 3,
        "each of the 3 unprocessed streams sent again once"
    );
    let h2 = r.totals.h2.as_ref().expect("an h2 run's totals carry its connections");
    assert_eq!((h2.connects, h2.streams, h2.goaway_retried), (2, 15, 3), "{h2:?}");
    assert_eq!(
        h2.drops.get("goaway/NO_ERROR"),
        Some(&1),
        "the drop counted by its code: {h2:?}"
    );
    assert!(
        r.windows.iter().all(|w| w.h2.is_some()),
        "every window of an h2 run carries its figures"
    );
    assert!(
        r.windows.iter().any(|w| w.h2.as_ref().unwrap().drops.len() == 1),
        "the drop sits in one window"
    );
    assert_eq!(r.protocol, "h2c");
    let summary = stampede::report::terminal::summary(&r);
    assert!(
        summary.contains("3 sent again after a GOAWAY · dropped: goaway/NO_ERROR 1"),
        "{summary}"
    );
    let schema: serde_json::Value = serde_json::from_str(include_str!("../src/report/report.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let json = serde_json::to_value(&r).unwrap();
    let problems: Vec<String> = v
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(problems.is_empty(), "the h2 report keeps to the schema: {problems:?}");
}

#[tokio::test]
async fn server_resets_are_classed_by_their_code() {
    for (code, class) in [
        (0x7, "refused_stream"),
        (0xb, "enhance_your_calm"),
        (0x2, "stream_reset"),
    ] {
        let (o, _, _) = outcomes_against(raw::Mode::Reset(code), "timeout: 2s", 4).await;
        assert_eq!(o.get(class), Some(&4), "RST_STREAM {code:#x}: {o:?}");
    }
}

#[tokio::test]
async fn a_connection_whose_ping_goes_unanswered_is_ping_timeout_not_a_slow_answer() {
    let (o, _, r) = outcomes_against(raw::Mode::Silent, "timeout: 2s", 3).await;
    assert_eq!(o.get("ping_timeout"), Some(&3), "{o:?}");
    // The same silence on the stream with PINGs answered: the server is slow, the
    // connection alive.
    let (slow, _, _) = outcomes_against(raw::Mode::Unanswered, "timeout: 1s", 3).await;
    assert_eq!(slow.get("timeout"), Some(&3), "{slow:?}");
    let why = &r.engine.stats.failure_examples["ping_timeout"];
    assert!(why.contains("PING"), "{why}");
}

#[tokio::test]
async fn a_header_block_over_the_clients_limit_is_its_own_class() {
    let over = 3 * stampede::transport::MAX_HEADER_LIST as usize;
    let (o, _, r) = outcomes_against(raw::Mode::BigHeaders(over), "timeout: 2s", 3).await;
    assert_eq!(
        o.get("h2_headers_too_big"),
        Some(&3),
        "{o:?} {:?}",
        r.engine.stats.failure_examples
    );
    // Within the limit, the same server's answer is a login.
    let (o, _, _) = outcomes_against(raw::Mode::BigHeaders(16 << 10), "timeout: 2s", 3).await;
    assert_eq!(o.get("ok"), Some(&3), "{o:?}");
}

#[tokio::test]
async fn over_tls_alpn_h2_is_required_and_a_server_without_it_is_h2_not_negotiated() {
    let tls = |addr| format!(r#"nodes: ["https://{addr}"], http: 2, timeout: 2s, tls: {{ verify: false }}"#);
    let (addr, seen) = server::serve_tls(&[b"h2", b"http/1.1"]).await;
    let r = storm(&profile(&tls(addr), 5, FLOW, "")).await;
    assert_eq!(r.totals.outcomes.get("ok"), Some(&5), "{:?}", r.totals.outcomes);
    assert_eq!(seen.connections(), 5, "one TLS connection per client, h2 on each");

    // A server that offers only http/1.1 (it refuses the handshake with
    // no_application_protocol), and one that ignores ALPN (it selects nothing).
    for offered in [&[b"http/1.1".as_slice()][..], &[]] {
        let (addr, seen) = server::serve_tls(offered).await;
        let r = storm(&profile(&tls(addr), 5, FLOW, "")).await;
        assert_eq!(
            r.totals.outcomes.get("h2_not_negotiated"),
            Some(&5),
            "{:?}",
            r.totals.outcomes
        );
        assert_eq!(seen.connections(), 0, "nothing spoken after a TLS handshake without h2");
        let why = &r.engine.stats.failure_examples["h2_not_negotiated"];
        assert!(why.contains("ALPN `h2`") && why.contains("target.http: 1.1"), "{why}");
    }
}

#[tokio::test]
async fn a_window_that_never_opens_is_a_flow_stall_not_a_plain_timeout() {
    // A body over the 64 KiB a stream may send before the server's SETTINGS (window 0)
    // arrive: the rest waits for a WINDOW_UPDATE that never comes.
    let server = raw::serve(raw::Mode::Stall).await;
    let flow = format!(
        "    - {{ name: auth, request: POST /login, body: '{}' }}",
        "x".repeat(100_000)
    );
    let p = profile(
        &format!(r#"nodes: ["http://{}"], http: 2, timeout: 1s"#, server.addr),
        3,
        &flow,
        "",
    );
    let r = storm(&p).await;
    let o = &r.totals.outcomes;
    assert_eq!(o.get("h2_flow_stall"), Some(&3), "{o:?}");
    let why = &r.engine.stats.failure_examples["h2_flow_stall"];
    assert!(why.contains("flow-control window"), "{why}");
}

#[tokio::test]
async fn a_settings_flood_ends_the_connection_as_its_own_class() {
    let (o, _, r) = outcomes_against(raw::Mode::SettingsFlood(500), "timeout: 2s", 3).await;
    assert_eq!(o.get("h2_settings_flood"), Some(&3), "{o:?}");
    let h2 = r.totals.h2.as_ref().unwrap();
    assert_eq!(h2.drops.get("h2_settings_flood"), Some(&3), "{h2:?}");
    // A few SETTINGS are what any server sends: no flood.
    let (o, _, _) = outcomes_against(raw::Mode::SettingsFlood(5), "timeout: 1s", 2).await;
    assert_eq!(o.get("h2_settings_flood"), None, "{o:?}");
}

#[tokio::test]
async fn a_shared_pool_keeps_to_the_servers_max_concurrent_streams() {
    let (addr, seen) = server::serve(2, Duration::from_millis(100)).await;
    let p = profile(
        &format!(r#"nodes: ["http://{addr}"], http: 2, connection: reuse, max_connections: 1, timeout: 5s"#),
        10,
        LOGIN,
        "",
    );
    let r = storm(&p).await;
    assert_eq!(r.totals.outcomes.get("ok"), Some(&10), "{:?}", r.totals.outcomes);
    assert_eq!(seen.connections(), 1, "one shared connection");
    let most = seen.most_open.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(most, 2, "streams multiplexed up to the server's limit and not beyond");
}

#[tokio::test]
async fn auto_speaks_what_the_servers_alpn_chose_and_the_report_names_it() {
    let auto = |addr| format!(r#"nodes: ["https://{addr}"], http: auto, timeout: 2s, tls: {{ verify: false }}"#);
    let (addr, seen) = server::serve_tls(&[b"h2", b"http/1.1"]).await;
    let r = storm(&profile(&auto(addr), 4, FLOW, "")).await;
    assert_eq!(r.totals.outcomes.get("ok"), Some(&4), "{:?}", r.totals.outcomes);
    assert_eq!(r.protocol, "h2");
    assert!(seen.total_streams() >= 8, "the flows went over h2");

    let (addr, requests) = server::serve_tls_http1().await;
    let r = storm(&profile(&auto(addr), 4, LOGIN, "")).await;
    assert_eq!(r.totals.outcomes.get("ok"), Some(&4), "{:?}", r.totals.outcomes);
    assert_eq!(r.protocol, "http/1.1");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert!(r.totals.h2.is_none(), "no HTTP/2 figures for a run that spoke HTTP/1.1");
}

#[tokio::test]
async fn a_goaway_to_every_connection_is_one_drop_each_by_code_and_the_clients_reconnect() {
    let (addr, seen) = server::serve(100, Duration::ZERO).await;
    let p = profile(
        &format!(r#"nodes: ["http://{addr}"], http: 2, timeout: 2s"#),
        10,
        FLOW,
        &KEEPALIVE.replace("every: 300ms", "every: 150ms"),
    );
    let drain = seen.clone();
    tokio::spawn(async move {
        // After every client logged in and holds its connection: a reload.
        tokio::time::sleep(Duration::from_millis(500)).await;
        drain.drain.send_modify(|n| *n += 1);
    });
    let r = storm(&p).await;
    assert_eq!(r.totals.outcomes.get("ok"), Some(&10), "{:?}", r.totals.outcomes);
    assert_eq!(r.totals.counts.keepalives_failed, 0, "no keepalive lost to the drain");
    let h2 = r.totals.h2.as_ref().unwrap();
    assert_eq!(
        h2.drops.get("goaway/NO_ERROR"),
        Some(&10),
        "every held connection dropped once: {h2:?}"
    );
    assert_eq!(
        seen.connections(),
        20,
        "each client reconnected once: {:?}",
        seen.streams.lock().unwrap()
    );
    assert_eq!(h2.connects, 20);
    let wave = r
        .windows
        .iter()
        .position(|w| w.h2.as_ref().is_some_and(|h| !h.drops.is_empty()))
        .unwrap();
    let reconnects: u64 = r.windows[wave..].iter().map(|w| w.h2.as_ref().unwrap().connects).sum();
    assert_eq!(reconnects, 10, "the reconnect wave follows the drain");
}

#[tokio::test]
async fn a_server_that_closes_a_held_connection_without_a_goaway_is_a_drop_and_the_client_reconnects() {
    let server = raw::serve(raw::Mode::CloseAfterAnswer).await;
    let p = profile(
        &format!(r#"nodes: ["http://{}"], http: 2, timeout: 2s"#, server.addr),
        5,
        LOGIN,
        "  session: { keepalive: { request: POST /keepalive }, every: 300ms, initially_online: false }",
    );
    let r = storm(&p).await;
    let h2 = r.totals.h2.as_ref().unwrap();
    assert!(r.totals.counts.keepalives_ok > 5, "{:?}", r.totals.counts);
    assert!(h2.connects > 5, "the clients reconnected for their keepalives: {h2:?}");
    // The last connections may close after the run's books did.
    assert!(
        h2.dropped() + 5 >= h2.connects,
        "every connection the server closed is a drop: {h2:?}"
    );
    assert_eq!(
        h2.drops.get("closed"),
        Some(&h2.dropped()),
        "a FIN is not a reset: {h2:?}"
    );
}

#[tokio::test]
async fn a_stream_lost_to_a_goaway_with_an_error_code_is_goaway_and_its_drop_is_named_by_the_code() {
    let (o, _, r) = outcomes_against(raw::Mode::GoawayError(0x2), "timeout: 2s", 3).await;
    assert_eq!(
        o.get("goaway"),
        Some(&3),
        "at or below the last-stream-id: not sent again: {o:?}"
    );
    let h2 = r.totals.h2.as_ref().unwrap();
    assert_eq!(h2.goaway_retried, 0, "{h2:?}");
    assert_eq!(h2.drops.get("goaway/INTERNAL_ERROR"), Some(&3), "{h2:?}");
    // ENHANCE_YOUR_CALM in a GOAWAY is the server's brake, its own class.
    let (o, _, _) = outcomes_against(raw::Mode::GoawayError(0xb), "timeout: 2s", 3).await;
    assert_eq!(o.get("enhance_your_calm"), Some(&3), "{o:?}");
}

/// After a GOAWAY, `reconnect: at-once` (the default) brings every client back at the
/// drop, though its next keepalive is seconds away; `next-request` waits for it.
#[tokio::test]
async fn a_dropped_client_comes_back_at_once_or_on_its_next_request_as_the_profile_says() {
    for (choice, at_once) in [("", true), ("    reconnect: next-request\n", false)] {
        let (addr, seen) = server::serve(100, Duration::ZERO).await;
        let session = format!("{}\n{choice}", KEEPALIVE.replace("every: 300ms", "every: 20s"));
        let p = profile(
            &format!(r#"nodes: ["http://{addr}"], http: 2, timeout: 2s"#),
            10,
            FLOW,
            &session,
        );
        let drain = seen.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            drain.drain.send_modify(|n| *n += 1);
        });
        let r = storm(&p).await;
        let h2 = r.totals.h2.as_ref().unwrap();
        assert_eq!(h2.drops.get("goaway/NO_ERROR"), Some(&10), "{choice}: {h2:?}");
        let wave = r
            .windows
            .iter()
            .position(|w| w.h2.as_ref().is_some_and(|h| !h.drops.is_empty()))
            .unwrap();
        // The drop's window and the next (250 ms each).
        let soon: u64 = r.windows[wave..(wave + 2).min(r.windows.len())]
            .iter()
            .map(|w| w.h2.as_ref().unwrap().connects)
            .sum();
        if at_once {
            assert_eq!(soon, 10, "every client back within 500 ms of its drop");
            assert_eq!(seen.connections(), 20, "once each");
            assert_eq!(r.totals.counts.keepalives_ok, 10, "each came back with its keepalive");
            assert_eq!(r.totals.counts.keepalives_failed, 0);
        } else {
            // Their keepalives are up to 20 s away, past the run's end.
            assert_eq!(soon, 0, "nobody came back before its next request");
            assert_eq!(seen.connections(), 10);
        }
    }
}
