//! Output settings set with `sactl outputs set`: credentials and, for services that take one, the
//! resource, stored encrypted in the replicated state (`config` keyspace, `output/{name}`), so
//! every node can deliver and none keeps secrets in plain text on disk.

use std::sync::Arc;

use anyhow::{Context, bail};
use futures::future::BoxFuture;
use sa_raft::{Command, CommandResult, Keyspace, Replica};
use sa_rules::OutputName;
use serde_json::{Map, Value};

use crate::keys::config::{ConfigKey, OUTPUT_SETTINGS_PREFIX};

/// Encrypts output settings at rest. The node provides it (the cluster's data key, or AWS KMS);
/// the store keeps only what it returns.
pub trait SettingsCipher: Send + Sync + 'static {
    /// Which key protects the settings, for `sactl outputs list`.
    fn describe(&self) -> String;
    fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>>;
    fn decrypt<'a>(&'a self, blob: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>>;
    /// Puts a new key in use for what `encrypt` seals from now on (a cipher whose keys rotate
    /// elsewhere, like KMS, has nothing to do).
    fn rotate(&self) -> BoxFuture<'_, anyhow::Result<()>>;
}

#[derive(Clone)]
pub struct OutputSettings {
    replica: Replica,
    cipher: Arc<dyn SettingsCipher>,
}

impl OutputSettings {
    pub fn new(replica: Replica, cipher: Arc<dyn SettingsCipher>) -> Self {
        OutputSettings { replica, cipher }
    }

    pub fn cipher_description(&self) -> String {
        self.cipher.describe()
    }

    /// Replaces the stored settings of `name` (which the caller has checked against what the
    /// output's service takes).
    pub async fn set(
        &self,
        name: &OutputName,
        settings: &Map<String, Value>,
    ) -> anyhow::Result<()> {
        let plaintext = serde_json::to_vec(settings)?;
        let blob = self
            .cipher
            .encrypt(&plaintext)
            .await
            .with_context(|| format!("cannot encrypt the settings of {name}"))?;
        fail::fail_point!("output_settings::before_set", |_| bail!(
            "failpoint output_settings::before_set"
        ));
        match self
            .replica
            .write(Command::put(Keyspace::Config, key(name), blob))
            .await?
        {
            CommandResult::Applied => Ok(()),
            other => bail!("output settings not stored: {other:?}"),
        }
    }

    /// The decrypted settings of `name`, if any were stored.
    pub async fn get(&self, name: &OutputName) -> anyhow::Result<Option<Map<String, Value>>> {
        let Some(blob) = self.replica.get(Keyspace::Config, &key(name))? else {
            return Ok(None);
        };
        let plaintext = self
            .cipher
            .decrypt(&blob)
            .await
            .with_context(|| format!("cannot decrypt the settings of {name}"))?;
        let settings: Map<String, Value> = serde_json::from_slice(&plaintext)
            .with_context(|| format!("stored settings of {name} are not a JSON object"))?;
        Ok(Some(settings))
    }

    /// Seals every output's settings again under a new key (`sactl secrets rotate`); returns
    /// how many. Each output is rewritten on its own: one that fails leaves the others done and
    /// its old blob readable by the key that sealed it.
    pub async fn rotate(&self) -> anyhow::Result<usize> {
        self.cipher
            .rotate()
            .await
            .context("cannot make a new key")?;
        let names = self.names()?;
        for name in &names {
            if let Some(settings) = self.get(name).await? {
                self.set(name, &settings).await?;
            }
        }
        Ok(names.len())
    }

    /// Outputs with stored settings.
    pub fn names(&self) -> anyhow::Result<Vec<OutputName>> {
        self.replica
            .scan_prefix(Keyspace::Config, OUTPUT_SETTINGS_PREFIX)?
            .into_iter()
            .map(|(key, _)| match ConfigKey::decode(&key)? {
                ConfigKey::OutputSettings(name) => Ok(name),
                other => bail!("{other:?} among the output settings"),
            })
            .collect()
    }
}

fn key(name: &OutputName) -> Vec<u8> {
    ConfigKey::OutputSettings(name.clone()).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough of a cipher to show that the store keeps what the cipher returns.
    struct Reversed;

    impl SettingsCipher for Reversed {
        fn describe(&self) -> String {
            "reversed bytes".into()
        }

        fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
            Box::pin(async move { Ok(plaintext.iter().rev().copied().collect()) })
        }

        fn decrypt<'a>(&'a self, blob: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
            self.encrypt(blob)
        }

        fn rotate(&self) -> BoxFuture<'_, anyhow::Result<()>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settings_are_stored_under_the_outputs_name_and_listed_back() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let settings = OutputSettings::new(replica.clone(), Arc::new(Reversed));
        let name = OutputName::parse("slack:security").unwrap();
        let url = Map::from_iter([("url".to_string(), Value::from("https://hooks.example"))]);
        settings.set(&name, &url).await.unwrap();

        let stored = replica
            .get(Keyspace::Config, b"output/slack:security")
            .unwrap()
            .expect("stored under output/{name}");
        assert!(!stored.windows(5).any(|w| w == b"hooks"), "encrypted");
        assert_eq!(settings.names().unwrap(), std::slice::from_ref(&name));
        assert_eq!(settings.get(&name).await.unwrap(), Some(url.clone()));
        assert_eq!(
            settings.rotate().await.unwrap(),
            1,
            "one output sealed again"
        );
        assert_eq!(settings.get(&name).await.unwrap(), Some(url));
        replica.shutdown().await;
    }
}
