//! The certificate files of a node or a client, and how they are written.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{CertAuthority, Lifetime, NodeNames, Role};

#[derive(Debug, thiserror::Error)]
pub enum CertsDirError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Certificate { path: PathBuf, source: rcgen::Error },
    #[error("{path} already exists: remove it first, or write to another directory")]
    Exists { path: PathBuf },
}

/// Writes `contents` to `path` with mode 0600 (a key or certificate is nobody else's business),
/// through a temporary file renamed into place so a reader never sees half a file.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), CertsDirError> {
    let io = |source| CertsDirError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let temporary = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// The files of a certificates directory: `ca.crt` (and `ca.key` where certificates are
/// issued), `node.crt`/`node.key` on a node, `NAME.crt`/`NAME.key` for clients.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub dir: PathBuf,
}

/// What a node makes for itself on its first start (docs/security.md).
pub const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
pub const LEAF_LIFETIME: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

impl CertFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CertFiles { dir: dir.into() }
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.crt"))
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    pub fn has_node_cert(&self) -> bool {
        self.cert("node").exists()
    }

    pub fn read(&self, path: &Path) -> Result<String, CertsDirError> {
        std::fs::read_to_string(path).map_err(|source| CertsDirError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn authority(&self) -> Result<CertAuthority, CertsDirError> {
        let cert = self.read(&self.ca_cert())?;
        let key = self.read(&self.ca_key())?;
        CertAuthority::from_pem(&cert, &key).map_err(|source| CertsDirError::Certificate {
            path: self.ca_key(),
            source,
        })
    }

    /// Writes a new CA; refuses to replace one (every certificate it signed would be orphaned).
    pub fn create_authority(&self, lifetime: Lifetime) -> Result<CertAuthority, CertsDirError> {
        for path in [self.ca_cert(), self.ca_key()] {
            if path.exists() {
                return Err(CertsDirError::Exists { path });
            }
        }
        let authority =
            CertAuthority::create(lifetime).map_err(|source| CertsDirError::Certificate {
                path: self.ca_cert(),
                source,
            })?;
        write_private(&self.ca_key(), authority.key_pem().as_bytes())?;
        write_private(&self.ca_cert(), authority.cert_pem().as_bytes())?;
        Ok(authority)
    }

    /// Writes `name.crt` and `name.key`, and `ca.crt` when this directory has none.
    pub fn write_pair(
        &self,
        name: &str,
        authority: &CertAuthority,
        (cert, key): (String, String),
    ) -> Result<(), CertsDirError> {
        write_private(&self.key(name), key.as_bytes())?;
        write_private(&self.cert(name), cert.as_bytes())?;
        if !self.ca_cert().exists() {
            write_private(&self.ca_cert(), authority.cert_pem().as_bytes())?;
        }
        Ok(())
    }

    /// A node's first start on loopback: a CA, the node's certificate and an admin client
    /// certificate, all in this directory.
    pub fn bootstrap(&self, names: &NodeNames) -> Result<(), CertsDirError> {
        let authority = self.create_authority(Lifetime(CA_LIFETIME))?;
        let certificate = |path: PathBuf| {
            move |source| CertsDirError::Certificate {
                path: path.clone(),
                source,
            }
        };
        let node = authority
            .issue_node("node", names, Lifetime(LEAF_LIFETIME))
            .map_err(certificate(self.cert("node")))?;
        self.write_pair("node", &authority, node)?;
        let admin = authority
            .issue_client("admin", Role::Admin, &[], Lifetime(LEAF_LIFETIME))
            .map_err(certificate(self.cert("admin")))?;
        self.write_pair("admin", &authority, admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn bootstrap_writes_private_files_and_never_replaces_a_ca() {
        let dir = tempfile::tempdir().unwrap();
        let files = CertFiles::new(dir.path().join("certs"));
        files
            .bootstrap(&NodeNames::from_addresses(["127.0.0.1:7710"]))
            .unwrap();
        for name in [
            "ca.crt",
            "ca.key",
            "node.crt",
            "node.key",
            "admin.crt",
            "admin.key",
        ] {
            let mode = std::fs::metadata(files.dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let error = files.bootstrap(&NodeNames::default()).unwrap_err();
        assert!(matches!(error, CertsDirError::Exists { .. }), "{error}");
        files.authority().expect("the CA reads back");
    }
}
