//! Small StreamAlert repositories for tests: the shipped schemas and global.json, plus the
//! clusters, schemas, rules and outputs a test needs.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::binaries::repository_root;

/// Writes a repository under `dir/repo` and returns its root. `schemas` and `clusters` are
/// `(file stem, JSON)`; `rules` are `(file name, Python source)` under `rules/`.
pub fn write_repository(
    dir: &Path,
    clusters: &[(&str, Value)],
    schemas: &[(&str, Value)],
    rules: &[(&str, &str)],
    outputs: Option<&Value>,
) -> anyhow::Result<PathBuf> {
    let repo = dir.join("repo");
    let conf = repo.join("conf");
    std::fs::create_dir_all(conf.join("clusters"))?;
    std::fs::create_dir_all(conf.join("schemas"))?;
    for entry in std::fs::read_dir(repository_root().join("conf/schemas"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), conf.join("schemas").join(entry.file_name()))?;
    }
    std::fs::copy(
        repository_root().join("conf/global.json"),
        conf.join("global.json"),
    )?;
    for (name, cluster) in clusters {
        std::fs::write(
            conf.join(format!("clusters/{name}.json")),
            cluster.to_string(),
        )?;
    }
    for (name, schema) in schemas {
        std::fs::write(
            conf.join(format!("schemas/{name}.json")),
            schema.to_string(),
        )?;
    }
    if let Some(outputs) = outputs {
        std::fs::write(conf.join("outputs.json"), outputs.to_string())?;
    }
    for dir in ["rules/matchers", "rules/publishers"] {
        std::fs::create_dir_all(repo.join(dir))?;
    }
    for (name, source) in rules {
        std::fs::write(repo.join("rules").join(name), source)?;
    }
    Ok(repo)
}

/// A repository of one cluster, `probe`, whose HTTP ingest source `source` carries `probe:event`
/// records (`{"kind": string, "seq": integer}`), with `rules` (file name under rules/, Python
/// source) and `outputs` as conf/outputs.json.
pub fn probe_repository(
    dir: &Path,
    source: &str,
    rules: &[(&str, &str)],
    outputs: &Value,
) -> anyhow::Result<PathBuf> {
    write_repository(
        dir,
        &[(
            "probe",
            json!({"id": "probe", "classifier_config": {}, "data_sources": {"http": {source: ["probe"]}}}),
        )],
        &[(
            "probe",
            json!({"probe:event": {"parser": "json", "schema": {"kind": "string", "seq": "integer"}}}),
        )],
        rules,
        Some(outputs),
    )
}

/// Turns on rule staging (`infrastructure.rule_staging` in global.json) and promotion
/// (`rule_promotion_config` in lambda.json) in the repository at `repo`.
pub fn enable_rule_staging(repo: &Path) -> anyhow::Result<()> {
    let global_path = repo.join("conf/global.json");
    let mut global: Value = serde_json::from_str(&std::fs::read_to_string(&global_path)?)?;
    global["infrastructure"]["rule_staging"]["enabled"] = json!(true);
    std::fs::write(&global_path, global.to_string())?;
    std::fs::write(
        repo.join("conf/lambda.json"),
        json!({"rule_promotion_config": {"enabled": true}}).to_string(),
    )?;
    Ok(())
}

/// Copies the directory `from` to `to`, recursively (a repository to change in a test).
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
