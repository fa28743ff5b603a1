//! `file` appends each publication as one JSON line to the path in outputs.json, under the
//! directory the node allows (`--file-output-dir`); `stdout` prints it. Both serve local runs
//! and tests.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape};

const FILE_SERVICE: &str = "file";

pub(crate) const FILE: OutputSpec = OutputSpec {
    name: FILE_SERVICE,
    properties: &[],
    defaults: &[],
    resource: ResourceShape::Required("path of the JSON-lines file alerts are appended to"),
    deliver: |out, _, d| Box::pin(deliver_file(out, d)),
};

pub(crate) const STDOUT: OutputSpec = OutputSpec {
    name: "stdout",
    properties: &[],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |_, _, d| Box::pin(async move { deliver_stdout(d) }),
};

fn line(d: &Delivery<'_>) -> Step<Vec<u8>> {
    let mut line = serde_json::to_vec(d.publication)
        .map_err(|e| DeliveryOutcome::failed(format!("cannot encode the publication: {e}")))?;
    line.push(b'\n');
    Ok(line)
}

async fn deliver_file(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let resource = d.require_resource(FILE_SERVICE)?;
    let path = match out.file_root() {
        Some(root) => confined(root, resource).map_err(DeliveryOutcome::failed)?,
        None => PathBuf::from(resource),
    };
    let path = path.display().to_string();
    let line = line(d)?;
    let _one_writer = out.lock_file_appends().await;
    let mut options = tokio::fs::OpenOptions::new();
    options.create(true).append(true);
    // A link swapped in after the checks is not followed.
    #[cfg(unix)]
    if out.file_root().is_some() {
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options
        .open(&path)
        .await
        .map_err(|e| DeliveryOutcome::retry(format!("file: cannot open {path}: {e}")))?;
    #[cfg(unix)]
    if out.file_root().is_some() {
        use std::os::unix::fs::MetadataExt;
        let links = file.metadata().await.map(|m| m.nlink()).unwrap_or(1);
        if links > 1 {
            return Err(DeliveryOutcome::failed(format!(
                "file: {path} has {links} hard links: file outputs write only to files of their own"
            )));
        }
    }
    file.write_all(&line)
        .await
        .map_err(|e| DeliveryOutcome::retry(format!("file: cannot append to {path}: {e}")))?;
    file.flush()
        .await
        .map_err(|e| DeliveryOutcome::retry(format!("file: cannot append to {path}: {e}")))?;
    Ok(())
}

/// `requested` (relative to `root`, or absolute) if it stays under `root` once directories and
/// links are resolved; its directories are made as needed.
fn confined(root: &Path, requested: &str) -> Result<PathBuf, String> {
    let outside = |why: &str| {
        format!(
            "file: {requested} {why}: file outputs write only under {} (--file-output-dir)",
            root.display()
        )
    };
    let path = Path::new(requested);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(outside("climbs out with `..`"));
    }
    let full = root.join(path);
    if !full.starts_with(root) {
        return Err(outside("is outside"));
    }
    let (Some(parent), Some(name)) = (full.parent(), full.file_name()) else {
        return Err(outside("names no file"));
    };
    std::fs::create_dir_all(root)
        .map_err(|e| format!("file: cannot create {}: {e}", root.display()))?;
    let real_root = root
        .canonicalize()
        .map_err(|e| format!("file: {}: {e}", root.display()))?;
    // No directory is made through a link that leads out: the deepest one that exists already
    // must be inside first.
    let mut existing = parent;
    while !existing.exists() {
        existing = existing.parent().unwrap_or(root);
    }
    if !existing
        .canonicalize()
        .is_ok_and(|real| real.starts_with(&real_root))
    {
        return Err(outside("leads elsewhere through a symbolic link"));
    }
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("file: cannot create {}: {e}", parent.display()))?;
    let real_parent = parent
        .canonicalize()
        .map_err(|e| format!("file: {}: {e}", parent.display()))?;
    if !real_parent.starts_with(&real_root) {
        return Err(outside("leads elsewhere through a symbolic link"));
    }
    let target = real_parent.join(name);
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(outside("is a symbolic link"));
    }
    Ok(target)
}

fn deliver_stdout(d: &Delivery<'_>) -> Step<()> {
    let line = line(d)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&line)
        .and_then(|()| stdout.flush())
        .map_err(|e| DeliveryOutcome::retry(format!("stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("outputs");
        let inside = confined(&root, "alerts/soc.jsonl").unwrap();
        assert!(inside.ends_with("outputs/alerts/soc.jsonl"), "{inside:?}");
        assert!(root.join("alerts").is_dir(), "directories are made");
        let absolute = root.join("abs.jsonl");
        assert!(confined(&root, absolute.to_str().unwrap()).is_ok());

        for (path, why) in [
            ("../escape.jsonl", "climbs out"),
            ("/etc/cron.d/x", "is outside"),
            ("a/../../b", "climbs out"),
        ] {
            let error = confined(&root, path).unwrap_err();
            assert!(
                error.contains(why) && error.contains("--file-output-dir"),
                "{path}: {error}"
            );
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path(), root.join("link")).unwrap();
            let error = confined(&root, "link/x.jsonl").unwrap_err();
            assert!(error.contains("symbolic link"), "{error}");
            let error = confined(&root, "link/made/x.jsonl").unwrap_err();
            assert!(error.contains("symbolic link"), "{error}");
            assert!(!dir.path().join("made").exists(), "nothing is made outside");
            std::os::unix::fs::symlink("/etc/passwd", root.join("passwd.jsonl")).unwrap();
            let error = confined(&root, "passwd.jsonl").unwrap_err();
            assert!(error.contains("symbolic link"), "{error}");
        }
    }
}
