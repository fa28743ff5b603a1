//! Reaching a node's gRPC endpoint.

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

/// An Admin client of the node at `addr`, with the Admin message limit both ways.
pub async fn admin(addr: &str) -> Result<AdminClient<Channel>, NodeUnreachable> {
    Ok(AdminClient::new(channel(addr).await?)
        .max_decoding_message_size(MAX_ADMIN_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_ADMIN_MESSAGE_BYTES))
}

/// An Alerts client of the node at `addr`: a listing of large alerts (records of a MB each)
/// passes the default 4 MiB message limit.
pub async fn alerts(addr: &str) -> Result<AlertsClient<Channel>, NodeUnreachable> {
    Ok(AlertsClient::new(channel(addr).await?)
        .max_decoding_message_size(MAX_ADMIN_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_ADMIN_MESSAGE_BYTES))
}

/// Opens a channel to `addr` (`HOST:PORT`, or a full `http://` URL).
pub async fn channel(addr: &str) -> Result<Channel, NodeUnreachable> {
    let unreachable = |reason: String| NodeUnreachable {
        addr: addr.to_string(),
        reason,
    };
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    Endpoint::from_shared(uri)
        .map_err(|e| unreachable(format!("invalid address: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
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
