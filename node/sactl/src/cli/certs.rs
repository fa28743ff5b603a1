//! `sactl certs`: the cluster's CA and the certificates it signs, made in-process (no OpenSSL
//! commands), in the manner of `cockroach cert`. Every file is written with mode 0600. `revoke`
//! is the one that talks to the cluster: it adds a serial to the deny list.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use sa_proto::cluster::v1::RevokeCertificateRequest;
use sa_proto::cluster::v1::cluster_client::ClusterClient;
use sa_tls::{CertFiles, Lifetime, NodeNames, Role, ca_fingerprint, certs_in_dir};

use super::Target;
use super::config::refused;
use super::connect;

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create the cluster CA: ca.crt and ca.key in --ca-dir. Keep ca.key off the nodes if
    /// you issue certificates elsewhere.
    CreateCa(CreateCaArgs),
    /// Create a node certificate (node.crt, node.key, and ca.crt) in --out, valid for every
    /// address given.
    CreateNode(CreateNodeArgs),
    /// Create a client certificate NAME.crt and NAME.key in --out, for a role.
    CreateClient(CreateClientArgs),
    /// List the certificates of a directory with their role and expiry.
    List(ListArgs),
    /// Revoke a certificate by its serial (as `list` shows it): every node refuses it from
    /// then on, whatever its expiry.
    Revoke { serial: String },
}

#[derive(Debug, Args)]
pub struct CreateCaArgs {
    /// Directory to write ca.crt and ca.key to.
    #[arg(long)]
    pub ca_dir: PathBuf,
    /// How long the CA stays valid.
    #[arg(long, default_value = "3650d", value_parser = humantime::parse_duration)]
    pub lifetime: Duration,
}

#[derive(Debug, Args)]
pub struct CreateNodeArgs {
    /// Every address (HOST or HOST:PORT) the node listens on or advertises; localhost and
    /// 127.0.0.1 are always included.
    #[arg(required = true)]
    pub addresses: Vec<String>,
    /// Directory holding ca.crt and ca.key.
    #[arg(long)]
    pub ca_dir: PathBuf,
    /// Directory to write node.crt, node.key and ca.crt to (the node's --certs-dir).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "730d", value_parser = humantime::parse_duration)]
    pub lifetime: Duration,
    /// Replace existing node.crt and node.key (a renewal: the node reloads them by itself).
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct CreateClientArgs {
    /// Name of the holder (the certificate's subject, shown in the audit log).
    pub name: String,
    #[arg(long, value_parser = ["viewer", "operator", "admin", "ingest"])]
    pub role: String,
    /// For role ingest: a source it may post to (repeat for several).
    #[arg(long = "source")]
    pub sources: Vec<String>,
    /// Directory holding ca.crt and ca.key.
    #[arg(long)]
    pub ca_dir: PathBuf,
    /// Directory to write NAME.crt and NAME.key (and ca.crt) to.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "730d", value_parser = humantime::parse_duration)]
    pub lifetime: Duration,
    /// Replace existing files of that name.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Directory to list [default: sactl's certificates directory, see --certs-dir].
    pub dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(node: &Target, command: CertsCommand) -> anyhow::Result<()> {
    match command {
        CertsCommand::Revoke { serial } => {
            let reply = ClusterClient::new(connect::channel(node).await?)
                .revoke_certificate(RevokeCertificateRequest {
                    serial: serial.clone(),
                })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            if reply.revoked {
                println!("revoked certificate {serial}");
            } else {
                println!("certificate {serial} was revoked already");
            }
        }
        CertsCommand::CreateCa(args) => {
            let files = CertFiles::new(&args.ca_dir);
            files.create_authority(Lifetime(args.lifetime))?;
            println!("wrote {}", files.ca_cert().display());
            println!("wrote {}", files.ca_key().display());
        }
        CertsCommand::CreateNode(args) => {
            let authority = CertFiles::new(&args.ca_dir).authority()?;
            let out = CertFiles::new(&args.out);
            refuse_overwrite(&out, "node", args.overwrite)?;
            let names = NodeNames::from_addresses(args.addresses.iter().map(String::as_str));
            let pair = authority
                .issue_node("node", &names, Lifetime(args.lifetime))
                .context("cannot issue the node certificate")?;
            out.write_pair("node", &authority, pair)?;
            println!(
                "wrote {} for {}",
                out.cert("node").display(),
                names.0.join(", ")
            );
        }
        CertsCommand::CreateClient(args) => {
            let role: Role = args.role.parse()?;
            if role == Role::Ingest && args.sources.is_empty() {
                anyhow::bail!("--role ingest needs at least one --source it may post to");
            }
            if role != Role::Ingest && !args.sources.is_empty() {
                anyhow::bail!("--source applies to --role ingest only");
            }
            let authority = CertFiles::new(&args.ca_dir).authority()?;
            let out = CertFiles::new(&args.out);
            refuse_overwrite(&out, &args.name, args.overwrite)?;
            let pair = authority
                .issue_client(&args.name, role, &args.sources, Lifetime(args.lifetime))
                .context("cannot issue the client certificate")?;
            out.write_pair(&args.name, &authority, pair)?;
            println!(
                "wrote {} and {} (role {role})",
                out.cert(&args.name).display(),
                out.key(&args.name).display()
            );
        }
        CertsCommand::List(args) => {
            let dir = args.dir.or_else(|| node.certs_dir()).ok_or_else(|| {
                anyhow::anyhow!("no certificates directory: give one, or --certs-dir")
            })?;
            list(&dir, args.json)?;
        }
    }
    Ok(())
}

fn refuse_overwrite(out: &CertFiles, name: &str, overwrite: bool) -> anyhow::Result<()> {
    let cert = out.cert(name);
    if cert.exists() && !overwrite {
        anyhow::bail!(
            "{} already exists: give --overwrite to replace it",
            cert.display()
        );
    }
    Ok(())
}

fn list(dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let found = certs_in_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut rows = Vec::new();
    for (path, summary) in found {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        rows.push(match summary {
            Ok(cert) => serde_json::json!({
                "file": file,
                "subject": cert.subject,
                "role": if cert.is_ca { Some("ca".to_string()) } else { cert.role },
                "sources": cert.sources,
                "names": cert.names,
                "serial": cert.serial,
                "not_after": humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + Duration::from_secs(cert.not_after.max(0) as u64)
                ).to_string(),
                "expires_in_days": (cert.not_after - now).div_euclid(86_400),
                "expired": cert.not_after < now,
                // What an operator compares before trusting a CA handed to them.
                "sha256": if cert.is_ca {
                    std::fs::read_to_string(&path).ok().and_then(|pem| ca_fingerprint(&pem).ok())
                } else {
                    None
                },
            }),
            Err(e) => serde_json::json!({ "file": file, "error": e.to_string() }),
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<16} {:<20} {:<9} {:<21} {:>6}  NAMES",
        "FILE", "SUBJECT", "ROLE", "EXPIRES", "DAYS"
    );
    for row in rows {
        if let Some(error) = row.get("error") {
            println!("{:<16} unreadable: {}", row["file"].as_str().unwrap_or(""), error);
            continue;
        }
        let text = |key: &str| row[key].as_str().unwrap_or("-").to_string();
        let mut names: Vec<String> = row["names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        names.extend(
            row["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(|s| format!("source:{s}"))),
        );
        let days = row["expires_in_days"].as_i64().unwrap_or_default();
        println!(
            "{:<16} {:<20} {:<9} {:<21} {:>6}  {}{}",
            text("file"),
            text("subject"),
            text("role"),
            text("not_after"),
            days,
            names.join(","),
            if days < 0 { "  EXPIRED" } else { "" }
        );
    }
    Ok(())
}
