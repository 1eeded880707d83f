//! Session tokens: a login answers one (`{"session":"<token>"}`), and `/keepalive`,
//! `/join` and `/leave` may carry it as `Authorization: Bearer <token>` instead of a
//! client id in the body. One token per client (a new login replaces the old one), so
//! the table holds at most one entry per client that logged in; a token unused for
//! `TOKEN_IDLE` expires.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

/// A token unused (no keepalive, no join) this long is expired: 401.
pub const TOKEN_IDLE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token this overlay issued, or replaced by the client's next login.
    Unknown,
    Expired,
}

#[derive(Default)]
struct Table {
    /// token → (client, last use).
    by_token: HashMap<u128, (u64, Duration)>,
    by_client: HashMap<u64, u128>,
    issued: u64,
}

pub struct Tokens {
    table: Mutex<Table>,
    /// Keyed per process: tokens cannot be guessed from a client id.
    keys: (RandomState, RandomState),
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            table: Mutex::default(),
            keys: (RandomState::new(), RandomState::new()),
        }
    }
}

impl Tokens {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new token for `client` at `now`, replacing its previous one.
    pub fn issue(&self, client: u64, now: Duration) -> String {
        let mut t = self.table();
        t.issued += 1;
        let n = (client, t.issued);
        let token = (u128::from(self.keys.0.hash_one(n)) << 64) | u128::from(self.keys.1.hash_one(n));
        if let Some(old) = t.by_client.insert(client, token) {
            t.by_token.remove(&old);
        }
        t.by_token.insert(token, (client, now));
        format!("{token:032x}")
    }

    /// The client a `Bearer` token stands for, refreshing its use.
    pub fn client(&self, bearer: &str, now: Duration) -> Result<u64, TokenError> {
        let token = u128::from_str_radix(bearer.trim(), 16).map_err(|_| TokenError::Unknown)?;
        let mut t = self.table();
        let (client, used) = t.by_token.get_mut(&token).ok_or(TokenError::Unknown)?;
        if now.saturating_sub(*used) > TOKEN_IDLE {
            let client = *client;
            t.by_token.remove(&token);
            t.by_client.remove(&client);
            return Err(TokenError::Expired);
        }
        *used = now;
        Ok(*client)
    }

    /// The client's token was in use until `now` (its gateway connection was held).
    pub fn touch(&self, client: u64, now: Duration) {
        let mut t = self.table();
        if let Some(token) = t.by_client.get(&client).copied()
            && let Some((_, used)) = t.by_token.get_mut(&token)
        {
            *used = now.max(*used);
        }
    }

    /// The client left: its token goes.
    pub fn revoke(&self, client: u64) {
        let mut t = self.table();
        if let Some(old) = t.by_client.remove(&client) {
            t.by_token.remove(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_client_replaced_revoked_and_expire() {
        let t = Tokens::default();
        let s = Duration::from_secs;
        let a = t.issue(7, s(0));
        assert_eq!(a.len(), 32);
        assert_eq!(t.client(&a, s(1)), Ok(7));
        let b = t.issue(7, s(2));
        assert_ne!(a, b);
        assert_eq!(
            t.client(&a, s(3)),
            Err(TokenError::Unknown),
            "replaced by the next login"
        );
        assert_eq!(t.client(&b, s(3)), Ok(7));
        assert_eq!(t.client("zz", s(3)), Err(TokenError::Unknown));
        assert_eq!(t.client(&b, s(3) + TOKEN_IDLE + s(1)), Err(TokenError::Expired));
        assert_eq!(t.client(&b, s(3)), Err(TokenError::Unknown), "gone once expired");
        let d = t.issue(9, s(0));
        t.touch(9, s(700));
        assert_eq!(
            t.client(&d, s(700) + TOKEN_IDLE),
            Ok(9),
            "a held connection keeps it fresh"
        );
        let c = t.issue(8, s(0));
        t.revoke(8);
        assert_eq!(t.client(&c, s(0)), Err(TokenError::Unknown));
    }
}
