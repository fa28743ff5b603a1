//! sa-proto's integration tests, one binary: the generated services answer over a real loopback
//! gRPC connection.

mod cluster_roundtrip;
