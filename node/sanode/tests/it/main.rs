//! sa-node's integration tests, one binary: real `sanode` processes on loopback (ingest, batch
//! ids, lifecycle, rule staging, lookup drivers against moto_server, the alerts CLI, systemd's
//! notifications), the Debian package and container files, and the alerts runtime over a real
//! single-node replica.

mod alert_delivery;
mod alerts_cli;
mod batch_id;
mod bundle_limits;
mod first_start;
mod ingest;
mod lookup_drivers;
mod node_lifecycle;
mod packaging;
mod rule_staging;
mod secure_transport;
mod systemd_notify;

/// The node binary of this package.
const SANODE: &str = env!("CARGO_BIN_EXE_sanode");

/// `sactl`, a binary of another package: built by a workspace run (`cargo nextest run
/// --workspace`) or by `cargo build -p sactl`.
fn sactl() -> std::path::PathBuf {
    sa_chaos_tests::workspace_binary("sactl").expect("sactl is built")
}
