//! `client.session`: an HTTP session kept alive by keepalives, or a held connection
//! (`connect:`, a WebSocket per online client) kept alive by heartbeats.

use std::time::Duration;

use super::Validator;
use crate::profile::spec::{ClientSpec, Connect, Heartbeat, HeartbeatSend, Session, Step};
use crate::profile::{Template, limits, raw};
use crate::units::{Share, Text};

/// Close codes a server may send (RFC 6455 §7.4): 1000–1014 are the protocol's (1005,
/// 1006 and 1015 are never sent on the wire), 3000–4999 the applications'.
fn sendable_close(code: u16) -> bool {
    matches!(code, 1000..=1014 | 3000..=4999) && !matches!(code, 1004..=1006)
}

impl Validator<'_> {
    pub(super) fn session(&mut self, s: &raw::RawSession) -> Session {
        let connect = s.connect.as_ref().map(|c| self.connect(c));
        let keepalive = match (&s.keepalive, &connect) {
            (Some(k), None) => Some(self.step("client.session.keepalive", k, &[200])),
            (Some(_), Some(_)) => {
                self.err(
                    "client.session.keepalive",
                    "a held connection (`connect`) keeps the session with its heartbeats: \
                     remove `keepalive`, or `connect` for keepalive requests",
                );
                None
            }
            (None, Some(_)) => None,
            (None, None) => {
                self.err(
                    "client.session.keepalive",
                    "missing: the request that keeps a session alive, e.g. `{ request: POST /keepalive }`, \
                     or a held connection, e.g. `connect: { websocket: /gateway }`",
                );
                Some(Step::plain(
                    "keepalive",
                    http::Method::POST,
                    Template::literal("/"),
                    vec![200],
                ))
            }
        };
        let every = self.span(
            "client.session.every",
            &s.every,
            Duration::from_secs(30),
            limits::KEEPALIVE,
        );
        Session {
            keepalive,
            every,
            connect,
            initially_online: self.value("client.session.initially_online", &s.initially_online, true),
            reconnect: self.choice("client.session.reconnect", &s.reconnect, Default::default()),
        }
    }

    fn connect(&mut self, c: &raw::RawConnect) -> Connect {
        const F: &str = "client.session.connect";
        let path = match c.websocket.as_deref().map(str::trim) {
            None => {
                self.err(
                    &format!("{F}.websocket"),
                    "missing: the WebSocket path to upgrade on, e.g. `/gateway`",
                );
                "/".to_string()
            }
            Some(p) if !p.starts_with('/') => {
                self.err(
                    &format!("{F}.websocket"),
                    format!("the path `{p}` must start with `/` (the node's scheme and host come from target.nodes)"),
                );
                "/".to_string()
            }
            Some(p) => p.to_string(),
        };
        let step = raw::RawStep {
            name: Some("connect".into()),
            request: Some(format!("GET {path}")),
            headers: c.headers.clone(),
            body: None,
            expect: None,
            capture: None,
        };
        let upgrade = self.step(F, &step, &[101]);
        let hb = c.heartbeat.clone().unwrap_or_default();
        let every = self.span(
            &format!("{F}.heartbeat.every"),
            &hb.every,
            Duration::from_secs(30),
            limits::KEEPALIVE,
        );
        let expect_within = self.span(
            &format!("{F}.heartbeat.expect_within"),
            &hb.expect_within,
            Duration::from_secs(10),
            limits::TIMEOUT,
        );
        let send = match hb.send.as_deref() {
            None | Some("ping") => HeartbeatSend::Ping,
            Some("") => {
                self.err(
                    &format!("{F}.heartbeat.send"),
                    "is empty: write the heartbeat message, e.g. '{\"op\":\"hb\"}', or `ping`",
                );
                HeartbeatSend::Ping
            }
            Some(t) if t.len() > 4096 => {
                self.err(&format!("{F}.heartbeat.send"), "is longer than 4 KiB");
                HeartbeatSend::Ping
            }
            Some(t) => HeartbeatSend::Text(t.to_string()),
        };
        let mut relogin_on = Vec::new();
        for (i, t) in c.relogin_on.iter().flatten().enumerate() {
            let field = format!("{F}.relogin_on[{i}]");
            match t.0.parse::<u16>() {
                Ok(code) if sendable_close(code) => relogin_on.push(code),
                _ => self.err(
                    &field,
                    format!("`{}` is not a close code a server sends (1000–1014, 3000–4999)", t.0),
                ),
            }
        }
        let retry_after_from_reason = match c.retry_after_from.as_ref().map(|t| t.0.as_str()) {
            None => false,
            Some("reason") => true,
            Some(other) => {
                self.err(
                    &format!("{F}.retry_after_from"),
                    format!(
                        "`{other}` is not known: write `reason` (the wait is read from a 1012/1013 close's reason)"
                    ),
                );
                false
            }
        };
        if let Some(r) = &c.ready
            && (r.is_empty() || r.len() > 4096)
        {
            self.err(
                &format!("{F}.ready"),
                "must be 1 byte to 4 KiB of the server's first message",
            );
        }
        Connect {
            upgrade,
            heartbeat: Heartbeat {
                every,
                send,
                expect_within,
            },
            relogin_on,
            retry_after_from_reason,
            ready: c.ready.clone().filter(|r| !r.is_empty()),
        }
    }

    /// `slo.connected`: only for a connected population (99 % when the profile holds
    /// connections and does not say).
    pub(super) fn connected_slo(&mut self, v: Option<&Text>, client: &ClientSpec) -> Option<f64> {
        let held = client.session.as_ref().is_some_and(|s| s.connect.is_some());
        match v {
            None => held.then_some(0.99),
            Some(_) if !held => {
                self.err(
                    "slo.connected",
                    "applies to a connected population: add `client.session.connect`",
                );
                None
            }
            Some(t) => Some(self.unit("slo.connected", &Some(t.clone()), Share(0.99)).0),
        }
    }
}
