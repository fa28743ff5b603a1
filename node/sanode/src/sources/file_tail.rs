//! The `file` source: tails every file matching the paths and globs listed under a cluster's
//! `data_sources.file` (relative paths are taken from the node's working directory). Offsets are
//! saved only after a batch's alerts are committed, so a restart neither skips nor repeats a
//! line; a rotated file (new inode) is finished before its successor is read from the start, and
//! a truncated file is read again from the start.
//!
//! Each line's position is its file's path, inode and byte offset, so a line read again after a
//! crash yields the same alert ids as the first time.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{SourceContext, Started};
use crate::pipeline::{Body, Payload, SourceBatch};

pub const SERVICE: &str = sa_engine::service::FILE;
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// At most this much is read from one file per batch (whole lines only).
const MAX_BATCH_BYTES: u64 = 1024 * 1024;

/// How far each file has been read and committed, kept in `<data dir>/file_offsets.json`.
/// Keyed by inode, so a file renamed by rotation keeps its offset under its new name.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offsets {
    pub files: BTreeMap<u64, FileOffset>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffset {
    /// Where the file was last seen (informational; rotation renames it).
    pub path: PathBuf,
    /// Byte offset just after the last committed line.
    pub offset: u64,
}

impl Offsets {
    pub fn load(path: &Path) -> anyhow::Result<Offsets> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: corrupt offsets", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Offsets::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        fail::fail_point!("file_tail::before_offset_save", |_| anyhow::bail!(
            "failpoint file_tail::before_offset_save"
        ));
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, &serde_json::to_vec_pretty(self)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// One complete line and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub offset: u64,
    pub text: String,
}

/// Whole lines of `file` from `offset`, at most `MAX_BATCH_BYTES`, blank lines skipped; returns
/// them with the offset just after the last complete line. A trailing partial line waits for
/// its newline.
pub fn read_lines(file: &mut std::fs::File, offset: u64) -> std::io::Result<(Vec<Line>, u64)> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buffer = Vec::new();
    file.take(MAX_BATCH_BYTES).read_to_end(&mut buffer)?;
    let Some(last_newline) = buffer.iter().rposition(|b| *b == b'\n') else {
        return Ok((Vec::new(), offset));
    };
    let complete = &buffer[..=last_newline];
    let mut lines = Vec::new();
    let mut start = 0;
    for end in complete
        .iter()
        .enumerate()
        .filter_map(|(i, b)| (*b == b'\n').then_some(i))
    {
        let text = String::from_utf8_lossy(&complete[start..end]);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if !text.trim().is_empty() {
            lines.push(Line {
                offset: offset + start as u64,
                text: text.to_owned(),
            });
        }
        start = end + 1;
    }
    Ok((lines, offset + complete.len() as u64))
}

/// Files currently matching `pattern` (a path or a glob).
fn expand(pattern: &str) -> Vec<PathBuf> {
    match glob::glob(pattern) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            tracing::warn!(pattern, error = %e, "invalid file source pattern");
            Vec::new()
        }
    }
}

/// The tailing state of one node: committed offsets, and the files it holds open so that a
/// file rotated away (renamed or deleted) can still be read to its end.
struct FileTail {
    source: Arc<SourceContext>,
    offsets_path: PathBuf,
    offsets: Offsets,
    /// inode -> (pattern it was matched by, open handle).
    open: HashMap<u64, (String, File)>,
}

pub fn start(context: &Arc<SourceContext>, started: &mut Started) {
    started.tasks.spawn(run(context.clone()));
}

/// Runs until the node stops: polls every configured pattern and feeds new lines through the
/// pipeline, which returns once they are committed; only then does the offset advance. While
/// the pipeline is full, `run` waits, and the files wait with it.
pub async fn run(source: Arc<SourceContext>) {
    let offsets_path = source.data_dir.join("file_offsets.json");
    let offsets = match Offsets::load(&offsets_path) {
        Ok(offsets) => offsets,
        Err(e) => {
            // Starting over would repeat every line: refuse to tail until an operator looks.
            tracing::error!(error = format!("{e:#}"), "file sources disabled");
            return;
        }
    };
    let mut tail = FileTail {
        source: source.clone(),
        offsets_path,
        offsets,
        open: HashMap::new(),
    };
    loop {
        if let Err(e) = tail.poll().await {
            tracing::warn!(error = format!("{e:#}"), "file source");
        }
        if source.pause(POLL_INTERVAL).await {
            return;
        }
    }
}

impl FileTail {
    async fn poll(&mut self) -> anyhow::Result<()> {
        let mut seen = Vec::new();
        for pattern in self.source.pipeline.resources(SERVICE) {
            for path in expand(&pattern) {
                let file = match File::open(&path) {
                    Ok(file) => file,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot open");
                        continue;
                    }
                };
                let inode = file.metadata()?.ino();
                seen.push(inode);
                self.open.entry(inode).or_insert((pattern.clone(), file));
                self.offsets.files.entry(inode).or_default().path = path;
            }
        }
        // Every open file, including those no longer matched (rotated away): read to the end,
        // then let go of the ones that are gone.
        let inodes: Vec<u64> = self.open.keys().copied().collect();
        for inode in inodes {
            self.drain(inode).await?;
            if !seen.contains(&inode) {
                self.open.remove(&inode);
                self.offsets.files.remove(&inode);
                self.offsets.save(&self.offsets_path)?;
            }
        }
        Ok(())
    }

    async fn drain(&mut self, inode: u64) -> anyhow::Result<()> {
        loop {
            // A stopping node commits the batch in hand, not the rest of a long file: the offset
            // keeps the rest for the next start.
            if self.source.shutdown.is_cancelled() {
                return Ok(());
            }
            let (pattern, file) = self.open.get_mut(&inode).expect("drained files are open");
            let pattern = pattern.clone();
            let len = file.metadata()?.len();
            let known = self.offsets.files.get(&inode).map_or(0, |f| f.offset);
            // Shorter than what was read: truncated in place, start over.
            let offset = if len < known { 0 } else { known };
            let (lines, end) = read_lines(file, offset)?;
            if end == offset {
                return Ok(());
            }
            if !lines.is_empty() {
                let path = self
                    .offsets
                    .files
                    .get(&inode)
                    .map(|f| f.path.display().to_string())
                    .unwrap_or_default();
                let payloads = lines
                    .iter()
                    .map(|line| {
                        Payload::at(
                            Body::text(line.text.clone()),
                            format!("{path}@{inode}:{}", line.offset),
                        )
                    })
                    .collect();
                self.source
                    .pipeline
                    .run(SourceBatch {
                        service: SERVICE.to_owned(),
                        resource: pattern,
                        payloads,
                        position: None,
                    })
                    .await?;
            }
            self.offsets.files.entry(inode).or_default().offset = end;
            self.offsets.save(&self.offsets_path)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_lines_are_read_and_the_offset_follows_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "one\ntwo\nthr").unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let (lines, end) = read_lines(&mut file, 0).unwrap();
        assert_eq!(
            (lines, end),
            (
                vec![
                    Line {
                        offset: 0,
                        text: "one".into()
                    },
                    Line {
                        offset: 4,
                        text: "two".into()
                    }
                ],
                8
            )
        );
        let (lines, end) = read_lines(&mut file, end).unwrap();
        assert_eq!(
            (lines.len(), end),
            (0, 8),
            "a partial line waits for its newline"
        );
        std::fs::write(&path, "one\ntwo\nthree\r\n\nfour\n").unwrap();
        let (lines, end) = read_lines(&mut file, 8).unwrap();
        let lines: Vec<(u64, &str)> = lines.iter().map(|l| (l.offset, l.text.as_str())).collect();
        assert_eq!(
            (lines, end),
            (vec![(8, "three"), (16, "four")], 21),
            "blank lines are skipped, offsets stay exact"
        );
    }

    #[test]
    fn offsets_round_trip_and_corruption_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        assert_eq!(Offsets::load(&path).unwrap(), Offsets::default());
        let mut offsets = Offsets::default();
        offsets.files.insert(
            7,
            FileOffset {
                path: "a.log".into(),
                offset: 42,
            },
        );
        offsets.save(&path).unwrap();
        assert_eq!(Offsets::load(&path).unwrap(), offsets);
        std::fs::write(&path, "{").unwrap();
        assert!(
            Offsets::load(&path)
                .unwrap_err()
                .to_string()
                .contains("corrupt offsets")
        );
    }
}
