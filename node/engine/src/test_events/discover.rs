//! Finding and reading test-event files (docs/spec §15.1, §15.2).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why a test-event file yields no events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventFileError {
    /// The file could not be read (the OS's message).
    #[error("cannot read: {0}")]
    Read(String),
    /// The file is not JSON (the parser's message).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The JSON is not an array (what it is instead).
    #[error("expected a JSON array of test events, got {0}")]
    NotAnArray(String),
}

/// Why [`load`] could not select the test files asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestFilesError {
    #[error("test file {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("a --test-files path is not under the rules directories")]
    NotUnderRulesDirs,
}

/// One `*.json` file under a rules directory.
#[derive(Debug, Clone)]
pub struct TestEventFile {
    pub path: PathBuf,
    /// The events, or why the file is not a JSON array of events. StreamAlert silently skips
    /// such files; sa reports them (docs/spec Appendix D #25).
    pub events: Result<Vec<TestEvent>, EventFileError>,
}

/// One element of a test-event file, untouched (helpers not applied yet).
#[derive(Debug, Clone)]
pub struct TestEvent {
    /// Position in the file, from 0.
    pub index: usize,
    pub value: Value,
}

/// Every `*.json` file under `dirs`, recursively: per directory its files sorted by name, then
/// its subdirectories in name order (`os.walk` top-down, made deterministic).
pub fn discover(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        walk(dir, &mut out);
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            subdirs.push(path);
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    subdirs.sort();
    out.extend(files);
    for sub in subdirs {
        walk(&sub, out);
    }
}

pub fn load_file(path: &Path) -> TestEventFile {
    let events = std::fs::read(path)
        .map_err(|e| EventFileError::Read(e.to_string()))
        .and_then(|bytes| {
            serde_json::from_slice::<Value>(&bytes).map_err(|e| EventFileError::Json(e.to_string()))
        })
        .and_then(|value| match value {
            Value::Array(items) => Ok(items
                .into_iter()
                .enumerate()
                .map(|(index, value)| TestEvent { index, value })
                .collect()),
            other => Err(EventFileError::NotAnArray(crate::error::describe(&other))),
        });
    TestEventFile {
        path: path.to_path_buf(),
        events,
    }
}

/// Discovers and reads the event files under `rules_dirs`; with `only` non-empty, just the
/// discovered files equal to one of those paths (every one of which must exist).
pub fn load(
    rules_dirs: &[PathBuf],
    only: &[PathBuf],
) -> Result<Vec<TestEventFile>, TestFilesError> {
    for path in only {
        if !path.is_file() {
            return Err(TestFilesError::Missing(path.clone()));
        }
    }
    let wanted: Vec<PathBuf> = only
        .iter()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .collect();
    let files = discover(rules_dirs);
    let selected: Vec<PathBuf> = if only.is_empty() {
        files
    } else {
        files
            .into_iter()
            .filter(|f| wanted.contains(&f.canonicalize().unwrap_or_else(|_| f.clone())))
            .collect()
    };
    if !only.is_empty() && selected.len() < wanted.len() {
        return Err(TestFilesError::NotUnderRulesDirs);
    }
    Ok(selected.iter().map(|p| load_file(p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_is_sorted_files_first_then_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "b.json",
            "a.json",
            "notes.txt",
            "z/c.json",
            "m/x/d.json",
            "m/b.json",
        ] {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "[]").unwrap();
        }
        let found: Vec<String> = discover(&[root.to_path_buf()])
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            found,
            vec!["a.json", "b.json", "m/b.json", "m/x/d.json", "z/c.json"]
        );
    }

    #[test]
    fn files_that_are_not_arrays_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        std::fs::write(dir.path().join("obj.json"), "{}").unwrap();
        std::fs::write(dir.path().join("ok.json"), r#"[{"a": 1}, 2]"#).unwrap();
        let files = load(&[dir.path().to_path_buf()], &[]).unwrap();
        assert!(
            files[0]
                .events
                .as_ref()
                .unwrap_err()
                .to_string()
                .starts_with("invalid JSON")
        );
        assert!(
            files[1]
                .events
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("expected a JSON array")
        );
        assert_eq!(files[2].events.as_ref().unwrap().len(), 2);
        assert_eq!(files[2].events.as_ref().unwrap()[1].index, 1);
    }

    #[test]
    fn only_selects_named_files_which_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), "[]").unwrap();
        std::fs::write(dir.path().join("b.json"), "[]").unwrap();
        let files = load(&[dir.path().to_path_buf()], &[dir.path().join("b.json")]).unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].path.ends_with("b.json"));
        assert!(
            load(
                &[dir.path().to_path_buf()],
                &[dir.path().join("missing.json")]
            )
            .is_err()
        );
    }
}
