//! The cluster's data key: one AES-256-GCM key that seals every output's settings, so any
//! member can deliver whichever node set them. Members never write it in the clear: each keeps
//! it sealed under its own key (docs/security.md, "Output secrets").

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{KeyInit, OsRng};

use crate::secrets::{AesKey, CIPHER_DATA_KEY, KEY_LEN, SealedWith, SecretsError, sealed_with};

pub struct DataKey {
    bytes: Vec<u8>,
    key: AesKey,
}

impl DataKey {
    pub fn generate() -> DataKey {
        let bytes = Aes256Gcm::generate_key(&mut OsRng).to_vec();
        let key = AesKey::new(&bytes);
        DataKey { bytes, key }
    }

    /// A key received from a member or read back from disk: it must be a key, and the one
    /// named `expected_id`.
    pub fn from_bytes(bytes: Vec<u8>, expected_id: &str) -> Result<DataKey, SecretsError> {
        if bytes.len() != KEY_LEN {
            return Err(SecretsError::DataKey(format!(
                "data key {expected_id}: {} bytes, a key is {KEY_LEN}",
                bytes.len()
            )));
        }
        let key = AesKey::new(&bytes);
        if key.id() != expected_id {
            return Err(SecretsError::DataKey(format!(
                "asked for data key {expected_id}, got data key {}",
                key.id()
            )));
        }
        Ok(DataKey { bytes, key })
    }

    /// Its fingerprint in hex, as blobs and the replicated state name it.
    pub fn id(&self) -> String {
        self.key.id()
    }

    /// The key itself: only for sealing it under a member's key or handing it to a member.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        self.key.seal(CIPHER_DATA_KEY, plaintext)
    }

    pub fn open(&self, blob: &[u8]) -> Result<Vec<u8>, SecretsError> {
        match sealed_with(blob)? {
            SealedWith::DataKey(id) if id == self.id() => self.key.open(blob),
            SealedWith::DataKey(id) => Err(SecretsError::DataKey(format!(
                "secret was sealed with data key {id}, not {}",
                self.id()
            ))),
            other => Err(SecretsError::DataKey(format!(
                "secret was sealed with {other:?}, not a data key"
            ))),
        }
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_names_itself() {
        let key = DataKey::generate();
        let blob = key.seal(b"hooks.slack.com/secret").unwrap();
        assert!(!blob.windows(5).any(|w| w == b"hooks"));
        assert_eq!(sealed_with(&blob).unwrap(), SealedWith::DataKey(key.id()));
        assert_eq!(key.open(&blob).unwrap(), b"hooks.slack.com/secret");

        let other = DataKey::generate();
        let error = other.open(&blob).unwrap_err().to_string();
        assert!(
            error.contains(&key.id()) && error.contains(&other.id()),
            "{error}"
        );
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(key.open(&tampered), Err(SecretsError::Corrupt)));
    }

    #[test]
    fn received_keys_must_be_the_key_asked_for() {
        let key = DataKey::generate();
        let copy = DataKey::from_bytes(key.expose().to_vec(), &key.id()).unwrap();
        assert_eq!(copy.id(), key.id());
        let error = DataKey::from_bytes(key.expose().to_vec(), "0011223344556677")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("asked for data key 0011223344556677"),
            "{error}"
        );
        let error = DataKey::from_bytes(vec![1; 7], &key.id())
            .unwrap_err()
            .to_string();
        assert!(error.contains("7 bytes"), "{error}");
    }
}
