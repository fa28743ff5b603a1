//! The snapshot format: every key of every keyspace, framed as
//! `[name len u8][keyspace name][key len u32][key][value len u32][value]`, after a magic line.
//! Written to `<data dir>/snapshot/` so a leader can send its last snapshot after a restart.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::codec;
use crate::db::Keyspace;
use crate::types::SnapshotMeta;

const MAGIC: &[u8] = b"SA-SNAPSHOT-1\n";

pub type Row = (Keyspace, Vec<u8>, Vec<u8>);

/// Frames rows one at a time, as they are read: a snapshot holds the state once, not also as a
/// list of rows.
pub struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder {
            out: MAGIC.to_vec(),
        }
    }

    pub fn push(&mut self, keyspace: Keyspace, key: &[u8], value: &[u8]) {
        let name = keyspace.name().as_bytes();
        self.out
            .push(u8::try_from(name.len()).expect("keyspace names are short"));
        self.out.extend_from_slice(name);
        for part in [key, value] {
            let len = u32::try_from(part.len()).expect("keys and values are under 4 GiB");
            self.out.extend_from_slice(&len.to_be_bytes());
            self.out.extend_from_slice(part);
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

pub fn decode(mut data: &[u8]) -> io::Result<Vec<Row>> {
    let invalid =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot: {what}"));
    let mut magic = [0u8; MAGIC.len()];
    data.read_exact(&mut magic)
        .map_err(|_| invalid("too short for its header"))?;
    if magic != MAGIC {
        return Err(invalid("bad header"));
    }
    let mut rows = Vec::new();
    while !data.is_empty() {
        let mut len = [0u8; 1];
        data.read_exact(&mut len)?;
        let mut name = vec![0u8; usize::from(len[0])];
        data.read_exact(&mut name)
            .map_err(|_| invalid("truncated keyspace name"))?;
        let name = String::from_utf8(name).map_err(|_| invalid("keyspace name is not UTF-8"))?;
        let keyspace = Keyspace::from_name(&name)
            .ok_or_else(|| invalid(&format!("unknown keyspace {name:?}")))?;
        let key = read_part(&mut data).map_err(|_| invalid("truncated key"))?;
        let value = read_part(&mut data).map_err(|_| invalid("truncated value"))?;
        rows.push((keyspace, key, value));
    }
    Ok(rows)
}

fn read_part(data: &mut &[u8]) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    data.read_exact(&mut len)?;
    // The length is checked against what is left before anything is allocated for it.
    let len = u32::from_be_bytes(len) as usize;
    if len > data.len() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let (part, rest) = data.split_at(len);
    *data = rest;
    Ok(part.to_vec())
}

const META: &str = "snapshot metadata";

/// The last snapshot kept on disk: `current.meta` (see codec.rs) beside `current.data`.
pub struct SnapshotFiles {
    dir: PathBuf,
    /// openraft builds a snapshot while its state machine may install or send another: one
    /// save or load at a time, so a meta is never read beside another snapshot's data.
    lock: Mutex<()>,
}

impl SnapshotFiles {
    pub fn new(dir: PathBuf) -> Self {
        SnapshotFiles {
            dir,
            lock: Mutex::new(()),
        }
    }

    /// Makes `meta` and `data` the current snapshot, unless the current one is newer.
    pub fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
        let _turn = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(current) = self.read_meta()?
            && current.last_log_id > meta.last_log_id
        {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        write_atomically(&self.dir.join("current.data"), data)?;
        // The meta is written last: it is what makes the data current.
        let meta = codec::encode(META, meta).map_err(io::Error::other)?;
        write_atomically(&self.dir.join("current.meta"), &meta)
    }

    pub fn load(&self) -> io::Result<Option<(SnapshotMeta, Vec<u8>)>> {
        let _turn = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(meta) = self.read_meta()? else {
            return Ok(None);
        };
        Ok(Some((meta, std::fs::read(self.dir.join("current.data"))?)))
    }

    fn read_meta(&self) -> io::Result<Option<SnapshotMeta>> {
        match std::fs::read(self.dir.join("current.meta")) {
            Ok(bytes) => codec::decode(META, &bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // Each file its own temporary name (`current.data.tmp`, `current.meta.tmp`).
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_corruption_is_reported() {
        let rows = vec![
            (Keyspace::Config, b"v".to_vec(), b"1".to_vec()),
            (Keyspace::LookupTables, b"t/k".to_vec(), vec![0, 255, 7]),
            (Keyspace::Alerts, Vec::new(), Vec::new()),
        ];
        let mut encoder = Encoder::new();
        for (keyspace, key, value) in &rows {
            encoder.push(*keyspace, key, value);
        }
        let data = encoder.finish();
        assert_eq!(decode(&data).unwrap(), rows);
        let err = decode(&data[..data.len() - 5]).unwrap_err();
        assert!(err.to_string().contains("snapshot"), "{err}");
        assert!(decode(b"nope").is_err());
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapshotFiles::new(dir.path().join("snapshot"));
        assert!(files.load().unwrap().is_none());
        let meta = |index: u64| SnapshotMeta {
            last_log_id: Some(openraft::LogId::new(
                openraft::CommittedLeaderId::new(1, 1),
                index,
            )),
            last_membership: Default::default(),
            snapshot_id: format!("s{index}"),
        };
        files.save(&meta(20), b"twenty").unwrap();
        files.save(&meta(10), b"ten").unwrap();
        let (current, data) = files.load().unwrap().unwrap();
        assert_eq!(
            (current.snapshot_id.as_str(), &data[..]),
            ("s20", &b"twenty"[..])
        );
        files.save(&meta(30), b"thirty").unwrap();
        let (current, data) = files.load().unwrap().unwrap();
        assert_eq!(
            (current.snapshot_id.as_str(), &data[..]),
            ("s30", &b"thirty"[..])
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("snapshot"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|name| !name.ends_with(".tmp")),
            "{names:?}"
        );
    }
}
