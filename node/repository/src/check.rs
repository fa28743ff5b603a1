//! A StreamAlert repository on disk, loaded for detection: the classifier config and the rule
//! layout. Used for the local conf/ at start-up and for every config bundle pushed later.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sa_engine::{Classifier, Config};
use sa_rules::threat_intel::ThreatIntelConfig;
use sa_rules::{EngineOptions, RepositoryLayout, RulesEngine};

pub struct LoadedRepository {
    pub root: PathBuf,
    pub classifier: Classifier,
    pub layout: RepositoryLayout,
    /// `conf/threat_intel.json`, when it is enabled and some cluster opts in (docs/spec §9.9).
    pub threat_intel: Option<ThreatIntelConfig>,
}

impl LoadedRepository {
    /// Loads `conf_dir` (schemas, clusters, global.json) and the rule layout rooted at `root`;
    /// `rules_dir`, when given, replaces global.json's rule locations.
    pub fn load(root: &Path, conf_dir: &Path, rules_dir: Option<&Path>) -> anyhow::Result<Self> {
        let config = Config::load_dir(conf_dir).map_err(|errors| anyhow::anyhow!("{errors}"))?;
        let mut layout =
            RepositoryLayout::from_config(root, conf_dir).map_err(anyhow::Error::msg)?;
        if let Some(rules_dir) = rules_dir {
            let relative = rules_dir.strip_prefix(root).unwrap_or(rules_dir);
            if relative.is_absolute() {
                bail!(
                    "rules dir {} must be inside the repository root {}",
                    rules_dir.display(),
                    root.display()
                );
            }
            layout.rule_dirs = vec![relative.to_string_lossy().trim_end_matches('/').to_string()];
        }
        let threat_intel = ThreatIntelConfig::load(conf_dir).map_err(anyhow::Error::msg)?;
        Ok(LoadedRepository {
            root: root.to_path_buf(),
            classifier: Classifier::new(config),
            layout,
            threat_intel,
        })
    }
}

/// Starts the line of `sanode --check-repository`'s output that holds its summary.
pub const SUMMARY_MARKER: &str = "sa-check-summary ";

/// What a valid repository holds that the cluster's rule table follows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepositorySummary {
    pub rules: Vec<String>,
    /// `infrastructure.rule_staging.enabled`.
    pub rule_staging: bool,
}

/// Full validation of a repository in this process: config loads and every rule, matcher and
/// publisher imports. A process holds one interpreter, so this is for `sactl` and for the node's
/// `--check-repository` child process, never for a running node.
pub fn check_repository(root: &Path) -> anyhow::Result<RepositorySummary> {
    let repository = LoadedRepository::load(root, &root.join("conf"), None)
        .with_context(|| format!("{}: invalid configuration", root.display()))?;
    let files = &repository.classifier.config().files;
    crate::lookup_tables::refreshed_tables(
        &root.join("conf/lookup_tables.json"),
        files.get("lookup_tables"),
    )?;
    if let Some(outputs) = files.get("outputs") {
        sa_outputs::OutputsConfig::from_value(
            outputs,
            &root.join("conf/outputs.json").display().to_string(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let engine = RulesEngine::load(&repository.layout, &EngineOptions::default())
        .with_context(|| format!("{}: rules do not load", root.display()))?;
    Ok(RepositorySummary {
        rules: engine
            .rules()
            .iter()
            .map(|rule| rule.name.clone())
            .collect(),
        rule_staging: repository.layout.rule_staging,
    })
}
