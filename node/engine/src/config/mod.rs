//! Loading a StreamAlert `conf/` directory (docs/spec §2, §3.6, §3.8, §8).
//!
//! Reading files ([`ConfigSources::read_dir`]) is separate from interpreting them
//! ([`Config::from_sources`]) so the interpretation is pure and can be fuzzed.

mod cluster;
pub mod read;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

pub use cluster::{Cluster, SERVICES};

use crate::error::{ConfigError, ConfigErrors, JsonPath};
use crate::log_type::LogType;
use crate::priority::sort_by_priority;
use read::Reader;

/// One configuration file's path and bytes.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// The files of a `conf/` directory, each group sorted by file name.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// `conf/logs.json`: when present, `schemas` is ignored (docs/spec §2.1).
    pub logs_json: Option<SourceFile>,
    pub schemas: Vec<SourceFile>,
    pub clusters: Vec<SourceFile>,
    /// Every other `conf/*.json` (`global.json`, `outputs.json`, ...).
    pub top_level: Vec<SourceFile>,
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Log types in candidate order: priority-sorted (docs/spec §3.6), or file order for `logs.json`.
    pub log_types: Vec<LogType>,
    /// Clusters in file-name order (the order test events pick them in, docs/spec §15.4).
    pub clusters: Vec<Cluster>,
    /// Every top-level `conf/*.json` other than `logs.json`, by file stem (`global`, ...).
    pub files: IndexMap<String, Value>,
    /// Problems that StreamAlert tolerates (the affected log types never match).
    pub warnings: Vec<ConfigError>,
}

impl ConfigSources {
    /// Reads the JSON files of `conf_dir`; unreadable files and directories are errors.
    pub fn read_dir(conf_dir: &Path) -> Result<ConfigSources, ConfigErrors> {
        let mut errors = Vec::new();
        let mut sources = ConfigSources::default();
        for path in json_files(conf_dir, &mut errors) {
            let Some(contents) = read_file(&path, &mut errors) else {
                continue;
            };
            let file = SourceFile {
                path: path.clone(),
                contents,
            };
            if path.file_name().is_some_and(|n| n == "logs.json") {
                sources.logs_json = Some(file);
            } else {
                sources.top_level.push(file);
            }
        }
        for (sub, target) in [
            ("schemas", &mut sources.schemas),
            ("clusters", &mut sources.clusters),
        ] {
            let dir = conf_dir.join(sub);
            if dir.is_dir() {
                for path in json_files(&dir, &mut errors) {
                    if let Some(contents) = read_file(&path, &mut errors) {
                        target.push(SourceFile { path, contents });
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(sources)
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

fn json_files(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(ConfigError::new(
                dir,
                &JsonPath::root(),
                format!("cannot read directory: {e}"),
            ));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn read_file(path: &Path, errors: &mut Vec<ConfigError>) -> Option<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| {
            errors.push(ConfigError::new(
                path,
                &JsonPath::root(),
                format!("cannot read file: {e}"),
            ))
        })
        .ok()
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn parse_json(file: &SourceFile, errors: &mut Vec<ConfigError>) -> Option<Value> {
    match serde_json::from_slice(&file.contents) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(ConfigError::new(
                &file.path,
                &JsonPath::root(),
                format!(
                    "invalid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
            ));
            None
        }
    }
}

impl Config {
    /// Loads and validates `conf_dir`.
    pub fn load_dir(conf_dir: &Path) -> Result<Config, ConfigErrors> {
        Config::from_sources(&ConfigSources::read_dir(conf_dir)?)
    }

    /// Interprets configuration files: never panics, reports every error it finds.
    pub fn from_sources(sources: &ConfigSources) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let log_types = match &sources.logs_json {
            Some(file) => parse_schema_file(file, &mut errors, &mut warnings)
                .into_iter()
                .map(|(lt, _)| lt)
                .collect(),
            None => {
                let mut merged: IndexMap<String, (LogType, PathBuf)> = IndexMap::new();
                for file in &sources.schemas {
                    for (lt, path) in parse_schema_file(file, &mut errors, &mut warnings) {
                        if let Some((_, earlier)) = merged.get(&lt.name) {
                            warnings.push(ConfigError::new(
                                &file.path,
                                &JsonPath::root().key(&lt.name),
                                format!(
                                    "replaces the log type of the same name in {}",
                                    earlier.display()
                                ),
                            ));
                        }
                        merged.insert(lt.name.clone(), (lt, path));
                    }
                }
                sort_by_priority(
                    merged
                        .into_values()
                        .map(|(lt, _)| {
                            let priority = lt.priority;
                            (lt, priority)
                        })
                        .collect(),
                )
            }
        };
        let mut clusters = Vec::new();
        let mut seen_resources: HashMap<String, (PathBuf, String)> = HashMap::new();
        for file in &sources.clusters {
            let Some(value) = parse_json(file, &mut errors) else {
                continue;
            };
            let mut reader = Reader {
                file: &file.path,
                errors: &mut errors,
            };
            let Some(cluster) = Cluster::parse(&stem(&file.path), &value, &mut reader) else {
                continue;
            };
            for (service, resources) in &cluster.data_sources {
                for (resource, logs) in resources {
                    let at = JsonPath::root()
                        .key("data_sources")
                        .key(service)
                        .key(resource);
                    if let Some((other_file, other_service)) = seen_resources.get(resource) {
                        errors.push(ConfigError::new(
                            &file.path,
                            &at,
                            format!("resource {resource} is already a {other_service} data source in {}", other_file.display()),
                        ));
                    } else {
                        seen_resources
                            .insert(resource.clone(), (file.path.clone(), service.clone()));
                    }
                    for (i, log) in logs.iter().enumerate() {
                        if !log_types
                            .iter()
                            .any(|lt: &LogType| lt.source == *log || lt.name == *log)
                        {
                            warnings.push(ConfigError::new(
                                &file.path,
                                &at.index(i),
                                format!("no log type is named {log} or starts with {log}:"),
                            ));
                        }
                    }
                }
            }
            clusters.push(cluster);
        }
        let mut files = IndexMap::new();
        for file in &sources.top_level {
            if let Some(value) = parse_json(file, &mut errors) {
                files.insert(stem(&file.path), value);
            }
        }
        validate_threat_intel(&files, sources, &mut errors);
        if errors.is_empty() {
            Ok(Config {
                log_types,
                clusters,
                files,
                warnings,
            })
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// `global.json`, if present.
    pub fn global(&self) -> Option<&Value> {
        self.files.get("global")
    }

    pub fn log_type(&self, name: &str) -> Option<&LogType> {
        self.log_types.iter().find(|lt| lt.name == name)
    }
}

fn parse_schema_file(
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<ConfigError>,
) -> Vec<(LogType, PathBuf)> {
    let Some(value) = parse_json(file, errors) else {
        return Vec::new();
    };
    let mut reader = Reader {
        file: &file.path,
        errors,
    };
    let Some(map) = reader.object(&value, &JsonPath::root()) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(name, definition)| {
            let lt = LogType::parse(
                name,
                definition,
                &JsonPath::root().key(name),
                &mut reader,
                warnings,
            )?;
            Some((lt, file.path.clone()))
        })
        .collect()
}

/// docs/spec §2.2 item 5: threat intel IOC types must be normalized types of `normalized_types.json`.
fn validate_threat_intel(
    files: &IndexMap<String, Value>,
    sources: &ConfigSources,
    errors: &mut Vec<ConfigError>,
) {
    let Some(threat_intel) = files.get("threat_intel") else {
        return;
    };
    let path_of = |stem_name: &str| {
        sources
            .top_level
            .iter()
            .find(|f| stem(&f.path) == stem_name)
            .map_or_else(
                || PathBuf::from(format!("{stem_name}.json")),
                |f| f.path.clone(),
            )
    };
    let ti_path = path_of("threat_intel");
    let Some(normalized) = files.get("normalized_types") else {
        errors.push(ConfigError::new(
            &ti_path,
            &JsonPath::root(),
            "threat_intel.json needs normalized_types.json beside it",
        ));
        return;
    };
    let Some(ioc_types) = threat_intel.get("normalized_ioc_types") else {
        errors.push(ConfigError::new(
            &ti_path,
            &JsonPath::root(),
            "threat_intel.json needs normalized_ioc_types",
        ));
        return;
    };
    let mut reader = Reader {
        file: &ti_path,
        errors,
    };
    let at = JsonPath::root().key("normalized_ioc_types");
    let Some(ioc_types) = reader.object(ioc_types, &at) else {
        return;
    };
    let defined: Vec<&String> = normalized
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys())
        .collect();
    for (ioc, names) in ioc_types {
        let Some(names) = reader.string_list(names, &at.key(ioc)) else {
            continue;
        };
        for (i, name) in names.iter().enumerate() {
            if !defined.contains(&name) {
                reader.error(
                    &at.key(ioc).index(i),
                    format!("{name} is not a normalized type in normalized_types.json"),
                );
            }
        }
    }
}
