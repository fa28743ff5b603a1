//! Carbon Black Response: bans the MD5 named by `context.carbonblack` (`{"action": "ban",
//! "value": md5}`): the binary must be known; its banned hash is created or re-enabled.

use serde_json::{Value, json};

use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, plain, secret};

const SERVICE: &str = "carbonblack";
const BAN_TEXT: &str = "Banned from StreamAlert";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        plain("url", "Carbon Black Response server URL"),
        secret("token", "API token"),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let base = d.credential(SERVICE, "url")?.trim_end_matches('/');
    let token = d.credential(SERVICE, "token")?;
    let context = d.context(SERVICE);
    let action = context
        .and_then(|c| c.get("action"))
        .and_then(Value::as_str);
    let md5 = context.and_then(|c| c.get("value")).and_then(Value::as_str);
    let (Some("ban"), Some(md5)) = (action, md5) else {
        return Err(DeliveryOutcome::failed(format!(
            "{SERVICE}: the alert's context.carbonblack must be {{\"action\": \"ban\", \"value\": <md5>}}"
        )));
    };
    let get = |path: String| {
        let url = format!("{base}{path}");
        out.send_accepting(SERVICE, &[404], move |c| {
            c.get(url).header("X-Auth-Token", token)
        })
    };
    let binary = get(format!("/api/v1/binary/{md5}/summary")).await?;
    if binary.status == 404 {
        return Err(DeliveryOutcome::failed(format!(
            "{SERVICE}: binary {md5} is not known to Carbon Black"
        )));
    }
    let banned = get(format!("/api/v1/banning/blacklist/{md5}")).await?;
    let hash = json!({"md5hash": md5, "text": BAN_TEXT, "enabled": true});
    if banned.status == 404 {
        let url = format!("{base}/api/v1/banning/blacklist");
        out.send(SERVICE, |c| {
            c.post(&url).header("X-Auth-Token", token).json(&hash)
        })
        .await?;
        return Ok(());
    }
    let enabled = banned
        .json()
        .and_then(|v| v.get("enabled").and_then(Value::as_bool))
        .unwrap_or(false);
    if !enabled {
        let url = format!("{base}/api/v1/banning/blacklist/{md5}");
        out.send(SERVICE, |c| {
            c.put(&url).header("X-Auth-Token", token).json(&hash)
        })
        .await?;
    }
    Ok(())
}
