//! Reaching a node's gRPC endpoint: over mutual TLS with the certificates sactl finds
//! (docs/security.md), or in plaintext for a node started with `--insecure`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sa_proto::MAX_ADMIN_MESSAGE_BYTES;
use sa_proto::admin::v1::admin_client::AdminClient;
use sa_proto::alerts::v1::alerts_client::AlertsClient;
use tonic::transport::{Channel, Endpoint};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Long enough for a config push: the node validates the bundle (importing every rule) and
/// waits out a leader election if one is running.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// No node answered at the address: sactl exits with code 2 on this error.
#[derive(Debug, thiserror::Error)]
#[error("no node answers at {addr}: {reason}")]
pub struct NodeUnreachable {
    pub addr: String,
    pub reason: String,
}

/// sactl has no certificate to call the node with: exits 2, like an unreachable node.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct NoCredentials {
    pub reason: String,
}

/// Why no channel to a node could be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Unreachable(#[from] NodeUnreachable),
    #[error(transparent)]
    NoCredentials(#[from] NoCredentials),
    /// The node answered, and refused (permission denied, for one).
    #[error("{}", .0.message())]
    Refused(tonic::Status),
}

impl ConnectError {
    /// A failed call: unreachable when the transport failed, else the node's refusal.
    pub fn from_status(addr: &str, status: tonic::Status) -> Self {
        match status.code() {
            tonic::Code::Unavailable => NodeUnreachable {
                addr: addr.to_string(),
                reason: status.message().to_string(),
            }
            .into(),
            _ => ConnectError::Refused(status),
        }
    }
}

/// Where sactl finds its certificates when `--certs-dir` is not given: a node's first start
/// writes them to its data dir, and `./data` is the embedded default's.
const DEFAULT_CERTS_DIRS: [&str; 2] = ["data/certs", ".config/sa/certs"];

/// How sactl proves who it is.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// `--insecure`: plaintext, for nodes started with `--insecure`.
    Plaintext,
    Tls {
        /// `--certs-dir`, or the first default that holds a `ca.crt`.
        certs_dir: Option<PathBuf>,
        /// `--cert`/`--key`; `admin.crt`/`admin.key` of the certificates directory otherwise.
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    },
}

/// A node to call and the credentials to call it with. It reads as its address.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: String,
    credentials: Arc<Credentials>,
}

impl std::ops::Deref for Target {
    type Target = str;

    fn deref(&self) -> &str {
        &self.addr
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.addr)
    }
}

impl Target {
    pub fn new(addr: String, credentials: Credentials) -> Self {
        Target {
            addr,
            credentials: Arc::new(credentials),
        }
    }

    /// Another node, with the same credentials.
    pub fn at(&self, addr: &str) -> Target {
        Target {
            addr: addr.to_string(),
            credentials: self.credentials.clone(),
        }
    }

    /// The certificates directory in use: `--certs-dir`, else `./data/certs`, else
    /// `~/.config/sa/certs`, whichever holds a `ca.crt` first.
    pub fn certs_dir(&self) -> Option<PathBuf> {
        match &*self.credentials {
            Credentials::Plaintext => None,
            Credentials::Tls { certs_dir, .. } => certs_dir.clone().or_else(default_certs_dir),
        }
    }

    fn tls(&self) -> Result<Option<tonic::transport::ClientTlsConfig>, String> {
        let Credentials::Tls { cert, key, .. } = &*self.credentials else {
            return Ok(None);
        };
        let dir = self.certs_dir().ok_or_else(|| {
            "no certificates found in ./data/certs or ~/.config/sa/certs: give --certs-dir              (or SA_CERTS_DIR), or --insecure for a node started with --insecure"
                .to_string()
        })?;
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let ca = read(&dir.join("ca.crt"))?;
        let cert = read(&cert.clone().unwrap_or_else(|| dir.join("admin.crt")))?;
        let key = read(&key.clone().unwrap_or_else(|| dir.join("admin.key")))?;
        Ok(Some(sa_tls::tonic_client(&ca, Some((&cert, &key)))))
    }
}

fn default_certs_dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    [
        Some(PathBuf::from(DEFAULT_CERTS_DIRS[0])),
        home.map(|home| home.join(DEFAULT_CERTS_DIRS[1])),
    ]
    .into_iter()
    .flatten()
    .find(|dir| dir.join("ca.crt").exists())
}

/// An Admin client of the node at `addr`, with the Admin message limit both ways.
pub async fn admin(addr: &Target) -> Result<AdminClient<Channel>, ConnectError> {
    Ok(AdminClient::new(channel(addr).await?)
        .max_decoding_message_size(MAX_ADMIN_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_ADMIN_MESSAGE_BYTES))
}

/// An Alerts client of the node at `addr`: a listing of large alerts (records of a MB each)
/// passes the default 4 MiB message limit.
pub async fn alerts(addr: &Target) -> Result<AlertsClient<Channel>, ConnectError> {
    Ok(AlertsClient::new(channel(addr).await?)
        .max_decoding_message_size(MAX_ADMIN_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_ADMIN_MESSAGE_BYTES))
}

/// Opens a channel to the target (`HOST:PORT`, or a full `http://`/`https://` URL).
pub async fn channel(target: &Target) -> Result<Channel, ConnectError> {
    let addr = &target.addr;
    let unreachable = |reason: String| {
        ConnectError::from(NodeUnreachable {
            addr: addr.to_string(),
            reason,
        })
    };
    let tls = if addr.starts_with("http://") {
        None
    } else {
        target.tls().map_err(|reason| NoCredentials { reason })?
    };
    let uri = match (addr.contains("://"), tls.is_some()) {
        (true, _) => addr.to_string(),
        (false, true) => format!("https://{addr}"),
        (false, false) => format!("http://{addr}"),
    };
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(|e| unreachable(format!("invalid address: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| unreachable(format!("TLS: {}", root_cause(&e))))?;
    }
    endpoint
        .connect()
        .await
        .map_err(|e| unreachable(root_cause(&e)))
}

/// The innermost error message: tonic's outer "transport error" says nothing useful.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
