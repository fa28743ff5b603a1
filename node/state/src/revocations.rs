//! The certificate deny list (`config` keyspace, `revoked-cert/{serial}`): certificates refused
//! whatever their validity, checked on every call (docs/security.md, "Revocation").

use serde::{Deserialize, Serialize};

use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica};

use crate::keys::config::ConfigKey;
use crate::now_ms;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub revoked_ms: u64,
    /// Who revoked it: a certificate subject or a token id.
    pub by: String,
}

#[derive(Clone)]
pub struct Revocations {
    replica: Replica,
}

impl Revocations {
    pub fn new(replica: Replica) -> Self {
        Revocations { replica }
    }

    /// Adds `serial` (hex, any case) to the deny list; false if it was there already.
    pub async fn revoke(&self, serial: &str, by: &str) -> anyhow::Result<bool> {
        let key = ConfigKey::RevokedCertificate(serial.to_ascii_lowercase()).encode();
        let value = serde_json::to_vec(&Revocation {
            revoked_ms: now_ms(),
            by: by.to_string(),
        })?;
        let command =
            Command::put(Keyspace::Config, key.clone(), value).with_condition(Condition::Absent {
                keyspace: Keyspace::Config,
                key,
            });
        Ok(matches!(
            self.replica.write(command).await?,
            CommandResult::Applied
        ))
    }

    pub fn is_revoked(&self, serial: &str) -> anyhow::Result<bool> {
        let key = ConfigKey::RevokedCertificate(serial.to_ascii_lowercase()).encode();
        Ok(self.replica.get(Keyspace::Config, &key)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revoked_serial_stays_revoked_whatever_its_case() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let revocations = Revocations::new(replica.clone());
        assert!(!revocations.is_revoked("7f3a").unwrap());
        assert!(revocations.revoke("7F3A", "admin").await.unwrap());
        assert!(!revocations.revoke("7f3a", "admin").await.unwrap(), "once");
        assert!(revocations.is_revoked("7f3a").unwrap());
        assert!(!revocations.is_revoked("7f3b").unwrap());
        replica.shutdown().await;
    }
}
