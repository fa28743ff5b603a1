//! Keys of the `config` keyspace: the config bundles, the output settings and the data key
//! that seals them.
//!
//! | key | layout |
//! |---|---|
//! | [`ConfigKey::Active`] | `active` |
//! | [`ConfigKey::DataKey`] | `data-key` |
//! | [`ConfigKey::Token`] | `token/{join\|bearer}/{id}` |
//! | [`ConfigKey::RevokedCertificate`] | `revoked-cert/{serial}` |
//! | [`ConfigKey::Bundle`] | `bundle/{version, 20 digits}` |
//! | [`ConfigKey::OutputSettings`] | `output/{service}:{descriptor}` |

use sa_raft::Keyspace;
use sa_rules::OutputName;

use super::{Decoding, KeyBytes, KeyError, KeyProblem};

const ACTIVE: &str = "active";
const DATA_KEY: &str = "data-key";
const TOKEN: &str = "token/";
const REVOKED_CERT: &str = "revoked-cert/";
const BUNDLE: &str = "bundle/";
const OUTPUT: &str = "output/";

/// What every output settings key starts with.
pub const OUTPUT_SETTINGS_PREFIX: &[u8] = OUTPUT.as_bytes();

/// A key of the `config` keyspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigKey {
    /// The version every node should run.
    Active,
    /// A pushed bundle; versions sort in numeric order.
    Bundle { version: u64 },
    /// An output's encrypted settings.
    OutputSettings(OutputName),
    /// Which data key seals new output settings: its id, never the key.
    DataKey,
    /// A join or bearer token: a digest of its secret, its expiry, uses and role.
    Token { kind: TokenKind, id: String },
    /// A certificate refused whatever its validity (the deny list), by serial (hex).
    RevokedCertificate(String),
}

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenKind {
    /// Get a node certificate signed (`sanode --join-token`).
    Join,
    /// Call as a role (`Authorization: Bearer`).
    Bearer,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Join => "join",
            TokenKind::Bearer => "bearer",
        }
    }

    /// What every key of this kind starts with.
    pub fn prefix(self) -> Vec<u8> {
        KeyBytes::new(TOKEN).text(self.as_str()).byte(b'/').done()
    }
}

#[derive(Debug, Clone, Copy)]
enum Family {
    Active,
    Bundle,
    OutputSettings,
    DataKey,
    Token,
    RevokedCertificate,
}

impl Family {
    const ALL: [Family; 6] = [
        Family::Active,
        Family::Bundle,
        Family::OutputSettings,
        Family::DataKey,
        Family::Token,
        Family::RevokedCertificate,
    ];

    fn text(self) -> &'static str {
        match self {
            Family::Active => ACTIVE,
            Family::Bundle => BUNDLE,
            Family::OutputSettings => OUTPUT,
            Family::DataKey => DATA_KEY,
            Family::Token => TOKEN,
            Family::RevokedCertificate => REVOKED_CERT,
        }
    }
}

impl ConfigKey {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ConfigKey::Active => KeyBytes::new(ACTIVE).done(),
            ConfigKey::Bundle { version } => KeyBytes::new(BUNDLE).number(*version).done(),
            ConfigKey::OutputSettings(name) => KeyBytes::new(OUTPUT).text(&name.to_string()).done(),
            ConfigKey::DataKey => KeyBytes::new(DATA_KEY).done(),
            ConfigKey::Token { kind, id } => {
                let mut key = kind.prefix();
                key.extend_from_slice(id.as_bytes());
                key
            }
            ConfigKey::RevokedCertificate(serial) => {
                KeyBytes::new(REVOKED_CERT).text(serial).done()
            }
        }
    }

    pub fn decode(key: &[u8]) -> Result<Self, KeyError> {
        let d = Decoding::new(Keyspace::Config, key);
        let (family, rest) = d.family(&Family::ALL, Family::text)?;
        match family {
            Family::Active if rest.is_empty() => Ok(ConfigKey::Active),
            Family::Active => Err(d.error(KeyProblem::UnknownFamily)),
            Family::DataKey if rest.is_empty() => Ok(ConfigKey::DataKey),
            Family::DataKey => Err(d.error(KeyProblem::UnknownFamily)),
            Family::Token => {
                let (kind, id) = rest
                    .split_once('/')
                    .ok_or_else(|| d.error(KeyProblem::Missing("token id")))?;
                let kind = match kind {
                    "join" => TokenKind::Join,
                    "bearer" => TokenKind::Bearer,
                    _ => return Err(d.error(KeyProblem::UnknownFamily)),
                };
                if id.is_empty() {
                    return Err(d.error(KeyProblem::Empty("token id")));
                }
                Ok(ConfigKey::Token {
                    kind,
                    id: id.to_string(),
                })
            }
            Family::RevokedCertificate if rest.is_empty() => {
                Err(d.error(KeyProblem::Empty("certificate serial")))
            }
            Family::RevokedCertificate => Ok(ConfigKey::RevokedCertificate(rest.to_string())),
            Family::Bundle => Ok(ConfigKey::Bundle {
                version: d.number(rest, "version")?,
            }),
            Family::OutputSettings => OutputName::parse(rest)
                .map(ConfigKey::OutputSettings)
                .map_err(|e| d.error(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::testing::{assert_refused, assert_round_trips};

    fn slack() -> OutputName {
        OutputName::parse("slack:security").unwrap()
    }

    #[test]
    fn every_family_encodes_to_the_bytes_stored_today() {
        assert_eq!(ConfigKey::Active.encode(), b"active");
        assert_eq!(
            ConfigKey::Bundle { version: 12 }.encode(),
            b"bundle/00000000000000000012"
        );
        assert_eq!(
            ConfigKey::OutputSettings(slack()).encode(),
            b"output/slack:security"
        );
        assert_eq!(ConfigKey::DataKey.encode(), b"data-key");
        let token = ConfigKey::Token {
            kind: TokenKind::Join,
            id: "0a1b".into(),
        };
        assert_eq!(token.encode(), b"token/join/0a1b");
        assert!(token.encode().starts_with(&TokenKind::Join.prefix()));
    }

    #[test]
    fn every_family_decodes_what_it_encodes() {
        let keys = [
            ConfigKey::Active,
            ConfigKey::Bundle { version: 0 },
            ConfigKey::Bundle { version: u64::MAX },
            ConfigKey::OutputSettings(slack()),
            ConfigKey::OutputSettings(OutputName::parse("aws-s3:bucket/path").unwrap()),
            ConfigKey::DataKey,
            ConfigKey::Token {
                kind: TokenKind::Join,
                id: "0a1b2c".into(),
            },
            ConfigKey::Token {
                kind: TokenKind::Bearer,
                id: "ffee".into(),
            },
            ConfigKey::RevokedCertificate("7f3a01".into()),
        ];
        assert_round_trips(keys, ConfigKey::encode, ConfigKey::decode);
    }

    #[test]
    fn malformed_keys_are_refused_with_the_keyspace_and_the_bytes() {
        assert_refused(
            Keyspace::Config,
            ConfigKey::decode,
            &[
                (b"activex", KeyProblem::UnknownFamily),
                (b"data-key/1", KeyProblem::UnknownFamily),
                (b"token/join", KeyProblem::Missing("token id")),
                (b"token/join/", KeyProblem::Empty("token id")),
                (b"token/other/1", KeyProblem::UnknownFamily),
                (b"revoked-cert/", KeyProblem::Empty("certificate serial")),
                (b"bundle/12", KeyProblem::BadNumber("version")),
                (b"version", KeyProblem::UnknownFamily),
            ],
        );
        let error = ConfigKey::decode(b"output/slack").unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed config key \"output/slack\": output \"slack\" is not SERVICE:DESCRIPTOR (exactly one ':')"
        );
    }

    #[test]
    fn bundles_sort_by_version_and_output_settings_scan_alone() {
        let versions = [1, 9, 10, 11, 100, 1_000_000];
        let encoded: Vec<Vec<u8>> = versions
            .iter()
            .map(|&version| ConfigKey::Bundle { version }.encode())
            .collect();
        assert!(encoded.windows(2).all(|pair| pair[0] < pair[1]));
        let keys = [
            ConfigKey::Active,
            ConfigKey::Bundle { version: 3 },
            ConfigKey::OutputSettings(slack()),
            ConfigKey::DataKey,
        ];
        let settings: Vec<&ConfigKey> = keys
            .iter()
            .filter(|key| key.encode().starts_with(OUTPUT_SETTINGS_PREFIX))
            .collect();
        assert_eq!(settings, [&ConfigKey::OutputSettings(slack())]);
    }
}
