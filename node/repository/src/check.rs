//! The full check of a repository: everything a node would load, in this process.

use std::path::Path;

use anyhow::Context;
use sa_rules::{EngineOptions, PythonEnv, RulesEngine};

use crate::LoadedRepository;

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
pub fn check_repository(root: &Path, env: &PythonEnv) -> anyhow::Result<RepositorySummary> {
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
    let options = EngineOptions {
        env: env.clone(),
        ..EngineOptions::default()
    };
    let engine = RulesEngine::load(&repository.layout, &options)
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
