//! Certificates, identities and TLS configurations of sa nodes and clients (docs/security.md).
//!
//! One cluster CA signs every certificate. A certificate names its holder's role in a URI SAN
//! (`urn:sa:role:ROLE`, and `urn:sa:source:NAME` for each source an `ingest` holder may post to),
//! so a node learns who calls it from the TLS handshake alone.

mod authority;
mod client;
mod files;
mod identity;
mod pinned;
mod role;
mod server;

pub use authority::{CertAuthority, Lifetime, NodeNames, check_node_request, node_request};
pub use client::{client_config, tonic_client};
pub use files::{CA_LIFETIME, CertFiles, CertsDirError, LEAF_LIFETIME, write_private};
pub use identity::{CertSummary, Identity, IdentityError, ca_fingerprint, certs_in_dir};
pub use pinned::PinnedServer;
pub use role::{Role, UnknownRole};
pub use server::{ServerTls, TlsError};

/// The TLS provider of every sa config: the aws-lc-rs one the AWS SDK already links.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// `N` bytes from the system's secure random source (serials, token ids and secrets).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .expect("the system random source works");
    bytes
}
