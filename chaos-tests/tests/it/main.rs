//! sa's cluster tests, one binary: real `sanode` processes (three-node clusters on loopback,
//! moto_server for AWS, local HTTP receivers) under kill -9, restarts, wiped disks, failing
//! outputs and leader changes, checked for what the cluster promises: nothing acknowledged is
//! lost, no alert is delivered twice after its success was recorded.

mod alert_delivery;
mod audit_trail;
mod cluster_membership;
mod cluster_state;
mod crash_recovery;
mod durability;
mod file_source;
mod join_tokens;
mod kinesis_source;
mod large_entries;
mod rule_staging;
mod s3_source;
mod terraform_aws;
