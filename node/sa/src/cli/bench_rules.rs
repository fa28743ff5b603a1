//! `sactl bench rules`: classify + rules over a repository's test events replicated to N
//! records; records/s on one core, where the time goes, and the pipelined figure. Build with
//! `--release` for meaningful figures.

use std::path::PathBuf;

use clap::Args;
use sa_rules::PythonEnv;
use sa_rules::bench::bench_repository;

#[derive(Debug, Args)]
pub struct BenchRulesArgs {
    /// Repository root with conf/ and rules (default: ./, the shipped repository).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Records to replay.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Records per batch handed to the rules engine.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Python environment (a virtualenv) whose packages rules import (default: $VIRTUAL_ENV).
    #[arg(long)]
    pub python_env: Option<PathBuf>,
}

pub fn run(args: BenchRulesArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this sactl is a debug build; figures are far below a release build's");
    }
    let report = bench_repository(
        &args.repo,
        args.records,
        args.batch,
        PythonEnv::resolve(args.python_env),
    )
    .map_err(anyhow::Error::msg)?;
    let per_record = |d: std::time::Duration| d.as_secs_f64() * 1e6 / report.records.max(1) as f64;
    println!("repository           {}", args.repo.display());
    println!(
        "records              {} ({} distinct test events, {} rules)",
        report.records, report.distinct_events, report.rules_loaded
    );
    println!(
        "classify + rules     {:.0} records/s on one core (CPU time)",
        report.records_per_second()
    );
    println!(
        "  classify           {:.1} µs/record ({:.0}% of the time)",
        per_record(report.classify),
        report.classify_share() * 100.0
    );
    println!(
        "  rules              {:.1} µs/record ({:.0}%)",
        per_record(report.rules),
        (1.0 - report.classify_share()) * 100.0
    );
    println!(
        "    record -> dict   {:.1} µs/record",
        per_record(report.to_python)
    );
    println!(
        "    rule calls       {:.2} per record ({} records crossed into Python)",
        report.rule_calls as f64 / report.records.max(1) as f64,
        report.records_evaluated
    );
    println!(
        "    alerts           {} ({} rule exceptions)",
        report.alerts, report.rule_failures
    );
    println!(
        "one Python call      {} ns (Rust -> Python function on a prebuilt dict)",
        report.python_call.as_nanos()
    );
    println!(
        "pipelined            {:.0} records/s wall (classify here, rules on the rules thread)",
        report.pipelined_records_per_second()
    );
    Ok(())
}
