//! `sactl remove-node`: takes a member out of the cluster.

use super::Target;
use clap::Args;
use sa_proto::cluster::v1::RemoveNodeRequest;
use sa_proto::cluster::v1::cluster_client::ClusterClient;

use super::connect::{self, NodeUnreachable};

#[derive(Debug, Args)]
pub struct RemoveNodeArgs {
    /// Raft id of the node to remove (see `sactl nodes`).
    pub id: u64,
}

pub async fn run(addr: &Target, args: RemoveNodeArgs) -> anyhow::Result<()> {
    let mut client = ClusterClient::new(connect::channel(addr).await?);
    client
        .remove_node(RemoveNodeRequest { node_id: args.id })
        .await
        .map_err(|status| match status.code() {
            tonic::Code::Unavailable => anyhow::Error::from(NodeUnreachable {
                addr: addr.to_string(),
                reason: status.message().to_string(),
            }),
            _ => anyhow::anyhow!("{}", status.message()),
        })?;
    println!("removed node {}", args.id);
    Ok(())
}
