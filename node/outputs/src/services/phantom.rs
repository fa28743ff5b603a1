//! Phantom: find or create the rule's container, then add the alert as an artifact.

use serde_json::{Value, json};

use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, plain, secret};

const SERVICE: &str = "phantom";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        secret("ph_auth_token", "Phantom automation user token"),
        plain("url", "Phantom server URL"),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let base = d.credential(SERVICE, "url")?.trim_end_matches('/');
    let token = d.credential(SERVICE, "ph_auth_token")?;
    let containers = format!("{base}/rest/container");
    let filter = format!("\"{}\"", d.rule_name());
    let found = out
        .send(SERVICE, |c| {
            c.get(&containers)
                .header("ph-auth-token", token)
                .query(&[("_filter_name", filter.as_str()), ("page_size", "1")])
        })
        .await?
        .json()
        .unwrap_or(Value::Null);
    let existing = (found.get("count").and_then(Value::as_u64).unwrap_or(0) > 0)
        .then(|| found.get("data")?.get(0)?.get("id").cloned())
        .flatten();
    let container_id = match existing {
        Some(id) => id,
        None => {
            let container = json!({"name": d.rule_name(), "description": d.rule_description()});
            out.send(SERVICE, |c| {
                c.post(&containers)
                    .header("ph-auth-token", token)
                    .json(&container)
            })
            .await?
            .json()
            .and_then(|v| v.get("id").cloned())
            .ok_or_else(|| {
                DeliveryOutcome::failed(format!("{SERVICE}: the container was not created (no id)"))
            })?
        }
    };
    let artifact = json!({
        "cef": d.record(),
        "container_id": container_id,
        "data": d.publication,
        "name": "Phantom Artifact",
        "label": "Alert",
    });
    let url = format!("{base}/rest/artifact");
    out.send(SERVICE, |c| {
        c.post(&url).header("ph-auth-token", token).json(&artifact)
    })
    .await?;
    Ok(())
}
