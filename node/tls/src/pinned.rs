//! Trusting a cluster known only by its CA's fingerprint, as a node joining with a token does:
//! it has no `ca.crt` yet, so it accepts the server's chain only if the chain holds the CA the
//! token names and the server's certificate verifies against that CA.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::TlsError;

/// A client config that trusts only a CA whose SHA-256 (of its DER) is `ca_sha256_hex`, found
/// in the chain the server presents, and remembers the certificate the server proved itself
/// with. No client certificate: the caller has none yet.
pub struct PinnedServer {
    pub config: Arc<ClientConfig>,
    seen: Arc<Mutex<Option<String>>>,
}

impl PinnedServer {
    pub fn new(ca_sha256_hex: &str) -> Result<PinnedServer, TlsError> {
        let provider = crate::provider();
        let seen = Arc::new(Mutex::new(None));
        let verifier = Arc::new(PinnedCa {
            fingerprint: ca_sha256_hex.to_ascii_lowercase(),
            provider: provider.clone(),
            seen: seen.clone(),
        });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(PinnedServer {
            config: Arc::new(config),
            seen,
        })
    }

    /// The SHA-256 (hex, of the DER) of the certificate the server last proved itself with.
    pub fn certificate_sha256(&self) -> Option<String> {
        self.seen.lock().expect("seen lock").clone()
    }
}

#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|cert| hex::encode(Sha256::digest(cert.as_ref())) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(format!(
                    "the server presents no CA certificate with SHA-256 {}: it is not the \
                     cluster the join token was made by",
                    self.fingerprint
                ))
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let verified =
            verifier.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)?;
        *self.seen.lock().expect("seen lock") =
            Some(hex::encode(Sha256::digest(end_entity.as_ref())));
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
