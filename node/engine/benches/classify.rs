//! Classification throughput against serde_json's own parse of the same bytes, per corpus
//! (`cargo bench -p sa-engine`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sa_engine::{Classifier, Root, bench_corpus};
use serde_json::Value;

// The allocator sanode and sactl run with (malloc is a large share of classification).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 500;

fn classify(c: &mut Criterion) {
    let classifier = Classifier::new(bench_corpus::config().expect("bench config loads"));
    for corpus in bench_corpus::corpora(RECORDS) {
        let mut group = c.benchmark_group(corpus.name.as_str());
        group.throughput(Throughput::Elements(corpus.records as u64));
        group.bench_function("classify", |b| {
            b.iter(|| {
                for p in &corpus.payloads {
                    let out = classifier
                        .classify(&p.service, &p.resource, Root::from_bytes(&p.bytes))
                        .expect("routed");
                    black_box(out);
                }
            })
        });
        group.bench_function("serde_json parse", |b| {
            b.iter(|| {
                for p in &corpus.payloads {
                    black_box(serde_json::from_slice::<Value>(&p.bytes).ok());
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, classify);
criterion_main!(benches);
