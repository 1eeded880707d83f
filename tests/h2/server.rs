//! A test-only HTTP/2 server built with the `h2` crate's server side, on 127.0.0.1:0:
//! it counts connections and streams per connection and answers a login flow
//! (`/login` gives `tok-CLIENT`, `/join` and `/keepalive` want it back as a bearer).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};

pub struct Seen {
    /// Streams each connection carried, by connection in accept order.
    pub streams: Mutex<Vec<usize>>,
    /// `/join` and `/keepalive` requests whose bearer matched the client's token, and not.
    pub good_bearer: AtomicUsize,
    pub bad_bearer: AtomicUsize,
    /// Streams open at once (the most seen), all connections together.
    pub open: AtomicUsize,
    pub most_open: AtomicUsize,
    /// Each send makes every connection open then send a graceful GOAWAY (what
    /// `nginx -s reload` does); connections opened after it are not drained.
    pub drain: tokio::sync::watch::Sender<u32>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            streams: Mutex::default(),
            good_bearer: AtomicUsize::new(0),
            bad_bearer: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            most_open: AtomicUsize::new(0),
            drain: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Seen {
    pub fn connections(&self) -> usize {
        self.streams.lock().unwrap().len()
    }

    pub fn total_streams(&self) -> usize {
        self.streams.lock().unwrap().iter().sum()
    }
}

/// `max_streams`: the SETTINGS_MAX_CONCURRENT_STREAMS advertised; `hold`: how long
/// each answer waits (for streams to pile up).
pub async fn serve(max_streams: u32, hold: Duration) -> (SocketAddr, Arc<Seen>) {
    serve_with(max_streams, hold, None).await
}

/// Over TLS with a self-signed certificate for 127.0.0.1, offering `alpn`.
pub async fn serve_tls(alpn: &[&[u8]]) -> (SocketAddr, Arc<Seen>) {
    serve_with(100, Duration::ZERO, Some(acceptor(alpn))).await
}

/// TLS with a self-signed certificate for 127.0.0.1, offering `alpn`.
fn acceptor(alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn serve_with(
    max_streams: u32,
    hold: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = s.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => connection(tcp, max_streams, hold, seen).await,
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(tcp).await {
                            connection(s, max_streams, hold, seen).await;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn connection<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    io: S,
    max_streams: u32,
    hold: Duration,
    seen: Arc<Seen>,
) {
    let mut conn = match h2::server::Builder::new()
        .max_concurrent_streams(max_streams)
        .handshake::<_, Bytes>(io)
        .await
    {
        Ok(c) => c,
        Err(_) => return,
    };
    let index = {
        let mut l = seen.streams.lock().unwrap();
        l.push(0);
        l.len() - 1
    };
    let mut drain = seen.drain.subscribe();
    let mut draining = false;
    loop {
        tokio::select! {
            next = conn.accept() => {
                let Some(Ok((req, respond))) = next else { break };
                seen.streams.lock().unwrap()[index] += 1;
                tokio::spawn(answer(req, respond, seen.clone(), hold));
            }
            _ = drain.changed(), if !draining => {
                draining = true;
                conn.graceful_shutdown();
            }
        }
    }
}

async fn answer(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    seen: Arc<Seen>,
    hold: Duration,
) {
    let open = seen.open.fetch_add(1, Ordering::SeqCst) + 1;
    seen.most_open.fetch_max(open, Ordering::SeqCst);
    let (head, mut body) = req.into_parts();
    let mut got = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        got.extend_from_slice(&chunk);
    }
    tokio::time::sleep(hold).await;
    let client = String::from_utf8_lossy(&got).to_string();
    let bearer = head
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (status, text) = match head.uri.path() {
        "/login" => (StatusCode::OK, format!(r#"{{"access_token":"tok-{client}"}}"#)),
        "/join" | "/keepalive" => {
            let good =
                bearer.starts_with("Bearer tok-") && (client.is_empty() || bearer == format!("Bearer tok-{client}"));
            let counter = if good { &seen.good_bearer } else { &seen.bad_bearer };
            counter.fetch_add(1, Ordering::SeqCst);
            (
                if good { StatusCode::OK } else { StatusCode::UNAUTHORIZED },
                String::new(),
            )
        }
        _ => (StatusCode::NOT_FOUND, String::new()),
    };
    seen.open.fetch_sub(1, Ordering::SeqCst);
    let res = Response::builder().status(status).body(()).unwrap();
    if let Ok(mut send) = respond.send_response(res, text.is_empty())
        && !text.is_empty()
    {
        let _ = send.send_data(Bytes::from(text), true);
    }
}

/// Over TLS offering only `http/1.1`, answering HTTP/1.1 (`/login` with a token):
/// what `http: auto` must fall back to.
pub async fn serve_tls_http1() -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let acceptor = acceptor(&[b"http/1.1"]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let n = requests.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, n) = (acceptor.clone(), n.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else { return };
                let mut buf = Vec::new();
                while super::common::read_request(&mut s, &mut buf).await {
                    n.fetch_add(1, Ordering::SeqCst);
                    let body = r#"{"access_token":"t"}"#;
                    let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                    if s.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, requests)
}
