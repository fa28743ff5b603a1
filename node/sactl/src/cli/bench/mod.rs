//! `sactl bench classify`: classification throughput on one core, next to serde_json's own
//! parse of the same bytes into a `Value` (`ratio`), and, where payloads embed JSON documents as
//! strings (CloudWatch Logs), next to serde_json parsing those documents too (`ratio
//! embedded`): the parsing classification cannot skip. Build with `--release` for meaningful
//! figures.

use crate::cli::Target;
mod rules;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use sa_engine::bench_corpus::{self, Measurement};
use sa_engine::{Classifier, Config};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Classify built-in corpora (or a repository's test events) and print records/s and MB/s.
    Classify(BenchClassifyArgs),
    /// Classify and run the rules over a repository's test events; records/s and where the time goes.
    Rules(rules::BenchRulesArgs),
}

#[derive(Debug, Args)]
pub struct BenchClassifyArgs {
    /// Replay this repository's test events (conf/ and rules/) instead of the built-in corpora.
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Replay only the events of this test-event file (with the configuration of --repo, or ./).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Records per corpus.
    #[arg(long, default_value_t = 20_000)]
    pub records: usize,
}

pub async fn run(_node: &Target, command: BenchCommand) -> anyhow::Result<()> {
    let args = match command {
        BenchCommand::Classify(args) => args,
        BenchCommand::Rules(args) => return rules::run(args),
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: this sactl is a debug build; figures are far below a release build's");
    }
    let (classifier, corpora) = if args.repo.is_some() || args.events.is_some() {
        let repo = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
        let config = Config::load_dir(&repo.join("conf")).with_context(|| {
            format!(
                "configuration in {} is invalid",
                repo.join("conf").display()
            )
        })?;
        let classifier = Classifier::new(config);
        let corpus = bench_corpus::repository_corpus(
            &classifier,
            &repo,
            args.events.as_deref(),
            args.records,
        )
        .map_err(anyhow::Error::msg)?;
        (classifier, vec![corpus])
    } else {
        (
            Classifier::new(bench_corpus::config().map_err(anyhow::Error::msg)?),
            bench_corpus::corpora(args.records),
        )
    };
    println!("{}", Measurement::table_header());
    for corpus in &corpora {
        let m = bench_corpus::measure(&classifier, corpus, 3);
        println!("{}", m.table_row(&corpus.name));
    }
    Ok(())
}
