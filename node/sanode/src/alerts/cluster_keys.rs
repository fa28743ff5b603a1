//! The cluster's data key for output settings (docs/security.md, "Output secrets"). One key
//! seals every output's settings, so whichever member leads can deliver. The replicated state
//! names the key in use, never the key: each member keeps it sealed under its own key file
//! (`--secrets-key`) in `<data-dir>/data-keys/`, and a member that lacks it (it joined later, or
//! another member rotated) asks the others over mutual TLS; only node certificates may ask.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use sa_outputs::{DataKey, SealedWith, SecretsCipher, sealed_with};
use sa_proto::cluster::v1::ShareDataKeyRequest;
use sa_proto::cluster::v1::cluster_client::ClusterClient;
use sa_raft::Replica;
use sa_state::{Adoption, DataKeyId, SettingsCipher};
use tokio_util::sync::CancellationToken;

/// How long one member gets to hand the key over.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a member checks that it holds the key in use, so it has it before it leads.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

pub struct ClusterKeys {
    /// This member's own key: seals the data keys on its disk.
    member: SecretsCipher,
    dir: PathBuf,
    held: std::sync::Mutex<HashMap<String, Arc<DataKey>>>,
    /// One member asked at a time: concurrent deliveries missing the key wait for one answer.
    asking: tokio::sync::Mutex<()>,
    ids: DataKeyId,
    replica: Replica,
}

impl ClusterKeys {
    pub fn new(member: SecretsCipher, dir: PathBuf, replica: Replica) -> Self {
        ClusterKeys {
            member,
            dir,
            held: Default::default(),
            asking: Default::default(),
            ids: DataKeyId::new(replica.clone()),
            replica,
        }
    }

    /// The key `id` if this member holds it (memory, then its sealed file), for a member that
    /// asks.
    pub async fn share(&self, id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.held(id).await?.map(|key| key.expose().to_vec()))
    }

    /// Keeps asking for the key in use until shutdown, so a member holds it before it leads.
    pub async fn follow(self: Arc<Self>, shutdown: CancellationToken) {
        let mut failing: Option<String> = None;
        loop {
            let outcome = match self.ids.current() {
                Ok(Some(id)) => self.obtain(&id).await.map(drop),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => failing = None,
                Err(e) => {
                    let text = format!("{e:#}");
                    if failing.as_ref() != Some(&text) {
                        tracing::warn!(error = %text, "this node cannot decrypt output settings yet");
                    }
                    failing = Some(text);
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            }
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        key_path(&self.dir, id)
    }

    /// The key in use, if any, for a node joining with a token: it gets the key with its
    /// certificate, so it can deliver as soon as it is a member.
    pub async fn current_to_share(&self) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        let Some(id) = self.ids.current()? else {
            return Ok(None);
        };
        Ok(self.share(&id).await?.map(|key| (id, key)))
    }

    async fn held(&self, id: &str) -> anyhow::Result<Option<Arc<DataKey>>> {
        if let Some(key) = self.held.lock().unwrap().get(id) {
            return Ok(Some(key.clone()));
        }
        let path = self.path(id);
        let sealed = match std::fs::read(&path) {
            Ok(sealed) => sealed,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let bytes = self
            .member
            .decrypt(&sealed)
            .await
            .with_context(|| format!("cannot unseal {}", path.display()))?;
        let key = Arc::new(DataKey::from_bytes(bytes, id)?);
        self.held
            .lock()
            .unwrap()
            .insert(id.to_string(), key.clone());
        Ok(Some(key))
    }

    /// Seals `key` under this member's key on disk, then holds it.
    async fn keep(&self, key: DataKey) -> anyhow::Result<Arc<DataKey>> {
        seal_to_disk(&self.member, &self.dir, &key).await?;
        let key = Arc::new(key);
        self.held.lock().unwrap().insert(key.id(), key.clone());
        Ok(key)
    }

    /// The key `id`, from this member or, failing that, from another.
    async fn obtain(&self, id: &str) -> anyhow::Result<Arc<DataKey>> {
        if let Some(key) = self.held(id).await? {
            return Ok(key);
        }
        let _asking = self.asking.lock().await;
        if let Some(key) = self.held(id).await? {
            return Ok(key);
        }
        let key = self.ask_members(id).await?;
        self.keep(key).await
    }

    async fn ask_members(&self, id: &str) -> anyhow::Result<DataKey> {
        let me = self.replica.node_id();
        let members: Vec<(u64, String)> = {
            let metrics = self.replica.raft().metrics();
            let metrics = metrics.borrow();
            metrics
                .membership_config
                .membership()
                .nodes()
                .filter(|(node_id, _)| **node_id != me)
                .map(|(node_id, node)| (*node_id, node.addr.clone()))
                .collect()
        };
        let mut failures = Vec::new();
        for (node_id, addr) in members {
            match self.ask(&addr, id).await {
                Ok(key) => {
                    tracing::info!(data_key = id, from = node_id, "received the data key");
                    return Ok(key);
                }
                Err(e) => failures.push(format!("node {node_id} ({addr}): {e:#}")),
            }
        }
        if failures.is_empty() {
            failures.push("there is no other member".into());
        }
        Err(DataKeyUnavailable(format!(
            "data key {id} is not on this node and no member handed it over: {}",
            failures.join("; ")
        ))
        .into())
    }

    async fn ask(&self, addr: &str, id: &str) -> anyhow::Result<DataKey> {
        let channel = self
            .replica
            .dialer()
            .channel(addr)
            .map_err(anyhow::Error::msg)?;
        let request = ShareDataKeyRequest { id: id.into() };
        let reply = tokio::time::timeout(
            ASK_TIMEOUT,
            ClusterClient::new(channel).share_data_key(request),
        )
        .await
        .context("no answer")?
        .map_err(|status| anyhow::anyhow!("{}", status.message()))?;
        Ok(DataKey::from_bytes(reply.into_inner().key, id)?)
    }

    /// The key in use, made now if the cluster has none yet.
    async fn current(&self) -> anyhow::Result<Arc<DataKey>> {
        match self.ids.current()? {
            Some(id) => self.obtain(&id).await,
            None => self.make(None).await,
        }
    }

    /// A new key put in use in place of `replacing`; kept on this member's disk before the
    /// cluster names it, so any member can ask for it as soon as it is named.
    async fn make(&self, replacing: Option<&str>) -> anyhow::Result<Arc<DataKey>> {
        let key = self.keep(DataKey::generate()).await?;
        match self.ids.adopt(&key.id(), replacing).await? {
            Adoption::Adopted => {
                tracing::info!(data_key = %key.id(), "new data key in use for output settings");
                Ok(key)
            }
            Adoption::Lost { current } => {
                std::fs::remove_file(self.path(&key.id())).ok();
                self.held.lock().unwrap().remove(&key.id());
                self.obtain(&current).await
            }
        }
    }
}

/// This member lacks the data key and no other member could hand it over just now: a
/// condition that passes (members come back), unlike a key that does not open.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DataKeyUnavailable(String);

/// Where a member keeps its data keys.
pub fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("data-keys")
}

fn key_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.key"))
}

/// Writes `key` to `dir` sealed under this member's own key.
pub async fn seal_to_disk(member: &SecretsCipher, dir: &Path, key: &DataKey) -> anyhow::Result<()> {
    let sealed = member.encrypt(key.expose()).await?;
    sa_tls::write_private(&key_path(dir, &key.id()), &sealed)?;
    Ok(())
}

impl SettingsCipher for ClusterKeys {
    fn describe(&self) -> String {
        match self.ids.current() {
            Ok(Some(id)) => format!(
                "cluster data key {id}, sealed on each member under its own key (here: {})",
                self.member.describe()
            ),
            Ok(None) => {
                "cluster data key (none yet: the first `sactl outputs set` makes it)".into()
            }
            Err(e) => format!("cluster data key (unknown: {e:#})"),
        }
    }

    fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
        Box::pin(async move { Ok(self.current().await?.seal(plaintext)?) })
    }

    fn decrypt<'a>(&'a self, blob: &'a [u8]) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
        Box::pin(async move {
            match sealed_with(blob)? {
                SealedWith::DataKey(id) => Ok(self.obtain(&id).await?.open(blob)?),
                // Settings stored before the cluster had a data key, under a key file every
                // node shared; `sactl secrets rotate` moves them to the data key.
                SealedWith::LocalKey(_) | SealedWith::Kms => Ok(self.member.decrypt(blob).await?),
            }
        })
    }

    fn rotate(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let current = self.ids.current()?;
            self.make(current.as_deref()).await.map(drop)
        })
    }
}
