//! Hostile targets: what a broken or malicious server may send back. Whatever it does,
//! the run finishes near its planned time (its end plus one timeout), with a report,
//! and every attempt counted under the class that says what happened: never a panic,
//! never an engine thread lost.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::hostile::{Hostile, serve};
use common::load;
use stampede::report::Report;
use stampede::run::{RunOptions, run};

const TIMEOUT: Duration = Duration::from_secs(1);
const PLANNED: Duration = Duration::from_secs(1);

fn profile(addr: SocketAddr, retry: &str) -> String {
    format!(
        r#"
name: hostile
seed: 5
target: {{ nodes: ["http://{addr}"], timeout: 1s, connection: fresh }}
population: {{ simulate: 1 }}
baseline: {{ duration: 1s, rate: 10/s }}
client:
  login: [ {{ name: get, request: GET /login }} ]
  retry: {retry}
observe: {{ window: 250ms, until_recovered: 0s }}
"#
    )
}

/// Runs one second of logins against `kind`; checks the run ended in time.
async fn storm(kind: Hostile, retry: &str) -> Report {
    let server = serve(kind).await;
    let began = Instant::now();
    let r = run(&load(&profile(server.addr, retry)), RunOptions::default(), &mut ())
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    let took = began.elapsed();
    // The plan, one timeout for what was in flight, and slack for a loaded machine.
    let bound = PLANNED + TIMEOUT + Duration::from_millis(1500);
    assert!(took < bound, "{kind:?}: the run took {took:?}");
    assert!(r.totals.counts.attempts > 0, "{kind:?}: {:?}", r.totals.outcomes);
    r
}

/// Every attempt ended in `class`.
async fn all(kind: Hostile, class: &str) -> Report {
    let r = storm(kind, "{ policy: none }").await;
    assert_eq!(
        r.totals.outcomes.get(class),
        Some(&r.totals.counts.attempts),
        "{kind:?}: {:?}",
        r.totals.outcomes
    );
    r
}

fn why(r: &Report, class: &str) -> String {
    r.engine.stats.failure_examples.get(class).cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_target_that_stops_listening_is_refused() {
    all(Hostile::Refuse, "refused").await;
}

#[tokio::test]
async fn a_reset_is_a_reset() {
    all(Hostile::Reset, "reset").await;
}

#[tokio::test]
async fn garbage_and_an_endless_head_are_bad_heads() {
    let r = all(Hostile::Garbage, "head").await;
    assert!(
        why(&r, "head").contains("not an HTTP/1.x response"),
        "{}",
        why(&r, "head")
    );
    let r = all(Hostile::EndlessHead, "head").await;
    assert!(why(&r, "head").contains("header"), "{}", why(&r, "head"));
}

#[tokio::test]
async fn a_gigabyte_body_is_refused_at_its_head() {
    let r = all(Hostile::HugeLength, "head").await;
    assert!(why(&r, "head").contains("1073741824"), "{}", why(&r, "head"));
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_at_the_cap() {
    let r = all(Hostile::EndlessChunked, "body").await;
    assert!(why(&r, "body").contains("MiB"), "{}", why(&r, "body"));
}

#[tokio::test]
async fn a_timeout_says_whether_the_answer_began() {
    // The answer began: the target saw the request and answered too slowly.
    let r = all(Hostile::Drip, "timeout_midanswer").await;
    assert_eq!(why(&r, "timeout_midanswer"), "the body did not finish within 1s");
    assert_eq!(r.totals.outcomes.get("timeout"), None);
    let r = all(Hostile::Silent, "timeout").await;
    assert_eq!(why(&r, "timeout"), "no answer within 1s");
    assert_eq!(r.totals.outcomes.get("timeout_midanswer"), None);
}

#[tokio::test]
async fn informational_answers_without_end_are_a_bad_answer() {
    let r = all(Hostile::Informational, "head").await;
    assert!(why(&r, "head").contains("informational"), "{}", why(&r, "head"));
}

#[tokio::test]
async fn a_short_content_length_ends_the_answer_where_it_says() {
    all(Hostile::ShortLength, "ok").await;
}

#[tokio::test]
async fn retry_after_values_out_of_any_range_are_bounded_or_ignored() {
    let retry = "{ policy: fixed, base: 100ms, cap: 200ms, max_attempts: 3, honor_retry_after: true }";
    // Not delay-seconds: ignored (the client's own backoff applies) and counted.
    for bad in ["1e300", "-5"] {
        let r = storm(Hostile::RetryAfter(bad), retry).await;
        let t = &r.totals;
        assert_eq!(
            t.outcomes.get("http_503"),
            Some(&t.counts.attempts),
            "{bad}: {:?}",
            t.outcomes
        );
        assert_eq!(t.counts.retry_after_invalid, t.counts.attempts, "{bad}");
        assert!(t.counts.retries > 0, "{bad}: the backoff still applies");
    }
    // Delay-seconds past any clock: a wait, cut to the cap.
    let r = storm(Hostile::RetryAfter("18446744073709551616"), retry).await;
    let t = &r.totals;
    assert_eq!(
        t.outcomes.get("http_503_retry_after"),
        Some(&t.counts.attempts),
        "{:?}",
        t.outcomes
    );
    // Waits cut, not answers: a last attempt that gives up waits for nothing.
    assert_eq!(t.counts.retry_after_capped + t.counts.gave_up, t.counts.attempts);
}

#[tokio::test]
async fn a_target_that_dies_mid_run_is_refused_from_then_on() {
    let r = storm(Hostile::DiesMidRun, "{ policy: none }").await;
    let o = &r.totals.outcomes;
    assert!(o.get("ok").is_some_and(|&n| n > 0), "{o:?}");
    assert!(o.get("refused").is_some_and(|&n| n > 0), "{o:?}");
    let known = ["ok", "refused", "reset"];
    assert!(o.keys().all(|k| known.contains(&k.as_str())), "{o:?}");
}
