//! Config bundles in the `config` keyspace: `bundle/<version>` holds each pushed bundle and
//! `active` the version every node should run. A push is a compare-and-set on `active`, so two
//! concurrent pushes get distinct versions and neither is lost.

use anyhow::{Context, bail};
use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica, WriteOp};

use crate::bundle::ConfigBundle;

const ACTIVE: &[u8] = b"active";
const PUSH_ATTEMPTS: usize = 5;

fn bundle_key(version: u64) -> Vec<u8> {
    format!("bundle/{version:020}").into_bytes()
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
        match self.replica.get(Keyspace::Config, ACTIVE)? {
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
    pub async fn push(&self, mut bundle: ConfigBundle) -> anyhow::Result<u64> {
        for _ in 0..PUSH_ATTEMPTS {
            let current = self.active_version()?;
            let next = current + 1;
            bundle.version = next;
            let active_now = if current == 0 {
                Condition::Absent {
                    keyspace: Keyspace::Config,
                    key: ACTIVE.to_vec(),
                }
            } else {
                Condition::Equals {
                    keyspace: Keyspace::Config,
                    key: ACTIVE.to_vec(),
                    value: current.to_string().into_bytes(),
                }
            };
            let command = Command::put(
                Keyspace::Config,
                bundle_key(next),
                serde_json::to_vec(&bundle)?,
            )
            .and(WriteOp::Put {
                keyspace: Keyspace::Config,
                key: ACTIVE.to_vec(),
                value: next.to_string().into_bytes(),
            })
            .with_condition(active_now);
            fail::fail_point!("config_store::before_push", |_| bail!(
                "failpoint config_store::before_push"
            ));
            match self.replica.write(command).await? {
                CommandResult::Applied => return Ok(next),
                // Another push won the race, or our replica lags the leader: wait for it and retry.
                CommandResult::ConditionFailed { .. } => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await
                }
                CommandResult::NoOp => bail!("the state machine ignored the config push"),
            }
        }
        bail!("config push lost the race for the next version {PUSH_ATTEMPTS} times; try again")
    }
}
