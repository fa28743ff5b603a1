//! Which data key seals new output settings (`config` keyspace, `data-key`). Only the key's id
//! is replicated: the key itself stays with the members, each sealed under its own key.

use anyhow::bail;
use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica};

use crate::keys::config::ConfigKey;

#[derive(Clone)]
pub struct DataKeyId {
    replica: Replica,
}

/// What became of a proposed data key.
#[derive(Debug, PartialEq, Eq)]
pub enum Adoption {
    Adopted,
    /// Another member's key won the race; use it.
    Lost {
        current: String,
    },
}

impl DataKeyId {
    pub fn new(replica: Replica) -> Self {
        DataKeyId { replica }
    }

    /// The id of the data key in use, if one was ever made.
    pub fn current(&self) -> anyhow::Result<Option<String>> {
        self.replica
            .get(Keyspace::Config, &ConfigKey::DataKey.encode())?
            .map(|bytes| String::from_utf8(bytes).map_err(Into::into))
            .transpose()
    }

    /// Makes `id` the data key in use if `replacing` still is (`None`: if there is none yet),
    /// so two members making a key at once agree on one.
    pub async fn adopt(&self, id: &str, replacing: Option<&str>) -> anyhow::Result<Adoption> {
        let key = ConfigKey::DataKey.encode();
        let condition = match replacing {
            None => Condition::Absent {
                keyspace: Keyspace::Config,
                key: key.clone(),
            },
            Some(previous) => Condition::Equals {
                keyspace: Keyspace::Config,
                key: key.clone(),
                value: previous.as_bytes().to_vec(),
            },
        };
        let command =
            Command::put(Keyspace::Config, key, id.as_bytes().to_vec()).with_condition(condition);
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(Adoption::Adopted),
            // Our own id: the write applied and its answer was lost (the replica sent it again).
            CommandResult::ConditionFailed {
                current: Some(current),
                ..
            } if current == id.as_bytes() => Ok(Adoption::Adopted),
            CommandResult::ConditionFailed {
                current: Some(current),
                ..
            } => Ok(Adoption::Lost {
                current: String::from_utf8(current)?,
            }),
            other => bail!("data key {id} not adopted: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_first_key_wins_and_rotation_replaces_only_the_key_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let ids = DataKeyId::new(replica.clone());
        assert_eq!(ids.current().unwrap(), None);
        assert_eq!(ids.adopt("aaaa", None).await.unwrap(), Adoption::Adopted);
        assert_eq!(
            ids.adopt("bbbb", None).await.unwrap(),
            Adoption::Lost {
                current: "aaaa".into()
            }
        );
        assert_eq!(
            ids.adopt("cccc", Some("aaaa")).await.unwrap(),
            Adoption::Adopted
        );
        assert_eq!(
            ids.adopt("dddd", Some("aaaa")).await.unwrap(),
            Adoption::Lost {
                current: "cccc".into()
            }
        );
        assert_eq!(ids.current().unwrap().as_deref(), Some("cccc"));
        replica.shutdown().await;
    }
}
