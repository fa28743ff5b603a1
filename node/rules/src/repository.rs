//! Where a StreamAlert repository keeps its Python code (docs/spec §8.3 `general.*_locations`).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why `conf/global.json` gives no repository layout: the file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct LayoutError {
    pub file: PathBuf,
    pub problem: LayoutProblem,
}

/// What is wrong with `conf/global.json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutProblem {
    /// It exists but cannot be read (the OS's message).
    #[error("{0}")]
    Read(String),
    /// The parser's message.
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("infrastructure.rule_staging.enabled must be true or false")]
    RuleStaging,
    /// An entry of `general.<key>` is not a folder name.
    #[error("general.{0} must list folder names")]
    NotAFolderName(String),
    /// `general.<key>` is not a list.
    #[error("general.{0} must be a list of folder names")]
    NotAList(String),
}

/// The import root and the folders (relative to it) of rules, matchers and publishers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryLayout {
    /// On `sys.path`; module names are paths relative to it (`rules/community/x.py` →
    /// `rules.community.x`).
    pub root: PathBuf,
    pub rule_dirs: Vec<String>,
    pub matcher_dirs: Vec<String>,
    pub publisher_dirs: Vec<String>,
    /// `infrastructure.rule_staging.enabled` (docs/spec §9.11): whether the rule table's `Staged` flags
    /// apply.
    pub rule_staging: bool,
}

impl RepositoryLayout {
    /// The layout `conf_dir/global.json` declares (defaults `rules`, `matchers`, `publishers`
    /// when absent), rooted at `root`.
    pub fn from_config(root: &Path, conf_dir: &Path) -> Result<Self, LayoutError> {
        let path = conf_dir.join("global.json");
        let error = |problem| LayoutError {
            file: path.clone(),
            problem,
        };
        let global: Value = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| error(LayoutProblem::Json(e.to_string())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
            Err(e) => return Err(error(LayoutProblem::Read(e.to_string()))),
        };
        let general = global.get("general").cloned().unwrap_or(Value::Null);
        let rule_staging = match global.pointer("/infrastructure/rule_staging/enabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(enabled)) => *enabled,
            Some(_) => return Err(error(LayoutProblem::RuleStaging)),
        };
        let locations = |key: &str, default: &str| -> Result<Vec<String>, LayoutError> {
            match general.get(key) {
                None | Some(Value::Null) => Ok(vec![default.to_owned()]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(|s| s.trim_end_matches('/').to_owned())
                            .ok_or_else(|| error(LayoutProblem::NotAFolderName(key.to_owned())))
                    })
                    .collect(),
                Some(_) => Err(error(LayoutProblem::NotAList(key.to_owned()))),
            }
        };
        Ok(RepositoryLayout {
            root: root.to_owned(),
            rule_dirs: locations("rule_locations", "rules")?,
            matcher_dirs: locations("matcher_locations", "matchers")?,
            publisher_dirs: locations("publisher_locations", "publishers")?,
            rule_staging,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_locations_from_global_json_and_defaults_the_rest() {
        let dir = std::env::temp_dir().join(format!("sa-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("global.json"),
            r#"{"general": {"rule_locations": ["rules/", "more"]}}"#,
        )
        .unwrap();
        let layout = RepositoryLayout::from_config(Path::new("/repo"), &dir).unwrap();
        assert_eq!(layout.rule_dirs, ["rules", "more"]);
        assert_eq!(layout.matcher_dirs, ["matchers"]);
        assert_eq!(layout.publisher_dirs, ["publishers"]);
        assert!(
            !layout.rule_staging,
            "staging is off unless global.json turns it on"
        );
        std::fs::write(
            dir.join("global.json"),
            r#"{"infrastructure": {"rule_staging": {"enabled": true}}}"#,
        )
        .unwrap();
        let layout = RepositoryLayout::from_config(Path::new("/repo"), &dir).unwrap();
        assert!(layout.rule_staging);
        std::fs::write(
            dir.join("global.json"),
            r#"{"infrastructure": {"rule_staging": {"enabled": "yes"}}}"#,
        )
        .unwrap();
        assert!(
            RepositoryLayout::from_config(Path::new("/repo"), &dir)
                .unwrap_err()
                .to_string()
                .contains("infrastructure.rule_staging.enabled")
        );
        std::fs::write(
            dir.join("global.json"),
            r#"{"general": {"rule_locations": "rules"}}"#,
        )
        .unwrap();
        assert!(
            RepositoryLayout::from_config(Path::new("/repo"), &dir)
                .unwrap_err()
                .to_string()
                .contains("rule_locations")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
