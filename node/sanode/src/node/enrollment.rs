//! A node joining with a token (`--join-token`, docs/security.md "Joining with a token"): it
//! makes its key here (the key never leaves the node), recognises the member it joins through
//! by the CA fingerprint the token carries, and gets a node certificate signed there, with the
//! cluster's data key for output settings.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sa_proto::cluster::v1::JoinWithTokenRequest;
use sa_proto::cluster::v1::cluster_client::ClusterClient;
use sa_tls::CertFiles;
use tonic::transport::{Channel, Endpoint};

use super::NodeArgs;
use super::tokens::{self, JoinToken};
use crate::alerts::cluster_keys;
use sa_outputs::{DataKey, SecretsCipher};
use sa_tls::PinnedServer;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Gets the node its certificate with `--join-token` when it has none yet; does nothing
/// otherwise.
pub async fn enroll_if_needed(args: &NodeArgs) -> anyhow::Result<()> {
    let (Some(text), Some(seed)) = (&args.join_token, &args.join) else {
        return Ok(());
    };
    let files = CertFiles::new(args.certs_dir());
    if files.has_node_cert() {
        tracing::info!(
            certs_dir = %files.dir.display(),
            "this node has a certificate: --join-token is not needed"
        );
        return Ok(());
    }
    let token = JoinToken::parse(text)?;
    let advertised = args
        .advertise_addr
        .clone()
        .unwrap_or_else(|| args.grpc_addr.to_string());
    let addresses = args.served_addresses();
    let (request_pem, key_pem) = sa_tls::node_request(&format!("node {advertised}"))
        .context("cannot make this node's key")?;
    let pinned = PinnedServer::new(&token.ca_sha256)?;
    let channel = pinned_channel(seed, pinned.config.clone()).await?;
    let member_certificate = pinned
        .certificate_sha256()
        .with_context(|| format!("{seed} proved no certificate"))?;
    // The secret stays here: what travels is good only for this member, request and names.
    let proof = tokens::join_proof(
        &tokens::digest(&token.secret),
        &member_certificate,
        &request_pem,
        &addresses,
    );
    let reply = tokio::time::timeout(
        REQUEST_TIMEOUT,
        ClusterClient::new(channel).join_with_token(JoinWithTokenRequest {
            token_id: token.id.clone(),
            proof,
            request_pem,
            addresses,
        }),
    )
    .await
    .with_context(|| format!("{seed} did not answer the join request"))?
    .map_err(|status| anyhow::anyhow!("{seed} refused to join this node: {}", status.message()))?
    .into_inner();
    let ca_sha256 = sa_tls::ca_fingerprint(&reply.ca_pem)?;
    if ca_sha256 != token.ca_sha256 {
        bail!(
            "{seed} answered with a CA whose SHA-256 is {ca_sha256}, the join token names {}",
            token.ca_sha256
        );
    }
    if !reply.data_key.is_empty() {
        keep_data_key(args, &reply.data_key_id, reply.data_key).await?;
    }
    // The certificate last: its presence is what says the directory is complete.
    sa_tls::write_private(&files.ca_cert(), reply.ca_pem.as_bytes())?;
    sa_tls::write_private(&files.key("node"), key_pem.as_bytes())?;
    sa_tls::write_private(&files.cert("node"), reply.certificate_pem.as_bytes())?;
    tracing::info!(
        token = %token.id,
        ca_sha256,
        certs_dir = %files.dir.display(),
        "the cluster signed this node's certificate"
    );
    Ok(())
}

/// Keeps the cluster's data key that came with the certificate, sealed under this node's own
/// key, where the alert runtime looks for it.
async fn keep_data_key(args: &NodeArgs, id: &str, key: Vec<u8>) -> anyhow::Result<()> {
    let key = DataKey::from_bytes(key, id)?;
    let key_file = args.alerts.secrets_key(&args.data_dir);
    let member = SecretsCipher::local(&key_file)
        .with_context(|| format!("cannot use the secrets key {}", key_file.display()))?;
    cluster_keys::seal_to_disk(&member, &cluster_keys::keys_dir(&args.data_dir), &key).await
}

/// A gRPC channel to `seed` over TLS with `config` (a [`PinnedServer`]'s).
async fn pinned_channel(
    seed: &str,
    config: Arc<tokio_rustls::rustls::ClientConfig>,
) -> anyhow::Result<Channel> {
    let host = seed
        .rsplit_once(':')
        .map_or(seed, |(host, _)| host)
        .trim_matches(['[', ']'])
        .to_string();
    let server_name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
        .with_context(|| format!("{seed}: {host} is not a host name or address"))?;
    let address = seed.to_string();
    let connector = tower::service_fn(move |_: http::Uri| {
        let (config, server_name, address) =
            (Arc::clone(&config), server_name.clone(), address.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&address).await?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(server_name, tcp)
                .await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    Endpoint::from_shared(format!("http://{seed}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_with_connector(connector)
        .await
        // `{:#}` of the anyhow error prints its causes: a TLS refusal hides two levels down.
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach {seed} as a member of the cluster the join token names: {:#}",
                anyhow::Error::new(e)
            )
        })
}
