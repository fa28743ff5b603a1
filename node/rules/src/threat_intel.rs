//! Threat-intel enrichment before rules run (docs/spec §9.9): normalized values that are known
//! IOCs are added to `record["streamalert:ioc"][ioc_type]`.
//!
//! Deliberate fix of StreamAlert's v2-normalization crash (docs/spec Appendix D #12): the values checked
//! are each normalization entry's `values`, not the entry objects.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::alert::NORMALIZATION_KEY;

pub const IOC_KEY: &str = "streamalert:ioc";

/// The IOC table: which of the queried values are known IOCs.
pub trait IocStore: Send + Sync {
    fn known(&self, values: &[String]) -> Result<HashSet<String>, String>;
}

/// Why a test event's `test_fixtures.threat_intel` is not a list of IOCs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IocFixtureError {
    #[error("threat_intel fixtures must be a list of {{ioc_value, ioc_type, sub_type}}")]
    NotAList,
    /// The entry at this index has no string `ioc_value`.
    #[error("threat_intel fixture [{0}] has no string ioc_value")]
    NoIocValue(usize),
}

/// Why `conf/threat_intel.json` gives no configuration: the file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct ThreatIntelConfigError {
    pub file: PathBuf,
    pub problem: ThreatIntelConfigProblem,
}

/// What is wrong with `conf/threat_intel.json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThreatIntelConfigProblem {
    /// It exists but cannot be read (the OS's message).
    #[error("{0}")]
    Read(String),
    /// The parser's message.
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("dynamodb_table_name must name the IOC table")]
    NoTableName,
    #[error("normalized_ioc_types must be an object")]
    NormalizedTypesNotAnObject,
}

/// A test event's `test_fixtures.threat_intel` entries.
#[derive(Debug, Clone, Default)]
pub struct FixtureIocs {
    values: HashSet<String>,
}

impl FixtureIocs {
    /// Reads `[{"ioc_value": ..., "ioc_type": ..., "sub_type": ...}]`.
    pub fn from_json(value: &Value) -> Result<Self, IocFixtureError> {
        let Value::Array(entries) = value else {
            return Err(IocFixtureError::NotAList);
        };
        let values = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                entry
                    .get("ioc_value")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or(IocFixtureError::NoIocValue(i))
            })
            .collect::<Result<_, _>>()?;
        Ok(FixtureIocs { values })
    }
}

impl IocStore for FixtureIocs {
    fn known(&self, values: &[String]) -> Result<HashSet<String>, String> {
        Ok(values
            .iter()
            .filter(|v| self.values.contains(*v))
            .cloned()
            .collect())
    }
}

/// `conf/threat_intel.json`, when enabled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreatIntelConfig {
    /// `dynamodb_table_name`: the IOC table (hash key `ioc_value`).
    pub table_name: String,
    /// normalized type → IOC type.
    pub ioc_type_of: BTreeMap<String, String>,
    /// IOC type → excluded values (for `ip`: CIDRs).
    pub excluded: BTreeMap<String, Vec<String>>,
}

impl ThreatIntelConfig {
    /// `Ok(None)` when the file is absent, `enabled` is not true, or no cluster
    /// (`conf/clusters/*.json`) sets `enable_threat_intel: true` (docs/spec §9.9).
    pub fn load(conf_dir: &Path) -> Result<Option<Self>, ThreatIntelConfigError> {
        if !any_cluster_enables_threat_intel(&conf_dir.join("clusters")) {
            return Ok(None);
        }
        let path = conf_dir.join("threat_intel.json");
        let error = |problem| ThreatIntelConfigError {
            file: path.clone(),
            problem,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(error(ThreatIntelConfigProblem::Read(e.to_string()))),
        };
        let config: Value = serde_json::from_str(&text)
            .map_err(|e| error(ThreatIntelConfigProblem::Json(e.to_string())))?;
        if config.get("enabled") != Some(&Value::Bool(true)) {
            return Ok(None);
        }
        let mut parsed = ThreatIntelConfig::default();
        match config.get("dynamodb_table_name") {
            Some(Value::String(table)) if !table.is_empty() => parsed.table_name = table.clone(),
            _ => return Err(error(ThreatIntelConfigProblem::NoTableName)),
        }
        if let Some(Value::Object(types)) = config.get("normalized_ioc_types") {
            for (ioc_type, normalized) in types {
                for name in normalized
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    parsed.ioc_type_of.insert(name.to_owned(), ioc_type.clone());
                }
            }
        } else {
            return Err(error(ThreatIntelConfigProblem::NormalizedTypesNotAnObject));
        }
        if let Some(Value::Object(excluded)) = config.get("excluded_iocs") {
            for (ioc_type, values) in excluded {
                let values = values
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                parsed.excluded.insert(ioc_type.clone(), values);
            }
        }
        Ok(Some(parsed))
    }

    fn is_excluded(&self, ioc_type: &str, value: &str) -> bool {
        let excluded = self
            .excluded
            .get(ioc_type)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if ioc_type == "ip" {
            let Ok(address) = value.parse::<IpAddr>() else {
                return true;
            };
            return excluded.iter().any(|cidr| cidr_contains(cidr, address));
        }
        excluded.iter().any(|e| e == value)
    }

    /// Adds matched IOCs to the records that carry them; returns how many records matched.
    pub fn enrich(
        &self,
        records: &mut [&mut Map<String, Value>],
        store: &dyn IocStore,
    ) -> Result<usize, String> {
        let lookups = self.lookups(records);
        let mut known = HashSet::new();
        for chunk in lookups.values().chunks(IOC_QUERY_CHUNK) {
            known.extend(store.known(chunk)?);
        }
        Ok(lookups.apply(records, &known))
    }

    /// The values of `records` to look up in the IOC table (steps 1–2 of docs/spec §9.9): their
    /// normalized values of IOC-mapped types, less the excluded ones.
    pub fn lookups(&self, records: &[&mut Map<String, Value>]) -> IocLookups {
        let mut wanted: HashMap<String, Vec<(usize, String)>> = HashMap::new();
        for (position, record) in records.iter().enumerate() {
            let Some(Value::Object(normalized)) = record.get(NORMALIZATION_KEY) else {
                continue;
            };
            for (normalized_type, entries) in normalized {
                let Some(ioc_type) = self.ioc_type_of.get(normalized_type) else {
                    continue;
                };
                let values = entries
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("values"))
                    .filter_map(Value::as_array)
                    .flatten();
                for value in values {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => continue,
                    };
                    if !self.is_excluded(ioc_type, &text) {
                        wanted
                            .entry(text)
                            .or_default()
                            .push((position, ioc_type.clone()));
                    }
                }
            }
        }
        IocLookups { wanted }
    }
}

/// StreamAlert queries the IOC table 100 keys at a time (`BatchGetItem`'s limit).
pub const IOC_QUERY_CHUNK: usize = 100;

/// Values of a batch to look up in the IOC table, and which records (and as what IOC type)
/// each one came from.
#[derive(Debug, Default)]
pub struct IocLookups {
    wanted: HashMap<String, Vec<(usize, String)>>,
}

impl IocLookups {
    /// The distinct values, sorted.
    pub fn values(&self) -> Vec<String> {
        let mut values: Vec<String> = self.wanted.keys().cloned().collect();
        values.sort();
        values
    }

    /// Step 4 of docs/spec §9.9: each record gets `streamalert:ioc[ioc_type]`, a list of its values the
    /// table knows (a set in StreamAlert, serialized as a list). Returns the records matched.
    pub fn apply(&self, records: &mut [&mut Map<String, Value>], known: &HashSet<String>) -> usize {
        let mut matches: BTreeMap<usize, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for value in known {
            for (position, ioc_type) in self.wanted.get(value).into_iter().flatten() {
                matches
                    .entry(*position)
                    .or_default()
                    .entry(ioc_type.clone())
                    .or_default()
                    .insert(value.clone());
            }
        }
        for (position, iocs) in &matches {
            let entry = records[*position]
                .entry(IOC_KEY)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(by_type) = entry {
                for (ioc_type, values) in iocs {
                    let slot = by_type
                        .entry(ioc_type.clone())
                        .or_insert_with(|| Value::Array(vec![]));
                    if let Value::Array(existing) = slot {
                        for value in values {
                            let value = Value::String(value.clone());
                            if !existing.contains(&value) {
                                existing.push(value);
                            }
                        }
                    }
                }
            }
        }
        matches.len()
    }
}

fn any_cluster_enables_threat_intel(clusters: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(clusters) else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read_to_string(entry.path())
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|cluster| cluster.get("enable_threat_intel") == Some(&Value::Bool(true)))
    })
}

fn cidr_contains(cidr: &str, address: IpAddr) -> bool {
    let (network, prefix) = cidr.split_once('/').unwrap_or((cidr, ""));
    let Ok(network) = network.parse::<IpAddr>() else {
        return false;
    };
    match (network, address) {
        (IpAddr::V4(net), IpAddr::V4(addr)) => {
            let bits = prefix.parse::<u32>().unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(net) & mask == u32::from(addr) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(addr)) => {
            let bits = prefix.parse::<u32>().unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(net) & mask == u128::from(addr) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> ThreatIntelConfig {
        ThreatIntelConfig {
            table_name: "iocs".to_owned(),
            ioc_type_of: [
                ("sourceAddress".to_owned(), "ip".to_owned()),
                ("domain".to_owned(), "domain".to_owned()),
            ]
            .into(),
            excluded: [
                ("ip".to_owned(), vec!["10.0.0.0/8".to_owned()]),
                ("domain".to_owned(), vec!["ok.com".to_owned()]),
            ]
            .into(),
        }
    }

    #[test]
    fn known_normalized_values_are_added_under_their_ioc_type_and_exclusions_are_skipped() {
        let mut record = json!({"streamalert_normalization": {
            "sourceAddress": [{"function": "src", "values": ["1.2.3.4", "10.1.1.1", "not-an-ip"]}],
            "domain": [{"function": null, "values": ["evil.com", "ok.com"]}],
            "streamalert_record_id": "x"}})
        .as_object()
        .unwrap()
        .clone();
        let mut clean = json!({"a": 1}).as_object().unwrap().clone();
        let store = FixtureIocs::from_json(&json!([
            {"ioc_value": "1.2.3.4", "ioc_type": "ip", "sub_type": "mal"},
            {"ioc_value": "10.1.1.1", "ioc_type": "ip", "sub_type": "mal"},
            {"ioc_value": "evil.com", "ioc_type": "domain", "sub_type": "c2"},
            {"ioc_value": "ok.com", "ioc_type": "domain", "sub_type": "c2"}
        ]))
        .unwrap();
        let matched = config()
            .enrich(&mut [&mut record, &mut clean], &store)
            .unwrap();
        assert_eq!(matched, 1);
        assert_eq!(
            record[IOC_KEY],
            json!({"domain": ["evil.com"], "ip": ["1.2.3.4"]})
        );
        assert!(!clean.contains_key(IOC_KEY));
    }

    #[test]
    fn loads_only_when_enabled_and_some_cluster_opts_in() {
        let dir = std::env::temp_dir().join(format!("sa-ti-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("clusters")).unwrap();
        std::fs::write(
            dir.join("threat_intel.json"),
            r#"{"enabled": true, "dynamodb_table_name": "iocs", "normalized_ioc_types": {"ip": ["sourceAddress"]}, "excluded_iocs": {"ip": {"10.0.0.0/8": {}}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("clusters/prod.json"),
            r#"{"enable_threat_intel": false}"#,
        )
        .unwrap();
        assert_eq!(ThreatIntelConfig::load(&dir), Ok(None));
        std::fs::write(
            dir.join("clusters/prod.json"),
            r#"{"enable_threat_intel": true}"#,
        )
        .unwrap();
        let config = ThreatIntelConfig::load(&dir).unwrap().unwrap();
        assert_eq!(config.table_name, "iocs");
        assert_eq!(config.ioc_type_of["sourceAddress"], "ip");
        assert_eq!(config.excluded["ip"], ["10.0.0.0/8"]);
        // Enabled without a table to query is a configuration error naming the file.
        std::fs::write(
            dir.join("threat_intel.json"),
            r#"{"enabled": true, "normalized_ioc_types": {"ip": ["sourceAddress"]}}"#,
        )
        .unwrap();
        let error = ThreatIntelConfig::load(&dir).unwrap_err().to_string();
        assert!(
            error.contains("threat_intel.json") && error.contains("dynamodb_table_name"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cidrs_match_by_prefix() {
        assert!(cidr_contains("10.0.0.0/8", "10.255.0.1".parse().unwrap()));
        assert!(!cidr_contains("10.0.0.0/8", "11.0.0.1".parse().unwrap()));
        assert!(cidr_contains("::/0", "::1".parse().unwrap()));
        assert!(!cidr_contains("10.0.0.0/8", "::1".parse().unwrap()));
    }
}
