//! A client's session across the scheduler's events, without a network: what a login
//! captured is held, handed to the on-reboot requests, and dropped when the client
//! reboots or a keepalive fails, so that nothing of it outlives the session.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Engine;
use crate::engine::EngineOptions;
use crate::engine::flow::{Flowed, Job, JobKind};
use crate::outcome::Class;
use crate::plan::{EventKind, Plan};
use crate::profile::{Endpoint, Profile};
use crate::transport::{FlowResult, Transport};

const PROFILE: &str = r#"
name: sessions
target: { nodes: ["http://127.0.0.1:9"], timeout: 1s }
population: { simulate: 2 }
client:
  cookies: true
  login:
    - { name: auth, request: POST /login, capture: { token: { json: /token } } }
  retry: { policy: none }
  session:
    keepalive: { request: POST /keepalive, headers: { authorization: "Bearer {{token}}" } }
    every: 1s
    initially_online: false
  on_reboot:
    - { request: POST /logout, headers: { authorization: "Bearer {{token}}" } }
"#;

fn answer(job: Job, class: Class, token: Option<&str>) -> Flowed {
    let now = Instant::now();
    let mut values = job.values;
    if let (Some(v), Some(t)) = (values.as_mut(), token) {
        v.set(0, t.to_string());
    }
    Flowed {
        kind: job.kind,
        pooled: false,
        queued: job.queued,
        held: None,
        closed: Default::default(),
        res: FlowResult::unsent(class, now),
        conn: None,
        values,
    }
}

/// The one flow the last event dispatched.
fn dispatched(e: &mut Engine<'_>) -> Job {
    assert_eq!(e.starts.len(), 1, "one flow dispatched");
    e.starts.pop().unwrap().0
}

fn token(job: &Job) -> Option<&str> {
    job.values.as_ref().and_then(|v| v.get(0))
}

/// Client 0 logs in and captures `t`.
fn log_in(e: &mut Engine<'_>, at: Duration, t: &str) {
    e.plan_event(0, EventKind::Login, at, at);
    let login = dispatched(e);
    assert!(matches!(login.kind, JobKind::Login { .. }));
    assert_eq!(token(&login), None, "a login starts from an empty session");
    e.complete(answer(login, Class::Ok, Some(t)));
    assert!(e.sessions.holds(0), "a login that succeeds keeps what it captured");
}

#[tokio::test]
async fn a_reboot_and_a_failed_keepalive_each_end_the_session() {
    let p: Profile = crate::run::parse(PROFILE, std::path::Path::new("s.yaml"), &|_| None).unwrap();
    let Endpoint::Nodes(nodes) = &p.target.endpoint else {
        unreachable!("the profile names a node")
    };
    let transport = Transport::new(nodes, &p.target, p.seed).await.unwrap();
    let plan = Plan::new(&p);
    let mut e = Engine::new(&p, &plan, Arc::clone(&transport), &EngineOptions::default());
    let s = Duration::from_secs;

    // A reboot: the logout is rendered with the token, then the session is gone.
    log_in(&mut e, s(1), "t1");
    e.plan_event(0, EventKind::Reboot, s(2), s(2));
    let logout = dispatched(&mut e);
    assert!(matches!(logout.kind, JobKind::OnReboot));
    assert_eq!(token(&logout), Some("t1"), "the logout carries the token");
    assert!(
        !e.sessions.holds(0),
        "a rebooted client lost its captured values and cookies"
    );

    // A keepalive that fails: the relogin starts from an empty session.
    log_in(&mut e, s(3), "t2");
    let epoch = e.clients[0].epoch;
    e.timer(0, super::TimerKind::Keepalive, epoch, s(4), s(4));
    let keepalive = dispatched(&mut e);
    assert_eq!(token(&keepalive), Some("t2"), "the keepalive carries the token");
    e.complete(answer(keepalive, Class::Status(401), None));
    assert!(!e.sessions.holds(0), "a failed keepalive dropped the session");
    let relogin = dispatched(&mut e);
    assert!(matches!(relogin.kind, JobKind::Login { .. }));
    assert_eq!(token(&relogin), None, "the relogin starts from an empty session");
}

/// A flow whose values nothing reads after the login (no session, no on-reboot
/// requests) keeps none of them: every login of a long run would otherwise stay in the
/// map, its token and cookie jar with it, to the run's end.
#[tokio::test]
async fn without_a_session_or_on_reboot_requests_no_login_keeps_its_values() {
    let text = PROFILE.split("  session:").next().unwrap().to_string();
    let p: Profile = crate::run::parse(&text, std::path::Path::new("s.yaml"), &|_| None).unwrap();
    assert!(p.client.session.is_none() && p.client.on_reboot.is_empty());
    let Endpoint::Nodes(nodes) = &p.target.endpoint else {
        unreachable!("the profile names a node")
    };
    let transport = Transport::new(nodes, &p.target, p.seed).await.unwrap();
    let plan = Plan::new(&p);
    let mut e = Engine::new(&p, &plan, Arc::clone(&transport), &EngineOptions::default());
    e.plan_event(0, EventKind::Login, Duration::from_secs(1), Duration::from_secs(1));
    let login = dispatched(&mut e);
    assert!(
        login.values.is_some(),
        "the login itself has its values (cookies, captures)"
    );
    e.complete(answer(login, Class::Ok, Some("t")));
    assert!(!e.sessions.holds(0), "nothing after the login reads them: not kept");
}
