//! Opsgenie Alerts API v2: `alias` = alert id, so a resent alert updates the open alert
//! instead of opening another.

use serde_json::{Map, Value, json};

use crate::delivery::{Delivery, Step};
use crate::format::{Dumps, dumps, elide_middle, python_str};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, optional, secret};

const SERVICE: &str = "opsgenie";
/// Opsgenie's field limits.
const MAX_MESSAGE: usize = 130;
const MAX_DESCRIPTION: usize = 15000;

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        secret("api_key", "Opsgenie API integration key"),
        optional(
            "url",
            "API base URL (default https://api.opsgenie.com; EU: https://api.eu.opsgenie.com)",
        ),
    ],
    defaults: &[("url", "https://api.opsgenie.com")],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let base = d.credential(SERVICE, "url")?.trim_end_matches('/');
    let api_key = d.credential(SERVICE, "api_key")?;
    let body = alert(d);
    let url = format!("{base}/v2/alerts");
    out.send(SERVICE, |c| {
        c.post(&url)
            .header("Authorization", format!("GenieKey {api_key}"))
            .json(&body)
    })
    .await?;
    Ok(())
}

fn alert(d: &Delivery<'_>) -> Value {
    let message = d.magic_str(
        SERVICE,
        "message",
        format!("StreamAlert Rule Triggered - {}", d.rule_name()),
    );
    let description = d.magic_str(SERVICE, "description", d.rule_description());
    let details = match d.magic(SERVICE, "details") {
        Some(Value::Object(given)) => given
            .iter()
            .map(|(k, v)| (k.clone(), json!(python_str(v))))
            .collect(),
        _ => default_details(d),
    };
    let tags = d
        .magic(SERVICE, "tags")
        .cloned()
        .unwrap_or_else(|| json!([d.rule_name()]));
    let mut body = json!({
        "message": elide_middle(&message, MAX_MESSAGE),
        "alias": d.alert_id(),
        "description": elide_middle(&description, MAX_DESCRIPTION),
        "details": details,
        "tags": tags,
        "entity": d.alert_str("log_source"),
        "source": "sa",
        "priority": d.magic_str(SERVICE, "priority", "P3"),
    });
    if let Some(responders) = d.magic(SERVICE, "responders") {
        body["responders"] = responders.clone();
    }
    body
}

/// Opsgenie details are string → string: the alert's identity and its record as JSON.
fn default_details(d: &Delivery<'_>) -> Map<String, Value> {
    let mut details = Map::new();
    for key in [
        "rule_name",
        "log_source",
        "source_entity",
        "source_service",
        "cluster",
        "created",
    ] {
        details.insert(key.into(), json!(d.alert_str(key)));
    }
    details.insert("record".into(), json!(dumps(d.record(), Dumps::COMPACT)));
    details
}
