//! A flow's steps as HTTP/2 streams: each request composed as for HTTP/1.1 (one place
//! renders templates, cookies and headers) and sent as a stream on the client's
//! connection; answers judged by the same code.

use bytes::Bytes;
use tokio::time::Instant;

use super::H2;
use super::link::{Link, Progress, StreamError};
use crate::outcome::Class;
use crate::profile::{Step, Values, Vars};
use crate::transport::capture::Kept;
use crate::transport::conn::Io;
use crate::transport::failure::{Cause, Failure};
use crate::transport::http1::{MAX_HEADERS, compose};
use crate::transport::retry_after::RetryAfter;
use crate::transport::{Dest, FlowResult, Transport, push_step};

/// A stream above a GOAWAY's last-stream-id is sent again at once, on a new
/// connection, this many times at most (a server that answers every connection with a
/// GOAWAY would otherwise be asked forever).
const UNPROCESSED_RETRIES: u32 = 3;

/// Headers HTTP/2 forbids (RFC 9113 §8.2.2); `host` becomes `:authority`.
const CONNECTION_HEADERS: [&str; 6] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// One step's request, parsed back from its HTTP/1.1 composition.
struct Request {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Request {
    fn to_h2(&self) -> http::Request<()> {
        let mut r = http::Request::new(());
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        r
    }
}

impl Transport {
    /// [`Transport::flow`] over HTTP/2: `fresh` (a login attempt, `connection: fresh`)
    /// opens the client's connection, later steps and session requests are streams on
    /// it.
    pub(in crate::transport) async fn flow_h2(
        &self,
        h2: &H2,
        steps: &[Step],
        vars: Vars<'_>,
        mut values: Option<&mut Values>,
        fresh: bool,
        started: Instant,
    ) -> FlowResult {
        let node = vars.node;
        let d = &self.dests[node];
        let mut results = crate::outcome::Steps::new();
        let mut class = Class::Ok;
        let mut retry_after = None;
        let sent = Instant::now();
        let mut step_start = sent;
        let mut kept = Kept::default();
        let mut out = Vec::with_capacity(512);
        for (i, step) in steps.iter().enumerate() {
            let deadline = step_start + self.timeout;
            let mut progress = Progress::default();
            let step_vars = Vars {
                values: values.as_deref(),
                ..vars
            };
            let r = tokio::time::timeout_at(
                deadline,
                self.stream_h2(
                    h2,
                    step,
                    d,
                    step_vars,
                    fresh && i == 0,
                    &mut kept,
                    &mut out,
                    &mut progress,
                ),
            )
            .await;
            let done = Instant::now();
            if let Some(t) = &self.tracer {
                t.note_h2(&step.name, &out, &kept);
            }
            let (c, ra) = match r {
                Err(_) => {
                    let class = if progress.sending {
                        Class::H2FlowStall
                    } else if progress.answered {
                        Class::TimeoutMidAnswer
                    } else {
                        Class::Timeout
                    };
                    self.examples.note(class, || {
                        let limit = crate::units::Dur(self.timeout);
                        match class {
                            Class::H2FlowStall => format!("the server's flow-control window stayed shut for {limit}: the request body could not be sent"),
                            Class::TimeoutMidAnswer => format!("the answer did not finish within {limit}"),
                            _ => format!("no answer within {limit}"),
                        }
                    });
                    (class, None)
                }
                Ok(Err(f)) => self.failed(&f),
                Ok(Ok((status, ra))) => self.judged(step, status, ra, &kept, d, vars, values.as_deref_mut()),
            };
            push_step(&mut results, c, started, step_start, done);
            step_start = done;
            if !c.is_ok() {
                class = c;
                retry_after = ra;
                break;
            }
        }
        if fresh && !class.is_ok() {
            h2.forget(vars.client);
        }
        FlowResult::finished(class, retry_after, (started, sent, step_start), results, node)
    }

    /// One step as a stream: on the client's connection (a new one for `open_new`), sent
    /// again at once on a new connection while the server had not processed it.
    #[allow(clippy::too_many_arguments)]
    async fn stream_h2(
        &self,
        h2: &H2,
        step: &Step,
        d: &Dest,
        vars: Vars<'_>,
        open_new: bool,
        kept: &mut Kept,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> Result<(u16, Option<RetryAfter>), Failure> {
        kept.clear();
        out.clear();
        let req = self.request_h2(step, d, vars, out)?;
        let traced = self.tracer.is_some();
        let keep = (traced || step.keeps_head(), traced || step.keeps_body());
        let mut again = 0;
        loop {
            let link = h2
                .link(vars.client, vars.node, open_new || again > 0, || {
                    self.open_h2(h2, d, vars.client)
                })
                .await?;
            h2.streamed();
            // A stream that waited a third of its timeout PINGs its connection, and
            // gives the PONG until four fifths of it: the rest is margin for a loaded
            // generator, so that a dead connection is not reported as a slow answer.
            let (after, within) = (self.timeout / 3, self.timeout * 7 / 15);
            let r = tokio::select! {
                r = link.exchange(req.to_h2(), req.body.clone(), keep, kept, progress) => r,
                c = link.watch(after, within) => Err(StreamError::Failed(Failure {
                    class: c,
                    cause: Cause::H2(format!("the connection's PING went unanswered for {}", crate::units::Dur(within))),
                })),
            };
            match r {
                Ok(answer) => return Ok(answer),
                Err(StreamError::Unprocessed) if again < UNPROCESSED_RETRIES => {
                    again += 1;
                    h2.retried();
                    kept.clear();
                    *progress = Progress::default();
                }
                Err(StreamError::Unprocessed) => {
                    return Err(Failure {
                        class: Class::GoAway,
                        cause: Cause::H2(format!(
                            "{} connections in a row answered this stream with a GOAWAY",
                            UNPROCESSED_RETRIES + 1
                        )),
                    });
                }
                Err(StreamError::Failed(f)) => return Err(f),
            }
        }
    }

    /// The step's request as HTTP/2: composed as HTTP/1.1, then read back.
    fn request_h2(&self, step: &Step, d: &Dest, vars: Vars<'_>, out: &mut Vec<u8>) -> Result<Request, Failure> {
        let mut scratch = String::new();
        compose(step, &d.host, &d.base_path, vars, false, out, &mut scratch).map_err(|len| Failure {
            class: Class::Capture,
            cause: Cause::RequestTooLong(len),
        })?;
        let bad = |why: String| Failure {
            class: Class::Capture,
            cause: Cause::H2(format!(
                "step `{}`: the request cannot be sent as HTTP/2: {why}",
                step.name
            )),
        };
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS * 2];
        let mut parsed = httparse::Request::new(&mut fields);
        let body_at = match parsed.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err(bad("its head is incomplete".into())),
            Err(e) => return Err(bad(e.to_string())),
        };
        let scheme = if d.tls.is_some() { "https" } else { "http" };
        let uri = format!("{scheme}://{}{}", d.host, parsed.path.unwrap_or("/"));
        let uri = uri.parse::<http::Uri>().map_err(|e| bad(format!("`{uri}`: {e}")))?;
        let mut headers = http::HeaderMap::new();
        for f in parsed.headers.iter() {
            if CONNECTION_HEADERS.iter().any(|h| f.name.eq_ignore_ascii_case(h)) {
                continue;
            }
            let name = http::HeaderName::from_bytes(f.name.as_bytes())
                .map_err(|e| bad(format!("header `{}`: {e}", f.name)))?;
            let value = http::HeaderValue::from_bytes(f.value).map_err(|e| bad(format!("header `{}`: {e}", f.name)))?;
            headers.append(name, value);
        }
        Ok(Request {
            method: step.method.clone(),
            uri,
            headers,
            body: Bytes::copy_from_slice(&out[body_at..]),
        })
    }

    /// A new connection to `d` for `client`: TCP (from its source address), TLS with
    /// ALPN when `https://` (the server must select `h2`), the h2 handshake.
    async fn open_h2(&self, h2: &H2, d: &Dest, client: u64) -> Result<Link, Failure> {
        let tls = self.tls.as_ref().map(|t| &t.0).zip(d.tls.as_ref());
        let io = Io::open(d.addr, self.source_of(client), tls)
            .await
            .map_err(|f| if refused_alpn(&f) { not_negotiated(None) } else { f })?;
        if let Io::Tls(s) = &io {
            match s.get_ref().1.alpn_protocol() {
                Some(b"h2") => {}
                other => return Err(not_negotiated(other)),
            }
        }
        let owner = (!h2.reuse).then_some(client);
        Link::start(io, h2.tally.clone(), h2.ping_every(), self.timeout, owner).await
    }
}

/// The server offered none of our ALPN protocols and said so (`no_application_protocol`,
/// RFC 7301 §3.2): a server that does not speak HTTP/2 over TLS.
fn refused_alpn(f: &Failure) -> bool {
    let Cause::Io(e) = &f.cause else { return false };
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
            )
        })
}

/// `http: 2` over TLS and the server did not select `h2` (`chose`: what it selected).
fn not_negotiated(chose: Option<&[u8]>) -> Failure {
    let chose = chose.map_or("none of the protocols offered".to_string(), |p| {
        format!("`{}`", String::from_utf8_lossy(p))
    });
    Failure {
        class: Class::H2NotNegotiated,
        cause: Cause::H2(format!(
            "the server did not take ALPN `h2` (it chose {chose}): it does not speak HTTP/2 over TLS; \
             write `target.http: 1.1` to storm it over HTTP/1.1"
        )),
    }
}
