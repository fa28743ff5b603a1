//! The services records come from, as clusters' `data_sources` and test events name them:
//! StreamAlert's four (docs/spec §8.2) and sa's own `http` and `file` sources. One list for the
//! config check, the test events and the node's sources.

pub const KINESIS: &str = "kinesis";
pub const S3: &str = "s3";
pub const SNS: &str = "sns";
pub const STREAMALERT_APP: &str = "streamalert_app";
pub const HTTP: &str = "http";
pub const FILE: &str = "file";

/// Every service, in the order error messages list them.
pub const ALL: [&str; 6] = [KINESIS, S3, SNS, STREAMALERT_APP, HTTP, FILE];
