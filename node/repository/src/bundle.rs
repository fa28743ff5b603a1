//! Config bundles: the files of a StreamAlert repository (conf/, rules/, matchers/, publishers/)
//! as one versioned, checksummed unit that travels through Raft to every node.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Top-level folders of a repository that make up its configuration.
pub const BUNDLE_DIRS: [&str; 4] = ["conf", "rules", "matchers", "publishers"];
/// A bundle is replicated to every node and kept in the Raft log: keep it small.
pub const MAX_BUNDLE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    pub sha256: String,
    #[serde(with = "content_b64")]
    pub content: Vec<u8>,
}

/// File contents as base64 text: JSON would spell every byte as a number.
mod content_b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(content: &[u8], to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&STANDARD.encode(content))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(from)?;
        STANDARD.decode(text.as_bytes()).map_err(D::Error::custom)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigBundle {
    /// 0 until pushed; the cluster assigns 1, 2, ... in push order.
    pub version: u64,
    /// Repository-relative paths with `/` separators.
    pub files: BTreeMap<String, BundleFile>,
}

/// What changed between two bundles, by path.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct BundleDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl BundleDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl ConfigBundle {
    /// Reads the bundle folders of the repository at `root`. `conf/` is required; the others are
    /// taken when present. Python caches and hidden files are left out.
    pub fn collect(root: &Path) -> anyhow::Result<Self> {
        if !root.join("conf").is_dir() {
            bail!(
                "{}: not a StreamAlert repository (no conf/ directory)",
                root.display()
            );
        }
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        for dir in BUNDLE_DIRS {
            let path = root.join(dir);
            if path.is_dir() {
                collect_dir(root, &path, &mut files, &mut total)?;
            }
        }
        Ok(ConfigBundle { version: 0, files })
    }

    /// The checksum of the whole bundle: over every path and file checksum, in path order.
    pub fn checksum(&self) -> String {
        let mut hasher = Sha256::new();
        for (path, file) in &self.files {
            hasher.update(path.as_bytes());
            hasher.update([0]);
            hasher.update(file.sha256.as_bytes());
            hasher.update([0]);
        }
        hex::encode(hasher.finalize())
    }

    pub fn diff(&self, newer: &ConfigBundle) -> BundleDiff {
        let mut diff = BundleDiff::default();
        for (path, file) in &newer.files {
            match self.files.get(path) {
                None => diff.added.push(path.clone()),
                Some(old) if old.sha256 != file.sha256 => diff.changed.push(path.clone()),
                Some(_) => {}
            }
        }
        diff.removed = self
            .files
            .keys()
            .filter(|p| !newer.files.contains_key(*p))
            .cloned()
            .collect();
        diff
    }

    /// Writes the bundle's files under `dir` (which must not exist yet), checking every checksum.
    pub fn materialize(&self, dir: &Path) -> anyhow::Result<()> {
        for (path, file) in &self.files {
            if sha256_hex(&file.content) != file.sha256 {
                bail!(
                    "bundle v{}: {path}: content does not match its checksum",
                    self.version
                );
            }
            let target = safe_join(dir, path)?;
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            fs::write(&target, &file.content)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
        Ok(())
    }
}

fn collect_dir(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, BundleFile>,
    total: &mut u64,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            collect_dir(root, &path, files, total)?;
        } else if file_type.is_file() {
            let content =
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            *total += content.len() as u64;
            if *total > MAX_BUNDLE_BYTES {
                bail!(
                    "{}: the bundle exceeds {} MiB",
                    root.display(),
                    MAX_BUNDLE_BYTES >> 20
                );
            }
            let relative = path.strip_prefix(root).expect("walked below root");
            let key = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            files.insert(
                key,
                BundleFile {
                    sha256: sha256_hex(&content),
                    content,
                },
            );
        }
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `dir/relative`, refusing paths that would escape `dir` (a bundle comes over the network).
fn safe_join(dir: &Path, relative: &str) -> anyhow::Result<PathBuf> {
    let mut out = dir.to_path_buf();
    for part in relative.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            bail!("bundle path {relative:?} is not a plain relative path");
        }
        out.push(part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in [
            ("conf/global.json", "{}"),
            ("conf/schemas/a.json", "{\"a\": {}}"),
            ("rules/r.py", "x = 1"),
            ("rules/__pycache__/r.cpython-311.pyc", "junk"),
            ("rules/.hidden", "junk"),
            ("unrelated/file.txt", "not part of the bundle"),
        ] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn collect_takes_bundle_folders_only_and_skips_caches() {
        let dir = repo();
        let bundle = ConfigBundle::collect(dir.path()).unwrap();
        let paths: Vec<_> = bundle.files.keys().cloned().collect();
        assert_eq!(
            paths,
            ["conf/global.json", "conf/schemas/a.json", "rules/r.py"]
        );
    }

    #[test]
    fn diff_and_checksum_follow_content() {
        let dir = repo();
        let old = ConfigBundle::collect(dir.path()).unwrap();
        fs::write(dir.path().join("rules/r.py"), "x = 2").unwrap();
        fs::write(dir.path().join("rules/new.py"), "y = 1").unwrap();
        fs::remove_file(dir.path().join("conf/schemas/a.json")).unwrap();
        let new = ConfigBundle::collect(dir.path()).unwrap();
        let diff = old.diff(&new);
        assert_eq!(diff.added, ["rules/new.py"]);
        assert_eq!(diff.removed, ["conf/schemas/a.json"]);
        assert_eq!(diff.changed, ["rules/r.py"]);
        assert_ne!(old.checksum(), new.checksum());
        assert!(new.diff(&new).is_empty());
    }

    #[test]
    fn materialize_round_trips_and_rejects_tampering_and_escapes() {
        let dir = repo();
        let bundle = ConfigBundle::collect(dir.path()).unwrap();
        let out = tempfile::tempdir().unwrap();
        bundle.materialize(&out.path().join("v1")).unwrap();
        assert_eq!(
            ConfigBundle::collect(&out.path().join("v1")).unwrap().files,
            bundle.files
        );

        let mut tampered = bundle.clone();
        tampered.files.get_mut("rules/r.py").unwrap().content = b"evil".to_vec();
        assert!(
            tampered
                .materialize(&out.path().join("v2"))
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );

        let mut escaping = ConfigBundle::default();
        escaping.files.insert(
            "../x".into(),
            BundleFile {
                sha256: sha256_hex(b""),
                content: Vec::new(),
            },
        );
        assert!(escaping.materialize(&out.path().join("v3")).is_err());
    }

    #[test]
    fn collect_refuses_a_folder_without_conf() {
        let dir = tempfile::tempdir().unwrap();
        let err = ConfigBundle::collect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no conf/ directory"), "{err}");
    }
}
