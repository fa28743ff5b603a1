//! VictorOps: one REST event per alert, to `{url}/{routing_key}`.

use serde_json::json;

use crate::delivery::{Delivery, Step};
use crate::http::VICTOROPS_TIMEOUT;
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, plain, secret};

const SERVICE: &str = "victorops";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        plain("victorops_api_id", "API id"),
        secret("victorops_api_key", "API key"),
        plain("url", "REST endpoint URL (the routing key is appended)"),
        plain("routing_key", "routing key"),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let base = d.credential(SERVICE, "url")?.trim_end_matches('/');
    let routing_key = d.credential(SERVICE, "routing_key")?;
    let api_id = d.credential(SERVICE, "victorops_api_id")?;
    let api_key = d.credential(SERVICE, "victorops_api_key")?;
    // StreamAlert fails when a publisher dropped `record`; sa falls back to the alert's (docs/spec §22 #20)
    let record = d.publication.get("record").unwrap_or(d.record());
    let body = json!({
        "message_type": "CRITICAL",
        "entity_id": "streamalert/alert",
        "entity_display_name": d.rule_name(),
        "record": record,
    });
    let url = format!("{base}/{routing_key}");
    out.send_within(SERVICE, &[], VICTOROPS_TIMEOUT, |c| {
        c.post(&url)
            .header("X-VO-Api-Id", api_id)
            .header("X-VO-Api-Key", api_key)
            .json(&body)
    })
    .await?;
    Ok(())
}
