//! `sactl tokens create|revoke`: bearer tokens for automation, which call as a role without a
//! client certificate (HTTP `Authorization: Bearer TOKEN`; docs/security.md, "Bearer tokens").

use std::time::Duration;

use clap::{Args, Subcommand};
use sa_proto::cluster::v1::cluster_client::ClusterClient;
use sa_proto::cluster::v1::{CreateTokenRequest, RevokeTokenRequest};

use super::Target;
use super::config::{Invalid, refused};
use super::connect;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a bearer token; the token alone is the last line printed.
    Create(CreateArgs),
    /// Revoke a bearer token (or, with --join, a join token) by its id.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// viewer, operator, admin or ingest.
    #[arg(long)]
    pub role: String,
    /// A source an `ingest` token may post to (repeat for several).
    #[arg(long = "source")]
    pub sources: Vec<String>,
    /// How long the token stays valid.
    #[arg(long, default_value = "30days", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id (the part after `sat1.` or the id `sactl join-token create` printed).
    pub id: String,
    /// The id is a join token's.
    #[arg(long)]
    pub join: bool,
}

pub async fn run(node: &Target, command: TokensCommand) -> anyhow::Result<()> {
    let mut client = ClusterClient::new(connect::channel(node).await?);
    match command {
        TokensCommand::Create(args) => {
            let reply = client
                .create_token(CreateTokenRequest {
                    role: args.role.clone(),
                    sources: args.sources.clone(),
                    ttl_seconds: args.ttl.as_secs().max(1),
                })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            let expires = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + Duration::from_millis(reply.expires_ms),
            );
            let sources = if args.sources.is_empty() {
                String::new()
            } else {
                format!(" for {}", args.sources.join(", "))
            };
            println!(
                "bearer token {}: role {}{sources}, expires {expires}",
                reply.id, args.role
            );
            println!("{}", reply.token);
        }
        TokensCommand::Revoke(args) => {
            let kind = if args.join { "join" } else { "bearer" };
            let reply = client
                .revoke_token(RevokeTokenRequest {
                    kind: kind.into(),
                    id: args.id.clone(),
                })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            if !reply.revoked {
                return Err(Invalid(format!("no {kind} token {}", args.id)).into());
            }
            println!("revoked {kind} token {}", args.id);
        }
    }
    Ok(())
}
