//! What the dispatcher hands an output for one attempt, and what comes back.

use std::time::Duration;

use serde_json::{Map, Value};

/// One alert for one output.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The alert's `output_dict()` (docs/spec §10.2): id, rule_name, rule_description, record, created,
    /// log_source, log_type, cluster, context, outputs, publishers, source_entity,
    /// source_service, staged.
    pub alert: &'a Value,
    /// The publication composed for this output (docs/spec §13.3); the output_dict when the alert has no
    /// publishers. Magic fields `@<service>.<field>` are read from it.
    pub publication: &'a Value,
    /// The output's decrypted credentials, completed with `credentials_with_defaults`.
    pub credentials: &'a Map<String, Value>,
    /// The outputs.json value for map-shaped services (queue, bucket, topic, path...).
    pub resource: Option<&'a str>,
}

/// The result of one delivery attempt; the dispatcher owns retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// A transient failure (timeout, 5xx, 429, throttling): try again, not before `after` when
    /// the service said so.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The service refused the alert; retrying will not help.
    Failed {
        reason: String,
    },
    /// The output cannot work until its configuration is fixed (no AWS credentials or region,
    /// settings missing or undecryptable): every alert to it fails the same way, so the alert
    /// is dead-lettered at once and the node says so once per output. `reason` ends with what
    /// fixes it.
    Misconfigured {
        reason: String,
    },
}

impl DeliveryOutcome {
    pub(crate) fn retry(reason: impl Into<String>) -> DeliveryOutcome {
        DeliveryOutcome::Retry {
            after: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn failed(reason: impl Into<String>) -> DeliveryOutcome {
        DeliveryOutcome::Failed {
            reason: reason.into(),
        }
    }

    pub fn misconfigured(reason: impl Into<String>) -> DeliveryOutcome {
        DeliveryOutcome::Misconfigured {
            reason: reason.into(),
        }
    }
}

/// SQS/SNS FIFO message group and de-duplication ids.
pub(crate) struct FifoKeys {
    pub group: String,
    pub deduplication: String,
}

/// Inside an output: `?` stops at the first attempt-ending outcome.
pub(crate) type Step<T> = Result<T, DeliveryOutcome>;

pub(crate) fn outcome(result: Step<()>) -> DeliveryOutcome {
    match result {
        Ok(()) => DeliveryOutcome::Delivered,
        Err(outcome) => outcome,
    }
}

/// What `record()` gives for an alert without one.
static NO_RECORD: Value = Value::Null;

impl<'a> Delivery<'a> {
    /// A string field of the alert, `""` when absent or null (as output_dict() renders None).
    pub(crate) fn alert_str(&self, key: &str) -> &'a str {
        self.alert.get(key).and_then(Value::as_str).unwrap_or("")
    }

    pub(crate) fn alert_id(&self) -> &'a str {
        self.alert_str("id")
    }

    pub(crate) fn rule_name(&self) -> &'a str {
        self.alert_str("rule_name")
    }

    pub(crate) fn rule_description(&self) -> &'a str {
        self.alert_str("rule_description")
    }

    /// The alert's record (not the publication's).
    pub(crate) fn record(&self) -> &'a Value {
        self.alert.get("record").unwrap_or(&NO_RECORD)
    }

    /// `alert.context[key]`, if present.
    pub(crate) fn context(&self, key: &str) -> Option<&'a Value> {
        self.alert.get("context")?.get(key)
    }

    /// The magic field `@<service>.<field>` of the publication.
    pub(crate) fn magic(&self, service: &str, field: &str) -> Option<&'a Value> {
        self.publication
            .as_object()?
            .get(&format!("@{service}.{field}"))
            .filter(|v| !v.is_null())
    }

    /// A magic string field, or the default.
    pub(crate) fn magic_str(
        &self,
        service: &str,
        field: &str,
        default: impl Into<String>,
    ) -> String {
        match self.magic(service, field) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => crate::format::python_str(other),
            None => default.into(),
        }
    }

    /// A required credential; its absence fails the attempt with the property's name.
    pub(crate) fn credential(&self, service: &str, name: &str) -> Step<&'a str> {
        self.optional_credential(name).ok_or_else(|| {
            DeliveryOutcome::misconfigured(format!(
                "{service}: credential {name:?} is not set (sactl outputs set {service}:DESCRIPTOR {name}=...)"
            ))
        })
    }

    pub(crate) fn optional_credential(&self, name: &str) -> Option<&'a str> {
        self.credentials
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Message group and de-duplication ids for FIFO queues and topics: the rule (alerts of a
    /// rule stay in order) and the alert id, hashed when it is not a valid id (at most 128
    /// characters of letters, digits and punctuation).
    pub(crate) fn fifo_keys(&self) -> FifoKeys {
        let valid = |id: &str| {
            !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic())
        };
        let hashed = |id: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()));
        let group = self.rule_name();
        let id = self.alert_id();
        FifoKeys {
            group: if valid(group) {
                group.to_string()
            } else {
                hashed(group)
            },
            deduplication: if valid(id) {
                id.to_string()
            } else {
                hashed(id)
            },
        }
    }

    pub(crate) fn require_resource(&self, service: &str) -> Step<&'a str> {
        self.resource.filter(|r| !r.is_empty()).ok_or_else(|| {
            DeliveryOutcome::failed(format!(
                "{service}: no resource configured in conf/outputs.json"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fifo_keys_are_valid_sqs_ids() {
        let credentials = Map::new();
        let keys = |alert: &Value| {
            Delivery {
                alert,
                publication: alert,
                credentials: &credentials,
                resource: None,
            }
            .fifo_keys()
        };
        let plain = keys(&json!({"id": "abc-123", "rule_name": "rule_a"}));
        assert_eq!(
            (plain.group.as_str(), plain.deduplication.as_str()),
            ("rule_a", "abc-123")
        );
        let odd = keys(&json!({"id": "x".repeat(200), "rule_name": "with space"}));
        assert_eq!(odd.deduplication.len(), 64);
        assert_eq!(odd.group.len(), 64);
        assert!(odd.group.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
