//! Shard readers against a real moto_server: ordering, exactly-once reads, checkpoint resume,
//! KPL de-aggregation, and resharding with KCL parent-before-child order.
//!
//! moto quirks these tests live with (moto 5.2): NextShardIterator never becomes null, so a
//! closed shard ends when read past the EndingSequenceNumber that discovery reports; after
//! SplitShard/MergeShards moto keeps routing new puts to the closed parents, and MergeShards
//! copies the parents' records into the child. So records are put only before resharding here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use sa_aws_sources::SourceError;
use sa_aws_sources::kinesis::{
    Checkpoint, FanOutReader, KinesisRecord, PacingConfig, ReaderOptions, ShardInfo, ShardReader,
    StartPosition, UserRecord, aggregate, discover_shards, readable_shards, register_consumer,
};
use sa_aws_sources::leases::plan_leases;

use crate::common;

/// Fast pacing for tests: moto does not throttle, and an idle shard is re-polled soon.
fn options(max_records_per_call: i32) -> ReaderOptions {
    ReaderOptions {
        max_records_per_call,
        pacing: PacingConfig {
            calls_per_sec: 50.0,
            idle_min: Duration::from_millis(20),
            idle_max: Duration::from_millis(100),
            ..PacingConfig::default()
        },
    }
}

async fn create_stream(client: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap();
}

/// Puts a record; returns (shard, sequence number).
async fn put(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    key: &str,
    data: &[u8],
) -> (String, String) {
    let out = client
        .put_record()
        .stream_name(stream)
        .partition_key(key)
        .data(Blob::new(data))
        .send()
        .await
        .unwrap();
    (
        out.shard_id().to_string(),
        out.sequence_number().to_string(),
    )
}

fn shard<'a>(shards: &'a [ShardInfo], id: &str) -> &'a ShardInfo {
    shards.iter().find(|s| s.shard_id == id).unwrap()
}

/// Reads until `want` records came or `timeout` passes, then once more to catch extras.
async fn read_n(reader: &mut ShardReader, want: usize, timeout: Duration) -> Vec<KinesisRecord> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < want && tokio::time::Instant::now() < deadline {
        got.extend(reader.next_batch().await.unwrap().records);
    }
    got.extend(reader.next_batch().await.unwrap().records);
    got
}

fn assert_strictly_increasing(records: &[KinesisRecord]) {
    for pair in records.windows(2) {
        assert!(pair[0].checkpoint() < pair[1].checkpoint(), "{pair:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_every_record_read_once_in_order_while_puts_continue() {
    let moto = common::moto().await;
    let kinesis = moto.clients.kinesis.clone();
    create_stream(&kinesis, "events", 4).await;

    let mut expected: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for i in 0..200 {
        let data = format!("{{\"phase\": \"before\", \"n\": {i}}}").into_bytes();
        let (shard, seq) = put(&kinesis, "events", &format!("key-{i}"), &data).await;
        expected.entry(shard).or_default().push((seq, data));
    }

    let shards = discover_shards(&kinesis, "events").await.unwrap();
    assert_eq!(shards.len(), 4);
    let readable = readable_shards(&shards, &BTreeSet::new());
    assert_eq!(readable.len(), 4);

    let puts_done = Arc::new(AtomicBool::new(false));
    let putter = {
        let kinesis = kinesis.clone();
        let puts_done = puts_done.clone();
        tokio::spawn(async move {
            let mut during: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
            for i in 0..200 {
                let data = format!("{{\"phase\": \"during\", \"n\": {i}}}").into_bytes();
                let (shard, seq) = put(&kinesis, "events", &format!("key-{i}"), &data).await;
                during.entry(shard).or_default().push((seq, data));
                if i % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
            puts_done.store(true, Ordering::SeqCst);
            during
        })
    };

    let mut readers = Vec::new();
    for id in &readable {
        let mut reader = ShardReader::new(
            kinesis.clone(),
            "events",
            shard(&shards, id),
            StartPosition::TrimHorizon,
            options(25),
        );
        let puts_done = puts_done.clone();
        readers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while tokio::time::Instant::now() < deadline {
                // an empty batch fetched after the last put means the shard is read through
                let all_put = puts_done.load(Ordering::SeqCst);
                let batch = reader.next_batch().await.unwrap();
                assert!(!batch.shard_end, "an open shard never ends");
                if batch.records.is_empty() && all_put {
                    break;
                }
                got.extend(batch.records);
            }
            // and nothing more comes later
            assert!(reader.next_batch().await.unwrap().records.is_empty());
            (reader.shard_id().to_string(), got)
        }));
    }
    for (shard, records) in putter.await.unwrap() {
        expected.entry(shard).or_default().extend(records);
    }
    let mut total = 0;
    for reader in readers {
        let (shard, got) = reader.await.unwrap();
        assert_strictly_increasing(&got);
        let got: Vec<(String, Vec<u8>)> = got
            .into_iter()
            .map(|r| (r.sequence_number, r.data))
            .collect();
        assert_eq!(got, expected.remove(&shard).unwrap_or_default(), "{shard}");
        total += got.len();
    }
    assert_eq!(total, 400);
    assert!(expected.is_empty(), "unread shards: {expected:?}");
}

#[tokio::test]
async fn resuming_after_a_checkpoint_reads_nothing_twice() {
    let moto = common::moto().await;
    let kinesis = moto.clients.kinesis.clone();
    create_stream(&kinesis, "resume", 1).await;
    for i in 0..50 {
        put(&kinesis, "resume", "k", format!("r{i}").as_bytes()).await;
    }
    let shards = discover_shards(&kinesis, "resume").await.unwrap();
    let mut first = ShardReader::new(
        kinesis.clone(),
        "resume",
        &shards[0],
        StartPosition::TrimHorizon,
        options(20),
    );
    let batch = first.next_batch().await.unwrap();
    assert_eq!(batch.records.len(), 20);
    assert_eq!(batch.records[19].data, b"r19");
    let checkpoint = first.position().unwrap().clone();
    assert_eq!(checkpoint, batch.records[19].checkpoint());
    // the checkpoint survives a trip through the replicated state
    let stored = serde_json::to_vec(&checkpoint).unwrap();
    let restored: Checkpoint = serde_json::from_slice(&stored).unwrap();
    drop(first);

    for i in 50..60 {
        put(&kinesis, "resume", "k", format!("r{i}").as_bytes()).await;
    }
    let mut second = ShardReader::new(
        kinesis.clone(),
        "resume",
        &shards[0],
        StartPosition::AfterSequence(restored),
        options(20),
    );
    let got = read_n(&mut second, 40, Duration::from_secs(10)).await;
    let data: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8_lossy(&r.data).into())
        .collect();
    let want: Vec<String> = (20..60).map(|i| format!("r{i}")).collect();
    assert_eq!(data, want);
}

#[tokio::test]
async fn kpl_aggregates_are_de_aggregated_and_resume_inside_an_aggregate() {
    let moto = common::moto().await;
    let kinesis = moto.clients.kinesis.clone();
    create_stream(&kinesis, "kpl", 1).await;
    let users: Vec<UserRecord> = (0..5)
        .map(|i| UserRecord {
            partition_key: format!("user-{}", i % 2),
            data: format!("{{\"sub\": {i}}}").into_bytes(),
        })
        .collect();
    put(&kinesis, "kpl", "plain", b"before").await;
    let (_, aggregate_seq) = put(&kinesis, "kpl", "agg", &aggregate(&users)).await;
    let mut corrupt = aggregate(&users[..2]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    put(&kinesis, "kpl", "corrupt", &corrupt).await;
    put(&kinesis, "kpl", "plain", b"after").await;

    let shards = discover_shards(&kinesis, "kpl").await.unwrap();
    let mut reader = ShardReader::new(
        kinesis.clone(),
        "kpl",
        &shards[0],
        StartPosition::TrimHorizon,
        options(100),
    );
    let got = read_n(&mut reader, 8, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 8, "{got:?}");
    assert_eq!(
        (got[0].data.as_slice(), got[0].sub_sequence),
        (&b"before"[..], None)
    );
    for (i, user) in users.iter().enumerate() {
        let record = &got[1 + i];
        assert_eq!(record.sequence_number, aggregate_seq);
        assert_eq!(record.sub_sequence, Some(i as u64));
        assert_eq!(record.partition_key, user.partition_key);
        assert_eq!(record.data, user.data);
    }
    // a bad digest: handed on whole, as the KCL does
    assert_eq!((got[6].data.clone(), got[6].sub_sequence), (corrupt, None));
    assert_eq!(got[6].partition_key, "corrupt");
    assert_eq!(got[7].data, b"after");
    assert_strictly_increasing(&got);

    // resume in the middle of the aggregate: sub-records 0..=2 were done
    let mid = Checkpoint {
        sequence_number: aggregate_seq.clone(),
        sub_sequence: Some(2),
    };
    let mut resumed = ShardReader::new(
        kinesis.clone(),
        "kpl",
        &shards[0],
        StartPosition::AfterSequence(mid),
        options(100),
    );
    let rest = read_n(&mut resumed, 4, Duration::from_secs(10)).await;
    let subs: Vec<Option<u64>> = rest.iter().map(|r| r.sub_sequence).collect();
    assert_eq!(subs, vec![Some(3), Some(4), None, None]);
    assert_eq!(rest[3].data, b"after");
}

#[tokio::test]
async fn start_positions_latest_and_at_timestamp() {
    let moto = common::moto().await;
    let kinesis = moto.clients.kinesis.clone();
    create_stream(&kinesis, "positions", 1).await;
    for i in 0..5 {
        put(&kinesis, "positions", "k", format!("old{i}").as_bytes()).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cutoff = std::time::SystemTime::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let shards = discover_shards(&kinesis, "positions").await.unwrap();
    let mut latest = ShardReader::new(
        kinesis.clone(),
        "positions",
        &shards[0],
        StartPosition::Latest,
        options(100),
    );
    // the first call fixes LATEST before the new records are put
    assert!(latest.next_batch().await.unwrap().records.is_empty());
    for i in 0..3 {
        put(&kinesis, "positions", "k", format!("new{i}").as_bytes()).await;
    }
    let got = read_n(&mut latest, 3, Duration::from_secs(10)).await;
    let data: Vec<&[u8]> = got.iter().map(|r| r.data.as_slice()).collect();
    assert_eq!(data, vec![&b"new0"[..], b"new1", b"new2"]);

    let mut at = ShardReader::new(
        kinesis.clone(),
        "positions",
        &shards[0],
        StartPosition::AtTimestamp(cutoff),
        options(100),
    );
    let got = read_n(&mut at, 3, Duration::from_secs(10)).await;
    let data: Vec<&[u8]> = got.iter().map(|r| r.data.as_slice()).collect();
    assert_eq!(data, vec![&b"new0"[..], b"new1", b"new2"]);
    assert!(got[0].approximate_arrival_ms.unwrap() > 1_600_000_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_during_consumption_children_wait_for_their_parents() {
    let moto = common::moto().await;
    let kinesis = moto.clients.kinesis.clone();
    create_stream(&kinesis, "reshard", 4).await;
    let mut expected: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for i in 0..120 {
        let data = format!("r{i}").into_bytes();
        let (shard, _) = put(&kinesis, "reshard", &format!("key-{i}"), &data).await;
        expected.entry(shard).or_default().push(data);
    }
    let before = discover_shards(&kinesis, "reshard").await.unwrap();
    let ids: Vec<String> = before.iter().map(|s| s.shard_id.clone()).collect();
    let mut readers: BTreeMap<String, ShardReader> = BTreeMap::new();
    let mut got: BTreeMap<String, Vec<KinesisRecord>> = BTreeMap::new();
    for info in &before {
        let mut reader = ShardReader::new(
            kinesis.clone(),
            "reshard",
            info,
            StartPosition::TrimHorizon,
            options(5),
        );
        // part of every shard is read before resharding
        let batch = reader.next_batch().await.unwrap();
        assert!(!batch.shard_end);
        got.entry(info.shard_id.clone())
            .or_default()
            .extend(batch.records);
        readers.insert(info.shard_id.clone(), reader);
    }

    // split shard 0 in the middle of its hash range, merge shards 2 and 3
    let shard0 = kinesis
        .list_shards()
        .stream_name("reshard")
        .send()
        .await
        .unwrap()
        .shards()[0]
        .hash_key_range()
        .cloned()
        .unwrap();
    let low: u128 = shard0.starting_hash_key().parse().unwrap();
    let high: u128 = shard0.ending_hash_key().parse().unwrap();
    kinesis
        .split_shard()
        .stream_name("reshard")
        .shard_to_split(&ids[0])
        .new_starting_hash_key((low + (high - low) / 2).to_string())
        .send()
        .await
        .unwrap();
    kinesis
        .merge_shards()
        .stream_name("reshard")
        .shard_to_merge(&ids[2])
        .adjacent_shard_to_merge(&ids[3])
        .send()
        .await
        .unwrap();

    let after = discover_shards(&kinesis, "reshard").await.unwrap();
    assert_eq!(after.len(), 7);
    let children: Vec<&ShardInfo> = after
        .iter()
        .filter(|s| !ids.contains(&s.shard_id))
        .collect();
    assert_eq!(children.len(), 3);
    let merged = children
        .iter()
        .find(|c| c.adjacent_parent_shard_id.is_some())
        .unwrap();
    assert_eq!(merged.parent_shard_id.as_deref(), Some(ids[2].as_str()));
    assert_eq!(
        merged.adjacent_parent_shard_id.as_deref(),
        Some(ids[3].as_str())
    );
    for closed in [&ids[0], &ids[2], &ids[3]] {
        assert!(
            shard(&after, closed).ending_sequence.is_some(),
            "{closed} closed"
        );
    }
    assert!(shard(&after, &ids[1]).ending_sequence.is_none());

    // KCL order: while the parents are being read, no child is readable
    let mut finished = BTreeSet::new();
    assert_eq!(readable_shards(&after, &finished), ids);
    let nodes = [1u32, 2, 3];
    let leases = plan_leases(
        &readable_shards(&after, &finished),
        &nodes,
        &BTreeMap::new(),
    );
    assert_eq!(leases.len(), 4);

    for (id, reader) in readers.iter_mut() {
        reader.set_ending_sequence(shard(&after, id).ending_sequence.clone());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let want = expected.get(id).map_or(0, Vec::len);
        loop {
            assert!(tokio::time::Instant::now() < deadline, "{id} never ended");
            let batch = reader.next_batch().await.unwrap();
            got.entry(id.clone()).or_default().extend(batch.records);
            if batch.shard_end {
                finished.insert(id.clone());
                break;
            }
            if id == &ids[1] && got[id].len() >= want && batch.millis_behind_latest == 0 {
                break; // the open shard: read through, never ends
            }
        }
    }
    assert_eq!(
        finished,
        BTreeSet::from([ids[0].clone(), ids[2].clone(), ids[3].clone()])
    );
    for (id, records) in &got {
        assert_strictly_increasing(records);
        let data: Vec<Vec<u8>> = records.iter().map(|r| r.data.clone()).collect();
        assert_eq!(
            &data,
            expected.get(id).unwrap_or(&Vec::new()),
            "{id}: every record once, in order"
        );
    }

    // parents done: the children become readable (with the open shard 1), and leases follow
    let readable = readable_shards(&after, &finished);
    let mut want: Vec<String> = children.iter().map(|c| c.shard_id.clone()).collect();
    want.push(ids[1].clone());
    want.sort();
    assert_eq!(readable, want);
    let replanned = plan_leases(&readable, &nodes, &leases);
    assert_eq!(
        replanned[&ids[1]], leases[&ids[1]],
        "the open shard keeps its owner"
    );
    for child in &children {
        let mut reader = ShardReader::new(
            kinesis.clone(),
            "reshard",
            child,
            StartPosition::TrimHorizon,
            options(100),
        );
        let batch = reader.next_batch().await.unwrap();
        assert!(!batch.shard_end);
    }
}

#[tokio::test]
async fn fan_out_registers_a_consumer_and_reports_an_endpoint_without_subscribe_to_shard() {
    let moto = common::moto().await;
    let kinesis = moto.clients.kinesis.clone();
    create_stream(&kinesis, "fanout", 1).await;
    let stream_arn = kinesis
        .describe_stream_summary()
        .stream_name("fanout")
        .send()
        .await
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_string();
    let consumer = register_consumer(&kinesis, &stream_arn, "sa")
        .await
        .unwrap();
    assert!(consumer.contains("/consumer/sa"), "{consumer}");
    // registering again finds the same consumer
    assert_eq!(
        register_consumer(&kinesis, &stream_arn, "sa")
            .await
            .unwrap(),
        consumer
    );

    let shards = discover_shards(&kinesis, "fanout").await.unwrap();
    let mut reader = FanOutReader::new(
        kinesis.clone(),
        "fanout",
        consumer,
        &shards[0],
        StartPosition::TrimHorizon,
    )
    .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(100));
    // moto 5.2 has no SubscribeToShard (it answers 500): the node falls back to ShardReader on this error
    match tokio::time::timeout(Duration::from_secs(120), reader.next_batch()).await {
        Ok(Err(SourceError::Kinesis {
            operation,
            shard,
            message,
            ..
        })) => {
            assert!(message.contains("500"), "{message}");
            assert_eq!(operation, "SubscribeToShard");
            assert_eq!(shard.as_deref(), Some(shards[0].shard_id.as_str()));
        }
        other => panic!("{other:?}"),
    }
}
