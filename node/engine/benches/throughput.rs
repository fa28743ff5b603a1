//! Records/s and MB/s per built-in corpus next to serde_json's parse of the same bytes
//! (`cargo bench -p sa-engine --bench throughput`); the table `sactl bench classify` prints.
//! `SA_BENCH_RECORDS` sets the corpus size, `SA_BENCH_ONLY` picks corpora by name.

use sa_engine::{Classifier, bench_corpus};

// The allocator sanode and sactl run with (malloc is a large share of classification).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let records = std::env::var("SA_BENCH_RECORDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20_000);
    let classifier = Classifier::new(bench_corpus::config().expect("bench config loads"));
    println!(
        "{:<62} {:>11} {:>8} {:>13} {:>8} {:>6}",
        "corpus", "records/s", "MB/s", "serde rec/s", "MB/s", "ratio"
    );
    let only = std::env::var("SA_BENCH_ONLY").unwrap_or_default();
    for corpus in bench_corpus::corpora(records)
        .into_iter()
        .filter(|c| c.name.contains(&only))
    {
        let m = bench_corpus::measure(&classifier, &corpus, 7);
        println!(
            "{:<62} {:>11.0} {:>8.1} {:>13.0} {:>8.1} {:>6.2}",
            corpus.name,
            m.records_per_sec(),
            m.mb_per_sec(),
            m.parse_records_per_sec(),
            m.parse_mb_per_sec(),
            m.ratio()
        );
    }
}
