//! The shipped conf/outputs.json is valid and names every output the shipped rules use.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sa_outputs::{OutputName, OutputsConfig, is_known_service};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Quoted `service:descriptor` literals in Python sources, for services sa delivers to.
fn output_literals(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for quote in ['\'', '"'] {
        for (i, piece) in source.split(quote).enumerate() {
            if i % 2 == 1
                && let Ok(name) = OutputName::parse(piece)
                && is_known_service(name.service())
            {
                found.push(piece.to_string());
            }
        }
    }
    found
}

fn python_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            python_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "py") {
            files.push(path);
        }
    }
}

/// Log types share the `a:b` shape (`slack:audit` is a log, not an output).
fn log_types() -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    for entry in std::fs::read_dir(repository().join("conf/schemas")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let schemas: serde_json::Value = serde_json::from_str(&text).unwrap();
        types.extend(schemas.as_object().unwrap().keys().cloned());
    }
    types
}

#[test]
fn shipped_outputs_cover_the_shipped_rules() {
    let config = OutputsConfig::load(repository().join("conf/outputs.json")).unwrap();
    let mut files = Vec::new();
    python_files(&repository().join("rules"), &mut files);
    let logs = log_types();
    let used: BTreeSet<String> = files
        .iter()
        .flat_map(|f| output_literals(&std::fs::read_to_string(f).unwrap()))
        .filter(|name| !logs.contains(name))
        .collect();
    assert!(
        used.contains("slack:security") && used.contains("aws-sqs:soar"),
        "{used:?}"
    );
    for name in &used {
        let output = OutputName::parse(name).unwrap();
        assert!(
            config.contains(&output),
            "rules use {name}, conf/outputs.json lacks it"
        );
    }
}
