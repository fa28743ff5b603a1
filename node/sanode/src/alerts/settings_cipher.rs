//! Output settings are encrypted with sa-outputs' cipher: a key file every node shares, or AWS
//! KMS (`--secrets-key`, `--kms-key-id`).

use futures::future::BoxFuture;
use sa_outputs::SecretsCipher;
use sa_state::SettingsCipher;

pub struct OutputsCipher(pub SecretsCipher);

impl SettingsCipher for OutputsCipher {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
        Box::pin(async move { Ok(self.0.encrypt(plaintext).await?) })
    }

    fn decrypt<'a>(&'a self, blob: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
        Box::pin(async move { Ok(self.0.decrypt(blob).await?) })
    }
}
