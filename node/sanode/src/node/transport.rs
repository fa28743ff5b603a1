//! How a node's listeners and peer calls are secured: mutual TLS against the cluster CA by
//! default, plaintext only when asked for (docs/security.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use prometheus::IntGauge;
use sa_raft::{PeerDialer, PeerTls};
use sa_tls::{CertFiles, NodeNames, ServerTls};
use tokio_util::sync::CancellationToken;

use super::NodeArgs;

/// Warn this long before the node certificate expires.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

pub enum Transport {
    /// `--insecure`: no TLS, no identities, every call allowed.
    Plaintext,
    Tls(Arc<ServerTls>),
}

impl Transport {
    /// Decides from the flags and the certificates directory, creating the certificates of a
    /// first start on loopback.
    pub fn prepare(args: &NodeArgs) -> anyhow::Result<Transport> {
        let (grpc_addr, http_addr) = (args.grpc_addr, args.http_addr);
        let loopback = [Some(grpc_addr), Some(http_addr), args.peer_addr]
            .iter()
            .flatten()
            .all(|addr| addr.ip().is_loopback());
        if args.insecure {
            if !loopback && !args.insecure_non_loopback {
                bail!(
                    "refusing to serve without TLS on {grpc_addr} and {http_addr}: anyone who \
                     reaches a non-loopback address could join the cluster, push rules (code) \
                     and read alerts; drop --insecure, or add --insecure-non-loopback to accept \
                     that"
                );
            }
            tracing::warn!(
                %grpc_addr,
                %http_addr,
                "running WITHOUT TLS (--insecure): no caller is authenticated"
            );
            return Ok(Transport::Plaintext);
        }
        let files = CertFiles::new(args.certs_dir());
        if !files.has_node_cert() {
            if args.join.is_some() {
                bail!(
                    "no node certificate in {}: a joining node needs one signed by the \
                     cluster's CA: pass --join-token (from `sactl join-token create`), or run \
                     `sactl certs create-node` where ca.key is and copy ca.crt, node.crt and \
                     node.key here",
                    files.dir.display()
                );
            }
            if !loopback {
                bail!(
                    "no node certificate in {} and {grpc_addr} is not loopback: create the \
                     cluster's CA and this node's certificate with `sactl certs create-ca` and \
                     `sactl certs create-node` (or use --certs-dir)",
                    files.dir.display()
                );
            }
            let addresses = args.served_addresses();
            let names = NodeNames::from_addresses(addresses.iter().map(String::as_str));
            files
                .bootstrap(&names)
                .context("cannot create the certificates of a first start")?;
            tracing::info!(
                certs_dir = %files.dir.display(),
                "created a cluster CA, this node's certificate and an admin client certificate"
            );
        }
        let tls = ServerTls::load(files).context("cannot load the node's certificates")?;
        Ok(Transport::Tls(Arc::new(tls)))
    }

    pub fn dialer(&self) -> PeerDialer {
        match self {
            Transport::Plaintext => PeerDialer::plaintext(),
            Transport::Tls(tls) => PeerDialer::tls(Arc::new(NodeClientTls {
                files: tls.files().clone(),
            })),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }
}

/// The node's certificate as a client of its peers, read again when the files change.
struct NodeClientTls {
    files: CertFiles,
}

impl PeerTls for NodeClientTls {
    fn stamp(&self) -> Option<SystemTime> {
        std::fs::metadata(self.files.cert("node"))
            .and_then(|m| m.modified())
            .ok()
    }

    fn config(&self) -> Result<tonic::transport::ClientTlsConfig, String> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let ca = read(self.files.ca_cert())?;
        let cert = read(self.files.cert("node"))?;
        let key = read(self.files.key("node"))?;
        Ok(sa_tls::tonic_client(&ca, Some((&cert, &key))))
    }
}

/// Reloads renewed certificate files and keeps the expiry gauge current, warning in the log
/// from a month before the node certificate expires.
pub async fn watch_certificates(
    tls: Arc<ServerTls>,
    interval: Duration,
    expiry_seconds: IntGauge,
    stop: CancellationToken,
) {
    loop {
        match tls.reload_if_changed() {
            Ok(true) => tracing::info!("reloaded the node certificate"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot reload the node certificate"),
        }
        let left = tls.expires_in_seconds();
        expiry_seconds.set(left);
        if left < EXPIRY_WARNING.as_secs() as i64 {
            tracing::warn!(
                seconds_left = left,
                cert = %tls.files().cert("node").display(),
                "the node certificate expires soon: renew it (the node reloads it by itself)"
            );
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// What the node exposes about its transport.
pub struct TransportMetrics {
    /// 1 with TLS, 0 on a node started with `--insecure`.
    pub tls_enabled: IntGauge,
    pub cert_expiry_seconds: IntGauge,
    pub handshake_failures: prometheus::IntCounter,
    pub access_denied: prometheus::IntCounterVec,
}

impl TransportMetrics {
    pub fn new() -> Self {
        TransportMetrics {
            tls_enabled: IntGauge::new(
                "sa_tls_enabled",
                "1 when the node serves TLS with client certificates, 0 when it runs --insecure.",
            )
            .expect("valid metric"),
            cert_expiry_seconds: IntGauge::new(
                "sa_tls_cert_expiry_seconds",
                "Seconds until the node certificate in use expires.",
            )
            .expect("valid metric"),
            handshake_failures: prometheus::IntCounter::new(
                "sa_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out (plaintext clients, unknown CAs, \
                 expired certificates).",
            )
            .expect("valid metric"),
            access_denied: prometheus::IntCounterVec::new(
                prometheus::Opts::new(
                    "sa_access_denied_total",
                    "Calls refused for want of an identity or role, by method or route.",
                ),
                &["what"],
            )
            .expect("valid metric"),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.tls_enabled.clone()),
            Box::new(self.cert_expiry_seconds.clone()),
            Box::new(self.handshake_failures.clone()),
            Box::new(self.access_denied.clone()),
        ]
    }
}
