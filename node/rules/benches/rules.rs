//! Classify + rules over the shipped repository's test events, the figures `sactl bench rules`
//! prints (`cargo bench -p sa-rules --bench rules`). `SA_BENCH_RECORDS` sets the record count
//! (default 100,000), `SA_BENCH_BATCH` the records per batch (default 128, the part size sanode hands on),
//! `SA_BENCH_CLASSIFIER_THREADS` the pipelined run's classifier threads (default: one per core but the rules thread's),
//! `SA_BENCH_REPO` another repository.

use std::path::PathBuf;

use sa_engine::bench_corpus;
use sa_rules::PythonEnv;
use sa_rules::bench::{Corpus, bench_repository};

// The allocator sanode and sactl run with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let records = bench_corpus::env_setting("SA_BENCH_RECORDS").unwrap_or(100_000);
    let batch = bench_corpus::env_setting("SA_BENCH_BATCH").unwrap_or(128);
    let classifier_threads = bench_corpus::env_setting("SA_BENCH_CLASSIFIER_THREADS")
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |cores| cores.get().saturating_sub(1).max(1))
        });
    let repo = std::env::var_os("SA_BENCH_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
    match bench_repository(
        &repo,
        &Corpus::TestEvents,
        records,
        batch,
        classifier_threads,
        PythonEnv::resolve(None),
    ) {
        Ok(report) => println!("repository           {}\n{report}", repo.display()),
        Err(error) => {
            eprintln!("bench rules: {error}");
            std::process::exit(1);
        }
    }
}
