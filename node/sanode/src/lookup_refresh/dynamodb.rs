//! The `dynamodb` lookup-table driver (docs/spec §14.3). StreamAlert reads one item per lookup;
//! sa scans the whole table on the leader and replicates it, keyed the way StreamAlert's
//! lookups address items: the partition key's value, or `<partition><delimiter><sort>`.

use anyhow::anyhow;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::{Map, Number, Value};

use sa_repository::lookup_tables::{DynamoTable, TableEntries};

type Item = std::collections::HashMap<String, AttributeValue>;

/// Scans every item (all pages). Items without the value attribute are left out: for
/// StreamAlert they are misses that return the default.
pub async fn fetch(
    table: &DynamoTable,
    client: &aws_sdk_dynamodb::Client,
) -> anyhow::Result<TableEntries> {
    let mut entries = TableEntries::new();
    let mut unreachable = 0usize;
    let mut start_key = None;
    loop {
        let page = client
            .scan()
            .table_name(&table.table)
            .consistent_read(table.consistent_read)
            .set_exclusive_start_key(start_key.take())
            .send()
            .await
            .map_err(|e| anyhow!("dynamodb table {}: {}", table.table, DisplayErrorContext(e)))?;
        for item in page.items() {
            match entry(table, item) {
                Some((key, Some(value))) => {
                    entries.insert(key, value);
                }
                Some((_, None)) => {}
                None => unreachable += 1,
            }
        }
        match page.last_evaluated_key() {
            Some(last) if !last.is_empty() => start_key = Some(last.clone()),
            _ => break,
        }
    }
    if unreachable > 0 {
        tracing::warn!(
            table = %table.table,
            items = unreachable,
            "items left out: their keys are not strings or numbers, or hold the key delimiter, so no lookup can address them"
        );
    }
    Ok(entries)
}

/// The lookup key and value of one item; `None` when no lookup key can reach the item.
fn entry(table: &DynamoTable, item: &Item) -> Option<(String, Option<Value>)> {
    let partition = key_text(item.get(&table.partition_key)?)?;
    let key = match &table.sort_key {
        None => partition,
        Some(sort_key) => {
            let sort = key_text(item.get(sort_key)?)?;
            // StreamAlert splits the lookup key on the delimiter and needs exactly two parts.
            if partition.contains(&table.key_delimiter) || sort.contains(&table.key_delimiter) {
                return None;
            }
            format!("{partition}{}{sort}", table.key_delimiter)
        }
    };
    Some((key, item.get(&table.value_key).map(to_json)))
}

/// Key attributes are strings, numbers or binary; a lookup key is text, so binary keys are out.
fn key_text(value: &AttributeValue) -> Option<String> {
    match value {
        AttributeValue::S(text) | AttributeValue::N(text) => Some(text.clone()),
        _ => None,
    }
}

/// An attribute as JSON: numbers as JSON numbers (text when beyond f64), sets as arrays,
/// binary as base64 text.
pub fn to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(number) => number_to_json(number),
        AttributeValue::Bool(flag) => Value::Bool(*flag),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(items) => Value::Array(items.iter().map(to_json).collect()),
        AttributeValue::M(fields) => {
            let mut sorted: Vec<_> = fields.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), to_json(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        AttributeValue::Ss(texts) => sorted_array(texts.iter().cloned().map(Value::String)),
        AttributeValue::Ns(numbers) => {
            let mut numbers: Vec<&String> = numbers.iter().collect();
            numbers.sort();
            Value::Array(numbers.into_iter().map(|n| number_to_json(n)).collect())
        }
        AttributeValue::B(blob) => Value::String(base64_text(blob.as_ref())),
        AttributeValue::Bs(blobs) => {
            sorted_array(blobs.iter().map(|b| Value::String(base64_text(b.as_ref()))))
        }
        // A type this SDK does not know yet: keep it visible rather than dropping the item.
        other => Value::String(format!("{other:?}")),
    }
}

fn sorted_array(values: impl Iterator<Item = Value>) -> Value {
    let mut values: Vec<Value> = values.collect();
    values.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    Value::Array(values)
}

fn base64_text(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn number_to_json(number: &str) -> Value {
    if let Ok(integer) = number.parse::<i64>() {
        return Value::from(integer);
    }
    if let Ok(integer) = number.parse::<u64>() {
        return Value::from(integer);
    }
    number
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(number.to_string()), Value::Number)
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    use sa_chaos_tests::MotoServer;
    use serde_json::json;

    use super::*;
    use crate::lookup_refresh::clients::test_clients;

    async fn create_table(
        client: &aws_sdk_dynamodb::Client,
        name: &str,
        partition_key: &str,
        sort_key: Option<&str>,
    ) {
        let mut create = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest);
        for (attribute, key_type) in [
            (Some(partition_key), KeyType::Hash),
            (sort_key, KeyType::Range),
        ] {
            let Some(attribute) = attribute else { continue };
            create = create
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(attribute)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(attribute)
                        .key_type(key_type)
                        .build()
                        .unwrap(),
                );
        }
        create.send().await.unwrap();
    }

    async fn put(client: &aws_sdk_dynamodb::Client, table: &str, item: &[(&str, AttributeValue)]) {
        let mut put = client.put_item().table_name(table);
        for (name, value) in item {
            put = put.item(*name, value.clone());
        }
        put.send().await.unwrap();
    }

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_string())
    }

    #[tokio::test]
    async fn scans_a_table_keyed_by_partition_key() {
        let moto = MotoServer::start().unwrap();
        let clients = test_clients(&moto);
        let ddb = &clients.dynamodb;
        create_table(ddb, "hosts", "host", None).await;
        put(ddb, "hosts", &[("host", s("web-1")), ("owner", s("alice"))]).await;
        put(
            ddb,
            "hosts",
            &[
                ("host", s("db-1")),
                (
                    "owner",
                    AttributeValue::M(
                        [
                            ("team".to_string(), s("data")),
                            ("oncall".to_string(), AttributeValue::N("42".into())),
                            (
                                "tags".to_string(),
                                AttributeValue::Ss(vec!["b".into(), "a".into()]),
                            ),
                        ]
                        .into(),
                    ),
                ),
            ],
        )
        .await;
        put(ddb, "hosts", &[("host", s("no-value")), ("other", s("x"))]).await;
        let table = DynamoTable {
            table: "hosts".into(),
            partition_key: "host".into(),
            value_key: "owner".into(),
            sort_key: None,
            key_delimiter: ":".into(),
            consistent_read: true,
        };
        assert_eq!(
            fetch(&table, ddb).await.unwrap(),
            TableEntries::from([
                ("web-1".to_string(), json!("alice")),
                (
                    "db-1".to_string(),
                    json!({"oncall": 42, "tags": ["a", "b"], "team": "data"})
                ),
            ])
        );
    }

    #[tokio::test]
    async fn with_a_sort_key_lookup_keys_join_both_parts_with_the_delimiter() {
        let moto = MotoServer::start().unwrap();
        let clients = test_clients(&moto);
        let ddb = &clients.dynamodb;
        create_table(ddb, "accounts", "account", Some("region")).await;
        put(
            ddb,
            "accounts",
            &[
                ("account", s("111")),
                ("region", s("us-east-1")),
                ("env", s("prod")),
            ],
        )
        .await;
        put(
            ddb,
            "accounts",
            &[
                ("account", s("111")),
                ("region", s("eu-west-1")),
                ("env", AttributeValue::Bool(false)),
            ],
        )
        .await;
        put(
            ddb,
            "accounts",
            &[
                ("account", s("a|b")),
                ("region", s("x")),
                ("env", s("unreachable")),
            ],
        )
        .await;
        let table = DynamoTable {
            table: "accounts".into(),
            partition_key: "account".into(),
            value_key: "env".into(),
            sort_key: Some("region".into()),
            key_delimiter: "|".into(),
            consistent_read: false,
        };
        assert_eq!(
            fetch(&table, ddb).await.unwrap(),
            TableEntries::from([
                ("111|us-east-1".to_string(), json!("prod")),
                ("111|eu-west-1".to_string(), json!(false)),
            ])
        );
    }

    #[tokio::test]
    async fn a_missing_table_is_an_error_naming_it() {
        let moto = MotoServer::start().unwrap();
        let clients = test_clients(&moto);
        let table = DynamoTable {
            table: "absent".into(),
            partition_key: "pk".into(),
            value_key: "v".into(),
            sort_key: None,
            key_delimiter: ":".into(),
            consistent_read: false,
        };
        let error = format!("{:#}", fetch(&table, &clients.dynamodb).await.unwrap_err());
        assert!(
            error.contains("dynamodb table absent") && error.contains("ResourceNotFound"),
            "{error}"
        );
    }

    #[test]
    fn numbers_become_json_numbers_unless_they_do_not_fit() {
        assert_eq!(number_to_json("-7"), json!(-7));
        assert_eq!(
            number_to_json("18446744073709551615"),
            json!(18446744073709551615u64)
        );
        assert_eq!(number_to_json("1.5"), json!(1.5));
        assert_eq!(number_to_json("1E+400"), json!("1E+400"));
        assert_eq!(
            to_json(&AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                b"hi".to_vec()
            ))),
            json!("aGk=")
        );
    }
}
