//! The `csv` parser (docs/spec §5.3): rows by position onto schema keys, nested schemas parsed
//! as CSV again, optionally CSV strings selected from JSON by `json_path`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::pycsv::{CsvDialect, read_rows};
use super::{Candidate, Parse, ParserSpec, Rejection, Root, SharedExtractions};
use crate::jmes::JmesPath;
use crate::log_type::LogType;
use crate::schema::{FieldType, Schema};

pub static PARSER: ParserSpec = ParserSpec {
    name: "csv",
    parse: Parse::LogType(candidates),
};

/// CSV rows depend on the dialect and the `json_path` selecting the CSV strings: log types with
/// the same ones share them and map them onto their own schema.
pub(super) type CsvKey<'a> = (CsvDialect, Option<&'a str>);

fn candidates<'a, 's>(
    lt: &'a LogType,
    root: &'a Root,
    shared: &'s mut SharedExtractions<'a>,
    rejected_values: bool,
) -> Cow<'s, [Candidate<'a>]> {
    let key = (lt.csv, lt.csv_json_path.as_ref().map(|p| p.as_str()));
    let index = match shared.csv.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            let rows = rows(lt.csv, lt.csv_json_path.as_ref(), root);
            shared.csv.push((key, rows));
            shared.csv.len() - 1
        }
    };
    Cow::Owned(candidates_from_rows(
        &shared.csv[index].1,
        &lt.schema,
        lt.csv,
        rejected_values,
    ))
}

/// What reading the CSV text of a payload gives, before any schema is applied: rows, or items
/// that could not be read. Shared by every csv log type with the same dialect and `json_path`.
#[derive(Debug, Clone)]
pub enum CsvRow {
    Row(Vec<String>),
    Invalid(Option<Value>, Rejection),
}

pub fn extract(
    dialect: CsvDialect,
    json_path: Option<&JmesPath>,
    schema: &Schema,
    root: &Root,
) -> Vec<Candidate<'static>> {
    candidates_from_rows(&rows(dialect, json_path, root), schema, dialect, true)
}

/// The rows of the payload (or of the strings `json_path` selects in it).
pub fn rows(dialect: CsvDialect, json_path: Option<&JmesPath>, root: &Root) -> Vec<CsvRow> {
    let items: Vec<Cow<'_, str>> = match json_path {
        Some(path) => {
            let Root::Json(doc) = root else {
                return vec![CsvRow::Invalid(None, Rejection::NotJson)];
            };
            let Some(found) = path.search_records(doc) else {
                return vec![CsvRow::Invalid(
                    None,
                    Rejection::JsonPathEmpty(path.as_str().to_string()),
                )];
            };
            let mut items = Vec::with_capacity(found.len());
            for item in found {
                match item.as_str() {
                    Some(s) => items.push(Cow::Owned(s.to_string())),
                    None => {
                        return vec![CsvRow::Invalid(
                            Some(item.into_owned()),
                            Rejection::Csv("json_path selected a non-string".into()),
                        )];
                    }
                }
            }
            items
        }
        None => match root.text() {
            Ok(t) => vec![Cow::Borrowed(t)],
            Err(r) => return vec![CsvRow::Invalid(None, r)],
        },
    };
    let mut out = Vec::new();
    for item in items {
        match read_rows(&item, dialect) {
            Err(e) => out.push(CsvRow::Invalid(
                Some(Value::String(item.into_owned())),
                Rejection::Csv(e.to_string()),
            )),
            Ok(rows) => out.extend(rows.into_iter().map(CsvRow::Row)),
        }
    }
    out
}

/// Maps rows onto a schema's keys by position.
/// The candidates of `rows` for one schema. `rejected_values` keeps each rejected row as the
/// candidate's value (what a dead letter stores); without it rejected candidates carry no value,
/// which spares copying every row for each csv log type that merely gets tried.
pub fn candidates_from_rows(
    rows: &[CsvRow],
    schema: &Schema,
    dialect: CsvDialect,
    rejected_values: bool,
) -> Vec<Candidate<'static>> {
    rows.iter()
        .map(|row| match row {
            CsvRow::Row(columns) => row_candidate(columns, schema, dialect, rejected_values),
            CsvRow::Invalid(value, rejection) => Candidate::invalid(
                value.clone().filter(|_| rejected_values).map(Cow::Owned),
                rejection.clone(),
            ),
        })
        .collect()
}

fn row_candidate(
    row: &[String],
    schema: &Schema,
    dialect: CsvDialect,
    rejected_values: bool,
) -> Candidate<'static> {
    match row_to_record(row, schema, dialect) {
        Ok(record) => Candidate::valid(Cow::Owned(Value::Object(record))),
        Err(rejection) => Candidate::invalid(
            rejected_values.then(|| {
                Cow::Owned(Value::Array(
                    row.iter().cloned().map(Value::String).collect(),
                ))
            }),
            rejection,
        ),
    }
}

fn row_to_record(
    row: &[String],
    schema: &Schema,
    dialect: CsvDialect,
) -> Result<Map<String, Value>, Rejection> {
    if row.len() != schema.len() {
        return Err(Rejection::ColumnCount {
            got: row.len(),
            want: schema.len(),
        });
    }
    let mut record = Map::with_capacity(schema.len());
    for ((key, ty), column) in schema.iter().zip(row) {
        let value = match ty {
            FieldType::Nested(nested) => {
                let rows = read_rows(column, dialect).map_err(|e| Rejection::Csv(e.to_string()))?;
                let first = rows.first().ok_or(Rejection::ColumnCount {
                    got: 0,
                    want: nested.len(),
                })?;
                Value::Object(row_to_record(first, nested, dialect)?)
            }
            _ => Value::String(column.clone()),
        };
        record.insert(key.clone(), value);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        Schema::from_map(v.as_object().unwrap())
    }

    #[test]
    fn spec_example_with_nested_columns() {
        // docs/spec §5.3: `"1485729127","john_adams","memcache,us-east1"` → nested message.
        let s = schema(
            json!({"time": "integer", "user": "string", "message": {"role": "string", "region": "string"}}),
        );
        let c = extract(
            CsvDialect::default(),
            None,
            &s,
            &Root::Text(r#""1485729127","john_adams","memcache,us-east1""#.into()),
        );
        assert_eq!(
            c[0].value.clone().unwrap().into_owned(),
            json!({"time": "1485729127", "user": "john_adams", "message": {"role": "memcache", "region": "us-east1"}})
        );
    }

    #[test]
    fn every_row_is_a_candidate() {
        let s = schema(json!({"a": "string", "b": "string"}));
        let c = extract(
            CsvDialect::default(),
            None,
            &s,
            &Root::Text("1,2\n3\n".into()),
        );
        assert_eq!(c.len(), 2);
        assert!(c[0].rejection.is_none());
        assert_eq!(
            c[1].rejection,
            Some(Rejection::ColumnCount { got: 1, want: 2 })
        );
        assert_eq!(c[1].value.clone().unwrap().into_owned(), json!(["3"]));
    }

    #[test]
    fn csv_inside_json() {
        let s = schema(json!({"a": "string", "b": "string"}));
        let path = JmesPath::compile("lines").unwrap();
        let c = extract(
            CsvDialect::default(),
            Some(&path),
            &s,
            &Root::Json(json!({"lines": ["1,2", "3,4"]})),
        );
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[1].value.clone().unwrap().into_owned(),
            json!({"a": "3", "b": "4"})
        );
    }
}
