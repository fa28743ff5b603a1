//! The TLS side of a node's listeners: its certificate, reloaded when the files change, and the
//! cluster CA that client certificates must chain to.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{CertFiles, CertSummary};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn file_error(path: &std::path::Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

struct Loaded {
    key: Arc<CertifiedKey>,
    modified: Option<SystemTime>,
    not_after: i64,
}

/// The node certificate every handshake presents: the one on disk as of the last
/// [`ServerTls::reload_if_changed`].
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().expect("cert lock").clone())
    }
}

/// A node's server TLS: `node.crt`/`node.key` and `ca.crt` of its certificates directory.
pub struct ServerTls {
    files: CertFiles,
    current: Arc<CurrentCert>,
    loaded: RwLock<(Option<SystemTime>, i64)>,
    /// gRPC: HTTP/2 only.
    pub grpc: Arc<ServerConfig>,
    /// The HTTP address: HTTP/1.1 and HTTP/2.
    pub http: Arc<ServerConfig>,
}

impl ServerTls {
    pub fn load(files: CertFiles) -> Result<Self, TlsError> {
        let loaded = load_node_cert(&files)?;
        let current = Arc::new(CurrentCert(RwLock::new(loaded.key)));
        let ca_path = files.ca_cert();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&ca_path).map_err(|e| file_error(&ca_path, e))? {
            roots
                .add(cert.map_err(|e| file_error(&ca_path, e))?)
                .map_err(|e| file_error(&ca_path, e))?;
        }
        // Handshakes without a certificate pass: bearer-token clients and /healthz probes have
        // none, and every RPC and route checks the identity it needs (docs/security.md).
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crate::provider())
                .allow_unauthenticated()
                .build()?;
        let config = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, TlsError> {
            let mut config = ServerConfig::builder_with_provider(crate::provider())
                .with_safe_default_protocol_versions()?
                .with_client_cert_verifier(verifier.clone())
                .with_cert_resolver(current.clone());
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(Arc::new(config))
        };
        Ok(ServerTls {
            grpc: config(&[b"h2"])?,
            http: config(&[b"h2", b"http/1.1"])?,
            current,
            loaded: RwLock::new((loaded.modified, loaded.not_after)),
            files,
        })
    }

    /// Reads the node's certificate and key again if `node.crt` changed since the last read,
    /// so renewed files take effect without a restart. Returns whether it swapped them.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let modified = modified(&self.files.cert("node"));
        if modified == self.loaded.read().expect("loaded lock").0 {
            return Ok(false);
        }
        let loaded = load_node_cert(&self.files)?;
        *self.current.0.write().expect("cert lock") = loaded.key;
        *self.loaded.write().expect("loaded lock") = (loaded.modified, loaded.not_after);
        Ok(true)
    }

    /// Seconds until the node certificate in use expires (negative once it has).
    pub fn expires_in_seconds(&self) -> i64 {
        self.loaded.read().expect("loaded lock").1
            - time::OffsetDateTime::now_utc().unix_timestamp()
    }

    pub fn files(&self) -> &CertFiles {
        &self.files
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load_node_cert(files: &CertFiles) -> Result<Loaded, TlsError> {
    let cert_path = files.cert("node");
    let key_path = files.key("node");
    // Read before the certificate: a renewal writes the key first, so a key older than the
    // certificate it is read with is never paired with it.
    let modified = modified(&cert_path);
    let mut chain = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| file_error(&cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&cert_path, e))?;
    // The CA goes along with the node's certificate: a node joining with a token has no
    // ca.crt yet and recognises the cluster by the CA's fingerprint (pinned.rs).
    if chain.len() == 1 {
        let ca_path = files.ca_cert();
        for cert in CertificateDer::pem_file_iter(&ca_path).map_err(|e| file_error(&ca_path, e))? {
            chain.push(cert.map_err(|e| file_error(&ca_path, e))?);
        }
    }
    let first = chain
        .first()
        .ok_or_else(|| file_error(&cert_path, "holds no certificate"))?;
    let not_after = CertSummary::from_der(first.as_ref())
        .map_err(|e| file_error(&cert_path, e))?
        .not_after;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| file_error(&key_path, e))?;
    let signing_key = crate::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| file_error(&key_path, e))?;
    let key = CertifiedKey::new(chain, signing_key);
    key.keys_match().map_err(|e| {
        file_error(
            &key_path,
            format!("does not match {}: {e}", cert_path.display()),
        )
    })?;
    Ok(Loaded {
        key: Arc::new(key),
        modified,
        not_after,
    })
}
