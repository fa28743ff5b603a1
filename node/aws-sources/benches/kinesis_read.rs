//! Records per second one ShardReader sustains from a local moto_server, next to what moto
//! itself serves to a bare GetRecords loop (the endpoint's ceiling). Not a Kinesis figure: real
//! Kinesis serves 2 MB/s and 5 calls/s per shard, which the reader's default pacing honours.
//!
//! `cargo bench -p sa-aws-sources --bench kinesis_read` (env BENCH_RECORDS, default 20000).

#[path = "../tests/it/common.rs"]
mod common;

use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use sa_aws_sources::kinesis::{
    PacingConfig, ReaderOptions, ShardReader, StartPosition, UserRecord, aggregate, discover_shards,
};

const RECORD_BYTES: usize = 200;

fn payload(i: usize) -> Vec<u8> {
    let mut text = format!("{{\"n\": {i}, \"host\": \"web-{}\", \"pad\": \"", i % 17);
    while text.len() < RECORD_BYTES - 2 {
        text.push('x');
    }
    text.push_str("\"}");
    text.into_bytes()
}

/// PutRecords in batches within its limits (500 records, 5 MB).
async fn put_all(client: &aws_sdk_kinesis::Client, stream: &str, records: Vec<Vec<u8>>) {
    let per_call = (4_000_000 / records.first().map_or(1, Vec::len).max(1)).clamp(1, 500);
    for (n, batch) in records.chunks(per_call).enumerate() {
        let entries = batch
            .iter()
            .map(|data| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{n}"))
                    .data(Blob::new(data.clone()))
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
    }
}

/// A bare GetRecords loop: what moto can hand out at most.
async fn ceiling(client: &aws_sdk_kinesis::Client, stream: &str, shard: &str, want: usize) -> f64 {
    let start = Instant::now();
    let mut iterator = client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_string();
    let mut got = 0;
    while got < want {
        let out = client
            .get_records()
            .shard_iterator(&iterator)
            .limit(10_000)
            .send()
            .await
            .unwrap();
        got += out.records().len();
        iterator = out.next_shard_iterator().unwrap().to_string();
    }
    got as f64 / start.elapsed().as_secs_f64()
}

async fn with_reader(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    pacing: PacingConfig,
    want: usize,
) -> (f64, usize) {
    let shards = discover_shards(client, stream).await.unwrap();
    let mut reader = ShardReader::new(
        client.clone(),
        stream,
        &shards[0],
        StartPosition::TrimHorizon,
        ReaderOptions {
            max_records_per_call: 10_000,
            pacing,
        },
    );
    let start = Instant::now();
    let mut got = 0;
    let mut calls = 0;
    while got < want {
        got += reader.next_batch().await.unwrap().records.len();
        calls += 1;
    }
    (got as f64 / start.elapsed().as_secs_f64(), calls)
}

fn unpaced() -> PacingConfig {
    PacingConfig {
        calls_per_sec: 1e9,
        bytes_per_sec: 1e12,
        idle_min: Duration::ZERO,
        idle_max: Duration::ZERO,
        ..PacingConfig::default()
    }
}

#[tokio::main]
async fn main() {
    let records: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let moto = common::moto().await;
    let client = moto.clients.kinesis.clone();
    client
        .create_stream()
        .stream_name("plain")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    put_all(&client, "plain", (0..records).map(payload).collect()).await;
    let shard = discover_shards(&client, "plain").await.unwrap()[0]
        .shard_id
        .clone();
    println!("{records} records of {RECORD_BYTES} B in one shard of moto_server");

    let bare = ceiling(&client, "plain", &shard, records).await;
    println!("moto ceiling (bare GetRecords loop, limit 10000): {bare:.0} records/s");
    let (fast, calls) = with_reader(&client, "plain", unpaced(), records).await;
    println!("ShardReader, shard limits lifted: {fast:.0} records/s ({calls} calls)");
    let (paced, calls) = with_reader(&client, "plain", PacingConfig::default(), records).await;
    println!(
        "ShardReader, Kinesis limits (5 calls/s, 2 MB/s = {} records/s of {RECORD_BYTES} B): {paced:.0} records/s ({calls} calls)",
        2_000_000 / RECORD_BYTES
    );

    // KPL: 50 user records per Kinesis record
    client
        .create_stream()
        .stream_name("kpl")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let aggregates: Vec<Vec<u8>> = (0..records / 50)
        .map(|a| {
            let users: Vec<UserRecord> = (0..50)
                .map(|u| UserRecord {
                    partition_key: format!("k{u}"),
                    data: payload(a * 50 + u),
                })
                .collect();
            aggregate(&users)
        })
        .collect();
    put_all(&client, "kpl", aggregates).await;
    let (kpl, calls) = with_reader(&client, "kpl", unpaced(), records / 50 * 50).await;
    println!(
        "ShardReader, KPL aggregates of 50, limits lifted: {kpl:.0} user records/s ({calls} calls)"
    );
}
