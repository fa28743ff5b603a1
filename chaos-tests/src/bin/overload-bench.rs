//! One node with the shipped repository (conf/ and rules/, default flags) pushed past what it
//! can take. Each run:
//! 1. a fresh node, idle for 2 s: its resident memory (VmRSS) idle;
//! 2. its maximum: `CLIENTS` clients post the shipped JSON samples in batches of `BATCH` lines to
//!    `/v1/ingest/json` until `RECORDS` records are committed (as node-bench does), and the
//!    node's peak resident memory (VmHWM) at that load. The default, 300,000 records, is about
//!    what the overloaded node commits in 30 s: a node gets slower and bigger as its state
//!    grows, so a short maximum run overstates what it sustains;
//! 3. a second fresh node offered `FACTOR` times that maximum for `SECONDS` s, open loop: the
//!    same batches at a fixed rate, each on its own connection whatever the replies before it
//!    do, a 503 not sent again. Achieved records/s counts the records of the 200s answered
//!    within those seconds; then the share of 503s, the latency of the 200s (p50, p99, max),
//!    the node's peak resident memory, and that it stopped cleanly.
//!
//! The nodes run in a temporary working directory, so the `file` sources of the shipped
//! cluster (relative paths) read nothing.
//!
//! `cargo run --release -p sa-chaos-tests --bin overload-bench -- [--records 300000]
//! [--batch 1000] [--clients 8] [--seconds 30] [--factor 2] [--runs 3] [--node-arg ARG]...`
//! (`--node-arg` passes a flag to every sanode, e.g. `--node-arg --ingest-max-held-mib=16`;
//! build sanode first, in the same profile). Prints one line per run, then medians with
//! ranges; the last line reads `overload-bench: offered O rec/s, achieved A rec/s (P% of max),
//! 503 share S%, p99 accepted L ms, peak RSS M MB; max load X rec/s, peak RSS Y MB; idle RSS I
//! MB` (medians).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use sa_chaos_tests::bench::{
    Figures, batches, closed_loop, json_samples, memory_kib, millis, open_loop, quantile,
};
use sa_chaos_tests::{NodeOptions, NodeProcess, workspace_binary};

struct Options {
    /// Extra sanode flags (`--node-arg`, repeatable).
    node_args: Vec<String>,
    records: usize,
    batch: usize,
    clients: usize,
    seconds: f64,
    factor: f64,
    runs: usize,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
        let mut options = Options {
            node_args: Vec::new(),
            records: 300_000,
            batch: 1_000,
            clients: 8,
            seconds: 30.0,
            factor: 2.0,
            runs: 3,
        };
        while let Some(flag) = args.next() {
            let text = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            if flag == "--node-arg" {
                options.node_args.push(text);
                continue;
            }
            let value: f64 = text
                .parse()
                .with_context(|| format!("{flag}: not a number"))?;
            let count = value.max(1.0) as usize;
            match flag.as_str() {
                "--records" => options.records = count,
                "--batch" => options.batch = count,
                "--clients" => options.clients = count,
                "--seconds" => options.seconds = value.max(1.0),
                "--factor" => options.factor = value.max(0.1),
                "--runs" => options.runs = count,
                other => bail!("unknown flag {other}"),
            }
        }
        Ok(options)
    }
}

/// One run's figures, in the order of [`COLUMNS`].
const COLUMNS: [&str; 11] = [
    "idle RSS MB",
    "max rec/s",
    "peak RSS at max MB",
    "offered rec/s",
    "achieved rec/s",
    "achieved % of max",
    "503 share %",
    "p50 accepted ms",
    "p99 accepted ms",
    "max accepted ms",
    "peak RSS overloaded MB",
];

fn main() -> anyhow::Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    let sanode = workspace_binary("sanode")?;
    let bodies = batches(&json_samples(&[])?, options.records, options.batch);
    let dir = tempfile::tempdir()?;
    std::env::set_current_dir(dir.path())?;
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); COLUMNS.len()];
    for run in 1..=options.runs {
        let figures = run_once(&sanode, dir.path(), &bodies, &options)
            .with_context(|| format!("run {run}"))?;
        println!(
            "run {run}: {}",
            COLUMNS
                .iter()
                .zip(&figures)
                .map(|(name, value)| format!("{name} {value:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (column, value) in columns.iter_mut().zip(figures) {
            column.push(value);
        }
    }
    let medians: Vec<Figures> = columns.into_iter().map(Figures::of).collect();
    println!(
        "medians of {} runs (ranges), batches of {} shipped sample lines, max from {} clients \
         and {} records, {} x max offered for {} s, node flags {:?}:",
        options.runs,
        options.batch,
        options.clients,
        options.records,
        options.factor,
        options.seconds,
        options.node_args
    );
    for (name, figures) in COLUMNS.iter().zip(&medians) {
        println!("  {name}: {}", figures.show(0));
    }
    let m = |i: usize| medians[i].median;
    println!(
        "overload-bench: offered {:.0} rec/s, achieved {:.0} rec/s ({:.0}% of max), 503 share \
         {:.0}%, p99 accepted {:.0} ms, peak RSS {:.0} MB; max load {:.0} rec/s, peak RSS {:.0} \
         MB; idle RSS {:.0} MB",
        m(3),
        m(4),
        m(5),
        m(6),
        m(8),
        m(10),
        m(1),
        m(2),
        m(0)
    );
    Ok(())
}

fn start_node(
    sanode: &Path,
    dir: &Path,
    node_args: &[String],
) -> anyhow::Result<(tempfile::TempDir, NodeProcess)> {
    let data = tempfile::tempdir_in(dir)?;
    let mut options = NodeOptions::new(sanode.to_owned(), data.path().join("data"));
    options.extra_args.push("--quiet-alerts".into());
    options.extra_args.extend(node_args.iter().cloned());
    let node = NodeProcess::start(&options)?;
    Ok((data, node))
}

fn run_once(
    sanode: &Path,
    dir: &Path,
    bodies: &[(String, usize)],
    options: &Options,
) -> anyhow::Result<Vec<f64>> {
    let mb = |kib: u64| kib as f64 / 1024.0;

    let (_data, node) = start_node(sanode, dir, &options.node_args)?;
    std::thread::sleep(Duration::from_secs(2));
    let idle = memory_kib(node.pid(), "VmRSS")?;
    let full = closed_loop(&[node.http()], "json", bodies, options.clients)?;
    if full.accepted().count() != bodies.len() {
        bail!(
            "{} requests refused at the maximum",
            bodies.len() - full.accepted().count()
        );
    }
    let max = full.records_per_second();
    let peak_at_max = memory_kib(node.pid(), "VmHWM")?;
    node.terminate_cleanly(Duration::from_secs(60))?;

    let (_data, node) = start_node(sanode, dir, &options.node_args)?;
    let offered = options.factor * max;
    let rate = offered / options.batch as f64;
    let requests = (rate * options.seconds).ceil() as usize;
    let over = open_loop(&[node.http()], "json", requests, rate, &|i| {
        bodies[i % bodies.len()].clone()
    })?;
    let achieved = over.records_per_second_within(Duration::from_secs_f64(options.seconds));
    let latencies = over.accepted_latencies();
    let peak_over = memory_kib(node.pid(), "VmHWM")?;
    node.terminate_cleanly(Duration::from_secs(60))?;
    Ok(vec![
        mb(idle),
        max,
        mb(peak_at_max),
        offered,
        achieved,
        100.0 * achieved / max,
        100.0 * over.refused_share(),
        millis(quantile(&latencies, 0.5)),
        millis(quantile(&latencies, 0.99)),
        millis(latencies.last().copied().unwrap_or_default()),
        mb(peak_over),
    ])
}
