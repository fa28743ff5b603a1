//! sa-outputs' integration tests, one binary: every HTTP output against a real local receiver,
//! the AWS outputs and the KMS cipher against moto_server, and the shipped conf/outputs.json.
//! `common` holds the sample alert and the one-call delivery the output modules share.

mod common;
mod outcome;

mod aws_outputs;
mod http_outputs;
mod shipped_conf;
