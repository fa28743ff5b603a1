//! PagerDuty Events API v1 (`pagerduty`) and v2 (`pagerduty-v2`); the v2 event is shared with
//! `pagerduty-incident`.

use serde_json::{Map, Value, json};

use crate::OutputName;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, optional, secret};

const SERVICE: &str = "pagerduty";
const SERVICE_V2: &str = "pagerduty-v2";

/// `pagerduty`: Events API v1.
pub(crate) const V1: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        secret("service_key", "Events API v1 integration key"),
        optional("url", "Events API v1 URL"),
    ],
    defaults: &[(
        "url",
        "https://events.pagerduty.com/generic/2010-04-15/create_event.json",
    )],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver_v1(out, d)),
};

/// `pagerduty-v2`: Events API v2.
pub(crate) const V2: OutputSpec = OutputSpec {
    name: SERVICE_V2,
    properties: &[
        secret("routing_key", "Events API v2 integration key"),
        optional("url", "Events API v2 URL"),
    ],
    defaults: &[("url", "https://events.pagerduty.com/v2/enqueue")],
    resource: ResourceShape::None,
    deliver: |out, output, d| Box::pin(deliver_v2(out, output, d)),
};

async fn deliver_v1(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let url = d.credential(SERVICE, "url")?;
    let service_key = d.credential(SERVICE, "service_key")?;
    let description = d.magic_str(
        SERVICE,
        "description",
        format!("StreamAlert Rule Triggered - {}", d.rule_name()),
    );
    let details = d
        .magic(SERVICE, "details")
        .cloned()
        .unwrap_or_else(|| json!({"description": d.rule_description(), "record": d.record()}));
    let client_url = d.magic_str(SERVICE, "client_url", "");
    let contexts = valid_contexts(d.magic(SERVICE, "contexts"));
    let body = json!({
        "service_key": service_key, "event_type": "trigger", "description": description,
        "details": details, "client": "streamalert", "client_url": client_url,
        "contexts": contexts,
        // v1 de-duplicates on incident_key: a resent alert re-triggers the same incident
        "incident_key": d.alert_id(),
    });
    let reply = out.send(SERVICE, |c| c.post(url).json(&body)).await?;
    match reply.json() {
        Some(Value::Object(answer)) if !answer.is_empty() => Ok(()),
        _ => Err(DeliveryOutcome::failed(format!(
            "{SERVICE}: HTTP {} without a JSON answer",
            reply.status
        ))),
    }
}

fn valid_contexts(contexts: Option<&Value>) -> Vec<Value> {
    let Some(Value::Array(contexts)) = contexts else {
        return Vec::new();
    };
    contexts
        .iter()
        .filter(|c| match c.get("type").and_then(Value::as_str) {
            Some("link") => c.get("href").is_some() && c.get("text").is_some(),
            Some("image") => c.get("src").is_some(),
            _ => false,
        })
        .cloned()
        .collect()
}

async fn deliver_v2(out: &Outputs, output: &OutputName, d: &Delivery<'_>) -> Step<()> {
    let url = d.credential(SERVICE_V2, "url")?;
    let routing_key = d.credential(SERVICE_V2, "routing_key")?;
    let event = events_v2(d, routing_key, &dedup_key(output, d), true);
    out.send(SERVICE_V2, |c| c.post(url).json(&event)).await?;
    Ok(())
}

/// PagerDuty de-duplicates on this key, so a resent alert never opens a second incident.
pub(crate) fn dedup_key(output: &OutputName, d: &Delivery<'_>) -> String {
    format!("{}:{}", output.descriptor(), d.alert_id())
}

/// The Events API v2 trigger event, magic fields under `@pagerduty-v2.`.
pub(crate) fn events_v2(
    d: &Delivery<'_>,
    routing_key: &str,
    dedup_key: &str,
    with_record: bool,
) -> Value {
    const MAGIC: &str = "pagerduty-v2";
    let summary = d.magic_str(
        MAGIC,
        "summary",
        format!("StreamAlert Rule Triggered - {}", d.rule_name()),
    );
    let details = d
        .magic(MAGIC, "custom_details")
        .cloned()
        .unwrap_or_else(|| {
            let mut details = Map::new();
            details.insert("description".into(), json!(d.rule_description()));
            if with_record {
                details.insert("record".into(), d.record().clone());
            }
            Value::Object(details)
        });
    let severity = d.magic_str(MAGIC, "severity", "critical");
    let optional = |field: &str| d.magic(MAGIC, field).cloned().unwrap_or(Value::Null);
    let images: Vec<Value> = list(d.magic(MAGIC, "images"))
        .filter_map(|image| {
            let src = image.get("src")?;
            Some(json!({"src": src, "href": or_empty(image.get("href")), "alt": or_empty(image.get("alt"))}))
        })
        .collect();
    let links: Vec<Value> = list(d.magic(MAGIC, "links"))
        .filter_map(|link| {
            let href = link.get("href")?;
            let text = link.get("text").filter(|t| !is_blank(t)).unwrap_or(href);
            Some(json!({"href": href, "text": text}))
        })
        .collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": d.alert_str("log_source"),
            "severity": severity,
            "custom_details": details,
            "component": optional("component"),
            "group": optional("group"),
            "class": optional("class"),
        },
        "client": "StreamAlert",
        "client_url": optional("client_url"),
        "images": images,
        "links": links,
    })
}

fn list(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.is_object())
}

fn is_blank(value: &Value) -> bool {
    value.is_null() || value.as_str() == Some("")
}

fn or_empty(value: Option<&Value>) -> Value {
    value
        .filter(|v| !is_blank(v))
        .cloned()
        .unwrap_or_else(|| json!(""))
}
