//! sa-aws-sources' integration tests, one binary: the Kinesis shard readers and the S3-via-SQS
//! reader against a real moto_server, throttling and expired iterators against a scripted
//! loopback Kinesis, and clients built from an `AwsTarget`. `common` holds the moto_server and
//! clients the moto modules share (the kinesis_read bench includes it too).

mod common;

mod clients_from_target;
mod kinesis_moto;
mod kinesis_throttling;
mod s3_moto;
