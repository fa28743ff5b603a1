//! Komand: the publication under `data`, to the trigger URL.

use serde_json::json;

use crate::delivery::{Delivery, Step};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, plain, secret};

const SERVICE: &str = "komand";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        secret("komand_auth_token", "Komand API token"),
        plain("url", "Komand trigger URL"),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let url = d.credential(SERVICE, "url")?;
    let token = d.credential(SERVICE, "komand_auth_token")?;
    let body = json!({"data": d.publication});
    out.send(SERVICE, |c| {
        c.post(url).header("Authorization", token).json(&body)
    })
    .await?;
    Ok(())
}
