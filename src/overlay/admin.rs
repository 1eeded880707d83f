//! The operator's endpoints, `/admin/*`: they change the overlay for everyone, so they
//! answer loopback peers, and others only with the configured `admin_token` as
//! `Authorization: Bearer <token>`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;

use super::config::AdminToken;
use super::conn::Peer;
use super::server::{Shared, bad_request, json, one_line, parse};

pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/mega-supernodes", post(mega))
        .route("/admin/shed", post(shed))
        .route("/admin/admission", post(admission))
        .route("/admin/drop-connections", post(drop_connections))
        .route("/admin/restart-gateway", post(restart_gateway))
        .route("/admin/drain", post(drain))
        .route_layer(axum::middleware::from_fn_with_state(shared, guard))
}

/// Why an admin request was refused (403 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "admin endpoints answer loopback peers only, and {0} is not one; \
         give the overlay an admin_token to let others in with Authorization: Bearer <token>"
    )]
    NotLoopback(IpAddr),
    #[error("admin from {0} needs Authorization: Bearer <admin_token>")]
    NoToken(IpAddr),
    #[error("the bearer token is not the admin token")]
    WrongToken,
}

/// Whether `peer` may use the admin endpoints: a loopback peer always, another one
/// with `token` configured and presented as a bearer token.
pub fn access(peer: IpAddr, token: Option<&AdminToken>, authorization: Option<&HeaderValue>) -> Result<(), Refused> {
    if peer.to_canonical().is_loopback() {
        return Ok(());
    }
    let Some(token) = token else {
        return Err(Refused::NotLoopback(peer));
    };
    let presented = authorization
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .ok_or(Refused::NoToken(peer))?;
    if same_secret(presented.trim().as_bytes(), token.0.as_bytes()) {
        Ok(())
    } else {
        Err(Refused::WrongToken)
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme's name in any
/// letter case (RFC 7235 §2.1), one or more spaces after it.
fn bearer_token(v: &str) -> Option<&str> {
    let (scheme, token) = v.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim_start())
}

/// Equality whose time does not tell how many leading bytes matched.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

async fn guard(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    req: Request,
    next: Next,
) -> Response {
    let auth = req.headers().get(header::AUTHORIZATION);
    match access(peer.addr.ip(), s.config.admin_token.as_ref(), auth) {
        Ok(()) => next.run(req).await,
        Err(refused) => one_line(StatusCode::FORBIDDEN, refused),
    }
}

/// What `stampede overlay` should warn its operator of before serving on `addr`, if
/// anything: beyond loopback, whoever reaches the port can log clients in and out.
/// One line, without a `warning:` prefix.
pub fn listen_warning(addr: SocketAddr, has_token: bool) -> Option<String> {
    let ip = addr.ip().to_canonical();
    if ip.is_loopback() {
        return None;
    }
    let where_ = if ip.is_unspecified() {
        format!("on every interface ({addr})")
    } else {
        format!("beyond loopback ({addr})")
    };
    let admin = if has_token {
        "admin endpoints answer loopback peers and requests that bear the admin token, \
         which travels unencrypted (plain HTTP)"
    } else {
        "admin endpoints answer loopback peers only (set admin_token to let others in)"
    };
    Some(format!(
        "the overlay listens {where_}: anyone who can reach it can log clients in, \
         make them leave and read /metrics; {admin}"
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MegaBody {
    count: u32,
    slots: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShedBody {
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropBody {
    share: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartBody {
    node: u32,
}

/// Drops `share` (0 to 1) of the held gateway connections abruptly.
async fn drop_connections(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let b = match parse::<DropBody>(&body) {
        Ok(b) => b,
        Err(r) => return bad_request(r),
    };
    if !(0.0..=1.0).contains(&b.share) {
        return bad_request(format!("share must be between 0 and 1, got {}", b.share));
    }
    let dropped = s.gateway.table.drop_share(b.share);
    json(StatusCode::OK, format!("{{\"dropped\":{dropped}}}"))
}

/// Closes every connection of one gateway node with 1012.
async fn restart_gateway(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let b = match parse::<RestartBody>(&body) {
        Ok(b) => b,
        Err(r) => return bad_request(r),
    };
    let nodes = s.gateway.nodes();
    if b.node >= nodes {
        return bad_request(format!(
            "node must be between 0 and {} (gateway.nodes: {nodes}), got {}",
            nodes - 1,
            b.node
        ));
    }
    let dropped = s.gateway.table.restart(b.node);
    json(StatusCode::OK, format!("{{\"dropped\":{dropped}}}"))
}

/// Drains every open HTTP connection: GOAWAY to HTTP/2 ones, a close to HTTP/1.1 ones.
async fn drain(State(s): State<Arc<Shared>>) -> Response {
    let draining = s.conns.drain();
    json(StatusCode::OK, format!("{{\"draining\":{draining}}}"))
}

async fn mega(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let b = match parse::<MegaBody>(&body) {
        Ok(b) => b,
        Err(r) => return bad_request(r),
    };
    let injected = s.model().inject_mega(b.count, b.slots);
    match injected {
        Ok(ids) => json(StatusCode::OK, serde_json::json!({ "supernodes": ids }).to_string()),
        Err(e) if e.is_bad_input() => bad_request(e),
        Err(e) => one_line(StatusCode::CONFLICT, e),
    }
}

async fn shed(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let b = match parse::<ShedBody>(&body) {
        Ok(b) => b,
        Err(r) => return bad_request(r),
    };
    s.model().set_shed(b.enabled);
    json(StatusCode::OK, format!("{{\"shed\":{}}}", b.enabled))
}

/// Sets login admission control from now on: a body such as `{"rate": "50/s"}`,
/// `{"from": "50/s", "step": "25/s", "every": "10s"}`, `{"buckets": 4, "every": "30s"}`
/// or `{"off": true}`. Answers what is in force.
async fn admission(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let a = match parse::<super::config::Admission>(&body) {
        Ok(a) => a,
        Err(r) => return bad_request(r),
    };
    if let Some(why) = a.problem() {
        return bad_request(format!("admission: {why}"));
    }
    let now = s.now().unwrap_or_default();
    s.model().set_admission(a, now);
    json(StatusCode::OK, format!("{{\"admission\":\"{a}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_always_others_only_with_the_token() {
        let token = AdminToken("0123456789abcdef-secret".into());
        let bearer = |t: &str| HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
        let good = bearer(&token.0);
        for peer in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(access(ip(peer), None, None), Ok(()), "{peer}");
            assert_eq!(access(ip(peer), Some(&token), None), Ok(()), "{peer}");
        }
        for peer in ["10.0.0.5", "192.0.2.2", "::ffff:10.0.0.5", "2001:db8::1"] {
            let p = ip(peer);
            assert_eq!(access(p, None, Some(&good)), Err(Refused::NotLoopback(p)), "{peer}");
            assert_eq!(access(p, Some(&token), None), Err(Refused::NoToken(p)), "{peer}");
            assert_eq!(access(p, Some(&token), Some(&good)), Ok(()), "{peer}");
            for wrong in ["0123456789abcdef-secreT", "0123456789abcdef-secre", "x"] {
                assert_eq!(access(p, Some(&token), Some(&bearer(wrong))), Err(Refused::WrongToken));
            }
            for scheme in ["bearer", "BEARER", "BeArEr"] {
                let v = HeaderValue::from_str(&format!("{scheme}  {}", token.0)).unwrap();
                assert_eq!(access(p, Some(&token), Some(&v)), Ok(()), "{scheme}");
            }
            let basic = HeaderValue::from_static("Basic YWRtaW46eA==");
            assert_eq!(access(p, Some(&token), Some(&basic)), Err(Refused::NoToken(p)));
        }
        assert!(Refused::NotLoopback(ip("10.0.0.5")).to_string().contains("admin_token"));
    }

    #[test]
    fn a_warning_beyond_loopback_only() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(listen_warning(at("127.0.0.1:8080"), false), None);
        assert_eq!(listen_warning(at("[::1]:8080"), true), None);
        let w = listen_warning(at("0.0.0.0:8080"), false).unwrap();
        assert!(
            w.contains("every interface (0.0.0.0:8080)") && w.contains("loopback peers only"),
            "{w}"
        );
        let w = listen_warning(at("[::]:8080"), true).unwrap();
        assert!(w.contains("every interface") && w.contains("unencrypted"), "{w}");
        let w = listen_warning(at("192.0.2.2:8080"), false).unwrap();
        assert!(w.contains("beyond loopback (192.0.2.2:8080)"), "{w}");
    }
}
