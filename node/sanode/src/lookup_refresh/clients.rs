//! The AWS clients the lookup-table drivers download with (docs/spec §14.3: `s3`, `dynamodb`).

use sa_aws::AwsTarget;
use sa_repository::lookup_tables::{TableEntries, TableSource};

use super::{dynamodb, s3};

/// The AWS clients the drivers use, built once from the node's [`AwsTarget`].
#[derive(Clone)]
pub struct DriverClients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl DriverClients {
    pub async fn new(target: &AwsTarget) -> DriverClients {
        let sdk = target.sdk_config().await;
        // Virtual-host addressing needs DNS for `<bucket>.<endpoint>`; an overridden endpoint
        // (moto, MinIO, LocalStack) is a plain host:port.
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(target.endpoint.is_some())
            .build();
        DriverClients {
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        }
    }
}

/// Downloads a table's whole contents from where it lives.
pub async fn fetch(source: &TableSource, clients: &DriverClients) -> anyhow::Result<TableEntries> {
    match source {
        TableSource::S3(table) => s3::fetch(table, &clients.s3).await,
        TableSource::DynamoDb(table) => dynamodb::fetch(table, &clients.dynamodb).await,
    }
}

/// Clients against a test's moto_server with its static test credentials (the environment
/// of a test process is shared by its threads, so it is left alone).
#[cfg(test)]
pub fn test_clients(moto: &sa_chaos_tests::MotoServer) -> DriverClients {
    let sdk = sa_chaos_tests::moto_sdk_config(moto);
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    DriverClients {
        s3: aws_sdk_s3::Client::from_conf(s3),
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
    }
}
