//! The client side: trusting the cluster CA, and presenting a certificate.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// A rustls client config that trusts only `ca_pem` and, given one, presents `identity`
/// (certificate PEM, key PEM).
pub fn client_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let parse = |what: &str, reason: String| TlsError::File {
        path: what.into(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| parse("CA certificate", e.to_string()))?)?;
    }
    let builder = ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| parse("client certificate", e.to_string()))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|e| parse("client key", e.to_string()))?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// tonic's client TLS for a channel to a node: the cluster CA, and the caller's certificate.
pub fn tonic_client(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> tonic::transport::ClientTlsConfig {
    let config = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem));
    match identity {
        Some((cert, key)) => config.identity(tonic::transport::Identity::from_pem(cert, key)),
        None => config,
    }
}
