//! Config bundles in the `config` keyspace: `bundle/<version>` holds each pushed bundle and
//! `active` the version every node should run. A push is a compare-and-set on `active`, so two
//! concurrent pushes get distinct versions and neither is lost. The keys are typed in
//! [`crate::keys::config`].

use anyhow::{Context, bail};
use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica, WriteOp};

use sa_repository::bundle::ConfigBundle;

use crate::keys::config::ConfigKey;

const PUSH_ATTEMPTS: usize = 5;
/// Past versions kept for `sactl config show --version`; older ones are dropped so the
/// replicated state does not grow by a bundle per push forever.
pub const KEPT_VERSIONS: u64 = 10;

fn bundle_key(version: u64) -> Vec<u8> {
    ConfigKey::Bundle { version }.encode()
}

fn active_key() -> Vec<u8> {
    ConfigKey::Active.encode()
}

#[derive(Clone)]
pub struct ConfigStore {
    replica: Replica,
}

impl ConfigStore {
    pub fn new(replica: Replica) -> Self {
        ConfigStore { replica }
    }

    /// The active version in the local replica (0: nothing pushed yet).
    pub fn active_version(&self) -> anyhow::Result<u64> {
        match self.replica.get(Keyspace::Config, &active_key())? {
            None => Ok(0),
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse().ok())
                .context("the replicated active config version is corrupt"),
        }
    }

    /// A bundle by version, or the active one for version 0; `None` if there is none.
    pub fn get(&self, version: u64) -> anyhow::Result<Option<ConfigBundle>> {
        let version = if version == 0 {
            self.active_version()?
        } else {
            version
        };
        if version == 0 {
            return Ok(None);
        }
        let Some(bytes) = self.replica.get(Keyspace::Config, &bundle_key(version))? else {
            return Ok(None);
        };
        let bundle = serde_json::from_slice(&bytes)
            .with_context(|| format!("config bundle v{version} is corrupt"))?;
        Ok(Some(bundle))
    }

    /// Stores `bundle` as the next version and makes it active. Returns the version.
    ///
    /// `with` gives writes that must apply in the same replicated command (the rule table's
    /// sync) and the conditions they need; it is asked again on each attempt, so it sees the
    /// state the attempt is conditioned on.
    pub async fn push(
        &self,
        mut bundle: ConfigBundle,
        with: impl Fn() -> anyhow::Result<(Vec<Condition>, Vec<WriteOp>)>,
    ) -> anyhow::Result<u64> {
        for _ in 0..PUSH_ATTEMPTS {
            let current = self.active_version()?;
            let next = current + 1;
            bundle.version = next;
            let active_now = if current == 0 {
                Condition::Absent {
                    keyspace: Keyspace::Config,
                    key: active_key(),
                }
            } else {
                Condition::Equals {
                    keyspace: Keyspace::Config,
                    key: active_key(),
                    value: current.to_string().into_bytes(),
                }
            };
            let mut command = Command::put(
                Keyspace::Config,
                bundle_key(next),
                serde_json::to_vec(&bundle)?,
            )
            .and(WriteOp::Put {
                keyspace: Keyspace::Config,
                key: active_key(),
                value: next.to_string().into_bytes(),
            })
            .with_condition(active_now);
            if next > KEPT_VERSIONS {
                command = command.and(WriteOp::Delete {
                    keyspace: Keyspace::Config,
                    key: bundle_key(next - KEPT_VERSIONS),
                });
            }
            let (conditions, ops) = with()?;
            command.conditions.extend(conditions);
            command.ops.extend(ops);
            fail::fail_point!("config_store::before_push", |_| bail!(
                "failpoint config_store::before_push"
            ));
            match self.replica.write(command).await? {
                CommandResult::Applied => return Ok(next),
                // Another push won the race, the rule table changed, or our replica lags the
                // leader: wait for it and retry.
                CommandResult::ConditionFailed { .. } => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await
                }
                CommandResult::AppliedExcept { .. } => {
                    bail!("the state machine did not apply the config push as sent")
                }
            }
        }
        bail!("config push lost the race for the next version {PUSH_ATTEMPTS} times; try again")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use sa_repository::bundle::BundleFile;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pushes_get_consecutive_versions_and_only_recent_ones_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(dir.path()).await;
        let store = ConfigStore::new(replica.clone());
        assert_eq!(store.active_version().unwrap(), 0);
        assert!(store.get(0).unwrap().is_none());
        let pushes = KEPT_VERSIONS + 2;
        for i in 1..=pushes {
            let file = BundleFile {
                sha256: format!("{i}"),
                content: i.to_string().into_bytes(),
            };
            let bundle = ConfigBundle {
                version: 0,
                files: BTreeMap::from([("conf/x".to_string(), file)]),
            };
            let nothing_else = || Ok((Vec::new(), Vec::new()));
            assert_eq!(store.push(bundle, nothing_else).await.unwrap(), i);
        }
        assert_eq!(store.active_version().unwrap(), pushes);
        assert_eq!(store.get(0).unwrap().unwrap().version, pushes);
        assert!(
            store.get(pushes - KEPT_VERSIONS).unwrap().is_none(),
            "pruned"
        );
        assert!(
            store.get(pushes - KEPT_VERSIONS + 1).unwrap().is_some(),
            "kept"
        );
        replica.shutdown().await;
    }
}
