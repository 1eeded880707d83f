//! A small login service, the kind a newcomer points stampede at first: `POST /login`
//! takes `{"username", "password"}`, checks them against a users.csv (header
//! `username,password`) and answers `{"access_token": "<40 hex chars>"}` or 401;
//! `GET /me` answers 200 with the user for `Authorization: Bearer <token>`, 401 without.
//! Shared by tests/newcomer.rs and `cargo run --example login_service`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
pub struct Users {
    passwords: HashMap<String, String>,
    tokens: Mutex<HashMap<String, String>>,
    issued: AtomicU64,
    /// Every token issued so far: a test checks that none reaches stampede's output.
    pub all_tokens: Mutex<HashSet<String>>,
}

impl Users {
    /// From a users.csv's text (a `username,password` header, then one user a line).
    pub fn from_csv(text: &str) -> Users {
        let passwords = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(','))
            .map(|(u, p)| (u.trim().to_string(), p.trim().to_string()))
            .collect();
        Users {
            passwords,
            ..Users::default()
        }
    }
}

async fn login(State(u): State<Arc<Users>>, body: axum::body::Bytes) -> (StatusCode, Json<Value>) {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "the body is not JSON"})));
    };
    let (user, pass) = (
        v["username"].as_str().unwrap_or(""),
        v["password"].as_str().unwrap_or(""),
    );
    if u.passwords.get(user).map(String::as_str) != Some(pass) || pass.is_empty() {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad credentials"})));
    }
    let n = u.issued.fetch_add(1, Ordering::Relaxed);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(n, user, std::time::SystemTime::now()), &mut h);
    let token = format!("{:016x}{:024x}", std::hash::Hasher::finish(&h), n);
    u.tokens.lock().unwrap().insert(token.clone(), user.to_string());
    u.all_tokens.lock().unwrap().insert(token.clone());
    (
        StatusCode::OK,
        Json(json!({"access_token": token, "token_type": "Bearer"})),
    )
}

async fn me(State(u): State<Arc<Users>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| u.tokens.lock().unwrap().get(t).cloned()) {
        Some(user) => (StatusCode::OK, Json(json!({ "username": user }))),
        None => (StatusCode::UNAUTHORIZED, Json(json!({"error": "no valid token"}))),
    }
}

pub fn router(users: Arc<Users>) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .with_state(users)
}
