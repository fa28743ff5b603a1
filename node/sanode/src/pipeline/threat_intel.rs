//! Threat intelligence in the node (docs/spec §9.9): before the rules see a part of a batch, the
//! normalized values of its records are looked up in the IOC table (DynamoDB, hash key
//! `ioc_value`), and the values it knows are added under `streamalert:ioc`. The lookup runs on
//! the node's runtime while the classifier thread that classified the part waits; never on the
//! rules thread, so a slow table does not stall Python.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use sa_aws::AwsTarget;
use sa_engine::ClassifiedRecord;
use sa_rules::threat_intel::{IOC_QUERY_CHUNK, ThreatIntelConfig};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

/// docs/spec §9.9 step 3: unprocessed keys are asked for again twice.
const UNPROCESSED_RETRIES: u32 = 2;

pub struct ThreatIntel {
    config: ThreatIntelConfig,
    client: OnceCell<aws_sdk_dynamodb::Client>,
}

impl ThreatIntel {
    pub fn new(config: ThreatIntelConfig) -> Self {
        ThreatIntel {
            config,
            client: OnceCell::new(),
        }
    }

    /// Adds what the IOC table knows to `records`. A table that cannot be read is logged and
    /// the records go on without IOC information, as in StreamAlert: the rules still run.
    pub async fn enrich(&self, mut records: Vec<ClassifiedRecord>) -> Vec<ClassifiedRecord> {
        let mut maps: Vec<&mut Map<String, Value>> =
            records.iter_mut().map(|r| &mut r.record).collect();
        let lookups = self.config.lookups(&maps);
        let values = lookups.values();
        if values.is_empty() {
            return records;
        }
        match self.known(&values).await {
            Ok(known) => {
                lookups.apply(&mut maps, &known);
            }
            Err(error) => tracing::warn!(
                table = %self.config.table_name,
                %error,
                "threat intel lookup failed; the rules see these records without IOC matches"
            ),
        }
        records
    }

    async fn known(&self, values: &[String]) -> anyhow::Result<HashSet<String>> {
        let client = self
            .client
            .get_or_init(|| async {
                aws_sdk_dynamodb::Client::new(&AwsTarget::from_env().sdk_config().await)
            })
            .await;
        let mut known = HashSet::new();
        for chunk in values.chunks(IOC_QUERY_CHUNK) {
            known.extend(self.batch_get(client, chunk).await?);
        }
        Ok(known)
    }

    /// One `BatchGetItem` of at most 100 values, with unprocessed keys asked for again.
    async fn batch_get(
        &self,
        client: &aws_sdk_dynamodb::Client,
        values: &[String],
    ) -> anyhow::Result<Vec<String>> {
        let table = &self.config.table_name;
        let mut keys = values
            .iter()
            .map(|value| {
                HashMap::from([("ioc_value".to_owned(), AttributeValue::S(value.clone()))])
            })
            .collect::<Vec<_>>();
        let mut known = Vec::new();
        for attempt in 0..=UNPROCESSED_RETRIES {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("ioc_value")
                .build()?;
            let reply = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("dynamodb table {table}: {}", DisplayErrorContext(e))
                })?;
            known.extend(
                reply
                    .responses()
                    .and_then(|tables| tables.get(table))
                    .into_iter()
                    .flatten()
                    .filter_map(|item| match item.get("ioc_value") {
                        Some(AttributeValue::S(value)) => Some(value.clone()),
                        _ => None,
                    }),
            );
            keys = reply
                .unprocessed_keys()
                .and_then(|tables| tables.get(table))
                .map(|left| left.keys().to_vec())
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(known);
            }
            if attempt < UNPROCESSED_RETRIES {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
        anyhow::bail!(
            "dynamodb table {table}: {} keys still unprocessed after {UNPROCESSED_RETRIES} retries",
            keys.len()
        )
    }
}
