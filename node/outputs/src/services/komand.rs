//! Komand: the publication under `data`, to the trigger URL.

use serde_json::json;

use crate::delivery::{Delivery, Step};
use crate::outputs::Outputs;

const SERVICE: &str = "komand";

pub(crate) async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let url = d.credential(SERVICE, "url")?;
    let token = d.credential(SERVICE, "komand_auth_token")?;
    let body = json!({"data": d.publication});
    out.send(SERVICE, |c| {
        c.post(url).header("Authorization", token).json(&body)
    })
    .await?;
    Ok(())
}
