//! How an alert, its delivery and the dead letters look to an operator (`sactl alerts`,
//! `sactl dead-letters`). The alerts table counts µs; what operators see counts milliseconds
//! since the epoch (`*_ms` fields), as it always has: the conversion is made here.

use sa_rules::{Alert, Micros};
use serde_json::{Map, Value, json};

use sa_state::{AlertStore, OutputDeadLetter, StoredDeadLetter};

/// A time of the alerts table as operators see it: ms since the epoch (a time before the
/// epoch as 0).
pub fn millis(at: Micros) -> u64 {
    u64::try_from(at.div_euclid(1_000)).unwrap_or(0)
}

/// An output dead letter as `sactl dead-letters list` shows it.
pub fn output_dead_letter(dead: &OutputDeadLetter) -> Value {
    json!({
        "alert_id": dead.alert_id,
        "rule_name": dead.rule_name,
        "output": dead.output,
        "reason": dead.reason,
        "attempts": dead.attempts,
        "at_ms": millis(dead.at),
    })
}

/// A record's dead letter as `sactl dead-letters list` shows it.
pub fn classify_dead_letter(dead: &StoredDeadLetter) -> Value {
    let mut shown = json!({
        "received_at_ms": millis(dead.received_at),
        "cluster": dead.cluster,
        "service": dead.service,
        "resource": dead.resource,
        "log_type": dead.log_type,
        "reason": dead.reason,
        "record": dead.record,
    });
    if !dead.origin.is_empty() {
        shown["origin"] = json!(dead.origin);
    }
    shown
}

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
            json!({"state": "sent", "at_ms": millis(sent.at), "attempts": sent.attempts})
        } else if let Some(dead) = delivery.dead.get(output) {
            json!({"state": "dead", "reason": dead.reason, "attempts": dead.attempts, "at_ms": millis(dead.at)})
        } else if let Some(attempt) = delivery.attempts.get(output) {
            json!({
                "state": "retrying",
                "attempts": attempt.attempts,
                "next_at_ms": millis(attempt.next_at),
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

#[cfg(test)]
mod tests {
    use super::*;
    use sa_rules::FIREHOSE_OUTPUT;
    use sa_state::{AttemptRecord, OutputOutcome, SentRecord};

    const T0: Micros = 1_700_000_000_123_456;

    #[test]
    fn dead_letters_are_shown_in_milliseconds_with_the_fields_they_always_had() {
        let dead = OutputDeadLetter {
            alert_id: "a".into(),
            rule_name: "r".into(),
            output: "slack:sec".into(),
            reason: "400".into(),
            attempts: 1,
            at: T0,
        };
        assert_eq!(
            output_dead_letter(&dead).to_string(),
            r#"{"alert_id":"a","rule_name":"r","output":"slack:sec","reason":"400","attempts":1,"at_ms":1700000000123}"#
        );
        let mut stored = StoredDeadLetter {
            received_at: T0,
            cluster: "prod".into(),
            service: "kinesis".into(),
            resource: "events".into(),
            log_type: None,
            reason: "no schema".into(),
            record: "{}".into(),
            origin: String::new(),
        };
        assert_eq!(
            classify_dead_letter(&stored).to_string(),
            r#"{"received_at_ms":1700000000123,"cluster":"prod","service":"kinesis","resource":"events","log_type":null,"reason":"no schema","record":"{}"}"#
        );
        stored.origin = "kinesis/s/0/1".into();
        assert_eq!(classify_dead_letter(&stored)["origin"], "kinesis/s/0/1");
        assert_eq!(millis(-1), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_alerts_delivery_is_shown_in_milliseconds() {
        let dir = tempfile::tempdir().unwrap();
        let replica = sa_state::single_node_replica(dir.path()).await;
        let store = AlertStore::new(replica.clone());
        let mut alert = sa_state::test_alert("r", T0);
        alert
            .outputs
            .extend(["slack:sec".to_string(), "webhook:x".to_string()]);
        store
            .commit(std::slice::from_ref(&alert), &[])
            .await
            .unwrap();
        let id = &alert.alert_id;
        let sent = OutputOutcome::Sent(SentRecord {
            at: T0 + 1_000,
            attempts: 1,
            node_id: 1,
        });
        let retry = OutputOutcome::Retry(AttemptRecord {
            attempts: 1,
            first_at: T0,
            next_at: T0 + 2_000_999,
            last_error: "503".into(),
        });
        let dead = OutputOutcome::Dead(OutputDeadLetter {
            alert_id: id.clone(),
            rule_name: "r".into(),
            output: "webhook:x".into(),
            reason: "400".into(),
            attempts: 1,
            at: T0 + 3_000,
        });
        store
            .record_outcomes(
                id,
                &[
                    (FIREHOSE_OUTPUT.into(), sent),
                    ("slack:sec".into(), retry),
                    ("webhook:x".into(), dead),
                ],
                0,
                Some(T0 + 2_000_999),
            )
            .await
            .unwrap();
        let outputs = &summary(&store, &alert).unwrap()["outputs"];
        assert_eq!(
            outputs[FIREHOSE_OUTPUT],
            json!({"state": "sent", "at_ms": 1_700_000_000_124_u64, "attempts": 1})
        );
        assert_eq!(outputs["slack:sec"]["next_at_ms"], 1_700_000_002_124_u64);
        assert_eq!(outputs["webhook:x"]["at_ms"], 1_700_000_000_126_u64);
        replica.shutdown().await;
    }
}
