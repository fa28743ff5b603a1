//! What the benchmark binaries share: the shipped JSON samples as a corpus, clients posting
//! batches to `/v1/ingest/{source}` (closed loop, or open loop at a fixed rate), medians with
//! ranges, percentiles, and a node's memory from `/proc`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::binaries::repository_root;
use crate::node_process::NodeHttp;

/// The median and range of a few runs.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

impl Figures {
    pub fn of(mut runs: Vec<f64>) -> Figures {
        assert!(!runs.is_empty(), "figures of no runs");
        runs.sort_by(f64::total_cmp);
        Figures {
            median: runs[runs.len() / 2],
            low: runs[0],
            high: runs[runs.len() - 1],
        }
    }

    /// `median (low-high)` with `decimals` decimals.
    pub fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}-{:.d$})",
            self.median,
            self.low,
            self.high,
            d = decimals
        )
    }
}

/// The sample at quantile `q` (0 to 1) of `sorted`, nearest rank.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A `/proc/PID/status` memory line (`VmRSS`, `VmHWM`) of a process, in KiB.
pub fn memory_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// The one-object lines of the JSON samples of deploy/local/samples (all of them when `files`
/// is empty, else those whose file stem is listed).
pub fn json_samples(files: &[&str]) -> anyhow::Result<Vec<String>> {
    let dir = repository_root().join("deploy/local/samples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    let mut lines = Vec::new();
    for path in paths {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if path.extension().is_none_or(|e| e != "jsonl")
            || !(files.is_empty() || files.contains(&stem))
        {
            continue;
        }
        // One object per line: a line holding a JSON array would make the body an array.
        lines.extend(
            std::fs::read_to_string(&path)?
                .lines()
                .filter(|l| l.trim_start().starts_with('{'))
                .map(str::to_owned),
        );
    }
    if lines.is_empty() {
        bail!("no JSON samples in {}", dir.display());
    }
    Ok(lines)
}

/// Read-only API calls: CloudTrail events any account sees all day.
const QUIET_CALLS: &[&str] = &[
    "DescribeInstances",
    "ListBuckets",
    "GetObject",
    "DescribeVolumes",
    "ListUsers",
    "GetCallerIdentity",
    "DescribeSecurityGroups",
    "ListRoles",
    "GetBucketLocation",
    "DescribeDBInstances",
];

/// The realistic corpus: CloudTrail events, 99 quiet ones for each one that alerts. The quiet
/// ones are the samples that classify without an alert, varied in call, user, address and id;
/// every record is asked of the node at `node` (running the shipped repository) first, and only
/// those that behave as intended are kept.
pub fn realistic_corpus(node: &NodeHttp) -> anyhow::Result<Vec<String>> {
    let verdict = |line: &str| -> anyhow::Result<(bool, bool)> {
        let (status, reply) = node.post("/v1/ingest/json", line.as_bytes())?;
        if status != 200 {
            bail!("ingest refused: {status} {reply}");
        }
        let reply: Value =
            serde_json::from_str(&reply).with_context(|| format!("ingest reply {reply}"))?;
        Ok((
            reply["classified"].as_u64() == Some(1),
            reply["alerts"].as_u64().is_some_and(|alerts| alerts > 0),
        ))
    };
    let (mut alerting, mut templates) = (Vec::new(), Vec::new());
    for line in json_samples(&["cloudtrail"])? {
        match verdict(&line)? {
            (true, true) => alerting.push(line),
            (true, false) => templates.push(serde_json::from_str::<Value>(&line)?),
            (false, _) => {}
        }
    }
    if templates.is_empty() || alerting.is_empty() {
        bail!(
            "the CloudTrail samples need quiet and alerting records ({} quiet, {} alerting)",
            templates.len(),
            alerting.len()
        );
    }
    let mut quiet = Vec::new();
    for i in 0..99 {
        let mut event = templates[i % templates.len()].clone();
        event["eventID"] = Value::from(format!("{i:08x}-0000-4000-8000-{i:012x}"));
        event["eventName"] = Value::from(QUIET_CALLS[i % QUIET_CALLS.len()]);
        event["sourceIPAddress"] = Value::from(format!("10.{}.{}.{}", i % 7, i % 13, i % 251));
        if event["userIdentity"]["userName"].is_string() {
            event["userIdentity"]["userName"] = Value::from(format!("analyst{}", i % 17));
        }
        let line = event.to_string();
        if verdict(&line)? == (true, false) {
            quiet.push(line);
        }
    }
    if quiet.len() < 50 {
        bail!(
            "only {} varied CloudTrail events classify quietly",
            quiet.len()
        );
    }
    let mut lines = quiet;
    lines.truncate(99);
    lines.push(alerting[0].clone());
    Ok(lines)
}

/// One ingest request as a client saw it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Which body of the load it carried.
    pub index: usize,
    /// When it was sent, from the start of the load.
    pub at: Duration,
    /// Until its reply (for a 200: until its batch was committed).
    pub latency: Duration,
    pub status: u16,
    pub records: usize,
    /// `classified`, `dead_letters` and `alerts` of a 200's reply.
    pub counts: [u64; 3],
}

/// Every request of a load, in the order they were sent.
#[derive(Debug)]
pub struct Load {
    pub elapsed: Duration,
    pub sent: Vec<Sent>,
}

impl Load {
    pub fn accepted(&self) -> impl Iterator<Item = &Sent> {
        self.sent.iter().filter(|s| s.status == 200)
    }

    pub fn accepted_records(&self) -> usize {
        self.accepted().map(|s| s.records).sum()
    }

    /// Records of the 200s per second of the whole load.
    pub fn records_per_second(&self) -> f64 {
        self.accepted_records() as f64 / self.elapsed.as_secs_f64()
    }

    /// Records of the 200s whose reply came within the first `window` of the load, per second
    /// of that window: what the node committed while it was offered the load, not counting the
    /// drain of what it held at the end.
    pub fn records_per_second_within(&self, window: Duration) -> f64 {
        let records: usize = self
            .accepted()
            .filter(|s| s.at + s.latency <= window)
            .map(|s| s.records)
            .sum();
        records as f64 / window.as_secs_f64()
    }

    /// The share of requests answered 503, 0 to 1.
    pub fn refused_share(&self) -> f64 {
        let refused = self.sent.iter().filter(|s| s.status == 503).count();
        refused as f64 / self.sent.len().max(1) as f64
    }

    /// Latencies of the 200s, sorted.
    pub fn accepted_latencies(&self) -> Vec<Duration> {
        let mut latencies: Vec<Duration> = self.accepted().map(|s| s.latency).collect();
        latencies.sort();
        latencies
    }

    /// Sums of `classified`, `dead_letters` and `alerts` over the 200s.
    pub fn counts(&self) -> [u64; 3] {
        self.accepted().fold([0; 3], |sum, s| {
            [
                sum[0] + s.counts[0],
                sum[1] + s.counts[1],
                sum[2] + s.counts[2],
            ]
        })
    }
}

/// Posts one batch and times it; a 200 or a 503 is an answer, anything else an error.
fn send(
    index: usize,
    node: &NodeHttp,
    source: &str,
    body: &str,
    records: usize,
    start: Instant,
) -> anyhow::Result<Sent> {
    let sent_at = Instant::now();
    let addr = node.addr;
    let (status, reply) = node
        .post(&format!("/v1/ingest/{source}"), body.as_bytes())
        .with_context(|| format!("ingest to {addr}"))?;
    let latency = sent_at.elapsed();
    let mut counts = [0; 3];
    match status {
        200 => {
            let reply: Value =
                serde_json::from_str(&reply).with_context(|| format!("ingest reply {reply}"))?;
            for (count, key) in counts
                .iter_mut()
                .zip(["classified", "dead_letters", "alerts"])
            {
                *count = reply[key].as_u64().unwrap_or(0);
            }
        }
        503 => {}
        _ => bail!("ingest to {addr} answered {status}: {reply}"),
    }
    Ok(Sent {
        index,
        at: sent_at.duration_since(start),
        latency,
        status,
        records,
        counts,
    })
}

/// Closed loop: `clients_per_target` clients per address each post the next of `bodies` (body
/// and its record count) as soon as their previous reply came, until all are answered. Client
/// `c` posts to `targets[c % targets.len()]`. A 503 is recorded, not sent again.
pub fn closed_loop(
    targets: &[NodeHttp],
    source: &str,
    bodies: &[(String, usize)],
    clients_per_target: usize,
) -> anyhow::Result<Load> {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let mut sent = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..targets.len() * clients_per_target)
            .map(|client| {
                let (next, node) = (&next, &targets[client % targets.len()]);
                scope.spawn(move || -> anyhow::Result<Vec<Sent>> {
                    let mut sent = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some((body, records)) = bodies.get(index) else {
                            break;
                        };
                        sent.push(send(index, node, source, body, *records, start)?);
                    }
                    Ok(sent)
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|client| {
                client
                    .join()
                    .map_err(|_| anyhow::anyhow!("a client panicked"))?
            })
            .collect::<anyhow::Result<Vec<Vec<Sent>>>>()
    })?
    .concat();
    sent.sort_by_key(|s| s.at);
    Ok(Load {
        elapsed: start.elapsed(),
        sent,
    })
}

/// Open loop: request `i` of `requests` is sent at `i / rate` seconds after the start (each on
/// its own thread, whatever the replies before it do), to `targets[i % targets.len()]`, with the
/// body and record count `body(i)` gives at that moment. Waits for every reply. A 503 is
/// recorded, not sent again.
pub fn open_loop(
    targets: &[NodeHttp],
    source: &str,
    requests: usize,
    rate: f64,
    body: &(dyn Fn(usize) -> (String, usize) + Sync),
) -> anyhow::Result<Load> {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for i in 0..requests {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (tx, node) = (tx.clone(), &targets[i % targets.len()]);
            scope.spawn(move || {
                let (body, records) = body(i);
                let _ = tx.send(send(i, node, source, &body, records, start));
            });
        }
    });
    drop(tx);
    let mut sent = rx.into_iter().collect::<anyhow::Result<Vec<Sent>>>()?;
    sent.sort_by_key(|s| s.at);
    Ok(Load {
        elapsed: start.elapsed(),
        sent,
    })
}

/// `lines` cycled to `records` lines and cut into bodies of `batch` lines.
pub fn batches(lines: &[String], records: usize, batch: usize) -> Vec<(String, usize)> {
    let cycled: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .cycle()
        .take(records)
        .collect();
    cycled
        .chunks(batch)
        .map(|chunk| (chunk.join("\n"), chunk.len()))
        .collect()
}
