//! Microsoft Teams incoming webhook: a legacy MessageCard.

use serde_json::{Value, json};

use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::python_str;
use crate::http::TEAMS_TIMEOUT;
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, secret};

const SERVICE: &str = "teams";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[secret("url", "Microsoft Teams incoming webhook URL")],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let url = d.credential(SERVICE, "url")?;
    let card = card(d);
    let reply = out
        .send_within(SERVICE, &[], TEAMS_TIMEOUT, |c| c.post(url).json(&card))
        .await?;
    // Teams answers 200 with "1" on success; other 2xx mean the card was not posted
    if reply.status != 200 {
        return Err(DeliveryOutcome::failed(format!(
            "{SERVICE}: HTTP {} instead of 200",
            reply.status
        )));
    }
    Ok(())
}

fn card(d: &Delivery<'_>) -> Value {
    let mut sections = vec![json!({
        "activityTitle": "Alert Info",
        "facts": [
            {"name": "rule_name", "value": d.rule_name()},
            {"name": "alert_id", "value": d.alert_id()},
        ],
    })];
    let with_record = d
        .magic(SERVICE, "with_record")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if with_record {
        let facts: Vec<Value> = d
            .record()
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| json!({"name": k, "value": python_str(v)}))
            .collect();
        sections.push(json!({"activityTitle": "StreamAlert Alert Record", "facts": facts}));
    }
    match d.magic(SERVICE, "additional_card_sections") {
        Some(Value::Array(extra)) => {
            sections.extend(extra.iter().filter(|s| s.is_object()).cloned())
        }
        Some(section @ Value::Object(_)) => sections.push(section.clone()),
        _ => {}
    }
    let actions: Vec<Value> = d
        .magic(SERVICE, "buttons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(button)
        .map(|(text, target)| {
            json!({"@context": "http://schema.org", "@type": "ViewAction", "name": text, "target": [target]})
        })
        .collect();
    json!({
        "title": d.magic_str(SERVICE, "title", format!("StreamAlert Rule Triggered: {}", d.rule_name())),
        "text": d.magic_str(SERVICE, "description", d.rule_description()),
        "themeColor": d.magic_str(SERVICE, "card_color", "E81123"),
        "sections": sections,
        "potentialAction": actions,
    })
}

/// A button as `[text, url]` (StreamAlert's tuples) or `{"text": ..., "url": ...}`.
fn button(value: &Value) -> Option<(&str, &str)> {
    match value {
        Value::Array(pair) if pair.len() == 2 => Some((pair[0].as_str()?, pair[1].as_str()?)),
        Value::Object(map) => Some((map.get("text")?.as_str()?, map.get("url")?.as_str()?)),
        _ => None,
    }
}
