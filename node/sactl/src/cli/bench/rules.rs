//! `sactl bench rules`: classify + rules over a repository's test events replicated to N
//! records; records/s on one core, where the time goes, and the pipelined figure. Build with
//! `--release` for meaningful figures.

use std::path::PathBuf;

use clap::Args;
use sa_rules::PythonEnv;
use sa_rules::bench::{Corpus, bench_repository};

#[derive(Debug, Args)]
pub struct BenchRulesArgs {
    /// Repository root with conf/ and rules (default: ./, the shipped repository).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Records to replay.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Payloads per batch handed on to the rules (default: the part size of sanode's pipeline).
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Classifier threads of the pipelined run, beside the rules thread (default: the cores less
    /// one, as sanode).
    #[arg(long)]
    pub classifier_threads: Option<usize>,
    /// Python environment (a virtualenv) whose packages rules import (default: $VIRTUAL_ENV).
    #[arg(long)]
    pub python_env: Option<PathBuf>,
    /// Replay each line of this file as a payload of --service/--source instead of the
    /// repository's test events (the records a node was sent, to compare with its figure).
    #[arg(long, requires = "source")]
    pub payloads: Option<PathBuf>,
    /// The data source's service of --payloads.
    #[arg(long, default_value = "http")]
    pub service: String,
    /// The data source of --payloads (a key of the service's data_sources).
    #[arg(long)]
    pub source: Option<String>,
}

pub fn run(args: BenchRulesArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this sactl is a debug build; figures are far below a release build's");
    }
    let corpus = match (args.payloads, args.source) {
        (Some(path), Some(source)) => Corpus::Payloads {
            path,
            service: args.service,
            source,
        },
        _ => Corpus::TestEvents,
    };
    let report = bench_repository(
        &args.repo,
        &corpus,
        args.records,
        args.batch,
        args.classifier_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |cores| cores.get().saturating_sub(1).max(1))
        }),
        PythonEnv::resolve(args.python_env),
    )
    .map_err(anyhow::Error::msg)?;
    println!("repository           {}", args.repo.display());
    println!("{report}");
    Ok(())
}
