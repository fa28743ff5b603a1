//! Records per second one node takes end to end over HTTP ingest, beside what its engine
//! (classify + rules, pipelined as in the node: `sactl bench rules --payloads`) does with the
//! same records in the same run, and their ratio. The node runs the shipped repository (conf/
//! and rules/); `CLIENTS` clients post batches of `BATCH` lines to `/v1/ingest/json` until
//! `RECORDS` records are committed (each reply comes after its batch's commit). Each run starts
//! a fresh node; end-to-end and engine runs alternate, so both see the same machine.
//!
//! Corpora: `shipped` is every JSON sample of deploy/local/samples (about a third of records
//! alert); `realistic` is a CloudTrail stream where about one record in a hundred alerts (quiet
//! samples varied in call, user and address, and one alerting sample; each record is checked
//! against a node first).
//!
//! The node runs as the README starts it, with mutual TLS; `--tls-cost` also runs it with
//! `--insecure` in each run, alternating, and prints what TLS costs end to end.
//!
//! `cargo run --release -p sa-chaos-tests --bin node-bench -- [--corpus shipped|realistic]
//! [--records N] [--batch N] [--clients N] [--runs N] [--tls-cost]` (build sanode and sactl
//! first, in the same profile). The last lines, one per corpus, read
//! `node-bench: corpus C, end-to-end E rec/s, engine G rec/s, ratio R` (medians).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use sa_chaos_tests::bench::{Figures, closed_loop, json_samples, realistic_corpus};
use sa_chaos_tests::{NodeOptions, NodeProcess, repository_root, workspace_binary};

#[derive(Clone, Copy, PartialEq)]
enum Corpus {
    Shipped,
    Realistic,
}

impl Corpus {
    fn name(self) -> &'static str {
        match self {
            Corpus::Shipped => "shipped",
            Corpus::Realistic => "realistic",
        }
    }
}

struct Options {
    corpora: Vec<Corpus>,
    records: usize,
    batch: usize,
    clients: usize,
    runs: usize,
    tls_cost: bool,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
        let mut options = Options {
            corpora: vec![Corpus::Shipped, Corpus::Realistic],
            records: 50_000,
            batch: 1_000,
            clients: 2,
            runs: 3,
            tls_cost: false,
        };
        while let Some(flag) = args.next() {
            if flag == "--tls-cost" {
                options.tls_cost = true;
                continue;
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let number = || -> anyhow::Result<usize> {
                let n: usize = value
                    .parse()
                    .with_context(|| format!("{flag} {value}: not a number"))?;
                Ok(n.max(1))
            };
            match flag.as_str() {
                "--corpus" => {
                    options.corpora = vec![match value.as_str() {
                        "shipped" => Corpus::Shipped,
                        "realistic" => Corpus::Realistic,
                        other => bail!("--corpus {other}: shipped or realistic"),
                    }]
                }
                "--records" => options.records = number()?,
                "--batch" => options.batch = number()?,
                "--clients" => options.clients = number()?,
                "--runs" => options.runs = number()?,
                other => bail!("unknown flag {other}"),
            }
        }
        Ok(options)
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    let sanode = workspace_binary("sanode")?;
    let sactl = workspace_binary("sactl")?;
    let dir = tempfile::tempdir()?;
    // The shipped cluster's `file` sources are relative paths: from the repository root a node
    // would read deploy/local/samples besides what the clients post.
    std::env::set_current_dir(dir.path())?;
    let mut summaries = Vec::new();
    let mut tls_costs = Vec::new();
    for &corpus in &options.corpora {
        let distinct = match corpus {
            Corpus::Shipped => json_samples(&[])?,
            Corpus::Realistic => realistic(&sanode, dir.path())?,
        };
        let lines: Vec<&str> = distinct
            .iter()
            .map(String::as_str)
            .cycle()
            .take(options.records)
            .collect();
        let payloads = dir.path().join(format!("{}.jsonl", corpus.name()));
        std::fs::write(&payloads, lines.join("\n"))?;
        let (mut ends, mut engines, mut plains) = (Vec::new(), Vec::new(), Vec::new());
        for run in 1..=options.runs {
            let end = end_to_end(&sanode, dir.path(), &lines, &options, Transport::Tls)?;
            let engine = engine(&sactl, &payloads, options.records)?;
            println!(
                "corpus {} run {run}: end-to-end {:.0} rec/s ({}), engine {engine:.0} rec/s",
                corpus.name(),
                end.records_per_second,
                end.outcome
            );
            ends.push(end.records_per_second);
            engines.push(engine);
            if options.tls_cost {
                let plain =
                    end_to_end(&sanode, dir.path(), &lines, &options, Transport::Plaintext)?;
                println!(
                    "corpus {} run {run}: end-to-end without TLS {:.0} rec/s ({})",
                    corpus.name(),
                    plain.records_per_second,
                    plain.outcome
                );
                plains.push(plain.records_per_second);
            }
        }
        if options.tls_cost {
            let (tls, plain) = (Figures::of(ends.clone()), Figures::of(plains));
            tls_costs.push(format!(
                "node-bench: corpus {}, TLS cost {:.1}% (with TLS {} rec/s, without {} rec/s, \
                 medians of {} runs with ranges)",
                corpus.name(),
                100.0 * (1.0 - tls.median / plain.median),
                tls.show(0),
                plain.show(0),
                options.runs
            ));
        }
        let (end, engine) = (Figures::of(ends), Figures::of(engines));
        println!(
            "corpus {}: end-to-end median {:.0} rec/s (range {:.0}-{:.0}), engine median {:.0} \
             rec/s (range {:.0}-{:.0}), {} runs of {} records in batches of {} from {} clients",
            corpus.name(),
            end.median,
            end.low,
            end.high,
            engine.median,
            engine.low,
            engine.high,
            options.runs,
            options.records,
            options.batch,
            options.clients
        );
        summaries.push(format!(
            "node-bench: corpus {}, end-to-end {:.0} rec/s, engine {:.0} rec/s, ratio {:.2}",
            corpus.name(),
            end.median,
            engine.median,
            end.median / engine.median
        ));
    }
    for line in tls_costs.into_iter().chain(summaries) {
        println!("{line}");
    }
    Ok(())
}

/// The realistic corpus, checked against a node of its own.
fn realistic(sanode: &Path, dir: &Path) -> anyhow::Result<Vec<String>> {
    let node = start_node(sanode, &dir.join("probe"), Transport::Tls)?;
    let lines = realistic_corpus(&node.http())?;
    node.terminate_cleanly(std::time::Duration::from_secs(30))?;
    Ok(lines)
}

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    /// The default: mutual TLS with the certificates of a first start.
    Tls,
    Plaintext,
}

fn start_node(sanode: &Path, data_dir: &Path, transport: Transport) -> anyhow::Result<NodeProcess> {
    let mut options = NodeOptions::new(sanode.to_owned(), data_dir.to_owned());
    options.extra_args.push("--quiet-alerts".into());
    if transport == Transport::Plaintext {
        options.extra_args.push("--insecure".into());
    }
    NodeProcess::start(&options)
}

struct EndToEnd {
    records_per_second: f64,
    outcome: String,
}

/// One fresh node, `lines` posted in batches by the clients until all are committed.
fn end_to_end(
    sanode: &Path,
    dir: &Path,
    lines: &[&str],
    options: &Options,
    transport: Transport,
) -> anyhow::Result<EndToEnd> {
    let bodies: Vec<(String, usize)> = lines
        .chunks(options.batch)
        .map(|c| (c.join("\n"), c.len()))
        .collect();
    let data = tempfile::tempdir_in(dir)?;
    let node = start_node(sanode, &data.path().join("data"), transport)?;
    let load = closed_loop(&[node.http()], "json", &bodies, options.clients)?;
    node.terminate_cleanly(std::time::Duration::from_secs(60))?;
    if load.accepted().count() != bodies.len() {
        bail!(
            "{} of {} requests refused (503)",
            bodies.len() - load.accepted().count(),
            bodies.len()
        );
    }
    let [classified, dead_letters, alerts] = load.counts();
    Ok(EndToEnd {
        records_per_second: load.records_per_second(),
        outcome: format!(
            "{classified} classified, {dead_letters} dead letters, {alerts} alerts, {:.1} s",
            load.elapsed.as_secs_f64()
        ),
    })
}

/// The engine's pipelined figure for the records of `payloads`, from `sactl bench rules`.
fn engine(sactl: &Path, payloads: &Path, records: usize) -> anyhow::Result<f64> {
    let out = Command::new(sactl)
        .args(["bench", "rules", "--source", "json", "--records"])
        .arg(records.to_string())
        .arg("--repo")
        .arg(repository_root())
        .arg("--payloads")
        .arg(payloads)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "sactl bench rules failed: {}{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.lines()
        .find_map(|line| line.strip_prefix("pipelined"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|figure| figure.parse().ok())
        .with_context(|| format!("no pipelined figure in:\n{text}"))
}
