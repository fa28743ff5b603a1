//! `sactl join-token create`: a token with which `sanode --join HOST:PORT --join-token TOKEN`
//! gets its node certificate signed by the cluster (docs/security.md, "Joining with a token").

use std::time::Duration;

use clap::{Args, Subcommand};
use sa_proto::cluster::v1::CreateJoinTokenRequest;
use sa_proto::cluster::v1::cluster_client::ClusterClient;

use super::Target;
use super::config::refused;
use super::connect;

#[derive(Debug, Subcommand)]
pub enum JoinTokenCommand {
    /// Make a join token; the token alone is the last line printed.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// How long the token stays valid.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    /// How many nodes may join with it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub uses: u32,
}

pub async fn run(node: &Target, command: JoinTokenCommand) -> anyhow::Result<()> {
    let JoinTokenCommand::Create(args) = command;
    let reply = ClusterClient::new(connect::channel(node).await?)
        .create_join_token(CreateJoinTokenRequest {
            ttl_seconds: args.ttl.as_secs().max(1),
            uses: args.uses,
        })
        .await
        .map_err(|s| refused(node, s))?
        .into_inner();
    let expires = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_millis(reply.expires_ms),
    );
    println!(
        "join token {}: {} use{}, expires {expires}",
        reply.id,
        args.uses,
        if args.uses == 1 { "" } else { "s" }
    );
    println!("cluster CA sha256 {}", reply.ca_sha256);
    println!("{}", reply.token);
    Ok(())
}
