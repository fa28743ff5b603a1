//! The text of join and bearer tokens: `saj1.<CA SHA-256>.<id>.<secret>` and
//! `sat1.<id>.<secret>`. The id names the token in the replicated state (and in logs and the
//! audit trail); only the SHA-256 of the secret is stored (sa-state's `Tokens`).

use sha2::{Digest, Sha256};

const JOIN_PREFIX: &str = "saj1";
const BEARER_PREFIX: &str = "sat1";

/// A token as its holder has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// SHA-256 of the cluster CA's certificate (DER), hex: how the joining node recognises the
    /// cluster before it trusts anything.
    pub ca_sha256: String,
    pub id: String,
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "not a join token ({0}): expected saj1.<CA SHA-256>.<id>.<secret> as `sactl join-token create` prints it"
)]
pub struct MalformedToken(&'static str);

impl JoinToken {
    /// A new token for the cluster whose CA has this fingerprint.
    pub fn generate(ca_sha256: &str) -> Self {
        JoinToken {
            ca_sha256: ca_sha256.to_string(),
            id: hex::encode(sa_tls::random_bytes::<8>()),
            secret: hex::encode(sa_tls::random_bytes::<32>()),
        }
    }

    pub fn parse(text: &str) -> Result<Self, MalformedToken> {
        let mut parts = text.trim().split('.');
        if parts.next() != Some(JOIN_PREFIX) {
            return Err(MalformedToken("it does not start with saj1."));
        }
        let mut hex_part = |what: &'static str, len: usize| {
            parts
                .next()
                .filter(|part| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase)
                .ok_or(MalformedToken(what))
        };
        let token = JoinToken {
            ca_sha256: hex_part("its CA fingerprint is not 64 hex digits", 64)?,
            id: hex_part("its id is not 16 hex digits", 16)?,
            secret: hex_part("its secret is not 64 hex digits", 64)?,
        };
        if parts.next().is_some() {
            return Err(MalformedToken("it has more than four parts"));
        }
        Ok(token)
    }

    pub fn text(&self) -> String {
        format!(
            "{JOIN_PREFIX}.{}.{}.{}",
            self.ca_sha256, self.id, self.secret
        )
    }
}

/// A bearer token as its holder sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken {
    pub id: String,
    pub secret: String,
}

impl BearerToken {
    pub fn generate() -> Self {
        BearerToken {
            id: hex::encode(sa_tls::random_bytes::<8>()),
            secret: hex::encode(sa_tls::random_bytes::<32>()),
        }
    }

    /// The token of an `Authorization: Bearer ...` value; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let hex_of = |part: Option<&str>, len: usize| {
            part.filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase)
        };
        if parts.next() != Some(BEARER_PREFIX) {
            return None;
        }
        let token = BearerToken {
            id: hex_of(parts.next(), 16)?,
            secret: hex_of(parts.next(), 64)?,
        };
        parts.next().is_none().then_some(token)
    }

    pub fn text(&self) -> String {
        format!("{BEARER_PREFIX}.{}.{}", self.id, self.secret)
    }
}

/// What a joining node sends instead of its token's secret: proof that it holds the secret,
/// good only for the member whose certificate it saw and for this request and these addresses.
pub fn join_proof(
    secret_digest: &str,
    member_certificate_sha256: &str,
    request_pem: &str,
    addresses: &[String],
) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_digest.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(member_certificate_sha256.as_bytes());
    mac.update(b"\n");
    mac.update(request_pem.as_bytes());
    for address in addresses {
        mac.update(b"\n");
        mac.update(address.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// What the cluster stores of a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_tokens_round_trip_and_malformed_ones_say_what_is_wrong() {
        let fingerprint = "ab".repeat(32);
        let token = JoinToken::generate(&fingerprint);
        assert_eq!(JoinToken::parse(&token.text()).unwrap(), token);
        assert_ne!(JoinToken::generate(&fingerprint).secret, token.secret);
        let cases = [
            ("sat1.x", "does not start with saj1"),
            (&format!("saj1.{}", "ab".repeat(31)), "CA fingerprint"),
            (&format!("saj1.{fingerprint}.zz"), "id"),
            (&format!("saj1.{fingerprint}.{}.12", token.id), "secret"),
            (&format!("{}.more", token.text()), "more than four parts"),
        ];
        for (text, reason) in cases {
            let error = JoinToken::parse(text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
        }
        let bearer = BearerToken::generate();
        assert_eq!(BearerToken::parse(&bearer.text()), Some(bearer.clone()));
        assert_eq!(BearerToken::parse(&token.text()), None);
        assert_eq!(BearerToken::parse(&format!("{}.x", bearer.text())), None);
        assert_eq!(digest("s").len(), 64);
        let addresses = vec!["10.0.0.7:7710".to_string()];
        let proof = join_proof(&digest("s"), "leaf", "request", &addresses);
        assert_eq!(
            proof,
            join_proof(&digest("s"), "leaf", "request", &addresses)
        );
        for other in [
            join_proof(&digest("t"), "leaf", "request", &addresses),
            join_proof(&digest("s"), "other leaf", "request", &addresses),
            join_proof(&digest("s"), "leaf", "other request", &addresses),
            join_proof(
                &digest("s"),
                "leaf",
                "request",
                &["10.0.0.8:7710".to_string()],
            ),
        ] {
            assert_ne!(proof, other);
        }
        assert_ne!(digest("s"), digest("t"));
    }
}
