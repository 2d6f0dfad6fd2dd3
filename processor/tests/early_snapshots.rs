//! A status change of a campaign whose tenant has alert rules is
//! snapshotted before the interval's grid (half an interval after the
//! previous snapshot at the earliest), so that its alert does not wait for
//! the grid; other changes wait for it (ARCHITECTURE.md, "Alerts").

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alerting::{RuleInput, TransitionKind};
use processor::alerts::RuleBoard;
use processor::engine::Engine;
use processor::kafka::source::SourceControl;
use processor::metrics::Metrics;
use processor::store::MemoryStore;
use schemas::{CampaignLifecycle, CampaignStatus, Codec, Event, LifecycleKind};

mod common;
use common::{engine_measured, records, Collect, Published};

const INTERVAL: Duration = Duration::from_secs(2);

fn status(tenant: &str, n: i64, status: CampaignStatus) -> (usize, Event) {
    (
        0,
        Event::Lifecycle(CampaignLifecycle {
            event_id: format!("{tenant}-s{n}"),
            tenant_id: tenant.into(),
            campaign_id: "c0".into(),
            job_id: String::new(),
            occurred_at: 1_000 + n,
            kind: if n == 0 {
                LifecycleKind::Created
            } else {
                LifecycleKind::StatusChanged
            },
            status: Some(status),
            audience_size: None,
            script: None,
        }),
    )
}

/// Apply a RUNNING and an ERROR status of `tenant`'s campaign right after
/// a snapshot, then tick for most of an interval: how many snapshots came
/// early, and the transitions published.
fn run(tenant: &str) -> (u64, Vec<(TransitionKind, String, String, String)>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let board = Arc::new(RuleBoard::new());
    let rule = RuleInput::from_json(
        r#"{"name": "errors", "condition": {"kind": "status", "status": "ERROR"}}"#,
    )
    .unwrap()
    .validate()
    .unwrap()
    .into_rule("r1".into(), "ruled".into(), 1);
    board.apply("r1", Some(rule));
    let sink = Arc::new(Published::new(rt.handle().clone()));
    let metrics = Metrics::new();
    let mut engine: Engine<MemoryStore> = engine_measured(
        &rt,
        Arc::new(MemoryStore::default()),
        INTERVAL,
        1_000_000,
        None,
        Arc::new(Collect::default()),
        Arc::new(SourceControl::default()),
        10_000,
        metrics.clone(),
    )
    .with_alerts(board, sink.clone());
    // Assigning writes a snapshot: the grid's next is an interval away.
    engine.assign(&BTreeSet::from([0]));
    let events = [
        status(tenant, 0, CampaignStatus::Running),
        status(tenant, 1, CampaignStatus::Error),
    ];
    for r in records(&Codec::new().unwrap(), &events) {
        engine.on_record(r);
    }
    let until = Instant::now() + INTERVAL * 9 / 10;
    while Instant::now() < until {
        engine.tick();
        std::thread::sleep(Duration::from_millis(10));
    }
    engine.flush();
    (metrics.snapshots_early.get(), sink.take())
}

#[test]
fn a_status_change_of_a_tenant_with_rules_is_snapshotted_before_the_grid() {
    let (early, published) = run("ruled");
    assert_eq!(early, 1, "one early snapshot");
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, TransitionKind::Fired);
}

#[test]
fn a_status_change_of_a_tenant_without_rules_waits_for_the_grid() {
    let (early, published) = run("unruled");
    assert_eq!(early, 0);
    assert!(published.is_empty());
}
