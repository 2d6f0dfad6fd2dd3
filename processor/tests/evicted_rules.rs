//! Rule changes reach campaigns already evicted from memory (alerts.md:
//! once the input is processed, the firing alerts are the pairs whose
//! condition holds on the final reports, whenever the rule was made; a
//! deleted rule resolves its alerts). The engine over the in-memory store
//! and over the real ClickHouse server (CLICKHOUSE_URL; `make up`).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use alerting::{RuleInput, Transition, TransitionKind};
use processor::alerts::{AlertSink, RuleBoard};
use processor::clickhouse::ClickHouseStore;
use processor::engine::Engine;
use processor::kafka::source::SourceControl;
use processor::store::{MemoryStore, Store};
use schemas::{CampaignLifecycle, CampaignStatus, Codec, Event, LifecycleKind};
use storage::testing::TestDatabase;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

mod common;
use common::{records, test_engine, traffic, Collect};

/// Every transition handed over, in order.
struct Published {
    handle: Handle,
    transitions: Mutex<Vec<Transition>>,
}

impl AlertSink for Published {
    fn publish(&self, transitions: Vec<Transition>) -> JoinHandle<()> {
        self.transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(transitions);
        self.handle.spawn(async {})
    }
}

impl Published {
    fn take(&self) -> Vec<(TransitionKind, String, String, String)> {
        std::mem::take(&mut *self.transitions.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .map(|t| (t.kind, t.campaign_id, t.rule_id, t.alert_id))
            .collect()
    }
}

fn rule(board: &RuleBoard, id: &str, revision: u64, json: &str) {
    let rule = RuleInput::from_json(json)
        .unwrap()
        .validate()
        .unwrap()
        .into_rule(id.into(), "t".into(), revision);
    assert!(board.apply(id, Some(rule)));
}

fn completed(campaign: &str, at: i64) -> (usize, Event) {
    (
        0,
        Event::Lifecycle(CampaignLifecycle {
            event_id: format!("done-{campaign}"),
            tenant_id: "t".into(),
            campaign_id: campaign.into(),
            job_id: String::new(),
            occurred_at: at,
            kind: LifecycleKind::Completed,
            status: Some(CampaignStatus::Completed),
            audience_size: None,
            script: None,
        }),
    )
}

/// Snapshots until nothing moves: evaluation, commit, eviction.
fn settle<S: Store>(engine: &mut Engine<S>) {
    for _ in 0..4 {
        engine.flush();
        engine.finish_rule_sweeps();
    }
}

#[test]
fn a_rule_made_after_eviction_fires_on_the_evicted_campaign_and_resolves_when_deleted() {
    let rt = runtime();
    rules_reach_evicted_campaigns(&rt, Arc::new(MemoryStore::default()));
}

#[test]
fn the_same_over_clickhouse() {
    let rt = runtime();
    let db = rt.block_on(TestDatabase::migrated("evicted_rules"));
    rules_reach_evicted_campaigns(&rt, Arc::new(ClickHouseStore::new(db.client())));
    rt.block_on(db.drop());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// c0's evicted header's book, as a rule change reads it.
fn c0_firing<S: Store>(rt: &tokio::runtime::Runtime, store: &S) -> usize {
    let views = rt
        .block_on(store.evicted_views(&[0], &["t".to_string()]))
        .unwrap();
    let c0: Vec<_> = views.iter().filter(|v| v.campaign_id == "c0").collect();
    assert_eq!(c0.len(), 1, "c0 is evicted: {views:?}");
    assert!(
        c0[0].reports.iter().any(|r| r.job_id.is_none()),
        "with its all-jobs report"
    );
    c0[0].book.firing().count()
}

fn rules_reach_evicted_campaigns<S: Store>(rt: &tokio::runtime::Runtime, store: Arc<S>) {
    let board = Arc::new(RuleBoard::new());
    let sink = Arc::new(Published {
        handle: rt.handle().clone(),
        transitions: Mutex::new(Vec::new()),
    });
    // c0 and c1 complete; events of 1970, long past the grace period.
    let mut events = traffic(9);
    events.push(completed("c0", 9_000));
    events.push(completed("c1", 9_000));
    let recs = records(&Codec::new().unwrap(), &events);
    let mut engine = test_engine(
        rt,
        store.clone(),
        1_000_000,
        Some(1_000),
        Arc::new(Collect::default()),
        Arc::new(SourceControl::default()),
    )
    .with_alerts(board.clone(), sink.clone());
    engine.assign(&BTreeSet::from([0]));
    for r in recs.iter().cloned() {
        engine.on_record(r);
    }
    settle(&mut engine);
    assert_eq!(engine.campaigns_in_memory(), 1, "c0 and c1 evicted");
    assert!(sink.take().is_empty());

    // A rule that holds on c0's final report only: c0 comes back, fires
    // once, and leaves memory again. c1 is read but not reloaded.
    rule(
        &board,
        "r1",
        1,
        r#"{"name": "sent", "scope": {"campaign_id": "c0"},
            "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": ">=", "value": 1}}"#,
    );
    settle(&mut engine);
    let fired = sink.take();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(
        (fired[0].0, fired[0].1.as_str(), fired[0].2.as_str()),
        (TransitionKind::Fired, "c0", "r1")
    );
    assert_eq!(engine.campaigns_in_memory(), 1, "c0 evicted again");
    assert_eq!(
        c0_firing(rt, store.as_ref()),
        1,
        "c0's evicted header keeps the firing pair"
    );

    // A rule that holds nowhere changes nothing and reloads nothing.
    rule(
        &board,
        "r2",
        1,
        r#"{"name": "never", "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": ">", "value": 1000000}}"#,
    );
    engine.flush();
    engine.finish_rule_sweeps();
    assert_eq!(engine.campaigns_in_memory(), 1, "nothing reloaded");
    settle(&mut engine);
    assert!(sink.take().is_empty());

    // Deleted: the alert on the evicted campaign is resolved, same id.
    assert!(board.apply("r1", None));
    settle(&mut engine);
    let resolved = sink.take();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].0, TransitionKind::Resolved);
    assert_eq!(resolved[0].3, fired[0].3, "the alert that fired");
    assert_eq!(engine.campaigns_in_memory(), 1, "c0 evicted again");
    assert_eq!(c0_firing(rt, store.as_ref()), 0);
    settle(&mut engine);
    assert!(sink.take().is_empty(), "nothing twice");
}
