//! The cost of alert rules on the processing path, in one run: the same
//! traffic (10 tenants x 1,000 campaigns) applied and taken as snapshots
//! (every 20,000 events, as a catch-up does) without rules, and with 1,000
//! rules (100 per tenant, every one in scope of every campaign of its
//! tenant: thresholds, funnel steps, statuses, inactivity). In process, one
//! core: decode is left out (it is the same in both). `make bench` runs it;
//! `cargo test --benches` runs it once, tiny.

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::Arc;

use alerting::Rule;
use benches::e2e::rules::bench_rule;
use benches::loadgen::config::GenConfig;
use benches::loadgen::generate;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use processor::state::{AlertPass, PartitionState, RuleIndex};
use schemas::{Codec, Event};

/// Events applied between two snapshots.
const PER_SNAPSHOT: usize = 20_000;

fn events(codec: &Codec, tiny: bool) -> Vec<Event> {
    let cfg = GenConfig {
        tenants: if tiny { 2 } else { 10 },
        campaigns: if tiny { 5 } else { 1_000 },
        jobs: 1,
        users: if tiny { 3 } else { 6 },
        poison: 0,
        ..GenConfig::default()
    };
    let g = generate(&cfg, codec).expect("generate traffic");
    g.plan
        .records(&g.traffic, codec)
        .map(|r| r.expect("encode").payload.into_owned())
        .filter_map(|r| codec.decode(&r).ok())
        .collect()
}

/// `per_tenant` rules for each tenant of the traffic.
fn rules(events: &[Event], per_tenant: usize) -> RuleIndex {
    let tenants: HashSet<&str> = events.iter().map(Event::tenant_id).collect();
    let mut all: Vec<Arc<Rule>> = Vec::new();
    for tenant in tenants {
        for i in 0..per_tenant {
            let rule = bench_rule(tenant, i, format!("{tenant}-r{i}")).expect("bench rule");
            all.push(Arc::new(rule));
        }
    }
    RuleIndex::new(all)
}

/// Apply every event, taking a snapshot's changes every `PER_SNAPSHOT`.
fn run(events: &[Event], rules: Option<&RuleIndex>) -> usize {
    let mut state = PartitionState::new();
    let changed = HashSet::new();
    let mut taken = 0;
    let mut now_ms = 1_800_000_000_000;
    for chunk in events.chunks(PER_SNAPSHOT) {
        for e in chunk {
            state.apply(e);
        }
        now_ms += 1_000;
        let changes = match rules {
            Some(rules) => state.take_changes_with(Some(&AlertPass {
                rules,
                changed_tenants: &changed,
                now_ms,
            })),
            None => state.take_changes(),
        };
        taken += changes.reports.len() + changes.transitions.len();
    }
    taken
}

fn alert_rules(c: &mut Criterion) {
    let tiny = std::env::args().any(|a| a == "--test");
    let codec = Codec::new().expect("schemas");
    let events = events(&codec, tiny);
    let with = rules(&events, 100);
    let mut group = c.benchmark_group("alert_rules");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("apply+snapshots, no rules", |b| {
        b.iter_batched(
            || (),
            |()| black_box(run(&events, None)),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("apply+snapshots, 1000 rules", |b| {
        b.iter_batched(
            || (),
            |()| black_box(run(&events, Some(&with))),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, alert_rules);
criterion_main!(benches);
