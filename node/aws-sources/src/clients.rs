//! The three clients the readers need, built from one `AwsTarget`.

use aws_config::SdkConfig;
use sa_aws::AwsTarget;

/// Kinesis, S3 and SQS clients sharing one SDK config.
#[derive(Debug, Clone)]
pub struct SourceClients {
    pub kinesis: aws_sdk_kinesis::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl SourceClients {
    /// Clients for `target`. With an endpoint override, S3 uses path-style addressing: an
    /// AWS-compatible endpoint on an IP or `localhost` has no per-bucket host names.
    pub async fn new(target: &AwsTarget) -> SourceClients {
        let config = target.sdk_config().await;
        SourceClients::from_sdk_config(&config, target.endpoint.is_some())
    }

    /// Clients from an already built SDK config (tests give theirs static credentials).
    pub fn from_sdk_config(config: &SdkConfig, s3_path_style: bool) -> SourceClients {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(s3_path_style)
            .build();
        SourceClients {
            kinesis: aws_sdk_kinesis::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }
}
