//! Publisher tests (docs/spec §15.6): a JMESPath expression over the composed publication, compared with
//! `is`, `in` or `contains` under Python's equality.

use sa_engine::jmes::JmesPath;
use sa_engine::python::py_eq;
use serde_json::{Map, Value};

/// One publisher test's outcome, with the reason when it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct PublisherCheck {
    pub output: String,
    pub test: String,
    pub failure: Option<String>,
}

/// Checks every test of `tests` (`{output: [test, ...]}`) against `publications`
/// (`{output: publication}` for the alert's outputs).
pub fn check_all(
    tests: &Map<String, Value>,
    publications: &Map<String, Value>,
) -> Vec<PublisherCheck> {
    let mut checks = Vec::new();
    for (output, output_tests) in tests {
        let Value::Array(output_tests) = output_tests else {
            checks.push(PublisherCheck {
                output: output.clone(),
                test: output_tests.to_string(),
                failure: Some("publisher tests of an output must be a list".to_owned()),
            });
            continue;
        };
        for test in output_tests {
            let failure = match publications.get(output) {
                None => Some(format!(
                    "No such output {output} was configured for this alert"
                )),
                Some(publication) => check(test, publication).err(),
            };
            checks.push(PublisherCheck {
                output: output.clone(),
                test: test.to_string(),
                failure,
            });
        }
    }
    checks
}

fn check(test: &Value, publication: &Value) -> Result<(), String> {
    let (expression, condition, expected) = match test {
        Value::Array(parts) if parts.len() == 3 => (&parts[0], &parts[1], &parts[2]),
        Value::Object(fields) => match (
            fields.get("jmespath_expression"),
            fields.get("condition"),
            fields.get("value"),
        ) {
            (Some(e), Some(c), Some(v)) => (e, c, v),
            _ => {
                return Err(
                    "a test object needs jmespath_expression, condition and value".to_owned(),
                );
            }
        },
        _ => {
            return Err(
                "a test is [expression, condition, value] or an object with those keys".to_owned(),
            );
        }
    };
    let (Value::String(expression), Value::String(condition)) = (expression, condition) else {
        return Err("expression and condition must be strings".to_owned());
    };
    let path = JmesPath::compile(expression)
        .map_err(|e| format!("invalid JMESPath {expression:?}: {e}"))?;
    let subject = path
        .search(publication)
        .map_err(|e| format!("{expression}: {e}"))?;
    let passed = match condition.as_str() {
        "is" => py_eq(&subject, expected),
        "in" => match expected {
            Value::Array(items) => items.iter().any(|item| py_eq(&subject, item)),
            _ => {
                return Err(format!(
                    "condition \"in\" needs a list value, got {expected}"
                ));
            }
        },
        "contains" => match (&subject, expected) {
            (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
            (Value::Array(items), _) => items.iter().any(|item| py_eq(item, expected)),
            (Value::Object(map), Value::String(key)) => map.contains_key(key),
            _ => return Err(format!("cannot test whether {subject} contains {expected}")),
        },
        other => return Err(format!("Invalid condition {other:?} (is, in or contains)")),
    };
    if passed {
        Ok(())
    } else {
        Err(format!(
            "{expression} {condition} {expected}: actual value is {subject}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(test: Value, publication: Value) -> Option<String> {
        let tests = json!({"slack:x": [test]}).as_object().unwrap().clone();
        let publications = json!({"slack:x": publication}).as_object().unwrap().clone();
        check_all(&tests, &publications).remove(0).failure
    }

    #[test]
    fn is_in_and_contains_follow_python_semantics() {
        let publication = json!({"@slack.text": "Rule triggered", "n": 1, "list": [1, "a"], "@slack.attachments": [{"title": "t"}]});
        assert_eq!(
            run(
                json!(["\"@slack.text\"", "is", "Rule triggered"]),
                publication.clone()
            ),
            None
        );
        assert_eq!(run(json!(["n", "is", true]), publication.clone()), None);
        assert_eq!(run(json!(["n", "is", 1.0]), publication.clone()), None);
        assert_eq!(run(json!(["n", "in", [3, 1]]), publication.clone()), None);
        assert_eq!(
            run(
                json!(["\"@slack.text\"", "contains", "trig"]),
                publication.clone()
            ),
            None
        );
        assert_eq!(
            run(json!(["list", "contains", "a"]), publication.clone()),
            None
        );
        assert_eq!(
            run(
                json!({"jmespath_expression": "\"@slack.attachments\"[0].title", "condition": "is", "value": "t"}),
                publication.clone()
            ),
            None
        );
        let failure = run(json!(["n", "is", 2]), publication.clone()).unwrap();
        assert!(failure.contains("actual value is 1"), "{failure}");
        assert!(
            run(json!(["n", "equals", 1]), publication.clone())
                .unwrap()
                .contains("Invalid condition")
        );
        assert!(
            run(json!(["n", "in", 1]), publication.clone())
                .unwrap()
                .contains("list")
        );
        assert!(
            run(json!(["n"]), publication)
                .unwrap()
                .contains("[expression, condition, value]")
        );
    }

    #[test]
    fn a_test_for_an_output_the_alert_lacks_fails() {
        let tests = json!({"pagerduty:x": [["a", "is", 1]]})
            .as_object()
            .unwrap()
            .clone();
        let failure = check_all(&tests, &Map::new()).remove(0).failure.unwrap();
        assert!(
            failure.starts_with("No such output pagerduty:x"),
            "{failure}"
        );
    }
}
