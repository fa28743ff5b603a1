//! Which tables of `conf/lookup_tables.json` (docs/spec §14.1, §14.3) the leader refreshes from
//! S3 or DynamoDB, validated field by field so a bad file is refused before it runs.

use std::path::Path;
use std::time::Duration;

use sa_engine::error::{ConfigError, ConfigErrors, JsonPath, describe};
use serde_json::{Map, Value};

/// Drivers whose tables live only in the replicated state (filled by `sactl lookup-tables`).
const LOCAL_DRIVERS: [&str; 2] = ["ephemeral", "null"];

/// A table's whole contents, sorted by key (the order the replicated state stores them in).
pub type TableEntries = std::collections::BTreeMap<String, Value>;

/// An `s3` table (docs/spec §14.3): one JSON object in S3, optionally compressed, whose keys are
/// the lookup keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Table {
    pub bucket: String,
    pub key: String,
    /// StreamAlert's truthy `compression`: try zlib/gzip, fall back to the raw bytes.
    pub compression: bool,
}

/// A `dynamodb` table (docs/spec §14.3), scanned whole and keyed the way StreamAlert's lookups
/// address items: the partition key's value, or `<partition><delimiter><sort>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoTable {
    pub table: String,
    pub partition_key: String,
    pub value_key: String,
    pub sort_key: Option<String>,
    pub key_delimiter: String,
    /// StreamAlert documents and ignores it; sa asks for consistent scans when it is set.
    pub consistent_read: bool,
}

/// Where a refreshed table's contents come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TableSource {
    S3(S3Table),
    DynamoDb(DynamoTable),
}

/// A table the leader re-downloads every `refresh_every` and commits when its contents change.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshedTable {
    pub name: String,
    pub source: TableSource,
    pub refresh_every: Duration,
}

/// The refreshed tables of a `lookup_tables.json` document (`None`: the file is absent).
/// `file` only names the file in errors. A disabled file declares no tables, as in StreamAlert.
pub fn refreshed_tables(
    file: &Path,
    document: Option<&Value>,
) -> Result<Vec<RefreshedTable>, ConfigErrors> {
    let Some(document) = document else {
        return Ok(Vec::new());
    };
    let mut check = Checker {
        file,
        errors: Vec::new(),
    };
    let root = JsonPath::root();
    let Some(document) = check.object(document, &root) else {
        return Err(ConfigErrors(check.errors));
    };
    let enabled = match document.get("enabled") {
        None => false,
        Some(Value::Bool(enabled)) => *enabled,
        Some(other) => {
            check.fail(
                &root.key("enabled"),
                format!("must be true or false, found {}", describe(other)),
            );
            false
        }
    };
    let mut tables = Vec::new();
    if enabled {
        let path = root.key("tables");
        match document.get("tables") {
            None => {}
            Some(value) => {
                if let Some(declared) = check.object(value, &path) {
                    for (name, table) in declared {
                        if let Some(table) = check.table(name, table, &path.key(name)) {
                            tables.push(table);
                        }
                    }
                }
            }
        }
    }
    if check.errors.is_empty() {
        Ok(tables)
    } else {
        Err(ConfigErrors(check.errors))
    }
}

struct Checker<'a> {
    file: &'a Path,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn fail(&mut self, path: &JsonPath, reason: impl Into<String>) {
        self.errors.push(ConfigError::new(self.file, path, reason));
    }

    fn object<'v>(&mut self, value: &'v Value, path: &JsonPath) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.fail(
                    path,
                    format!("must be an object, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// `None` for tables that are not refreshed (local drivers) and for invalid ones (the
    /// errors are recorded).
    fn table(&mut self, name: &str, table: &Value, path: &JsonPath) -> Option<RefreshedTable> {
        if name.is_empty() || name.contains('\0') {
            self.fail(
                path,
                "a table name must be non-empty and hold no NUL character",
            );
        }
        let table = self.object(table, path)?;
        let errors_before = self.errors.len();
        let driver_path = path.key("driver");
        let (source, default_minutes) = match table.get("driver") {
            Some(Value::String(driver)) if driver == "s3" => {
                let source = S3Table {
                    bucket: self.required_string(table, "bucket", path, "s3"),
                    key: self.required_string(table, "key", path, "s3"),
                    // StreamAlert tests `compression` with Python truthiness (the docs say `"gzip"`).
                    compression: table
                        .get("compression")
                        .is_some_and(sa_engine::python::is_truthy),
                };
                (TableSource::S3(source), 10.0)
            }
            Some(Value::String(driver)) if driver == "dynamodb" => {
                let source = DynamoTable {
                    table: self.required_string(table, "table", path, "dynamodb"),
                    partition_key: self.required_string(table, "partition_key", path, "dynamodb"),
                    value_key: self.required_string(table, "value_key", path, "dynamodb"),
                    sort_key: self.optional_string(table, "sort_key", path),
                    key_delimiter: self
                        .optional_string(table, "key_delimiter", path)
                        .unwrap_or_else(|| ":".to_string()),
                    consistent_read: self.optional_bool(table, "consistent_read", path),
                };
                if let Some(count) = table.get("cache_maximum_key_count")
                    && count.as_u64().is_none()
                {
                    self.fail(
                        &path.key("cache_maximum_key_count"),
                        format!("must be a non-negative integer, found {}", describe(count)),
                    );
                }
                (TableSource::DynamoDb(source), 3.0)
            }
            Some(Value::String(driver)) if LOCAL_DRIVERS.contains(&driver.as_str()) => {
                return None;
            }
            // sa's own replicated tables may omit the driver (they are filled by sactl).
            None => return None,
            Some(other) => {
                self.fail(
                    &driver_path,
                    format!(
                        "unknown driver {}: expected \"s3\", \"dynamodb\", \"ephemeral\" or \"null\"",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let minutes = self.positive_number(table, "cache_refresh_minutes", path);
        let seconds = self.positive_number(table, "cache_refresh_seconds", path);
        let refresh_every = match (seconds, minutes) {
            (Some(seconds), _) => Duration::from_secs_f64(seconds),
            (None, Some(minutes)) => Duration::from_secs_f64(minutes * 60.0),
            (None, None) => Duration::from_secs_f64(default_minutes * 60.0),
        };
        (self.errors.len() == errors_before).then(|| RefreshedTable {
            name: name.to_string(),
            source,
            refresh_every,
        })
    }

    fn required_string(
        &mut self,
        table: &Map<String, Value>,
        field: &str,
        path: &JsonPath,
        driver: &str,
    ) -> String {
        match table.get(field) {
            Some(Value::String(value)) if !value.is_empty() => value.clone(),
            None => {
                self.fail(
                    &path.key(field),
                    format!("missing: the {driver} driver needs it"),
                );
                String::new()
            }
            Some(other) => {
                self.fail(
                    &path.key(field),
                    format!("must be a non-empty string, found {}", describe(other)),
                );
                String::new()
            }
        }
    }

    fn optional_string(
        &mut self,
        table: &Map<String, Value>,
        field: &str,
        path: &JsonPath,
    ) -> Option<String> {
        match table.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(value)) if !value.is_empty() => Some(value.clone()),
            Some(other) => {
                self.fail(
                    &path.key(field),
                    format!("must be a non-empty string, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn optional_bool(&mut self, table: &Map<String, Value>, field: &str, path: &JsonPath) -> bool {
        match table.get(field) {
            None => false,
            Some(Value::Bool(value)) => *value,
            Some(other) => {
                self.fail(
                    &path.key(field),
                    format!("must be true or false, found {}", describe(other)),
                );
                false
            }
        }
    }

    /// A refresh period: a number above zero (and small enough to be a duration).
    fn positive_number(
        &mut self,
        table: &Map<String, Value>,
        field: &str,
        path: &JsonPath,
    ) -> Option<f64> {
        let value = table.get(field)?;
        match value.as_f64() {
            Some(number) if number > 0.0 && number < 1e9 => Some(number),
            _ => {
                self.fail(
                    &path.key(field),
                    format!("must be a number above 0, found {}", describe(value)),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(document: Value) -> Result<Vec<RefreshedTable>, String> {
        refreshed_tables(Path::new("conf/lookup_tables.json"), Some(&document))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_both_drivers_with_their_defaults_and_skips_local_ones() {
        let tables = parse(json!({"enabled": true, "tables": {
            "ddb": {"driver": "dynamodb", "table": "t", "partition_key": "pk", "value_key": "v"},
            "s3": {"driver": "s3", "bucket": "b", "key": "k.json.gz", "compression": "gzip",
                   "cache_refresh_minutes": 0.5},
            "fast": {"driver": "s3", "bucket": "b", "key": "k", "cache_refresh_minutes": 10,
                     "cache_refresh_seconds": 2},
            "local": {"driver": "ephemeral"},
            "none": {"driver": "null"}
        }}))
        .unwrap();
        let by_name = |name: &str| tables.iter().find(|t| t.name == name).unwrap();
        assert_eq!(tables.len(), 3);
        assert_eq!(
            by_name("ddb").source,
            TableSource::DynamoDb(DynamoTable {
                table: "t".into(),
                partition_key: "pk".into(),
                value_key: "v".into(),
                sort_key: None,
                key_delimiter: ":".into(),
                consistent_read: false,
            })
        );
        assert_eq!(by_name("ddb").refresh_every, Duration::from_secs(180));
        assert_eq!(
            by_name("s3").source,
            TableSource::S3(S3Table {
                bucket: "b".into(),
                key: "k.json.gz".into(),
                compression: true,
            })
        );
        assert_eq!(by_name("s3").refresh_every, Duration::from_secs(30));
        assert_eq!(by_name("fast").refresh_every, Duration::from_secs(2));
    }

    #[test]
    fn s3_defaults_to_ten_minutes_and_compression_follows_python_truthiness() {
        let tables = parse(json!({"enabled": true, "tables": {
            "s3": {"driver": "s3", "bucket": "b", "key": "k", "compression": ""}
        }}))
        .unwrap();
        assert_eq!(tables[0].refresh_every, Duration::from_secs(600));
        assert!(matches!(&tables[0].source, TableSource::S3(s) if !s.compression));
    }

    #[test]
    fn a_disabled_or_absent_file_declares_nothing() {
        assert!(
            parse(json!({"enabled": false, "tables": {"x": {"driver": "bogus"}}}))
                .unwrap()
                .is_empty()
        );
        assert!(
            parse(json!({"tables": {"x": {"driver": "s3"}}}))
                .unwrap()
                .is_empty()
        );
        assert!(refreshed_tables(Path::new("x"), None).unwrap().is_empty());
    }

    #[test]
    fn every_bad_field_is_reported_with_file_path_and_reason() {
        let error = parse(json!({"enabled": true, "tables": {
            "s3": {"driver": "s3", "key": 3, "cache_refresh_minutes": 0},
            "ddb": {"driver": "dynamodb", "table": "t", "partition_key": "pk",
                    "consistent_read": "yes", "cache_maximum_key_count": -1},
            "odd": {"driver": "redis"}
        }}))
        .unwrap_err();
        for expected in [
            "conf/lookup_tables.json: $.tables.s3.bucket: missing: the s3 driver needs it",
            "conf/lookup_tables.json: $.tables.s3.key: must be a non-empty string, found 3",
            "conf/lookup_tables.json: $.tables.s3.cache_refresh_minutes: must be a number above 0, found 0",
            "conf/lookup_tables.json: $.tables.ddb.value_key: missing: the dynamodb driver needs it",
            "conf/lookup_tables.json: $.tables.ddb.consistent_read: must be true or false",
            "conf/lookup_tables.json: $.tables.ddb.cache_maximum_key_count: must be a non-negative integer",
            "conf/lookup_tables.json: $.tables.odd.driver: unknown driver \"redis\"",
        ] {
            assert!(error.contains(expected), "{expected:?} not in:\n{error}");
        }
    }

    #[test]
    fn a_document_that_is_not_an_object_is_refused() {
        let error = parse(json!(["s3"])).unwrap_err();
        assert!(error.contains("$: must be an object"), "{error}");
        let error = parse(json!({"enabled": "yes"})).unwrap_err();
        assert!(
            error.contains("$.enabled: must be true or false"),
            "{error}"
        );
    }
}
