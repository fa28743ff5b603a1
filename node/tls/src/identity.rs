//! Who a certificate says its holder is.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;

use crate::Role;

/// URI SAN prefix naming the holder's role.
pub(crate) const ROLE_URI: &str = "urn:sa:role:";
/// URI SAN prefix naming a source an `ingest` holder may post to.
pub(crate) const SOURCE_URI: &str = "urn:sa:source:";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("not an X.509 certificate: {0}")]
    Parse(String),
    #[error("certificate of {subject:?} names no sa role (no {ROLE_URI}ROLE name)")]
    NoRole { subject: String },
    #[error("certificate of {subject:?}: {source}")]
    BadRole {
        subject: String,
        source: crate::UnknownRole,
    },
}

/// The holder of a verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The certificate's common name.
    pub subject: String,
    pub role: Role,
    /// For `ingest`: the sources it may post to.
    pub sources: Vec<String>,
    /// Hex, as `sactl certs list` shows it and a deny list names it.
    pub serial: String,
    /// Seconds since the Unix epoch.
    pub not_after: i64,
}

impl Identity {
    pub fn from_der(der: &[u8]) -> Result<Self, IdentityError> {
        let summary = CertSummary::from_der(der)?;
        let subject = summary.subject.clone();
        let role = summary
            .role
            .ok_or_else(|| IdentityError::NoRole {
                subject: subject.clone(),
            })?
            .parse()
            .map_err(|source| IdentityError::BadRole { subject, source })?;
        Ok(Identity {
            subject: summary.subject,
            role,
            sources: summary.sources,
            serial: summary.serial,
            not_after: summary.not_after,
        })
    }

    /// Whether this holder may post records to `source`.
    pub fn may_ingest(&self, source: &str) -> bool {
        self.role == Role::Admin
            || (self.role == Role::Ingest && self.sources.iter().any(|s| s == source))
    }
}

/// What `sactl certs list` shows of one certificate.
#[derive(Debug, Clone)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub role: Option<String>,
    pub sources: Vec<String>,
    /// DNS names and IP addresses.
    pub names: Vec<String>,
    pub serial: String,
    pub is_ca: bool,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertSummary {
    pub fn from_der(der: &[u8]) -> Result<Self, IdentityError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| IdentityError::Parse(e.to_string()))?;
        let common_name = |name: &x509_parser::x509::X509Name<'_>| {
            name.iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let mut summary = CertSummary {
            subject: common_name(cert.subject()),
            issuer: common_name(cert.issuer()),
            role: None,
            sources: Vec::new(),
            names: Vec::new(),
            serial: cert.raw_serial_as_string().replace(':', ""),
            is_ca: cert.is_ca(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        };
        if let Ok(Some(alt_names)) = cert.subject_alternative_name() {
            for name in &alt_names.value.general_names {
                match name {
                    GeneralName::URI(uri) => {
                        if let Some(role) = uri.strip_prefix(ROLE_URI) {
                            summary.role = Some(role.to_string());
                        } else if let Some(source) = uri.strip_prefix(SOURCE_URI) {
                            summary.sources.push(source.to_string());
                        }
                    }
                    GeneralName::DNSName(dns) => summary.names.push(dns.to_string()),
                    GeneralName::IPAddress(ip) => summary.names.push(ip_text(ip)),
                    _ => {}
                }
            }
        }
        Ok(summary)
    }
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).expect("4 bytes")).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).expect("16 bytes")).to_string(),
        _ => hex::encode(bytes),
    }
}

/// SHA-256 of the CA certificate's DER, hex: what a join token carries so a new node can tell
/// the real cluster from an impostor before it trusts it.
pub fn ca_fingerprint(ca_pem: &str) -> Result<String, IdentityError> {
    let der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| IdentityError::Parse(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(der.as_ref())))
}

/// Every certificate (`*.crt`) in `dir`, by file name, with what it says or why it cannot be read.
pub fn certs_in_dir(
    dir: &Path,
) -> std::io::Result<Vec<(PathBuf, Result<CertSummary, IdentityError>)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "crt") {
            let summary = std::fs::read(&path)
                .map_err(|e| IdentityError::Parse(e.to_string()))
                .and_then(|pem| {
                    CertificateDer::from_pem_slice(&pem)
                        .map_err(|e| IdentityError::Parse(e.to_string()))
                })
                .and_then(|der| CertSummary::from_der(der.as_ref()));
            found.push((path, summary));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertAuthority, Lifetime, NodeNames};
    use std::time::Duration;

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn issued_certificates_carry_role_sources_and_names() {
        let ca = CertAuthority::create(Lifetime(Duration::from_secs(3600))).unwrap();
        let (cert, _) = ca
            .issue_client(
                "shipper",
                Role::Ingest,
                &["okta".to_string(), "cloudtrail".to_string()],
                Lifetime(Duration::from_secs(600)),
            )
            .unwrap();
        let identity = Identity::from_der(&der(&cert)).unwrap();
        assert_eq!(identity.subject, "shipper");
        assert_eq!(identity.role, Role::Ingest);
        assert!(identity.may_ingest("okta"));
        assert!(!identity.may_ingest("json"));

        let (cert, _) = ca
            .issue_node(
                "node-7",
                &NodeNames::from_addresses(["10.0.0.7:7710"]),
                Lifetime(Duration::from_secs(600)),
            )
            .unwrap();
        let summary = CertSummary::from_der(&der(&cert)).unwrap();
        assert_eq!(summary.role.as_deref(), Some("node"));
        assert_eq!(summary.names, ["localhost", "127.0.0.1", "10.0.0.7"]);
        assert_eq!(summary.issuer, "sa cluster CA");
        assert!(!summary.is_ca);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((summary.not_after - now - 600).abs() < 5);
    }

    #[test]
    fn a_certificate_without_a_role_is_no_identity() {
        let ca = CertAuthority::create(Lifetime(Duration::from_secs(3600))).unwrap();
        let error = Identity::from_der(&der(ca.cert_pem())).unwrap_err();
        assert!(error.to_string().contains("names no sa role"), "{error}");
    }

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_der() {
        let ca = CertAuthority::create(Lifetime(Duration::from_secs(3600))).unwrap();
        let fingerprint = ca_fingerprint(ca.cert_pem()).unwrap();
        assert_eq!(fingerprint, hex::encode(Sha256::digest(der(ca.cert_pem()))));
    }
}
