//! Join and bearer tokens (`config` keyspace, `token/{kind}/{id}`). A token is `id` + secret;
//! the cluster stores the SHA-256 of the secret (the node hashes it), never the secret, with
//! its expiry and the uses it has left, so a copy of the state or of a snapshot grants nothing.

use std::time::Duration;

use anyhow::bail;
use sa_raft::{Command, CommandResult, Condition, Keyspace, Replica, WriteOp};
use serde::{Deserialize, Serialize};

use crate::keys::config::{ConfigKey, TokenKind};
use crate::now_ms;

/// What the cluster keeps of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    /// SHA-256 of the secret, hex.
    pub digest: String,
    pub expires_ms: u64,
    /// None: any number of uses (bearer tokens).
    pub uses_left: Option<u32>,
    /// The role a bearer token grants.
    pub role: Option<String>,
    /// The sources an `ingest` bearer token may post to.
    pub sources: Vec<String>,
    pub created_ms: u64,
    /// Who made it: a certificate subject or a token id.
    pub created_by: String,
    /// Names the write that took the last use (node, time, count), so a writer whose answer
    /// was lost recognises its own use rather than someone else's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_use: String,
}

/// Why a token is refused. The texts are what the refused caller reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// Unknown id or wrong secret: the caller learns nothing more.
    #[error("{kind} token refused: unknown, revoked or forged")]
    Unknown { kind: &'static str },
    #[error("{kind} token {id} expired {ago_s} s ago")]
    Expired {
        kind: &'static str,
        id: String,
        ago_s: u64,
    },
    #[error("{kind} token {id} has been used as many times as it allowed")]
    UsedUp { kind: &'static str, id: String },
}

#[derive(Clone)]
pub struct Tokens {
    replica: Replica,
}

/// Uses this process took, for [`StoredToken::last_use`].
static USES_TAKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times a use races another before giving up.
const USE_ATTEMPTS: usize = 8;

impl Tokens {
    pub fn new(replica: Replica) -> Self {
        Tokens { replica }
    }

    /// Stores a token made by the caller (`id` random, `digest` of a random secret).
    pub async fn create(
        &self,
        kind: TokenKind,
        id: &str,
        token: &StoredToken,
    ) -> anyhow::Result<()> {
        let key = ConfigKey::Token {
            kind,
            id: id.to_string(),
        }
        .encode();
        let command = Command::put(Keyspace::Config, key.clone(), serde_json::to_vec(token)?)
            .with_condition(Condition::Absent {
                keyspace: Keyspace::Config,
                key,
            });
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(()),
            other => bail!("{} token {id} not stored: {other:?}", kind.as_str()),
        }
    }

    /// The token if `digest` is its secret's and it has not expired; read-only (bearer tokens).
    pub fn check(
        &self,
        kind: TokenKind,
        id: &str,
        digest: &str,
    ) -> anyhow::Result<Result<StoredToken, TokenRefusal>> {
        Ok(self
            .read(kind, id)?
            .map_or(Err(unknown(kind)), |(_, token)| {
                valid(kind, id, |stored| stored == digest, token)
            }))
    }

    /// As `check`, with the caller's proof checked against the stored digest by `proves`
    /// (the secret itself need not travel), and takes one of the token's uses: a use counted
    /// once, however many redeem it at once (join tokens).
    pub async fn redeem(
        &self,
        kind: TokenKind,
        id: &str,
        proves: impl Fn(&str) -> bool,
    ) -> anyhow::Result<Result<StoredToken, TokenRefusal>> {
        for _ in 0..USE_ATTEMPTS {
            let Some((stored, token)) = self.read(kind, id)? else {
                return Ok(Err(unknown(kind)));
            };
            let mut token = match valid(kind, id, &proves, token) {
                Ok(token) => token,
                refused => return Ok(refused),
            };
            let Some(uses) = token.uses_left else {
                return Ok(Ok(token));
            };
            let key = ConfigKey::Token {
                kind,
                id: id.to_string(),
            }
            .encode();
            // A used-up token stays, so its holder learns it was used rather than forged.
            token.uses_left = Some(uses - 1);
            token.last_use = format!(
                "{}-{}-{}",
                self.replica.node_id(),
                now_ms(),
                USES_TAKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let written = serde_json::to_vec(&token)?;
            let op = WriteOp::Put {
                keyspace: Keyspace::Config,
                key: key.clone(),
                value: written.clone(),
            };
            let command = Command {
                conditions: vec![Condition::Equals {
                    keyspace: Keyspace::Config,
                    key,
                    value: stored,
                }],
                ops: vec![op],
            };
            match self.replica.write(command).await? {
                CommandResult::Applied => return Ok(Ok(token)),
                // What we wrote: the use was taken and its answer lost (the replica sent the
                // write again), not a second use.
                CommandResult::ConditionFailed {
                    current: Some(current),
                    ..
                } if current == written => return Ok(Ok(token)),
                // Revoked meanwhile.
                CommandResult::ConditionFailed { current: None, .. } => {
                    return Ok(Err(unknown(kind)));
                }
                _ => continue,
            }
        }
        bail!("{} token {id}: too many concurrent uses", kind.as_str())
    }

    /// Deletes a token; whether it existed.
    pub async fn revoke(&self, kind: TokenKind, id: &str) -> anyhow::Result<bool> {
        let key = ConfigKey::Token {
            kind,
            id: id.to_string(),
        }
        .encode();
        if self.replica.get(Keyspace::Config, &key)?.is_none() {
            return Ok(false);
        }
        self.replica
            .write(Command {
                conditions: Vec::new(),
                ops: vec![WriteOp::Delete {
                    keyspace: Keyspace::Config,
                    key,
                }],
            })
            .await?;
        Ok(true)
    }

    /// Deletes tokens of either kind that expired before `before_ms`, at most `at_most`, in one
    /// write; how many. A token raced by a use in the meantime is left for the next pass.
    pub async fn purge_expired(&self, before_ms: u64, at_most: usize) -> anyhow::Result<usize> {
        let mut command = Command::default();
        for kind in [TokenKind::Join, TokenKind::Bearer] {
            for (key, value) in self.replica.scan_prefix(Keyspace::Config, &kind.prefix())? {
                if command.ops.len() == at_most {
                    break;
                }
                let token: StoredToken = serde_json::from_slice(&value)?;
                if token.expires_ms < before_ms {
                    command.ops.push(WriteOp::Delete {
                        keyspace: Keyspace::Config,
                        key: key.clone(),
                    });
                    command.conditions.push(Condition::Equals {
                        keyspace: Keyspace::Config,
                        key,
                        value,
                    });
                }
            }
        }
        let purged = command.ops.len();
        if purged == 0 {
            return Ok(0);
        }
        match self.replica.write(command).await? {
            CommandResult::Applied => Ok(purged),
            _ => Ok(0),
        }
    }

    fn read(&self, kind: TokenKind, id: &str) -> anyhow::Result<Option<(Vec<u8>, StoredToken)>> {
        let key = ConfigKey::Token {
            kind,
            id: id.to_string(),
        }
        .encode();
        let Some(bytes) = self.replica.get(Keyspace::Config, &key)? else {
            return Ok(None);
        };
        let token = serde_json::from_slice(&bytes)?;
        Ok(Some((bytes, token)))
    }
}

/// When a token made now with this time to live expires.
pub fn expiry(ttl: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

fn unknown(kind: TokenKind) -> TokenRefusal {
    TokenRefusal::Unknown {
        kind: kind.as_str(),
    }
}

fn valid(
    kind: TokenKind,
    id: &str,
    proves: impl Fn(&str) -> bool,
    token: StoredToken,
) -> Result<StoredToken, TokenRefusal> {
    if !proves(&token.digest) {
        return Err(unknown(kind));
    }
    let now = now_ms();
    if token.expires_ms <= now {
        return Err(TokenRefusal::Expired {
            kind: kind.as_str(),
            id: id.to_string(),
            ago_s: (now - token.expires_ms) / 1000,
        });
    }
    if token.uses_left == Some(0) {
        return Err(TokenRefusal::UsedUp {
            kind: kind.as_str(),
            id: id.to_string(),
        });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(ttl: Duration, uses: Option<u32>) -> StoredToken {
        StoredToken {
            digest: "d1".into(),
            expires_ms: expiry(ttl),
            uses_left: uses,
            role: None,
            sources: Vec::new(),
            created_ms: now_ms(),
            created_by: "admin".into(),
            last_use: String::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_join_token_serves_its_uses_then_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let tokens = Tokens::new(replica.clone());
        let hour = Duration::from_secs(3600);
        tokens
            .create(TokenKind::Join, "t1", &token(hour, Some(2)))
            .await
            .unwrap();
        let forged = tokens
            .redeem(TokenKind::Join, "t1", |d| d == "other")
            .await
            .unwrap();
        assert_eq!(
            forged.unwrap_err().to_string(),
            "join token refused: unknown, revoked or forged"
        );
        let first = tokens
            .redeem(TokenKind::Join, "t1", |d| d == "d1")
            .await
            .unwrap();
        assert_eq!(first.unwrap().uses_left, Some(1));
        assert!(
            tokens
                .redeem(TokenKind::Join, "t1", |d| d == "d1")
                .await
                .unwrap()
                .is_ok()
        );
        let third = tokens
            .redeem(TokenKind::Join, "t1", |d| d == "d1")
            .await
            .unwrap();
        assert_eq!(
            third.unwrap_err().to_string(),
            "join token t1 has been used as many times as it allowed"
        );
        let unknown = tokens.check(TokenKind::Bearer, "t1", "d1").unwrap();
        assert!(unknown.is_err(), "kinds do not mix");
        replica.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_expired_before_the_cutoff_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let tokens = Tokens::new(replica.clone());
        tokens
            .create(TokenKind::Join, "old", &token(Duration::ZERO, Some(1)))
            .await
            .unwrap();
        tokens
            .create(TokenKind::Bearer, "old-ci", &token(Duration::ZERO, None))
            .await
            .unwrap();
        let hour = Duration::from_secs(3600);
        tokens
            .create(TokenKind::Join, "live", &token(hour, Some(1)))
            .await
            .unwrap();
        let cutoff = now_ms() + 1;
        assert_eq!(
            tokens.purge_expired(cutoff, 1).await.unwrap(),
            1,
            "at most one"
        );
        assert_eq!(tokens.purge_expired(cutoff, 10).await.unwrap(), 1);
        assert_eq!(tokens.purge_expired(cutoff, 10).await.unwrap(), 0);
        let gone = tokens.check(TokenKind::Join, "old", "d1").unwrap();
        assert_eq!(
            gone.unwrap_err().to_string(),
            "join token refused: unknown, revoked or forged"
        );
        assert!(tokens.check(TokenKind::Join, "live", "d1").unwrap().is_ok());
        replica.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expired_and_revoked_tokens_are_refused_and_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let replica = crate::single_node_replica(&dir.path().join("state")).await;
        let tokens = Tokens::new(replica.clone());
        tokens
            .create(TokenKind::Join, "old", &token(Duration::ZERO, Some(1)))
            .await
            .unwrap();
        let expired = tokens
            .redeem(TokenKind::Join, "old", |d| d == "d1")
            .await
            .unwrap();
        let text = expired.unwrap_err().to_string();
        assert!(text.starts_with("join token old expired"), "{text}");
        tokens
            .create(
                TokenKind::Bearer,
                "ci",
                &token(Duration::from_secs(60), None),
            )
            .await
            .unwrap();
        assert!(tokens.check(TokenKind::Bearer, "ci", "d1").unwrap().is_ok());
        assert!(
            tokens
                .redeem(TokenKind::Bearer, "ci", |d| d == "d1")
                .await
                .unwrap()
                .is_ok()
        );
        assert!(
            tokens.check(TokenKind::Bearer, "ci", "d1").unwrap().is_ok(),
            "unlimited uses"
        );
        assert!(tokens.revoke(TokenKind::Bearer, "ci").await.unwrap());
        assert!(!tokens.revoke(TokenKind::Bearer, "ci").await.unwrap());
        assert!(
            tokens
                .check(TokenKind::Bearer, "ci", "d1")
                .unwrap()
                .is_err()
        );
        replica.shutdown().await;
    }
}
