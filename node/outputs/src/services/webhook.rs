//! Generic webhook: the publication as JSON, the alert id in `X-SA-Alert-Id` (receivers
//! de-duplicate on it), and with a `secret` an HMAC-SHA256 of the exact body in
//! `X-SA-Signature: sha256=<hex>`.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, Property, ResourceShape, optional, plain};

const SERVICE: &str = "webhook";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        plain("url", "URL the alert is POSTed to"),
        Property {
            name: "secret",
            secret: true,
            required: false,
            description: "HMAC-SHA256 key; signs the body in X-SA-Signature",
        },
        optional("headers", "extra headers, a JSON object of name → value"),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let url = d.credential(SERVICE, "url")?;
    let headers = extra_headers(d.credentials.get("headers"))?;
    let body = serde_json::to_vec(d.publication).map_err(|e| {
        DeliveryOutcome::failed(format!("{SERVICE}: cannot encode the publication: {e}"))
    })?;
    let signature = d
        .optional_credential("secret")
        .map(|secret| sign(secret.as_bytes(), &body));
    out.send(SERVICE, |c| {
        let mut request = c
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-SA-Alert-Id", d.alert_id());
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(signature) = &signature {
            request = request.header("X-SA-Signature", format!("sha256={signature}"));
        }
        request.body(body)
    })
    .await?;
    Ok(())
}

/// Hex HMAC-SHA256 of the body under the secret.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// `headers` as an object, or as the JSON text of one (how `sactl outputs set` stores it).
fn extra_headers(value: Option<&Value>) -> Step<Vec<(String, String)>> {
    let invalid =
        |why: &str| DeliveryOutcome::failed(format!("{SERVICE}: credential \"headers\" {why}"));
    let parsed;
    let map = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(text)) => {
            parsed =
                serde_json::from_str::<Value>(text).map_err(|_| invalid("is not a JSON object"))?;
            parsed
                .as_object()
                .ok_or_else(|| invalid("is not a JSON object"))?
        }
        Some(Value::Object(map)) => map,
        Some(_) => return Err(invalid("is not a JSON object")),
    };
    map.iter()
        .map(|(name, value)| match value {
            Value::String(text) => Ok((name.clone(), text.clone())),
            _ => Err(invalid("values must be strings")),
        })
        .collect()
}
