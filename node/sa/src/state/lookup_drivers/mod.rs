//! Lookup tables whose contents live outside the cluster (docs/spec §14.3: `s3`, `dynamodb`):
//! how `conf/lookup_tables.json` declares them and how their contents are downloaded.

mod config;
mod dynamodb;
mod s3;

use std::collections::BTreeMap;

use sa_aws::AwsTarget;
use serde_json::Value;

pub use config::{RefreshedTable, TableSource, refreshed_tables};
pub use dynamodb::DynamoTable;
pub use s3::S3Table;

/// A table's whole contents, sorted by key (the order the replicated state stores them in).
pub type TableEntries = BTreeMap<String, Value>;

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

impl TableSource {
    pub async fn fetch(&self, clients: &DriverClients) -> anyhow::Result<TableEntries> {
        match self {
            TableSource::S3(table) => table.fetch(&clients.s3).await,
            TableSource::DynamoDb(table) => table.fetch(&clients.dynamodb).await,
        }
    }
}

/// Clients against a test's moto_server with its static test credentials (the environment
/// of a test process is shared by its threads, so it is left alone).
#[cfg(test)]
pub fn test_clients(moto: &sa_chaos_tests::MotoServer) -> DriverClients {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let credentials = Credentials::new("testing", "testing", None, None, "moto");
    let region = Region::new(sa_chaos_tests::MOTO_REGION);
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(credentials.clone())
        .region(region.clone())
        .endpoint_url(moto.endpoint())
        .force_path_style(true)
        .build();
    let dynamodb = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(region)
        .endpoint_url(moto.endpoint())
        .build();
    DriverClients {
        s3: aws_sdk_s3::Client::from_conf(s3),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb),
    }
}
