//! Output settings set with `sactl outputs set`: credentials and, for services that take one, the
//! resource, stored encrypted in the replicated state (`config` keyspace, `output/{name}`), so
//! every node can deliver and none keeps secrets in plain text on disk.

use std::sync::Arc;

use anyhow::{Context, bail};
use sa_outputs::{OutputName, ResourceShape, SecretsCipher, credential_properties, resource_shape};
use sa_raft::{Command, CommandResult, Keyspace, Replica};
use serde_json::{Map, Value};

const PREFIX: &str = "output/";

/// The setting that names the resource of a map-shaped service (a queue, a bucket...), as the
/// value of `conf/outputs.json` would.
pub const RESOURCE_SETTING: &str = "resource";

#[derive(Clone)]
pub struct OutputSettings {
    replica: Replica,
    cipher: Arc<SecretsCipher>,
}

impl OutputSettings {
    pub fn new(replica: Replica, cipher: Arc<SecretsCipher>) -> Self {
        OutputSettings { replica, cipher }
    }

    pub fn cipher_description(&self) -> String {
        self.cipher.describe()
    }

    /// Checks that every setting is one the service knows, and that all are strings.
    pub fn validate(name: &OutputName, settings: &Map<String, Value>) -> anyhow::Result<()> {
        let service = name.service();
        let Some(shape) = resource_shape(service) else {
            bail!("unknown output service {service:?}");
        };
        let properties = credential_properties(service);
        for (key, value) in settings {
            let known = properties.iter().any(|p| p.name == key)
                || (key == RESOURCE_SETTING && shape != ResourceShape::None);
            if !known {
                let mut names: Vec<&str> = properties.iter().map(|p| p.name).collect();
                if shape != ResourceShape::None {
                    names.push(RESOURCE_SETTING);
                }
                bail!(
                    "{name}: unknown setting {key:?} (known: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            }
            if !value.is_string() {
                bail!("{name}: setting {key:?} must be a string, found {value}");
            }
        }
        Ok(())
    }

    /// Replaces the stored settings of `name`.
    pub async fn set(
        &self,
        name: &OutputName,
        settings: &Map<String, Value>,
    ) -> anyhow::Result<()> {
        Self::validate(name, settings)?;
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

    /// Outputs with stored settings.
    pub fn names(&self) -> anyhow::Result<Vec<OutputName>> {
        self.replica
            .scan_prefix(Keyspace::Config, PREFIX.as_bytes())?
            .into_iter()
            .map(|(key, _)| {
                let text = String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned();
                OutputName::parse(&text).map_err(|e| anyhow::anyhow!("stored output {text}: {e}"))
            })
            .collect()
    }
}

fn key(name: &OutputName) -> Vec<u8> {
    format!("{PREFIX}{name}").into_bytes()
}
