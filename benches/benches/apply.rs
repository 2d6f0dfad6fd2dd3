//! The apply path: decode + apply of a realistic event mix (loadgen traffic,
//! duplicates included, poison left out) in the pure state machine, on one
//! core. `make bench` runs it; `cargo test --benches` runs it once, tiny.

use std::hint::black_box;

use benches::loadgen::config::GenConfig;
use benches::loadgen::generate;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use processor::state::PartitionState;
use schemas::Codec;

fn records(codec: &Codec) -> Vec<Vec<u8>> {
    let tiny = std::env::args().any(|a| a == "--test");
    let cfg = GenConfig {
        tenants: 2,
        campaigns: if tiny { 2 } else { 10 },
        jobs: 3,
        users: if tiny { 10 } else { 500 },
        poison: 0,
        ..GenConfig::default()
    };
    let g = generate(&cfg, codec).expect("generate traffic");
    g.plan
        .records(&g.traffic, codec)
        .map(|r| r.expect("encode").payload.into_owned())
        .collect()
}

fn apply(c: &mut Criterion) {
    let codec = Codec::new().expect("schemas");
    let records = records(&codec);
    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.sample_size(10);
    group.bench_function("decode", |b| {
        b.iter(|| {
            for r in &records {
                black_box(codec.decode(r).ok());
            }
        })
    });
    group.bench_function("decode+apply", |b| {
        b.iter_batched(
            PartitionState::new,
            |mut state| {
                for r in &records {
                    if let Ok(e) = codec.decode(r) {
                        state.apply(&e);
                    }
                }
                state
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, apply);
criterion_main!(benches);
