//! StreamAlert's alert merging (docs/spec §10.4, grouping of §11.2): which pending alerts form a
//! group, and the single alert a group becomes. Pure functions over alerts and a time; the
//! merger decides when to run them and commits the result.

use serde_json::{Map, Value, json};

use crate::alert::NORMALIZATION_KEY;
use crate::{Alert, Micros, format_timestamp};

/// At most this many alerts merge into one (docs/spec §11.2).
pub const MAX_GROUP: usize = 50;

/// `streamalert.shared.utils.get_keys(record, key, 1)[0]`: breadth-first, skipping the
/// normalization subtree and falsy containers (docs/spec Appendix C.5).
pub fn get_first_key<'a>(record: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(found) = record.get(key) {
        return Some(found);
    }
    let mut queue: std::collections::VecDeque<&Value> = record
        .iter()
        .filter(|(name, value)| *name != NORMALIZATION_KEY && is_truthy_container(value))
        .map(|(_, value)| value)
        .collect();
    while let Some(node) = queue.pop_front() {
        match node {
            Value::Object(map) => {
                if let Some(found) = map.get(key) {
                    return Some(found);
                }
                for (name, value) in map {
                    if name != NORMALIZATION_KEY && is_truthy_container(value) {
                        queue.push_back(value);
                    }
                }
            }
            Value::Array(items) => {
                queue.extend(items.iter().filter(|item| is_truthy_container(item)));
            }
            _ => {}
        }
    }
    None
}

/// A short stable digest of the values `keys` take in `record` (missing keys count as null):
/// what names a merge window or a dedup key in the replicated state.
pub fn values_digest(record: &Map<String, Value>, keys: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let values: Vec<&Value> = keys
        .iter()
        .map(|key| get_first_key(record, key).unwrap_or(&Value::Null))
        .collect();
    let digest = Sha256::digest(serde_json::to_vec(&values).unwrap_or_default());
    hex::encode(&digest[..16])
}

fn is_truthy_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// A merge window's length; `minute` is 60 s in production and shorter in tests.
pub fn window(alert: &Alert, minute: Micros) -> Micros {
    i64::try_from(alert.merge_window_mins)
        .unwrap_or(i64::MAX)
        .saturating_mul(minute)
}

/// `Alert.can_merge`: both merge-enabled, the newer inside the older's window, the same merge
/// keys, and the same first value for each (two records lacking a key compare equal).
pub fn can_merge(a: &Alert, b: &Alert, minute: Micros) -> bool {
    if !a.merge_enabled() || !b.merge_enabled() {
        return false;
    }
    let (older, newer) = if a.created <= b.created {
        (a, b)
    } else {
        (b, a)
    };
    if newer.created > older.created.saturating_add(window(older, minute)) {
        return false;
    }
    fn keys(alert: &Alert) -> std::collections::BTreeSet<&String> {
        alert.merge_by_keys.iter().collect()
    }
    if keys(a) != keys(b) {
        return false;
    }
    a.merge_by_keys
        .iter()
        .all(|key| get_first_key(&a.record, key) == get_first_key(&b.record, key))
}

/// Groups one rule's merge candidates (sorted by `created`) as the merger does: an alert joins
/// the first group (under 50) whose first alert it can merge with; otherwise it opens a group,
/// unless its own window is still open, which ends grouping for this rule. Returns indices.
pub fn closed_groups(candidates: &[Alert], now: Micros, minute: Micros) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, alert) in candidates.iter().enumerate() {
        let joined = groups.iter_mut().find(|group| {
            group.len() < MAX_GROUP && can_merge(alert, &candidates[group[0]], minute)
        });
        match joined {
            Some(group) => group.push(index),
            None => {
                if now < alert.created.saturating_add(window(alert, minute)) {
                    break;
                }
                groups.push(vec![index]);
            }
        }
    }
    groups
}

/// `Alert.merge`: one new alert standing for `alerts` (sorted by `created` here), with the
/// AlertCount / AlertTimeFirst / AlertTimeLast / MergedBy / OtherCommonKeys / ValueDiffs record.
/// The caller gives the new alert's id and creation time.
pub fn merge(alerts: &[Alert], alert_id: String, now: Micros) -> Alert {
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by_key(|alert| alert.created);
    let first = sorted[0];
    let last = sorted[sorted.len() - 1];
    let merge_keys = &first.merge_by_keys;
    let cleaned: Vec<Value> = sorted
        .iter()
        .map(|alert| {
            let mut record = Value::Object(alert.record.clone());
            remove_keys(&mut record, merge_keys);
            record
        })
        .collect();
    let common = common_subset(&cleaned);
    let merged_by: Map<String, Value> = merge_keys
        .iter()
        .map(|key| {
            let value = get_first_key(&first.record, key)
                .cloned()
                .unwrap_or_else(|| json!("(n/a)"));
            (key.clone(), value)
        })
        .collect();
    let mut value_diffs = Map::new();
    for (alert, record) in sorted.iter().zip(&cleaned) {
        let diff = match record {
            Value::Object(record) => difference(record, &common),
            _ => Map::new(),
        };
        value_diffs.insert(format_timestamp(alert.created), Value::Object(diff));
    }
    let mut record = Map::new();
    record.insert("AlertCount".into(), json!(sorted.len()));
    record.insert(
        "AlertTimeFirst".into(),
        json!(format_timestamp(first.created)),
    );
    record.insert(
        "AlertTimeLast".into(),
        json!(format_timestamp(last.created)),
    );
    record.insert("MergedBy".into(), Value::Object(merged_by));
    record.insert("OtherCommonKeys".into(), Value::Object(common));
    record.insert("ValueDiffs".into(), Value::Object(value_diffs));
    Alert {
        rule_name: first.rule_name.clone(),
        alert_id,
        record,
        outputs: last.outputs.clone(),
        outputs_sent: Default::default(),
        attempts: 0,
        cluster: first.cluster.clone(),
        context: first.context.clone(),
        created: now,
        dispatched: 0,
        log_source: first.log_source.clone(),
        log_type: first.log_type.clone(),
        merge_by_keys: Vec::new(),
        merge_window_mins: 0,
        publishers: first.publishers.clone(),
        rule_description: first.rule_description.clone(),
        source_entity: first.source_entity.clone(),
        source_service: first.source_service.clone(),
        staged: sorted.iter().any(|alert| alert.staged),
        policy: Default::default(),
    }
}

/// Removes `keys` at every depth of nested objects (not inside arrays).
fn remove_keys(value: &mut Value, keys: &[String]) {
    if let Value::Object(map) = value {
        for key in keys {
            map.shift_remove(key);
        }
        for nested in map.values_mut() {
            remove_keys(nested, keys);
        }
    }
}

/// The greatest common subset of `records`: keys of the first present in all, with equal
/// values, or objects everywhere whose own common subset is not empty.
fn common_subset(records: &[Value]) -> Map<String, Value> {
    let Some(Value::Object(first)) = records.first() else {
        return Map::new();
    };
    let mut common = Map::new();
    for (key, value) in first {
        let values: Option<Vec<&Value>> = records
            .iter()
            .map(|record| record.as_object().and_then(|map| map.get(key)))
            .collect();
        let Some(values) = values else { continue };
        if values.iter().all(|other| *other == value) {
            common.insert(key.clone(), value.clone());
        } else if values.iter().all(|other| other.is_object()) {
            let nested: Vec<Value> = values.into_iter().cloned().collect();
            let subset = common_subset(&nested);
            if !subset.is_empty() {
                common.insert(key.clone(), Value::Object(subset));
            }
        }
    }
    common
}

/// What `record` has beyond `common` (the ValueDiffs entry).
fn difference(record: &Map<String, Value>, common: &Map<String, Value>) -> Map<String, Value> {
    let mut diff = Map::new();
    for (key, value) in record {
        match common.get(key) {
            None => {
                diff.insert(key.clone(), value.clone());
            }
            Some(shared) if shared == value => {}
            Some(Value::Object(shared)) => {
                if let Value::Object(nested) = value {
                    let nested = difference(nested, shared);
                    if !nested.is_empty() {
                        diff.insert(key.clone(), Value::Object(nested));
                    }
                } else {
                    diff.insert(key.clone(), value.clone());
                }
            }
            Some(_) => {
                diff.insert(key.clone(), value.clone());
            }
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Micros = 60_000_000;
    const T0: Micros = 1_577_836_800_000_000;

    fn alert(id: &str, created: Micros, record: Value) -> Alert {
        let record = record.as_object().unwrap().clone();
        Alert {
            rule_name: "failed_login".into(),
            alert_id: id.into(),
            record,
            outputs: ["slack:sec".to_owned()].into(),
            cluster: Some("prod".into()),
            created,
            log_source: Some("demo:login".into()),
            log_type: Some("json".into()),
            merge_by_keys: vec!["user".into()],
            merge_window_mins: 5,
            ..Default::default()
        }
    }

    #[test]
    fn get_first_key_is_breadth_first_and_skips_normalization() {
        let data = json!({
            "a": {"deep": {"user": "deep"}},
            "streamalert_normalization": {"user": "normalized"},
            "b": {"user": "shallow"},
        });
        let data = data.as_object().unwrap();
        assert_eq!(get_first_key(data, "user"), Some(&json!("shallow")));
        // A list is a level of its own: its objects come after the objects beside it.
        let listed = json!({"a": {"deep": {"user": "deep"}}, "b": [{"user": "listed"}]});
        assert_eq!(
            get_first_key(listed.as_object().unwrap(), "user"),
            Some(&json!("deep"))
        );
        assert_eq!(
            get_first_key(json!({"x": 1}).as_object().unwrap(), "user"),
            None
        );
        let mut top = data.clone();
        top.insert("user".into(), json!("top"));
        assert_eq!(get_first_key(&top, "user"), Some(&json!("top")));
    }

    #[test]
    fn merge_builds_the_documented_record() {
        let alerts = [
            alert(
                "a",
                T0,
                json!({"user": "bob", "host": "h1", "detail": {"ip": "1.1.1.1", "port": 22}, "same": 1}),
            ),
            alert(
                "b",
                T0 + MINUTE,
                json!({"user": "bob", "host": "h2", "detail": {"ip": "1.1.1.1", "port": 23}, "same": 1}),
            ),
        ];
        let merged = merge(&alerts, "m".into(), T0 + 10 * MINUTE);
        assert_eq!(
            Value::Object(merged.record.clone()),
            json!({
                "AlertCount": 2,
                "AlertTimeFirst": "2020-01-01T00:00:00.000000Z",
                "AlertTimeLast": "2020-01-01T00:01:00.000000Z",
                "MergedBy": {"user": "bob"},
                "OtherCommonKeys": {"detail": {"ip": "1.1.1.1"}, "same": 1},
                "ValueDiffs": {
                    "2020-01-01T00:00:00.000000Z": {"host": "h1", "detail": {"port": 22}},
                    "2020-01-01T00:01:00.000000Z": {"host": "h2", "detail": {"port": 23}},
                },
            })
        );
        assert!(!merged.merge_enabled());
        assert_eq!(merged.created, T0 + 10 * MINUTE);
        assert_eq!(merged.alert_id, "m");
    }

    #[test]
    fn a_missing_merge_key_is_reported_as_not_available() {
        let alerts = [alert("a", T0, json!({"host": "h"}))];
        let merged = merge(&alerts, "m".into(), T0);
        assert_eq!(merged.record["MergedBy"], json!({"user": "(n/a)"}));
    }

    #[test]
    fn groups_close_only_after_the_oldest_window_and_split_by_key_and_size() {
        let mut candidates: Vec<Alert> = (0..3)
            .map(|i| alert(&format!("bob{i}"), T0 + i * MINUTE, json!({"user": "bob"})))
            .collect();
        candidates.push(alert("eve", T0 + 3 * MINUTE, json!({"user": "eve"})));
        candidates.push(alert("late", T0 + 6 * MINUTE, json!({"user": "bob"})));
        // At T0 + 4 min the oldest window is still open: nothing closes.
        assert!(closed_groups(&candidates, T0 + 4 * MINUTE, MINUTE).is_empty());
        // At T0 + 9 min: bob's group (window of the first), eve's; "late" is outside bob's first
        // window and its own is still open.
        assert_eq!(
            closed_groups(&candidates, T0 + 9 * MINUTE, MINUTE),
            vec![vec![0, 1, 2], vec![3]]
        );
        let many: Vec<Alert> = (0..60)
            .map(|i| alert(&format!("n{i}"), T0 + i, json!({"user": "bob"})))
            .collect();
        let groups = closed_groups(&many, T0 + 10 * MINUTE, MINUTE);
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [50, 10]);
    }
}
