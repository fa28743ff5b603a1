//! The alert `sactl outputs test` sends, so an operator can see an output work end to end.

use serde_json::{Value, json};

use crate::name::OutputName;

/// The output_dict() (compat §10.2) of a harmless test alert for `output`, with a fresh id so
/// receivers that de-duplicate on it show every test.
pub fn sample_alert(output: &OutputName, created: &str) -> Value {
    json!({
        "cluster": "",
        "context": {},
        "created": created,
        "id": format!("sa-output-test-{}", uuid::Uuid::new_v4()),
        "log_source": "sa:output_test",
        "log_type": "json",
        "outputs": [output.to_string()],
        "publishers": {},
        "record": {
            "message": "test alert sent by sactl outputs test",
            "output": output.to_string(),
        },
        "rule_description": "Test alert from sa: if you can read this, the output works.",
        "rule_name": "sa_output_test",
        "source_entity": "sactl",
        "source_service": "sa",
        "staged": false,
    })
}
