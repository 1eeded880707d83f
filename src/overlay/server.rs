//! HTTP layer over the model: one mutex around it, held for microseconds per request,
//! and one processing loop that advances it every millisecond, answers the logins it
//! finished through oneshot channels (sent after the lock is released), and hands the
//! gateway what concerns held connections (orphans, due actions, heartbeat sweeps).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use tokio::sync::oneshot;

use super::clock::Clock;
use super::config::{ActionKind, OverlayConfig};
use super::gateway::table::Cause;
use super::gateway::{self, Gateway};
use super::model::{LoginResult, Model, Reject};
use super::serve::Conns;
use super::tokens::{TokenError, Tokens};
use super::{admin, conn, metrics};

pub type Ticket = oneshot::Sender<LoginResult>;

pub struct Shared {
    model: Mutex<Model<Ticket>>,
    pub(super) clock: Arc<Clock>,
    retry_after: HeaderValue,
    tokens: Tokens,
    pub(super) config: OverlayConfig,
    pub(super) gateway: Gateway,
    pub(super) conns: Arc<Conns>,
}

impl Shared {
    pub fn new(config: OverlayConfig, clock: Arc<Clock>) -> Self {
        Shared {
            model: Mutex::new(Model::new(&config)),
            clock,
            retry_after: HeaderValue::from(config.retry_after_secs()),
            tokens: Tokens::default(),
            gateway: Gateway::new(&config.gateway, config.seed, config.retry_after_secs()),
            config,
            conns: Arc::default(),
        }
    }

    /// A panic elsewhere must not turn every later request into a panic too.
    pub(super) fn model(&self) -> MutexGuard<'_, Model<Ticket>> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Time on the overlay's timeline; None while its clock is held (set-up).
    pub(super) fn now(&self) -> Option<Duration> {
        self.clock.now()
    }

    /// Time for a session token's use: set-up counts as the timeline's zero.
    pub(super) fn token_now(&self) -> Duration {
        self.now().unwrap_or_default()
    }

    /// Hands the gateway the model's orphans and due gateway actions now, rather than
    /// at the next tick (which waits while the clock is held).
    pub(super) fn settle_gateway(&self) {
        let (mut orphans, mut actions) = (Vec::new(), Vec::new());
        {
            let mut m = self.model();
            m.take_orphans(&mut orphans);
            m.take_gateway_actions(&mut actions);
        }
        self.apply_due(&mut orphans, &mut actions);
    }

    /// Carries out what the model handed over: a due drain here (the HTTP
    /// connections), the rest in the gateway.
    fn apply_due(&self, orphans: &mut Vec<u64>, actions: &mut Vec<ActionKind>) {
        if actions.contains(&ActionKind::Drain) {
            self.conns.drain();
        }
        self.gateway.apply(orphans, actions);
    }

    /// The client a bearer token stands for, or why not (the 401's reason). A held
    /// connection's token stays fresh: its use is the connection itself.
    pub(super) fn bearer_client(&self, token: Result<&str, NotBearer>) -> Result<u64, &'static str> {
        match token.map(|t| self.tokens.client(t, self.token_now())) {
            Ok(Ok(client)) => Ok(client),
            Err(NotBearer::Missing) => Err("no Authorization header: send Bearer <session token>"),
            Err(NotBearer::Other) => Err("the Authorization header is not `Bearer <token>`"),
            Ok(Err(TokenError::Unknown)) => Err("unknown session token: log in again"),
            Ok(Err(TokenError::Expired)) => Err("expired session token: log in again"),
        }
    }

    /// Keeps `client`'s session token from expiring while its connection is held.
    pub(super) fn touch_token(&self, client: u64) {
        self.tokens.touch(client, self.token_now());
    }
}

/// Why a request has no bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotBearer {
    Missing,
    Other,
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case).
pub(super) fn bearer(headers: &HeaderMap) -> Result<&str, NotBearer> {
    let value = headers.get(header::AUTHORIZATION).ok_or(NotBearer::Missing)?;
    let value = value.to_str().map_err(|_| NotBearer::Other)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(NotBearer::Other),
    }
}

/// Advances the model every millisecond until the task is aborted.
pub async fn run_processing(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(Duration::from_millis(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done = Vec::with_capacity(1024);
    let (mut orphans, mut actions) = (Vec::new(), Vec::new());
    let mut next_sweep = Duration::ZERO;
    loop {
        every.tick().await;
        // Held: the model stands still (nothing is queued while the clock is held).
        let Some(now) = shared.now() else { continue };
        {
            let mut m = shared.model();
            m.tick(now, &mut done);
            m.take_orphans(&mut orphans);
            m.take_gateway_actions(&mut actions);
        }
        for (ticket, result) in done.drain(..) {
            let _ = ticket.send(result); // the client may have gone; nothing to do then
        }
        shared.apply_due(&mut orphans, &mut actions);
        if now >= next_sweep {
            shared.gateway.table.sweep(now, shared.gateway.heartbeat_timeout());
            next_sweep = now + shared.gateway.sweep_every();
        }
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/keepalive", post(keepalive))
        .route("/join", post(join))
        .route("/leave", post(leave))
        .route("/gateway", get(gateway::upgrade))
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .merge(admin::router(shared.clone()))
        .layer(axum::middleware::from_fn(conn::read_then_handle))
        .with_state(shared)
}

/// A client id: a JSON number, or a string of decimal digits (profiles template ids
/// into bodies as text, e.g. `{"client":"{{client}}"}`).
#[derive(Debug, Clone, Copy)]
struct ClientId(u64);

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ClientId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a client id: an integer from 0 to 2^64-1")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ClientId, E> {
                Ok(ClientId(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ClientId, E> {
                u64::try_from(v)
                    .map(ClientId)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClientId, E> {
                if !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_digit())
                    && let Ok(n) = v.parse()
                {
                    return Ok(ClientId(n));
                }
                Err(E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct ClientBody {
    client: ClientId,
}

/// Why a request's body was refused; the text is the 400's one-line reason.
#[derive(Debug, thiserror::Error)]
pub(super) enum BadBody {
    /// serde would also take a struct written as an array (`[1]`); only objects are meant.
    #[error("malformed JSON: expected an object such as {{\"client\":42}}")]
    NotAnObject,
    #[error("malformed JSON: {0}")]
    Malformed(serde_json::Error),
    #[error("invalid body: {0}")]
    Invalid(serde_json::Error),
}

pub(super) fn bad_request(reason: impl fmt::Display) -> Response {
    one_line(StatusCode::BAD_REQUEST, reason)
}

/// A refusal whose body is its reason on one line.
pub(super) fn one_line(status: StatusCode, reason: impl fmt::Display) -> Response {
    let mut line = reason.to_string().replace(['\n', '\r'], " ");
    line.push('\n');
    (status, line).into_response()
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BadBody> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(BadBody::NotAnObject);
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => BadBody::Invalid(e),
        _ => BadBody::Malformed(e),
    })
}

pub(super) fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

pub(super) fn unavailable(shared: &Shared, reason: Reject) -> Response {
    unavailable_after(shared, reason, None)
}

/// A 503 whose Retry-After is `wait` (whole seconds, rounded up, at least 1) when the
/// overlay knows when to come back (a closed admission bucket), else the configured one.
fn unavailable_after(shared: &Shared, reason: Reject, wait: Option<Duration>) -> Response {
    let retry_after = match wait {
        Some(w) => HeaderValue::from(w.as_secs_f64().ceil().max(1.0) as u64),
        None => shared.retry_after.clone(),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, retry_after),
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        ],
        format!("{{\"error\":\"{}\"}}", reason.as_str()),
    )
        .into_response()
}

async fn login(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let client = match parse::<ClientBody>(&body) {
        Ok(b) => b.client.0,
        Err(r) => return bad_request(r),
    };
    let Some(now) = s.now() else {
        return setup_login(&s, client);
    };
    let (tx, rx) = oneshot::channel();
    let (queued, wait) = {
        let mut m = s.model();
        let queued = m.enqueue(client, now, tx);
        (queued, m.admission_wait())
    };
    if let Err((reason, _)) = queued {
        return unavailable_after(&s, reason, wait);
    }
    match rx.await {
        Ok(LoginResult::Ok { supernode }) => {
            let token = s.tokens.issue(client, s.token_now());
            json(
                StatusCode::OK,
                format!("{{\"supernode\":{supernode},\"session\":\"{token}\"}}"),
            )
        }
        Ok(LoginResult::Rejected(reason)) => unavailable(&s, reason),
        // Not a login's result; the processing loop is gone: the overlay is shutting down.
        Ok(LoginResult::SessionLost) | Err(_) => unavailable(&s, Reject::Expired),
    }
}

/// A login while the clock is held (set-up): a client the model already has online
/// gets a token for its current supernode, with no queue, no capacity spent and no
/// change to the model; any other is told to wait (503 `not_started`), as the model
/// cannot serve it before its timeline begins.
fn setup_login(s: &Shared, client: u64) -> Response {
    let Some(supernode) = s.model().session_of(client) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, s.retry_after.clone()),
                (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            ],
            "{\"error\":\"not_started\"}",
        )
            .into_response();
    };
    let token = s.tokens.issue(client, Duration::ZERO);
    json(
        StatusCode::OK,
        format!("{{\"supernode\":{supernode},\"session\":\"{token}\"}}"),
    )
}

/// The client a session request is from: its Bearer token's, or (no Authorization
/// header) the body's `{"client":id}`.
/// The refusal is boxed: a `Response` is large, and the `Ok` path is the common one.
fn session_client(s: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<u64, Box<Response>> {
    let token = bearer(headers);
    if token == Err(NotBearer::Missing) {
        return parse::<ClientBody>(body)
            .map(|b| b.client.0)
            .map_err(|r| Box::new(bad_request(r)));
    }
    s.bearer_client(token)
        .map_err(|why| Box::new(one_line(StatusCode::UNAUTHORIZED, why)))
}

async fn keepalive(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let client = match session_client(&s, &headers, &body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if s.model().keepalive(client) {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::GONE, "no session: log in again\n").into_response()
    }
}

/// A logged-in client joins the overlay through its supernode: its session must be valid.
async fn join(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let client = match session_client(&s, &headers, &body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match s.model().session_of(client) {
        Some(sn) => json(StatusCode::OK, format!("{{\"supernode\":{sn}}}")),
        None => (StatusCode::GONE, "no session: log in again\n").into_response(),
    }
}

async fn leave(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let client = match session_client(&s, &headers, &body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    s.tokens.revoke(client);
    s.model().leave(client);
    // Its machine goes away, and its own held connection with it.
    s.gateway.table.end(&[client], Cause::ClientReset);
    s.settle_gateway();
    StatusCode::NO_CONTENT.into_response()
}

async fn metrics_text(State(s): State<Arc<Shared>>) -> Response {
    let snap = s.model().snapshot(s.token_now());
    let mut text = metrics::render(&snap, s.config.allocation, s.config.queue);
    gateway::metrics::render(&mut text, &s.gateway.table.snapshot());
    s.conns.render(&mut text);
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE))],
        text,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}
