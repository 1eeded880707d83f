//! `https://` targets: a TLS server on loopback with a certificate from a test CA.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use common::read_request;
use stampede::run::{RunOptions, run};

struct Pki {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    key: Vec<u8>,
}

/// A CA, and a certificate for 127.0.0.1 that it signed.
fn pki() -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        leaf: leaf.der().clone(),
        key: key.serialize_der(),
    }
}

struct Server {
    addr: SocketAddr,
    /// Full TLS handshakes completed (not resumed ones).
    full_handshakes: Arc<AtomicU64>,
}

async fn serve(pki: &Pki) -> Server {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.leaf.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let handshakes = Arc::new(AtomicU64::new(0));
    let h = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (acceptor, h) = (acceptor.clone(), h.clone());
            tokio::spawn(async move {
                // The preflight check connects and leaves without a handshake.
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                if s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Full) {
                    h.fetch_add(1, Ordering::Relaxed);
                }
                let mut buf = Vec::new();
                while read_request(&mut s, &mut buf).await {
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server {
        addr,
        full_handshakes: handshakes,
    }
}

fn profile(addr: SocketAddr, connection: &str, tls: &str) -> stampede::profile::Profile {
    let text = format!(
        r#"
name: tls
seed: 5
target: {{ nodes: ["https://{addr}"], timeout: 2s, connection: {connection}, max_connections: 2, tls: {tls} }}
population: {{ simulate: 60 }}
storm: {{ waves: [ {{ share: 100%, spread: "uniform(300ms)" }} ] }}
client:
  login: [ {{ name: auth, request: POST /login, body: "{{{{client}}}}" }} ]
  retry: {{ policy: none }}
observe: {{ window: 250ms, until_recovered: 0s }}
"#
    );
    stampede::run::parse(&text, std::path::Path::new("test.yaml"), &temp_allowed).unwrap_or_else(|e| panic!("{e}"))
}

/// The operator's permission for CA files in the system's temporary folder (where
/// these tests write them, outside the profile's folder).
fn temp_allowed(k: &str) -> Option<String> {
    (k == "STAMPEDE_DATA_DIRS").then(|| std::env::temp_dir().display().to_string())
}

fn ca_file(dir: &tempfile::TempDir, pem: &str) -> String {
    let p = dir.path().join("ca.pem");
    std::fs::write(&p, pem).unwrap();
    p.display().to_string()
}

/// A storm of 60 clients against a TLS server with `pki`'s certificate: the report,
/// and the full (not resumed) handshakes the server made.
async fn storm(pki: &Pki, connection: &str, tls: &str) -> (stampede::report::Report, u64) {
    let s = serve(pki).await;
    let r = run(&profile(s.addr, connection, tls), RunOptions::default(), &mut ())
        .await
        .unwrap();
    assert!(r.totals.counts.attempts >= 55, "{}", r.totals.counts.attempts);
    (r, s.full_handshakes.load(Ordering::Relaxed))
}

#[tokio::test]
async fn a_certificate_from_the_given_ca_is_trusted_and_connections_are_reused() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(&dir, &pki.ca_pem);
    let (r, handshakes) = storm(&pki, "reuse", &format!("{{ ca: '{ca}' }}")).await;
    assert_eq!(
        r.totals.counts.logins_ok, r.totals.counts.attempts,
        "{:?}",
        r.totals.outcomes
    );
    assert!(handshakes <= 2, "pooled: at most the pool's two, not {handshakes}");
}

#[tokio::test]
async fn every_fresh_connection_pays_a_full_handshake() {
    let pki = pki();
    let (r, handshakes) = storm(&pki, "fresh", "{ verify: false }").await;
    assert_eq!(
        r.totals.counts.logins_ok, r.totals.counts.attempts,
        "{:?}",
        r.totals.outcomes
    );
    assert_eq!(
        handshakes, r.totals.counts.attempts,
        "a rebooted client resumes no session"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_a_tls_failure() {
    let dir = tempfile::tempdir().unwrap();
    let other = ca_file(&dir, &pki().ca_pem);
    let (r, _) = storm(&pki(), "fresh", &format!("{{ ca: '{other}' }}")).await;
    assert_eq!(r.totals.counts.logins_ok, 0);
    assert_eq!(
        r.totals.outcomes.get("tls"),
        Some(&r.totals.counts.attempts),
        "{:?}",
        r.totals.outcomes
    );
    let why = &r.engine.stats.failure_examples["tls"];
    assert!(why.contains("certificate"), "the report says why: {why}");
}

#[test]
fn a_bad_ca_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = ca_file(&dir, "hello");
    let pem = dir.path().join("good.pem");
    std::fs::write(&pem, pki().ca_pem).unwrap();
    let pem = pem.display().to_string();
    let text = |tls: &str| {
        format!(
            "name: t\ntarget: {{ nodes: [\"https://127.0.0.1:1\"], tls: {tls} }}\nclient:\n  login: [ {{ request: GET / }} ]\n"
        )
    };
    for (tls, says) in [
        (format!("{{ ca: '{not_pem}' }}"), "no PEM certificate"),
        ("{ ca: /nonexistent/ca.pem }".to_string(), "cannot read"),
        (format!("{{ verify: false, ca: '{pem}' }}"), "verify: false"),
    ] {
        let e = stampede::run::parse(&text(&tls), std::path::Path::new("p.yaml"), &temp_allowed).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("target.tls.ca") && msg.contains(says), "{msg}");
    }
}
