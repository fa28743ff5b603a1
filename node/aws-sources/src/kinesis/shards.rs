//! Which shards a stream has, and which of them may be read now (KCL ordering: a child shard
//! is read only after every parent has been read to its end).

use std::collections::{BTreeSet, HashSet};

use aws_sdk_kinesis::error::DisplayErrorContext;

use crate::error::SourceError;

/// One shard as ListShards describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
    /// The second parent of a shard made by MergeShards.
    pub adjacent_parent_shard_id: Option<String>,
    pub starting_sequence: String,
    /// Set once the shard is closed (split or merged): its last sequence number.
    pub ending_sequence: Option<String>,
}

impl ShardInfo {
    fn parents(&self) -> impl Iterator<Item = &str> {
        self.parent_shard_id
            .iter()
            .chain(self.adjacent_parent_shard_id.iter())
            .map(String::as_str)
    }
}

/// Every shard of `stream` (open and closed, as long as Kinesis still lists them), following
/// ListShards pagination.
pub async fn discover_shards(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Result<Vec<ShardInfo>, SourceError> {
    let mut shards = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        // ListShards rejects StreamName together with NextToken.
        let request = match &next_token {
            Some(token) => client.list_shards().next_token(token),
            None => client.list_shards().stream_name(stream),
        };
        let page = request.send().await.map_err(|e| SourceError::Kinesis {
            stream: stream.into(),
            shard: None,
            operation: "ListShards",
            message: DisplayErrorContext(&e).to_string(),
        })?;
        for shard in page.shards() {
            let range = shard.sequence_number_range();
            shards.push(ShardInfo {
                shard_id: shard.shard_id().to_string(),
                parent_shard_id: shard.parent_shard_id().map(str::to_string),
                adjacent_parent_shard_id: shard.adjacent_parent_shard_id().map(str::to_string),
                starting_sequence: range
                    .map(|r| r.starting_sequence_number().to_string())
                    .unwrap_or_default(),
                ending_sequence: range
                    .and_then(|r| r.ending_sequence_number())
                    .map(str::to_string),
            });
        }
        match page.next_token() {
            Some(token) if !token.is_empty() && !page.shards().is_empty() => {
                next_token = Some(token.to_string());
            }
            _ => return Ok(shards),
        }
    }
}

/// The shards that may be read now, sorted by id: not yet `finished` (read to SHARD_END), and
/// every parent either finished or no longer listed (trimmed past retention, so there is
/// nothing left to read before the child).
pub fn readable_shards(shards: &[ShardInfo], finished: &BTreeSet<String>) -> Vec<String> {
    let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    let mut readable: Vec<String> = shards
        .iter()
        .filter(|shard| !finished.contains(&shard.shard_id))
        .filter(|shard| {
            shard
                .parents()
                .all(|parent| finished.contains(parent) || !listed.contains(parent))
        })
        .map(|shard| shard.shard_id.clone())
        .collect();
    readable.sort();
    readable.dedup();
    readable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>, adjacent: Option<&str>) -> ShardInfo {
        ShardInfo {
            shard_id: id.into(),
            parent_shard_id: parent.map(Into::into),
            adjacent_parent_shard_id: adjacent.map(Into::into),
            starting_sequence: "0".into(),
            ending_sequence: None,
        }
    }

    fn finished(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    /// 0 split into 2 and 3; 1 and 2 merged into 4; 4 split into 5 and 6.
    fn lineage() -> Vec<ShardInfo> {
        vec![
            shard("s0", None, None),
            shard("s1", None, None),
            shard("s2", Some("s0"), None),
            shard("s3", Some("s0"), None),
            shard("s4", Some("s1"), Some("s2")),
            shard("s5", Some("s4"), None),
            shard("s6", Some("s4"), None),
        ]
    }

    #[test]
    fn children_wait_for_every_parent() {
        let shards = lineage();
        assert_eq!(readable_shards(&shards, &finished(&[])), vec!["s0", "s1"]);
        assert_eq!(
            readable_shards(&shards, &finished(&["s0"])),
            vec!["s1", "s2", "s3"]
        );
        // a merge child waits for both parents
        assert_eq!(
            readable_shards(&shards, &finished(&["s0", "s2"])),
            vec!["s1", "s3"]
        );
        assert_eq!(
            readable_shards(&shards, &finished(&["s0", "s1", "s2"])),
            vec!["s3", "s4"]
        );
        assert_eq!(
            readable_shards(&shards, &finished(&["s0", "s1", "s2", "s3", "s4"])),
            vec!["s5", "s6"]
        );
    }

    #[test]
    fn a_parent_no_longer_listed_counts_as_finished() {
        let shards: Vec<ShardInfo> = lineage().into_iter().skip(2).collect();
        // s0 and s1 were trimmed: s2, s3 readable; s4 still waits for s2
        assert_eq!(readable_shards(&shards, &finished(&[])), vec!["s2", "s3"]);
    }

    #[test]
    fn finished_shards_are_not_readable() {
        let shards = lineage();
        let all: Vec<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
        assert!(readable_shards(&shards, &finished(&all)).is_empty());
    }

    #[test]
    fn a_shard_is_readable_only_when_no_listed_ancestor_is_unfinished() {
        // exhaustive over every finished set of the lineage: a readable shard never has an
        // unfinished listed parent, and every unfinished shard whose parents are done is readable
        let shards = lineage();
        for mask in 0u32..(1 << shards.len()) {
            let done: BTreeSet<String> = shards
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, s)| s.shard_id.clone())
                .collect();
            let readable = readable_shards(&shards, &done);
            for s in &shards {
                let parents_done = s.parents().all(|p| done.contains(p));
                let expected = !done.contains(&s.shard_id) && parents_done;
                assert_eq!(
                    readable.contains(&s.shard_id),
                    expected,
                    "{s:?} with {done:?}"
                );
            }
        }
    }
}
