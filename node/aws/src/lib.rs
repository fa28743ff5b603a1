//! One way to build AWS clients for the whole node: credentials and region from the standard
//! AWS chain (env, profile, IMDS...), and an optional endpoint override so the same node runs
//! against AWS or any compatible endpoint (moto_server in tests, LocalStack, MinIO).

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The environment variable that overrides the endpoint of every AWS service sa calls.
pub const ENDPOINT_ENV: &str = "SA_AWS_ENDPOINT";

/// Where sa's AWS clients go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsTarget {
    /// `http(s)://host:port` of an AWS-compatible endpoint; `None` means AWS itself.
    pub endpoint: Option<String>,
    /// A region to use instead of the chain's.
    pub region: Option<String>,
}

impl AwsTarget {
    /// The target named by the environment: `SA_AWS_ENDPOINT` if set and not empty.
    pub fn from_env() -> AwsTarget {
        AwsTarget {
            endpoint: std::env::var(ENDPOINT_ENV).ok().filter(|e| !e.is_empty()),
            region: None,
        }
    }

    pub fn with_endpoint(endpoint: impl Into<String>) -> AwsTarget {
        AwsTarget {
            endpoint: Some(endpoint.into()),
            region: None,
        }
    }

    /// The shared SDK config every service client is built from. The region falls back to
    /// `us-east-1` when neither the target nor the chain names one, as the AWS CLI does for
    /// global services; a missing region must not stop a node that only talks to an endpoint.
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let config = loader.load().await;
        if config.region().is_some() {
            return config;
        }
        config
            .into_builder()
            .region(Region::from_static("us-east-1"))
            .build()
    }
}
