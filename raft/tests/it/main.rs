//! sa-raft's integration tests, one binary: replicas in one process talking real gRPC over
//! loopback (replication, forwarding, conditional writes, failover, restart, snapshot catch-up).

mod cluster;
