//! Finding test-event files (§15.1): every `*.json` under the test directories, names sorted
//! within each directory.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One test-event file: its path as the walk built it and its events (raw JSON objects).
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    pub path: PathBuf,
    pub events: Vec<Value>,
}

/// Files under `dirs` (recursively), restricted to `only` when non-empty. Files that are not
/// a JSON array are skipped as StreamAlert does, and returned in the second list with the
/// reason so the caller can warn about them.
pub fn discover(dirs: &[PathBuf], only: &[PathBuf]) -> (Vec<TestFile>, Vec<(PathBuf, String)>) {
    let mut paths = Vec::new();
    for dir in dirs {
        walk(dir, &mut paths);
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        if !only.is_empty() && !only.iter().any(|wanted| same_file(wanted, &path)) {
            continue;
        }
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<Value>(&text).map_err(|e| format!("invalid JSON: {e}"))
            });
        match parsed {
            Ok(Value::Array(events)) => files.push(TestFile { path, events }),
            Ok(_) => skipped.push((path, "not a JSON array of test events".to_owned())),
            Err(reason) => skipped.push((path, reason)),
        }
    }
    (files, skipped)
}

fn same_file(wanted: &Path, found: &Path) -> bool {
    wanted == found
        || matches!((wanted.canonicalize(), found.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
    entries.sort();
    let (dirs, files): (Vec<_>, Vec<_>) = entries.into_iter().partition(|path| path.is_dir());
    out.extend(
        files
            .into_iter()
            .filter(|path| path.extension().is_some_and(|ext| ext == "json")),
    );
    for sub in dirs {
        walk(&sub, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_recursively_sorted_and_skips_non_arrays() {
        let dir = std::env::temp_dir().join(format!("sa-discover-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("z.json"), "[]").unwrap();
        std::fs::write(dir.join("a.json"), "[{}]").unwrap();
        std::fs::write(dir.join("b/c.json"), "{}").unwrap();
        std::fs::write(dir.join("b/d.json"), "not json").unwrap();
        std::fs::write(dir.join("b/rule.py"), "").unwrap();
        let (files, skipped) = discover(std::slice::from_ref(&dir), &[]);
        let names: Vec<_> = files
            .iter()
            .map(|f| f.path.strip_prefix(&dir).unwrap().to_owned())
            .collect();
        assert_eq!(names, [PathBuf::from("a.json"), PathBuf::from("z.json")]);
        assert_eq!(skipped.len(), 2);
        let (only, _) = discover(std::slice::from_ref(&dir), &[dir.join("z.json")]);
        assert_eq!(only.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
