//! sa-aws's integration tests, one binary: a client built from an `AwsTarget` really sends its
//! requests to the overridden endpoint.

mod endpoint;
