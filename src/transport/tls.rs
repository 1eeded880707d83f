//! The client side of TLS (rustls) for `https://` nodes, and how a handshake failure is
//! told apart from the connection dying under it.

use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::TransportError;
use super::failure::classify_io;
use crate::outcome::Class;
use crate::profile::TlsSpec;

/// The run's TLS client side (rustls's connector, which does not say what it holds).
pub(super) struct Tls(pub TlsConnector);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// A handshake failure is `tls` (the certificate, the protocol); the connection dying
/// under it keeps its own class.
pub(super) fn classify_tls(e: &io::Error) -> Class {
    let tls_error = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if tls_error || e.kind() == io::ErrorKind::InvalidData {
        Class::Tls
    } else {
        classify_io(e)
    }
}

/// The client side of TLS for the run. Session resumption is off: a rebooted machine
/// has no session to resume, so every fresh connection pays the full handshake, as the
/// storm it stands for would.
/// `alpn`: the protocols offered, in order of preference (`http/1.1` alone, `h2`, or
/// both under `http: auto`).
pub(super) fn connector(spec: &TlsSpec, alpn: &[&[u8]]) -> Result<TlsConnector, TransportError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut config = if spec.verify {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some((file, certs)) = &spec.ca {
            for c in certs {
                roots
                    .add(rustls::pki_types::CertificateDer::from(c.clone()))
                    .map_err(|e| TransportError::Tls(format!("a certificate in `{file}`: {e}")))?;
            }
        }
        if roots.is_empty() {
            return Err(TransportError::Tls(
                "this machine has no trusted root certificates: give `target.tls.ca`, or `verify: false` for a test target"
                    .into(),
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// `verify: false`: any certificate is accepted, and so is its handshake signature (as
/// `oha --insecure` and rustls's own examples do). Checking the signature of a key no one
/// vouches for proves nothing, and it is client-side work only: the bytes on the wire and
/// the target's work (it signs either way) are the same, so the storm the target sees is
/// unchanged. It was a sixth of the generator's CPU per fresh TLS login (an ECDSA P-256
/// verification, in a `perf` profile of bench/compare.sh's TLS section).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
