//! Validating a config bundle before the cluster accepts it. Loading rules needs a Python
//! interpreter of its own (one per process, and this node's runs the active rules), so the
//! check runs in a child process: this same executable with `--check-repository DIR`.

use std::path::Path;

use anyhow::{Context, bail};

use sa_repository::bundle::ConfigBundle;
use sa_repository::{RepositorySummary, SUMMARY_MARKER};

pub async fn validate(data_dir: &Path, bundle: &ConfigBundle) -> anyhow::Result<RepositorySummary> {
    let scratch = data_dir.join("tmp");
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("bundle-check-")
        .tempdir_in(&scratch)?;
    bundle.materialize(dir.path())?;
    let exe = std::env::current_exe().context("cannot find the sanode executable")?;
    let output = tokio::process::Command::new(exe)
        .arg("--check-repository")
        .arg(dir.path())
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run the bundle check")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Paths inside the scratch copy mean nothing to the user: show them repository-relative.
        let prefix = format!("{}/", dir.path().display());
        bail!("{}", stderr.replace(&prefix, "").trim_end());
    }
    // A rule module may print while it is imported: the summary is on its marked line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(SUMMARY_MARKER))
        .with_context(|| format!("the bundle check printed no summary: {stdout}"))?;
    serde_json::from_str(summary)
        .with_context(|| format!("the bundle check printed an undecodable summary: {summary}"))
}
