//! Output settings under AWS KMS (`--kms-key-id`): every member with access to the key decrypts
//! them, so no key travels between members.

use futures::future::BoxFuture;
use sa_outputs::SecretsCipher;
use sa_state::SettingsCipher;

pub struct KmsCipher(pub SecretsCipher);

impl SettingsCipher for KmsCipher {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
        Box::pin(async move { Ok(self.0.encrypt(plaintext).await?) })
    }

    fn decrypt<'a>(&'a self, blob: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
        Box::pin(async move { Ok(self.0.decrypt(blob).await?) })
    }

    /// KMS rotates its own key material; sealing the settings again refreshes their blobs.
    fn rotate(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}
