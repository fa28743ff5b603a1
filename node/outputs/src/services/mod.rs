//! One module per output service, each making the requests of docs/spec §12.6.

pub(crate) mod aws_cloudwatch_log;
pub(crate) mod aws_firehose;
pub(crate) mod aws_lambda;
pub(crate) mod aws_s3;
pub(crate) mod aws_ses;
pub(crate) mod aws_sns;
pub(crate) mod aws_sqs;
pub(crate) mod carbonblack;
pub(crate) mod demisto;
pub(crate) mod file;
pub(crate) mod github;
pub(crate) mod jira;
pub(crate) mod komand;
pub(crate) mod opsgenie;
pub(crate) mod pagerduty;
pub(crate) mod pagerduty_incident;
pub(crate) mod phantom;
pub(crate) mod slack;
pub(crate) mod teams;
pub(crate) mod victorops;
pub(crate) mod webhook;
