//! Output credentials at rest: AES-256-GCM under a local key file or under the cluster's data
//! key ([`DataKey`](crate::DataKey)), or AWS KMS. Blobs describe themselves (magic, format
//! version, cipher, and for AES keys the key's fingerprint), so a node with the wrong key says
//! so instead of returning garbage.
//!
//! Layout: `b"SAS"`, version (1), cipher (1 = local AES-256-GCM, 2 = KMS, 3 = cluster data
//! key), then
//! local and data key: key fingerprint (8 bytes: SHA-256 of the key), nonce (12),
//!                     ciphertext + tag;
//! KMS:                the KMS ciphertext blob (which names its key).
//! The header is authenticated as associated data.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use aws_sdk_kms::primitives::Blob;
use sa_aws::AwsTarget;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

const MAGIC: &[u8; 3] = b"SAS";
const VERSION: u8 = 1;
const CIPHER_LOCAL: u8 = 1;
const CIPHER_KMS: u8 = 2;
pub(crate) const CIPHER_DATA_KEY: u8 = 3;
const HEADER: usize = 5;
const FINGERPRINT: usize = 8;
const NONCE: usize = 12;
pub(crate) const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("not an sa secret (bad header)")]
    NotASecret,
    #[error("secret format version {0} is not supported (this build reads version {VERSION})")]
    Version(u8),
    #[error("secret was encrypted with {found}, but this node decrypts with {expected}")]
    WrongCipher {
        found: &'static str,
        expected: &'static str,
    },
    #[error(
        "secret was encrypted with local key {found}, but this node's key is {expected} ({path})"
    )]
    WrongKey {
        found: String,
        expected: String,
        path: PathBuf,
    },
    #[error("{0}")]
    DataKey(String),
    #[error("secret names cipher {0}, which this build does not know")]
    UnknownCipher(u8),
    #[error("secret does not decrypt: corrupted or tampered with")]
    Corrupt,
    #[error("KMS {operation} with key {key_id}: {reason}")]
    Kms {
        operation: &'static str,
        key_id: String,
        reason: String,
    },
}

pub struct SecretsCipher {
    kind: Kind,
}

enum Kind {
    Local {
        key: AesKey,
        path: PathBuf,
    },
    Kms {
        key_id: String,
        target: AwsTarget,
        client: OnceCell<aws_sdk_kms::Client>,
    },
}

impl SecretsCipher {
    /// AES-256-GCM under the 32-byte key in `key_file`, which is created (mode 0600) with a
    /// random key when missing.
    pub fn local(key_file: impl AsRef<Path>) -> Result<SecretsCipher, SecretsError> {
        let path = key_file.as_ref().to_path_buf();
        let key = AesKey::new(&read_or_create_key(&path)?);
        Ok(SecretsCipher {
            kind: Kind::Local { key, path },
        })
    }

    /// AWS KMS Encrypt/Decrypt with this key (id, ARN or `alias/...`); the client is built on
    /// first use.
    pub fn kms(key_id: impl Into<String>, target: AwsTarget) -> SecretsCipher {
        SecretsCipher {
            kind: Kind::Kms {
                key_id: key_id.into(),
                target,
                client: OnceCell::new(),
            },
        }
    }

    /// As `kms`, with the client built from this config instead of a target's chain.
    pub fn kms_from_sdk_config(
        key_id: impl Into<String>,
        sdk: &aws_config::SdkConfig,
    ) -> SecretsCipher {
        SecretsCipher {
            kind: Kind::Kms {
                key_id: key_id.into(),
                target: AwsTarget::default(),
                client: OnceCell::new_with(Some(aws_sdk_kms::Client::new(sdk))),
            },
        }
    }

    /// What this cipher is, for logs and `sactl`: `local key <fingerprint> (<path>)` or
    /// `KMS key <id>`.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Local { key, path } => {
                format!("local key {} ({})", key.id(), path.display())
            }
            Kind::Kms { key_id, .. } => format!("KMS key {key_id}"),
        }
    }

    pub async fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        match &self.kind {
            Kind::Local { key, .. } => key.seal(CIPHER_LOCAL, plaintext),
            Kind::Kms {
                key_id,
                target,
                client,
            } => {
                let client = kms_client(target, client).await;
                let mut blob = header(CIPHER_KMS);
                let answer = client
                    .encrypt()
                    .key_id(key_id)
                    .plaintext(Blob::new(plaintext))
                    .encryption_context("purpose", "sa-output-credentials")
                    .send()
                    .await
                    .map_err(|e| kms_error("Encrypt", key_id, &e))?;
                let sealed = answer.ciphertext_blob.ok_or_else(|| SecretsError::Kms {
                    operation: "Encrypt",
                    key_id: key_id.clone(),
                    reason: "no ciphertext returned".into(),
                })?;
                blob.extend_from_slice(sealed.as_ref());
                Ok(blob)
            }
        }
    }

    pub async fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let found = sealed_with(blob)?;
        match (&self.kind, found) {
            (Kind::Local { key, path }, SealedWith::LocalKey(id)) => {
                if id != key.id() {
                    return Err(SecretsError::WrongKey {
                        found: id,
                        expected: key.id(),
                        path: path.clone(),
                    });
                }
                key.open(blob)
            }
            (
                Kind::Kms {
                    key_id,
                    target,
                    client,
                },
                SealedWith::Kms,
            ) => {
                let client = kms_client(target, client).await;
                let answer = client
                    .decrypt()
                    .ciphertext_blob(Blob::new(&blob[HEADER..]))
                    .key_id(key_id)
                    .encryption_context("purpose", "sa-output-credentials")
                    .send()
                    .await
                    .map_err(|e| kms_error("Decrypt", key_id, &e))?;
                answer
                    .plaintext
                    .map(|p| p.into_inner())
                    .ok_or(SecretsError::Corrupt)
            }
            (kind, found) => Err(SecretsError::WrongCipher {
                found: cipher_name(found.cipher()),
                expected: match kind {
                    Kind::Local { .. } => cipher_name(CIPHER_LOCAL),
                    Kind::Kms { .. } => cipher_name(CIPHER_KMS),
                },
            }),
        }
    }
}

/// Which key sealed a blob, read from its header (nothing is decrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedWith {
    /// A node's local key file, by fingerprint.
    LocalKey(String),
    Kms,
    /// The cluster's data key, by fingerprint.
    DataKey(String),
}

impl SealedWith {
    fn cipher(&self) -> u8 {
        match self {
            SealedWith::LocalKey(_) => CIPHER_LOCAL,
            SealedWith::Kms => CIPHER_KMS,
            SealedWith::DataKey(_) => CIPHER_DATA_KEY,
        }
    }
}

/// Reads a blob's header: which key sealed it.
pub fn sealed_with(blob: &[u8]) -> Result<SealedWith, SecretsError> {
    if blob.len() < HEADER || &blob[..3] != MAGIC {
        return Err(SecretsError::NotASecret);
    }
    if blob[3] != VERSION {
        return Err(SecretsError::Version(blob[3]));
    }
    let fingerprint = || {
        blob.get(HEADER..HEADER + FINGERPRINT)
            .map(hex::encode)
            .ok_or(SecretsError::Corrupt)
    };
    match blob[4] {
        CIPHER_LOCAL => Ok(SealedWith::LocalKey(fingerprint()?)),
        CIPHER_KMS => Ok(SealedWith::Kms),
        CIPHER_DATA_KEY => Ok(SealedWith::DataKey(fingerprint()?)),
        _ => Err(SecretsError::UnknownCipher(blob[4])),
    }
}

/// An AES-256-GCM key known by its fingerprint, sealing blobs of the layout above.
pub(crate) struct AesKey {
    cipher: Box<Aes256Gcm>,
    fingerprint: [u8; FINGERPRINT],
}

impl AesKey {
    pub(crate) fn new(key: &[u8]) -> AesKey {
        AesKey {
            cipher: Box::new(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))),
            fingerprint: fingerprint(key),
        }
    }

    /// The fingerprint in hex: what blobs and messages name the key by.
    pub(crate) fn id(&self) -> String {
        hex::encode(self.fingerprint)
    }

    pub(crate) fn seal(&self, cipher: u8, plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let mut blob = header(cipher);
        blob.extend_from_slice(&self.fingerprint);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        blob.extend_from_slice(&nonce);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &blob[..HEADER + FINGERPRINT],
                },
            )
            .map_err(|_| SecretsError::Corrupt)?;
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Opens a blob whose header names this key (the caller has checked).
    pub(crate) fn open(&self, blob: &[u8]) -> Result<Vec<u8>, SecretsError> {
        if blob.len() < HEADER + FINGERPRINT + NONCE {
            return Err(SecretsError::Corrupt);
        }
        let (authenticated, rest) = blob.split_at(HEADER + FINGERPRINT);
        let (nonce, sealed) = rest.split_at(NONCE);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: authenticated,
                },
            )
            .map_err(|_| SecretsError::Corrupt)
    }
}

async fn kms_client<'a>(
    target: &AwsTarget,
    client: &'a OnceCell<aws_sdk_kms::Client>,
) -> &'a aws_sdk_kms::Client {
    client
        .get_or_init(|| async { aws_sdk_kms::Client::new(&target.sdk_config().await) })
        .await
}

fn header(cipher: u8) -> Vec<u8> {
    let mut blob = MAGIC.to_vec();
    blob.push(VERSION);
    blob.push(cipher);
    blob
}

fn cipher_name(cipher: u8) -> &'static str {
    match cipher {
        CIPHER_LOCAL => "a local key file",
        CIPHER_KMS => "AWS KMS",
        CIPHER_DATA_KEY => "the cluster's data key",
        _ => "an unknown cipher",
    }
}

fn fingerprint(key: &[u8]) -> [u8; FINGERPRINT] {
    let digest = Sha256::digest(key);
    let mut fingerprint = [0; FINGERPRINT];
    fingerprint.copy_from_slice(&digest[..FINGERPRINT]);
    fingerprint
}

fn kms_error<E: std::error::Error>(
    operation: &'static str,
    key_id: &str,
    error: &E,
) -> SecretsError {
    SecretsError::Kms {
        operation,
        key_id: key_id.to_string(),
        reason: crate::error_chain::error_chain(error),
    }
}

fn read_or_create_key(path: &Path) -> Result<Vec<u8>, SecretsError> {
    let error = |reason: String| SecretsError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read(path) {
        Ok(key) if key.len() == KEY_LEN => {
            check_private(path).map_err(error)?;
            Ok(key)
        }
        Ok(key) => Err(error(format!(
            "holds {} bytes, a key is {KEY_LEN}",
            key.len()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Aes256Gcm::generate_key(&mut OsRng).to_vec();
            write_private(path, &key).map_err(|e| error(format!("cannot create: {e}")))?;
            Ok(key)
        }
        Err(e) => Err(error(format!("cannot read: {e}"))),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "is readable by other users (mode {:o}); run chmod 600",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

fn write_private(path: &Path, key: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_roundtrip_and_key_file_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/secrets.key");
        let cipher = SecretsCipher::local(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read(&path).unwrap().len(), KEY_LEN);
        let secret = br#"{"url":"https://hooks.slack.com/services/T/B/x"}"#;
        let blob = cipher.encrypt(secret).await.unwrap();
        assert!(!blob.windows(secret.len()).any(|w| w == secret));
        assert_eq!(cipher.decrypt(&blob).await.unwrap(), secret);
        // the same file reopened decrypts; two encryptions differ (fresh nonces)
        let reopened = SecretsCipher::local(&path).unwrap();
        assert_eq!(reopened.decrypt(&blob).await.unwrap(), secret);
        assert_ne!(cipher.encrypt(secret).await.unwrap(), blob);
    }

    #[tokio::test]
    async fn wrong_key_tampering_and_foreign_blobs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let one = SecretsCipher::local(dir.path().join("one.key")).unwrap();
        let two = SecretsCipher::local(dir.path().join("two.key")).unwrap();
        let blob = one.encrypt(b"secret").await.unwrap();
        let error = two.decrypt(&blob).await.unwrap_err();
        assert!(matches!(error, SecretsError::WrongKey { .. }), "{error}");
        assert!(error.to_string().contains("two.key"), "{error}");

        let mut tampered = blob.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            one.decrypt(&tampered).await,
            Err(SecretsError::Corrupt)
        ));
        assert!(matches!(
            one.decrypt(b"plain text").await,
            Err(SecretsError::NotASecret)
        ));
        let mut future = blob.clone();
        future[3] = 9;
        assert!(matches!(
            one.decrypt(&future).await,
            Err(SecretsError::Version(9))
        ));
        let mut kms_blob = header(CIPHER_KMS);
        kms_blob.extend_from_slice(b"opaque");
        let error = one.decrypt(&kms_blob).await.unwrap_err();
        assert!(error.to_string().contains("AWS KMS"), "{error}");
    }

    #[test]
    fn bad_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short.key");
        std::fs::write(&short, b"too short").unwrap();
        let error = SecretsCipher::local(&short).err().unwrap().to_string();
        assert!(
            error.contains("short.key") && error.contains("9 bytes"),
            "{error}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let open = dir.path().join("open.key");
            std::fs::write(&open, [7u8; KEY_LEN]).unwrap();
            std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = SecretsCipher::local(&open).err().unwrap().to_string();
            assert!(error.contains("chmod 600"), "{error}");
        }
    }
}
