//! A StreamAlert repository on disk, loaded for detection: the classifier config and the rule
//! layout. Used for the local conf/ at start-up and for every config bundle pushed later.

use std::path::{Path, PathBuf};

use anyhow::bail;
use sa_engine::{Classifier, Config};
use sa_rules::RepositoryLayout;
use sa_rules::threat_intel::ThreatIntelConfig;

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
