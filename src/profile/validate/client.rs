//! `client:`: the login flow's steps, the retry policy, the session kept alive, and
//! the steps a rebooting client sends.

use std::time::Duration;

use super::Validator;
use crate::profile::Template;
use crate::profile::spec::{AdaptiveThrottle, ClientSpec, Jitter, RetryBudget, RetryKind, RetryPolicy, Step};
use crate::profile::{limits, raw};
use crate::units::{Dur, Text};

impl Validator<'_> {
    pub(super) fn client(&mut self, raw: Option<&raw::RawClient>, seed: u64) -> ClientSpec {
        let c = raw.cloned().unwrap_or_default();
        let data = self.data(c.data.as_ref(), seed);
        // A data file that could not be read has one problem, at `client.data`: its
        // columns are not also "unknown" at every use.
        self.data_failed = c.data.is_some() && data.is_none();
        let mut login = self.login(c.login.as_deref());
        let retry = self.retry(c.retry.as_ref());
        let mut session = c.session.as_ref().map(|s| self.session(s));
        let mut on_reboot = c.on_reboot.as_ref().map_or_else(Vec::new, |steps| {
            steps
                .iter()
                .enumerate()
                .map(|(i, s)| self.step(&format!("client.on_reboot[{i}]"), s, &[200, 202, 204]))
                .collect()
        });
        let cookies = self.value("client.cookies", &c.cookies, false);
        let steps = login.iter_mut().chain(&mut on_reboot);
        for s in steps.chain(session.as_mut().and_then(|s| s.keepalive.as_mut())) {
            s.cookies = cookies;
        }
        ClientSpec {
            cookies,
            login,
            retry,
            session,
            on_reboot,
            captures: std::mem::take(&mut self.slots),
            data,
        }
    }

    fn login(&mut self, steps: Option<&[raw::RawStep]>) -> Vec<Step> {
        let login: Vec<Step> = match steps {
            None => {
                self.err(
                    "client.login",
                    "missing: list the login flow's steps, e.g. `- { name: auth, request: POST /login, expect: 200 }`",
                );
                Vec::new()
            }
            Some([]) => {
                self.err("client.login", "the flow has no step");
                Vec::new()
            }
            Some(steps) => steps
                .iter()
                .enumerate()
                .map(|(i, s)| self.step(&format!("client.login[{i}]"), s, &[200]))
                .collect(),
        };
        let mut seen = std::collections::HashSet::new();
        for (i, s) in login.iter().enumerate() {
            if !seen.insert(s.name.clone()) {
                self.err(
                    &format!("client.login[{i}].name"),
                    format!("`{}` names two steps", s.name),
                );
            }
            if s.name == "login" {
                self.err(
                    &format!("client.login[{i}].name"),
                    "`login` is the whole flow's name in thresholds; name the step otherwise",
                );
            }
        }
        login
    }

    fn retry(&mut self, raw: Option<&raw::RawRetry>) -> RetryPolicy {
        let r = raw.cloned().unwrap_or_default();
        let kind = self.choice("client.retry.policy", &r.policy, RetryKind::Exponential);
        let cap = self.span("client.retry.cap", &r.cap, Duration::from_secs(60), limits::RETRY);
        let retry = RetryPolicy {
            kind,
            base: self.span("client.retry.base", &r.base, Duration::from_secs(1), limits::RETRY),
            cap,
            jitter: self.choice("client.retry.jitter", &r.jitter, Jitter::Full),
            max_attempts: self.value(
                "client.retry.max_attempts",
                &r.max_attempts,
                if kind == RetryKind::None { 1 } else { 10u32 },
            ),
            honor_retry_after: self.value("client.retry.honor_retry_after", &r.honor_retry_after, true),
            retry_after_cap: self.span(
                "client.retry.retry_after_cap",
                &r.retry_after_cap,
                cap.max(limits::RETRY_AFTER_CAP),
                limits::RETRY,
            ),
            budget: r.budget.as_ref().map(|b| RetryBudget {
                max_tokens: self.number_in(
                    "client.retry.budget.max_tokens",
                    &b.max_tokens,
                    10.0,
                    limits::TOKENS,
                    "",
                ),
                token_ratio: self.number_in(
                    "client.retry.budget.token_ratio",
                    &b.token_ratio,
                    0.1,
                    limits::TOKENS,
                    "",
                ),
            }),
            throttle: r.throttle.as_ref().map(|t| AdaptiveThrottle {
                k: self.number_in(
                    "client.retry.throttle.k",
                    &t.k,
                    2.0,
                    limits::THROTTLE_K,
                    " (2 is the SRE book's choice)",
                ),
                window: self.span(
                    "client.retry.throttle.window",
                    &t.window,
                    Duration::from_secs(120),
                    limits::RETRY,
                ),
            }),
        };
        if retry.max_attempts == 0 {
            self.err(
                "client.retry.max_attempts",
                "must be at least 1 (the first attempt counts)",
            );
        }
        if retry.cap < retry.base {
            self.err(
                "client.retry.cap",
                format!("is below the base delay ({})", Dur(retry.base)),
            );
        }
        retry
    }

    pub(super) fn step(&mut self, field: &str, s: &raw::RawStep, default_expect: &[u16]) -> Step {
        let name = s
            .name
            .clone()
            .unwrap_or_else(|| field.rsplit('.').next().unwrap_or(field).to_string());
        let (method, path) = match s.request.as_deref().map(str::trim) {
            None => {
                self.err(
                    &format!("{field}.request"),
                    "missing: write the method and path, e.g. `POST /login`",
                );
                (http::Method::GET, Template::literal("/"))
            }
            Some(r) => {
                let (m, p) = r.split_once(char::is_whitespace).unwrap_or(("GET", r));
                let method = match http::Method::from_bytes(m.as_bytes()) {
                    Ok(m) if m.as_str().chars().all(|c| c.is_ascii_uppercase()) => m,
                    _ => {
                        self.err(
                            &format!("{field}.request"),
                            format!("`{m}` is not an HTTP method (GET, POST, PUT, ...)"),
                        );
                        http::Method::GET
                    }
                };
                let p = p.trim();
                if !p.starts_with('/') {
                    self.err(
                        &format!("{field}.request"),
                        format!("the path `{p}` must start with `/`"),
                    );
                }
                (method, self.template(&format!("{field}.request"), p))
            }
        };
        let mut headers = Vec::new();
        for (k, val) in s.headers.clone().unwrap_or_default() {
            let hf = format!("{field}.headers.{k}");
            match http::header::HeaderName::from_bytes(k.as_bytes()) {
                Ok(h) => {
                    let t = self.template(&hf, &val);
                    headers.push((h, t));
                }
                Err(_) => self.err(&hf, format!("`{k}` is not a valid header name")),
            }
        }
        let body = s.body.as_ref().map(|b| self.template(&format!("{field}.body"), b));
        let (expect, checks) = self.expect(&format!("{field}.expect"), s.expect.as_ref(), default_expect);
        // After the step's own templates: a capture is known from the next step on.
        let captures = self.captures(field, s.capture.as_ref());
        Step {
            name,
            method,
            path,
            headers,
            body,
            expect,
            checks,
            captures,
            cookies: false,
        }
    }

    pub(super) fn status(&mut self, field: &str, t: &Text) -> u16 {
        match t.0.parse::<u16>() {
            Ok(s) if (100..=599).contains(&s) => s,
            _ => {
                self.err(field, format!("`{}` is not an HTTP status (100 to 599)", t.0));
                200
            }
        }
    }
}
