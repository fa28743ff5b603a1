//! Records/s and MB/s per built-in corpus next to serde_json's parse of the same bytes
//! (`cargo bench -p sa-engine --bench throughput`); the table `sactl bench classify` prints.
//! `SA_BENCH_RECORDS` sets the corpus size, `SA_BENCH_ONLY` picks corpora by name,
//! `SA_BENCH_REPO` replays a repository's test events (its conf/ and rules/) instead.

use std::path::PathBuf;

use sa_engine::bench_corpus::{self, Measurement};
use sa_engine::{Classifier, Config};

// The allocator sanode and sactl run with (malloc is a large share of classification).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let records = bench_corpus::env_setting("SA_BENCH_RECORDS").unwrap_or(20_000);
    let (classifier, corpora) = match std::env::var_os("SA_BENCH_REPO").map(PathBuf::from) {
        Some(repo) => {
            let config = Config::load_dir(&repo.join("conf")).expect("repository config loads");
            let classifier = Classifier::new(config);
            let corpus = bench_corpus::repository_corpus(&classifier, &repo, None, records)
                .expect("repository has test events");
            (classifier, vec![corpus])
        }
        None => (
            Classifier::new(bench_corpus::config().expect("bench config loads")),
            bench_corpus::corpora(records),
        ),
    };
    println!("{}", Measurement::table_header());
    let only = std::env::var("SA_BENCH_ONLY").unwrap_or_default();
    for corpus in corpora.into_iter().filter(|c| c.name.contains(&only)) {
        let m = bench_corpus::measure(&classifier, &corpus, 7);
        println!("{}", m.table_row(&corpus.name));
    }
}
