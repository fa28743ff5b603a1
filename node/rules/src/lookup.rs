//! Where `LookupTables.get` answers come from (docs/spec §14.2): a source the embedder plugs in.
//!
//! The node plugs in its replicated tables; `sactl test rules` plugs in each test event's
//! fixtures. Python reaches the active source through the `_sa_native` module.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

/// A set of named lookup tables.
pub trait LookupTableSource: Send + Sync {
    /// The table's driver type (`dynamodb`, `s3`, `ephemeral`, ...), `None` when the table does
    /// not exist (Python then sees StreamAlert's null table: every lookup returns the default).
    fn driver(&self, table: &str) -> Option<String>;

    /// The stored value, `Ok(None)` when the key is absent. An error surfaces in Python as an
    /// exception raised by `LookupTables.get` (inside a rule: the rule does not fire).
    fn get(&self, table: &str, key: &str) -> Result<Option<Value>, String>;
}

/// Why a test event's `test_fixtures.lookup_tables` is not an object of tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupFixtureError {
    #[error("lookup_tables fixtures must be an object of tables")]
    NotAnObject,
    /// This table is not an object of keys.
    #[error("lookup_tables fixture table {0:?} must be an object of keys")]
    TableNotAnObject(String),
}

/// In-memory tables: a test event's `test_fixtures.lookup_tables`, or tables built in tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixtureTables {
    tables: HashMap<String, Map<String, Value>>,
}

impl FixtureTables {
    pub fn new(tables: HashMap<String, Map<String, Value>>) -> Self {
        FixtureTables { tables }
    }

    /// Reads `{"table": {"key": value}}`; anything else is an error naming the offending part.
    pub fn from_json(value: &Value) -> Result<Self, LookupFixtureError> {
        let Value::Object(tables) = value else {
            return Err(LookupFixtureError::NotAnObject);
        };
        let mut parsed = HashMap::new();
        for (name, table) in tables {
            let Value::Object(entries) = table else {
                return Err(LookupFixtureError::TableNotAnObject(name.clone()));
            };
            parsed.insert(name.clone(), entries.clone());
        }
        Ok(FixtureTables { tables: parsed })
    }
}

impl LookupTableSource for FixtureTables {
    fn driver(&self, table: &str) -> Option<String> {
        self.tables
            .contains_key(table)
            .then(|| "ephemeral".to_owned())
    }

    fn get(&self, table: &str, key: &str) -> Result<Option<Value>, String> {
        Ok(self
            .tables
            .get(table)
            .and_then(|entries| entries.get(key))
            .cloned())
    }
}

static ACTIVE: RwLock<Option<Arc<dyn LookupTableSource>>> = RwLock::new(None);

/// Makes `source` the tables every rule in this process reads (there is one interpreter).
pub fn install(source: Arc<dyn LookupTableSource>) {
    *ACTIVE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(source);
}

/// Removes the installed tables: lookups return their defaults.
pub fn uninstall() {
    *ACTIVE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
}

pub(crate) fn active() -> Option<Arc<dyn LookupTableSource>> {
    ACTIVE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fixtures_return_stored_values_even_when_falsy_and_none_for_missing_keys() {
        let tables = FixtureTables::from_json(&json!({"t": {"k": [], "z": 0}})).unwrap();
        assert_eq!(tables.get("t", "k").unwrap(), Some(json!([])));
        assert_eq!(tables.get("t", "z").unwrap(), Some(json!(0)));
        assert_eq!(tables.get("t", "missing").unwrap(), None);
        assert_eq!(tables.driver("t").as_deref(), Some("ephemeral"));
        assert_eq!(tables.driver("other"), None);
    }

    #[test]
    fn malformed_fixtures_name_the_table() {
        let error = FixtureTables::from_json(&json!({"t": ["k"]}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"t\""), "{error}");
    }
}
