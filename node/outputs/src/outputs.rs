//! `Outputs`: delivers one alert to one configured output, one attempt per call. Clients are
//! built on first use, so a node without any AWS output never loads AWS credentials.

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use sa_aws::AwsTarget;
use tokio::sync::{Mutex, OnceCell};

use crate::OutputName;
use crate::config::OutputsConfig;
use crate::delivery::{Delivery, DeliveryOutcome, Step, outcome};
use crate::http::{self, HttpReply};
use crate::service::{self, KNOWN_SERVICES};

/// An AWS call that takes longer is abandoned and retried by the dispatcher.
const AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long pagerduty-incident waits between looks for the incident its event created.
const INCIDENT_POLL_INTERVAL: Duration = Duration::from_secs(5);

pub struct Outputs {
    config: OutputsConfig,
    aws: AwsTarget,
    http: OnceLock<Result<reqwest::Client, String>>,
    sdk: OnceCell<SdkConfig>,
    request_timeout: Option<Duration>,
    incident_poll_interval: Duration,
    /// Serializes appends so two alerts never interleave within a line.
    file_append: Mutex<()>,
    /// The directory `file` outputs must write under (a node's `--file-output-dir`).
    file_root: Option<std::path::PathBuf>,
    /// AWS credentials were found once: a provider failing after that is a hiccup to retry,
    /// not a node without credentials.
    aws_credentials_found: std::sync::atomic::AtomicBool,
}

impl Outputs {
    pub fn new(config: OutputsConfig, aws: AwsTarget) -> Outputs {
        Outputs {
            config,
            aws,
            http: OnceLock::new(),
            sdk: OnceCell::new(),
            request_timeout: None,
            incident_poll_interval: INCIDENT_POLL_INTERVAL,
            file_append: Mutex::new(()),
            file_root: None,
            aws_credentials_found: Default::default(),
        }
    }

    /// As `new`, with AWS clients built from this config instead of the target's chain (a node
    /// that already loaded one; tests with static credentials).
    pub fn from_sdk_config(config: OutputsConfig, sdk: SdkConfig) -> Outputs {
        Outputs {
            sdk: OnceCell::new_with(Some(one_attempt(sdk))),
            ..Outputs::new(config, AwsTarget::default())
        }
    }

    /// One timeout for every HTTP request instead of each service's (3.05 s; VictorOps 10 s;
    /// Teams 60 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Outputs {
        self.request_timeout = Some(timeout);
        self
    }

    /// The pause between pagerduty-incident's looks for its incident (5 s, five looks).
    pub fn with_incident_poll_interval(mut self, interval: Duration) -> Outputs {
        self.incident_poll_interval = interval;
        self
    }

    /// Confines `file` outputs to `root`: relative paths are taken under it, and a path that
    /// leaves it (`..`, an absolute path elsewhere, a symbolic link) fails the delivery.
    pub fn with_file_root(mut self, root: impl Into<std::path::PathBuf>) -> Outputs {
        self.file_root = Some(root.into());
        self
    }

    pub(crate) fn file_root(&self) -> Option<&std::path::Path> {
        self.file_root.as_deref()
    }

    pub fn config(&self) -> &OutputsConfig {
        &self.config
    }

    /// Makes one attempt to deliver the alert to the output. Never panics, never retries.
    pub async fn deliver(&self, output: &OutputName, delivery: &Delivery<'_>) -> DeliveryOutcome {
        let Some(spec) = service::spec(output.service()) else {
            return DeliveryOutcome::failed(format!(
                "{output}: unknown output service; known services: {}",
                KNOWN_SERVICES.join(", ")
            ));
        };
        if !self.config.contains(output) {
            return DeliveryOutcome::failed(format!(
                "{output} is not configured in conf/outputs.json"
            ));
        }
        let resource = delivery.resource.or_else(|| self.config.resource(output));
        let delivery = Delivery {
            resource,
            ..*delivery
        };
        let result = (spec.deliver)(self, output, &delivery).await;
        if let Err(failure) = &result {
            tracing::debug!(output = %output, alert = delivery.alert_id(), ?failure, "delivery attempt failed");
        }
        self.judge_aws(output, outcome(result))
    }

    /// AWS's SDK reports a node with no region, or with no credentials anywhere in its provider
    /// chain, as a dispatch failure like any network error; no retry can fix either. The chain
    /// reaches the EC2 instance role last, so IMDS refusing its token (403, "IMDS is disabled")
    /// also means that no provider has credentials.
    fn judge_aws(&self, output: &OutputName, outcome: DeliveryOutcome) -> DeliveryOutcome {
        use std::sync::atomic::Ordering;
        if !output.service().starts_with("aws-") {
            return outcome;
        }
        let replay = format!("then `sactl dead-letters replay --output {output}`");
        match outcome {
            DeliveryOutcome::Delivered => {
                self.aws_credentials_found.store(true, Ordering::Relaxed);
                outcome
            }
            DeliveryOutcome::Retry { reason, .. } if reason.contains("Missing Region") => {
                DeliveryOutcome::misconfigured(format!(
                    "{reason}: no AWS region is configured for this node; set AWS_REGION (or a \
                     region in its AWS profile) in its environment and restart it, {replay}"
                ))
            }
            DeliveryOutcome::Retry { reason, .. }
                if (reason.contains("no credentials found in chain")
                    || reason.contains("no identity resolver")
                    || reason.contains("IMDS is disabled"))
                    && !self.aws_credentials_found.load(Ordering::Relaxed) =>
            {
                DeliveryOutcome::misconfigured(format!(
                    "{reason}: this node has no AWS credentials; give it some (environment, \
                     profile, web identity, ECS task or EC2 instance role), {replay}"
                ))
            }
            other => other,
        }
    }

    pub(crate) fn client(&self) -> Step<&reqwest::Client> {
        let client = self.http.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(http::DEFAULT_TIMEOUT)
                // drop idle connections before servers do (load balancers: 60 s), so an alert
                // after a quiet spell is not sent on a connection the server is closing
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .user_agent(concat!("sa-outputs/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        });
        client
            .as_ref()
            .map_err(|e| DeliveryOutcome::failed(format!("cannot build the HTTP client: {e}")))
    }

    pub(crate) fn timeout(&self, service_default: Duration) -> Duration {
        self.request_timeout.unwrap_or(service_default)
    }

    /// Sends a request built on the shared client; `Ok` only for 2xx.
    pub(crate) async fn send(
        &self,
        service: &str,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Step<HttpReply> {
        self.send_accepting(service, &[], build).await
    }

    /// As `send`, also taking the statuses in `accept` as answers (a 404 that means "absent").
    pub(crate) async fn send_accepting(
        &self,
        service: &str,
        accept: &[u16],
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Step<HttpReply> {
        self.send_within(service, accept, http::DEFAULT_TIMEOUT, build)
            .await
    }

    /// As `send_accepting`, with the service's own timeout (Teams, VictorOps).
    pub(crate) async fn send_within(
        &self,
        service: &str,
        accept: &[u16],
        service_timeout: Duration,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Step<HttpReply> {
        let client = self.client()?;
        let request = build(client).timeout(self.timeout(service_timeout));
        http::send(client, service, request, accept).await
    }

    pub(crate) async fn sdk_config(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async { one_attempt(self.aws.sdk_config().await) })
            .await
    }

    pub(crate) fn incident_poll_interval(&self) -> Duration {
        self.incident_poll_interval
    }

    pub(crate) async fn lock_file_appends(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.file_append.lock().await
    }
}

/// The SDK's own retries are off: the dispatcher owns retries, and an attempt must be one
/// request so that its outcome (and the time it takes) means what it says.
fn one_attempt(sdk: SdkConfig) -> SdkConfig {
    sdk.into_builder()
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(http::DEFAULT_TIMEOUT)
                .operation_timeout(AWS_OPERATION_TIMEOUT)
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: T) {}

    /// The dispatcher shares one `Outputs` between tasks and spawns deliveries.
    #[test]
    fn outputs_can_be_shared_and_deliveries_spawned() {
        let outputs = Outputs::new(OutputsConfig::default(), AwsTarget::default());
        assert_send_sync(&outputs);
        let name = OutputName::parse("slack:x").unwrap();
        let value = serde_json::json!({});
        let credentials = serde_json::Map::new();
        let delivery = Delivery {
            alert: &value,
            publication: &value,
            credentials: &credentials,
            resource: None,
        };
        assert_send(outputs.deliver(&name, &delivery));
    }
}
