//! A node's identity, kept in its data dir so a restarted node is the same Raft member.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

const NODE_ID_FILE: &str = "node_id";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeIdentity {
    pub node_id: u64,
    /// True when this start created the identity (the data dir was empty).
    pub created: bool,
}

impl NodeIdentity {
    /// Reads the identity from `data_dir`, or creates it from `requested` (or a random id).
    /// A requested id that contradicts the stored one is refused: silently taking either would
    /// make two Raft members share an id or orphan this node's log.
    pub fn load_or_create(data_dir: &Path, requested: Option<u64>) -> anyhow::Result<Self> {
        fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let path = data_dir.join(NODE_ID_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let stored: u64 = text.trim().parse().with_context(|| {
                    format!(
                        "{}: not a node id (expected an unsigned integer): {text:?}",
                        path.display()
                    )
                })?;
                if let Some(requested) = requested.filter(|r| *r != stored) {
                    bail!(
                        "--node-id {requested} contradicts {} which holds node id {stored}; \
                         drop the flag or use an empty data dir",
                        path.display()
                    );
                }
                Ok(NodeIdentity {
                    node_id: stored,
                    created: false,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let node_id = requested.unwrap_or_else(random_node_id);
                write_durably(&path, node_id.to_string().as_bytes())?;
                Ok(NodeIdentity {
                    node_id,
                    created: true,
                })
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// A random non-zero id; RandomState is seeded from the OS, which is all the randomness needed.
fn random_node_id() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.write_u32(std::process::id());
    // Keep ids within 2^53 so they survive a round trip through JSON consumers using doubles.
    (hasher.finish() & ((1 << 53) - 1)).max(1)
}

/// Writes via a temporary file, fsync and rename, so a crash leaves either no file or a whole one.
fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    let mut file =
        fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = NodeIdentity::load_or_create(dir.path(), None).unwrap();
        assert!(first.created);
        assert_ne!(first.node_id, 0);
        let again = NodeIdentity::load_or_create(dir.path(), None).unwrap();
        assert_eq!(
            again,
            NodeIdentity {
                node_id: first.node_id,
                created: false
            }
        );
    }

    #[test]
    fn requested_id_is_used_on_first_start_and_must_match_later() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            NodeIdentity::load_or_create(dir.path(), Some(7))
                .unwrap()
                .node_id,
            7
        );
        assert_eq!(
            NodeIdentity::load_or_create(dir.path(), Some(7))
                .unwrap()
                .node_id,
            7
        );
        let err = NodeIdentity::load_or_create(dir.path(), Some(8))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--node-id 8") && err.contains("node id 7"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_identity_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(NODE_ID_FILE), "banana").unwrap();
        let err = format!(
            "{:#}",
            NodeIdentity::load_or_create(dir.path(), None).unwrap_err()
        );
        assert!(err.contains("node_id") && err.contains("banana"), "{err}");
    }
}
