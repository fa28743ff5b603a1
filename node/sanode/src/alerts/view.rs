//! How an alert and its delivery look to an operator (`sactl alerts`).

use sa_rules::Alert;
use serde_json::{Map, Value, json};

use sa_state::AlertStore;

/// Where an alert stands as a whole.
pub fn status(store: &AlertStore, alert: &Alert) -> anyhow::Result<&'static str> {
    if store.merged_into(&alert.alert_id)?.is_some() {
        return Ok("merged");
    }
    if store.suppressed(&alert.alert_id)?.is_some() {
        return Ok("suppressed");
    }
    let delivery = store.delivery(&alert.alert_id)?;
    Ok(if !delivery.dead.is_empty() {
        "dead"
    } else if !delivery.remaining(alert).is_empty() {
        "pending"
    } else if alert.merge_enabled() && !delivery.send_first {
        "merging"
    } else {
        "delivered"
    })
}

/// The alert's Dynamo record with its status and, per output, where its delivery stands.
pub fn summary(store: &AlertStore, alert: &Alert) -> anyhow::Result<Value> {
    let delivery = store.delivery(&alert.alert_id)?;
    let own = delivery.own_outputs(alert);
    let mut outputs = Map::new();
    for output in &alert.outputs {
        let state = if let Some(sent) = delivery.sent.get(output) {
            json!({"state": "sent", "at_ms": sent.at_ms, "attempts": sent.attempts})
        } else if let Some(dead) = delivery.dead.get(output) {
            json!({"state": "dead", "reason": dead.reason, "attempts": dead.attempts, "at_ms": dead.at_ms})
        } else if let Some(attempt) = delivery.attempts.get(output) {
            json!({
                "state": "retrying",
                "attempts": attempt.attempts,
                "next_at_ms": attempt.next_at_ms,
                "last_error": attempt.last_error,
            })
        } else if own.contains(output) {
            json!({"state": "waiting"})
        } else {
            json!({"state": "after merge"})
        };
        outputs.insert(output.clone(), state);
    }
    Ok(json!({
        "alert": alert.dynamo_record(),
        "status": status(store, alert)?,
        "outputs": outputs,
        "merged_into": store.merged_into(&alert.alert_id)?,
        "suppressed": store.suppressed(&alert.alert_id)?,
    }))
}
