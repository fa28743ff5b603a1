//! Shared by the output tests: a sample alert (its output_dict) and one-call delivery.

use sa_outputs::{Delivery, DeliveryOutcome, OutputName, Outputs, OutputsConfig};
use serde_json::{Map, Value, json};

pub const ALERT_ID: &str = "7f6a1f0e-2b5c-4c53-9d3e-0a1b2c3d4e5f";

/// The output_dict() of an alert of the shipped root-account rule.
pub fn alert() -> Value {
    json!({
        "cluster": "prod",
        "context": {},
        "created": "2026-11-28T10:00:00.000000Z",
        "id": ALERT_ID,
        "log_source": "cloudtrail:events",
        "log_type": "json",
        "outputs": ["pagerduty-v2:soc", "slack:security"],
        "publishers": {},
        "record": {
            "eventName": "ConsoleLogin",
            "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"},
            "sourceIPAddress": "198.51.100.7",
            "responseElements": {"ConsoleLogin": "Success"},
            "resources": [],
        },
        "rule_description": "Root account used to log in",
        "rule_name": "cloudtrail_root_account_usage",
        "source_entity": "prod-trail",
        "source_service": "s3",
        "staged": false,
    })
}

/// Outputs with exactly these outputs configured (resource for map-shaped services).
pub fn outputs(configured: &[(&str, Option<&str>)]) -> Outputs {
    Outputs::new(config(configured), sa_aws::AwsTarget::default())
}

pub fn config(configured: &[(&str, Option<&str>)]) -> OutputsConfig {
    let mut config = OutputsConfig::default();
    for (name, resource) in configured {
        let name = OutputName::parse(name).unwrap();
        config.insert(&name, resource.map(str::to_string)).unwrap();
    }
    config
}

pub fn credentials(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

pub async fn deliver(
    outputs: &Outputs,
    output: &str,
    alert: &Value,
    publication: &Value,
    credentials: &Map<String, Value>,
) -> DeliveryOutcome {
    let output = OutputName::parse(output).unwrap();
    let credentials = sa_outputs::credentials_with_defaults(output.service(), credentials);
    let delivery = Delivery {
        alert,
        publication,
        credentials: &credentials,
        resource: None,
    };
    outputs.deliver(&output, &delivery).await
}
