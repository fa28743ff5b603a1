//! The snapshot format: every key of every keyspace, framed as
//! `[name len u8][keyspace name][key len u32][key][value len u32][value]`, after a magic line.
//! A snapshot lives in a file under `<data dir>/snapshot/` from the moment it is built or
//! received: it is written, sent and installed a row or a chunk at a time, so a state of
//! gigabytes needs neither that much memory nor a long stop of the runtime, and a leader can
//! send its last snapshot after a restart.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

use crate::codec;
use crate::db::Keyspace;
use crate::types::SnapshotMeta;

const MAGIC: &[u8] = b"SA-SNAPSHOT-1\n";
const META: &str = "snapshot metadata";
const CURRENT_META: &str = "current.meta";
const DATA_SUFFIX: &str = ".data";
const PARTIAL_SUFFIX: &str = ".partial";

pub type Row = (Keyspace, Vec<u8>, Vec<u8>);

/// Frames rows one at a time into a file, as they are read from the state.
pub struct Encoder {
    out: BufWriter<std::fs::File>,
    bytes: u64,
}

impl Encoder {
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::new(std::fs::File::create(path)?);
        out.write_all(MAGIC)?;
        Ok(Encoder {
            out,
            bytes: MAGIC.len() as u64,
        })
    }

    pub fn push(&mut self, keyspace: Keyspace, key: &[u8], value: &[u8]) -> io::Result<()> {
        let name = keyspace.name().as_bytes();
        self.out
            .write_all(&[u8::try_from(name.len()).expect("keyspace names are short")])?;
        self.out.write_all(name)?;
        for part in [key, value] {
            let len = u32::try_from(part.len()).expect("keys and values are under 4 GiB");
            self.out.write_all(&len.to_be_bytes())?;
            self.out.write_all(part)?;
        }
        self.bytes += 1 + name.len() as u64 + 8 + key.len() as u64 + value.len() as u64;
        Ok(())
    }

    /// Flushes and syncs the file; the number of bytes written.
    pub fn finish(self) -> io::Result<u64> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.bytes)
    }
}

/// Reads the rows of a snapshot file one at a time. A length is checked against what is left
/// of the file before anything is allocated for it.
pub struct Decoder {
    input: BufReader<std::fs::File>,
    left: u64,
}

impl Decoder {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let left = file.metadata()?.len();
        let mut decoder = Decoder {
            input: BufReader::new(file),
            left,
        };
        let magic = decoder
            .take(MAGIC.len() as u64)
            .map_err(|_| invalid("too short for its header"))?;
        if magic != MAGIC {
            return Err(invalid("bad header"));
        }
        Ok(decoder)
    }

    pub fn next_row(&mut self) -> io::Result<Option<Row>> {
        if self.left == 0 {
            return Ok(None);
        }
        let len = self.take(1)?[0];
        let name = self
            .take(u64::from(len))
            .map_err(|_| invalid("truncated keyspace name"))?;
        let name = String::from_utf8(name).map_err(|_| invalid("keyspace name is not UTF-8"))?;
        let keyspace = Keyspace::from_name(&name)
            .ok_or_else(|| invalid(&format!("unknown keyspace {name:?}")))?;
        let key = self.part().map_err(|_| invalid("truncated key"))?;
        let value = self.part().map_err(|_| invalid("truncated value"))?;
        Ok(Some((keyspace, key, value)))
    }

    fn part(&mut self) -> io::Result<Vec<u8>> {
        let len: [u8; 4] = self.take(4)?.try_into().expect("four bytes");
        self.take(u64::from(u32::from_be_bytes(len)))
    }

    fn take(&mut self, len: u64) -> io::Result<Vec<u8>> {
        if len > self.left {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut bytes = vec![0u8; len as usize];
        self.input.read_exact(&mut bytes)?;
        self.left -= len;
        Ok(bytes)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snapshot: {what}"))
}

/// A snapshot's bytes as openraft reads, sends and receives them: a file, with its path so a
/// received snapshot can be made current without copying it.
pub struct SnapshotData {
    file: tokio::fs::File,
    path: PathBuf,
}

impl SnapshotData {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_read(cx, buf)
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().file).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_shutdown(cx)
    }
}

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        Pin::new(&mut self.get_mut().file).start_seek(position)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Pin::new(&mut self.get_mut().file).poll_complete(cx)
    }
}

/// The snapshots of one node on disk: `current.meta` (see codec.rs) names the current
/// snapshot, whose rows are in `<snapshot id>.data`; snapshots being built or received are
/// `*.partial` until they become current.
pub struct SnapshotFiles {
    dir: PathBuf,
    partial_counter: AtomicU64,
    /// openraft builds a snapshot while its state machine may install or send another: one
    /// change of the current snapshot at a time, so a meta never names data about to go.
    lock: Mutex<()>,
}

impl SnapshotFiles {
    /// Opens the directory, removing what a crash left half-written.
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let files = SnapshotFiles {
            dir,
            partial_counter: AtomicU64::new(0),
            lock: Mutex::new(()),
        };
        let current = files.read_meta()?.map(|meta| files.data_name(&meta));
        for entry in std::fs::read_dir(&files.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            let stale_data = name.ends_with(DATA_SUFFIX) && current.as_deref() != Some(&*name);
            if name.ends_with(PARTIAL_SUFFIX) || name.ends_with(".tmp") || stale_data {
                std::fs::remove_file(files.dir.join(&*name))?;
            }
        }
        Ok(files)
    }

    /// A new file for a snapshot about to be built or received.
    pub fn partial_path(&self) -> PathBuf {
        let n = self.partial_counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{n}{PARTIAL_SUFFIX}"))
    }

    /// Opens `path` for openraft to write a received snapshot into.
    pub async fn receive_into(&self, path: PathBuf) -> io::Result<SnapshotData> {
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(SnapshotData { file, path })
    }

    /// Makes the complete snapshot at `partial` current, unless the current one is newer
    /// (then `partial` is removed). A built snapshot goes through here.
    pub fn save(&self, meta: &SnapshotMeta, partial: &Path) -> io::Result<()> {
        let _turn = self.turn();
        if let Some(current) = self.read_meta()?
            && current.last_log_id > meta.last_log_id
        {
            return std::fs::remove_file(partial);
        }
        self.make_current(meta, partial)
    }

    /// Makes the received snapshot at `partial` current whatever is on disk: the state is
    /// about to become exactly this snapshot.
    pub fn install(&self, meta: &SnapshotMeta, partial: &Path) -> io::Result<PathBuf> {
        let _turn = self.turn();
        self.make_current(meta, partial)?;
        Ok(self.dir.join(self.data_name(meta)))
    }

    /// The current snapshot's meta and the path of its rows.
    pub fn current(&self) -> io::Result<Option<(SnapshotMeta, PathBuf)>> {
        let _turn = self.turn();
        Ok(self.read_meta()?.map(|meta| {
            let path = self.dir.join(self.data_name(&meta));
            (meta, path)
        }))
    }

    /// The current snapshot opened for openraft to send.
    pub async fn open_current(&self) -> io::Result<Option<(SnapshotMeta, SnapshotData)>> {
        // The file is opened under the turn: a snapshot replaced afterwards is unlinked, and
        // the open file still reads it whole.
        let opened = {
            let _turn = self.turn();
            match self.read_meta()? {
                None => None,
                Some(meta) => {
                    let path = self.dir.join(self.data_name(&meta));
                    Some((meta, std::fs::File::open(&path)?, path))
                }
            }
        };
        Ok(opened.map(|(meta, file, path)| {
            let file = tokio::fs::File::from_std(file);
            (meta, SnapshotData { file, path })
        }))
    }

    fn make_current(&self, meta: &SnapshotMeta, partial: &Path) -> io::Result<()> {
        std::fs::File::open(partial)?.sync_all()?;
        let data_name = self.data_name(meta);
        std::fs::rename(partial, self.dir.join(&data_name))?;
        // The meta is written last: it is what makes the data current.
        let meta_bytes = codec::encode(META, meta).map_err(io::Error::other)?;
        let tmp = self.dir.join(format!("{CURRENT_META}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&meta_bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(CURRENT_META))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(DATA_SUFFIX) && *name != *data_name {
                std::fs::remove_file(self.dir.join(&*name))?;
            }
        }
        Ok(())
    }

    fn data_name(&self, meta: &SnapshotMeta) -> String {
        // Snapshot ids are made of log ids and counters (state_machine.rs), but a received
        // one comes from another node: only safe characters reach a file name.
        let id: String = meta
            .snapshot_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let index = meta.last_log_id.map_or(0, |id| id.index);
        format!("{index:020}-{id}{DATA_SUFFIX}")
    }

    fn read_meta(&self) -> io::Result<Option<SnapshotMeta>> {
        match std::fs::read(self.dir.join(CURRENT_META)) {
            Ok(bytes) => codec::decode(META, &bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(openraft::LogId::new(
                openraft::CommittedLeaderId::new(1, 1),
                index,
            )),
            last_membership: Default::default(),
            snapshot_id: format!("s{index}"),
        }
    }

    fn write(files: &SnapshotFiles, rows: &[Row]) -> PathBuf {
        let path = files.partial_path();
        let mut encoder = Encoder::create(&path).unwrap();
        for (keyspace, key, value) in rows {
            encoder.push(*keyspace, key, value).unwrap();
        }
        encoder.finish().unwrap();
        path
    }

    fn read(path: &Path) -> io::Result<Vec<Row>> {
        let mut decoder = Decoder::open(path)?;
        let mut rows = Vec::new();
        while let Some(row) = decoder.next_row()? {
            rows.push(row);
        }
        Ok(rows)
    }

    #[test]
    fn rows_round_trip_and_corruption_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapshotFiles::open(dir.path().join("snapshot")).unwrap();
        let rows = vec![
            (Keyspace::Config, b"v".to_vec(), b"1".to_vec()),
            (Keyspace::LookupTables, b"t/k".to_vec(), vec![0, 255, 7]),
            (Keyspace::Alerts, Vec::new(), Vec::new()),
        ];
        let path = write(&files, &rows);
        assert_eq!(read(&path).unwrap(), rows);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 2]).unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.to_string().contains("truncated value"), "{err}");
        std::fs::write(&path, b"nope").unwrap();
        assert!(read(&path).is_err());

        // A length far beyond the file is refused before anything is allocated for it.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(b"\x06config\xff\xff\xff\xff");
        std::fs::write(&path, &huge).unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.to_string().contains("truncated key"), "{err}");
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot_dir = dir.path().join("snapshot");
        let files = SnapshotFiles::open(snapshot_dir.clone()).unwrap();
        assert!(files.current().unwrap().is_none());
        let row = |text: &str| vec![(Keyspace::Config, b"k".to_vec(), text.as_bytes().to_vec())];
        let current = |files: &SnapshotFiles| {
            let (meta, path) = files.current().unwrap().unwrap();
            (meta.snapshot_id, read(&path).unwrap())
        };

        files
            .save(&meta(20), &write(&files, &row("twenty")))
            .unwrap();
        files.save(&meta(10), &write(&files, &row("ten"))).unwrap();
        assert_eq!(current(&files), ("s20".to_string(), row("twenty")));
        files
            .save(&meta(30), &write(&files, &row("thirty")))
            .unwrap();
        assert_eq!(current(&files), ("s30".to_string(), row("thirty")));
        files
            .install(&meta(5), &write(&files, &row("five")))
            .unwrap();
        assert_eq!(current(&files), ("s5".to_string(), row("five")));

        let left_over = files.partial_path();
        std::fs::write(&left_over, b"half").unwrap();
        drop(files);
        let files = SnapshotFiles::open(snapshot_dir.clone()).unwrap();
        assert_eq!(current(&files), ("s5".to_string(), row("five")));
        let mut names: Vec<_> = std::fs::read_dir(&snapshot_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["00000000000000000005-s5.data", "current.meta"]);
    }
}
