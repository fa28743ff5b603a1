//! The cluster CA: creating it, and issuing node and client certificates with it.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::Role;
use crate::identity::{ROLE_URI, SOURCE_URI};

/// How long a certificate stays valid from now.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime(pub Duration);

/// The host names and IP addresses a node certificate is valid for: every address the node
/// listens on or advertises, without ports.
#[derive(Debug, Clone, Default)]
pub struct NodeNames(pub Vec<String>);

impl NodeNames {
    /// The names of `HOST:PORT` addresses (or bare hosts), each once, plus `localhost` and
    /// 127.0.0.1 so tools on the node's own machine can always reach it.
    pub fn from_addresses<'a>(addresses: impl IntoIterator<Item = &'a str>) -> Self {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        for address in addresses {
            let host = host_of(address);
            if !host.is_empty() && !names.iter().any(|known| known == host) {
                names.push(host.to_string());
            }
        }
        NodeNames(names)
    }
}

fn host_of(address: &str) -> &str {
    let address = address.rsplit_once("://").map_or(address, |(_, rest)| rest);
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match address.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => address,
    }
}

/// A CA certificate and its key, able to sign.
pub struct CertAuthority {
    cert_pem: String,
    key: KeyPair,
    issuer: Issuer<'static, KeyPair>,
}

impl CertAuthority {
    /// A new self-signed CA valid for `lifetime`.
    pub fn create(lifetime: Lifetime) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "sa cluster CA");
        name.push(DnType::OrganizationName, "sa");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, lifetime);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        Self::from_pem(&cert_pem, &key.serialize_pem())
    }

    /// The CA stored as `ca.crt` and `ca.key`.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, rcgen::Error> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, KeyPair::from_pem(key_pem)?)?;
        Ok(CertAuthority {
            cert_pem: cert_pem.to_string(),
            key,
            issuer,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A certificate and new key for a node: server and client use, role `node`.
    pub fn issue_node(
        &self,
        node_name: &str,
        names: &NodeNames,
        lifetime: Lifetime,
    ) -> Result<(String, String), rcgen::Error> {
        let key = KeyPair::generate()?;
        let params = leaf_params(node_name, Role::Node, &[], names, lifetime)?;
        Ok((
            params.signed_by(&key, &self.issuer)?.pem(),
            key.serialize_pem(),
        ))
    }

    /// Signs a joining node's certificate signing request: the node keeps its key; only the
    /// public key comes from the request, the names and the role from the cluster.
    pub fn sign_node_request(
        &self,
        request_pem: &str,
        node_name: &str,
        names: &NodeNames,
        lifetime: Lifetime,
    ) -> Result<String, rcgen::Error> {
        let request = CertificateSigningRequestParams::from_pem(request_pem)?;
        let params = leaf_params(node_name, Role::Node, &[], names, lifetime)?;
        Ok(params.signed_by(&request.public_key, &self.issuer)?.pem())
    }

    /// A client certificate and new key for a person or a tool holding `role`.
    pub fn issue_client(
        &self,
        name: &str,
        role: Role,
        sources: &[String],
        lifetime: Lifetime,
    ) -> Result<(String, String), rcgen::Error> {
        let key = KeyPair::generate()?;
        let params = leaf_params(name, role, sources, &NodeNames::default(), lifetime)?;
        Ok((
            params.signed_by(&key, &self.issuer)?.pem(),
            key.serialize_pem(),
        ))
    }
}

/// Whether `request_pem` is a signing request this CA can sign (its signature holds).
pub fn check_node_request(request_pem: &str) -> Result<(), rcgen::Error> {
    CertificateSigningRequestParams::from_pem(request_pem).map(drop)
}

/// A new key and a signing request for it, as a joining node sends it: (request, key) PEM.
pub fn node_request(node_name: &str) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, node_name);
    let request = params.serialize_request(&key)?;
    Ok((request.pem()?, key.serialize_pem()))
}

fn leaf_params(
    name: &str,
    role: Role,
    sources: &[String],
    names: &NodeNames,
    lifetime: Lifetime,
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(names.0.clone())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "sa");
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = if role == Role::Node {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    params.use_authority_key_identifier_extension = true;
    params
        .subject_alt_names
        .push(SanType::URI(format!("{ROLE_URI}{role}").try_into()?));
    for source in sources {
        params
            .subject_alt_names
            .push(SanType::URI(format!("{SOURCE_URI}{source}").try_into()?));
    }
    set_validity(&mut params, lifetime);
    Ok(params)
}

fn set_validity(params: &mut CertificateParams, lifetime: Lifetime) {
    let now = OffsetDateTime::now_utc();
    // A minute of slack for clocks a little behind the issuer's.
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + lifetime.0;
    let mut serial: [u8; 16] = crate::random_bytes();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_hosts_without_ports_each_once() {
        let names = NodeNames::from_addresses(["10.0.0.5:7710", "10.0.0.5:7780", "[::1]:7710"]);
        assert_eq!(names.0, ["localhost", "127.0.0.1", "10.0.0.5", "::1"]);
        let names = NodeNames::from_addresses(["node-a.internal:7710", "http://10.1.2.3:80"]);
        assert_eq!(names.0[2..], ["node-a.internal", "10.1.2.3"]);
    }

    #[test]
    fn a_signed_request_is_a_node_certificate_for_the_requesters_key() {
        let ca = CertAuthority::create(Lifetime(Duration::from_secs(3600))).unwrap();
        let (request, key) = node_request("node 10.0.0.7:7710").unwrap();
        let names = NodeNames::from_addresses(["10.0.0.7:7710"]);
        let cert = ca
            .sign_node_request(
                &request,
                "node 10.0.0.7:7710",
                &names,
                Lifetime(Duration::from_secs(60)),
            )
            .unwrap();
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let summary = crate::CertSummary::from_der(der.as_ref()).unwrap();
        assert_eq!(summary.role.as_deref(), Some("node"));
        assert!(
            summary.names.iter().any(|n| n == "10.0.0.7"),
            "{:?}",
            summary.names
        );
        use rcgen::PublicKeyData;
        let requester = KeyPair::from_pem(&key).unwrap();
        let parsed = x509_parser::parse_x509_certificate(der.as_ref()).unwrap().1;
        assert_eq!(
            parsed.public_key().subject_public_key.data.as_ref(),
            requester.der_bytes(),
            "the requester's key"
        );
        assert!(
            ca.sign_node_request(
                "not a request",
                "x",
                &names,
                Lifetime(Duration::from_secs(60))
            )
            .is_err()
        );
    }
}
