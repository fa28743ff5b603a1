//! Test support for sa: real `sanode` processes on loopback, and the faults to throw at them.

pub mod aws_sources;
pub mod bench;
mod binaries;
mod cluster;
mod http_receiver;
mod moto;
mod node_process;
mod ports;
mod repository;
mod wait;

pub use binaries::{repository_root, workspace_binary};
pub use cluster::{TestCluster, issue_node_certs};
pub use http_receiver::{HttpReceiver, ReceivedRequest, Reply};
pub use moto::{MOTO_REGION, MotoServer, endpoint_sdk_config, moto_sdk_config};
pub use node_process::{Connection, NodeHttp, NodeOptions, NodeProcess, http_get, http_post};
pub use ports::free_loopback_port;
pub use repository::{copy_tree, enable_rule_staging, probe_repository, write_repository};
pub use wait::wait_for;
