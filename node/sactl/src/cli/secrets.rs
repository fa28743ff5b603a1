//! `sactl secrets rotate`: a new cluster data key for output settings, and every output's
//! settings sealed again under it (docs/security.md, "Output secrets").

use clap::Subcommand;
use sa_proto::alerts::v1::RotateSecretsRequest;

use super::Target;
use super::config::refused;
use super::connect;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Put a new data key in use and re-encrypt every output's settings under it.
    Rotate,
}

pub async fn run(node: &Target, command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::Rotate => {
            let reply = connect::alerts(node)
                .await?
                .rotate_secrets(RotateSecretsRequest {})
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            println!("re-encrypted the settings of {} outputs", reply.resealed);
            println!("settings encrypted with {}", reply.cipher);
        }
    }
    Ok(())
}
