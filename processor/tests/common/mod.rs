//! Shared by the integration tests: test traffic. (A ClickHouse database of
//! its own per test is `storage::testing::TestDatabase`.)
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alerting::{RuleInput, Transition, TransitionKind};
use processor::alerts::{AlertSink, RuleBoard};
use processor::clickhouse::ClickHouseStore;
use processor::engine::{Attempt, DeadLetterSink, Engine, EngineConfig};
use processor::kafka::dlq::Rejected;
use processor::kafka::source::{SourceControl, SourceRecord};
use processor::metrics::Metrics;
use processor::state::PartitionState;
use processor::store::{MemoryStore, Offsets, Store};
use runtime::tenants::TenantZones;
use schemas::{Codec, Event, NotificationSent, UserInteraction};
use storage::testing::TestDatabase;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Dead letters, collected in memory, with fault injection: acknowledgements
/// held back until released, and attempts that fail.
#[derive(Default)]
pub struct Collect(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    delivered: Vec<Rejected>,
    attempts: usize,
    /// The next this many attempts fail.
    failing: usize,
    /// Acknowledgements wait while true.
    holding: bool,
    held: Vec<(Rejected, Attempt)>,
    max_held: usize,
}

impl Collect {
    /// Every record acknowledged so far, in acknowledgement order.
    pub fn delivered(&self) -> Vec<Rejected> {
        self.0.lock().unwrap().delivered.clone()
    }

    /// Delivery attempts so far (failed ones included).
    pub fn attempts(&self) -> usize {
        self.0.lock().unwrap().attempts
    }

    /// Attempts enqueued and not resolved, now and at most.
    pub fn outstanding(&self) -> (usize, usize) {
        let inner = self.0.lock().unwrap();
        (inner.held.len(), inner.max_held)
    }

    /// Make the next `n` attempts fail.
    pub fn fail_next(&self, n: usize) {
        self.0.lock().unwrap().failing = n;
    }

    /// Hold acknowledgements back (`false`) or let them through (`true`,
    /// also those held so far).
    pub fn acknowledge(&self, open: bool) {
        let held = {
            let mut inner = self.0.lock().unwrap();
            inner.holding = !open;
            if open {
                std::mem::take(&mut inner.held)
            } else {
                Vec::new()
            }
        };
        for (record, attempt) in held {
            self.0.lock().unwrap().delivered.push(record);
            attempt.delivered();
        }
    }
}

impl DeadLetterSink for Collect {
    fn enqueue(&self, r: &Rejected, attempt: Attempt) {
        let mut inner = self.0.lock().unwrap();
        inner.attempts += 1;
        if inner.failing > 0 {
            inner.failing -= 1;
            drop(inner);
            attempt.failed(&"injected failure", r.clone());
        } else if inner.holding {
            inner.held.push((r.clone(), attempt));
            inner.max_held = inner.max_held.max(inner.held.len());
        } else {
            inner.delivered.push(r.clone());
            drop(inner);
            attempt.delivered();
        }
    }
}

/// An engine over `store` on topics l, n, i that snapshots only when the
/// test flushes.
pub fn test_engine<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: Arc<S>,
    max_buffered_rows: usize,
    evict_completed_after_ms: Option<i64>,
    dead_letters: Arc<Collect>,
    control: Arc<SourceControl>,
) -> Engine<S> {
    test_engine_capped(
        rt,
        store,
        max_buffered_rows,
        evict_completed_after_ms,
        dead_letters,
        control,
        10_000,
    )
}

/// [`test_engine`] with at most `max_dead_letters_in_flight` dead letters
/// unacknowledged.
pub fn test_engine_capped<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: Arc<S>,
    max_buffered_rows: usize,
    evict_completed_after_ms: Option<i64>,
    dead_letters: Arc<Collect>,
    control: Arc<SourceControl>,
    max_dead_letters_in_flight: usize,
) -> Engine<S> {
    engine_with_sink(
        rt,
        store,
        max_buffered_rows,
        evict_completed_after_ms,
        dead_letters,
        control,
        max_dead_letters_in_flight,
    )
}

/// [`test_engine_capped`] with any dead-letter sink.
pub fn engine_with_sink<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: Arc<S>,
    max_buffered_rows: usize,
    evict_completed_after_ms: Option<i64>,
    dead_letters: Arc<dyn DeadLetterSink>,
    control: Arc<SourceControl>,
    max_dead_letters_in_flight: usize,
) -> Engine<S> {
    engine_every(
        rt,
        store,
        Duration::from_secs(3600),
        max_buffered_rows,
        evict_completed_after_ms,
        dead_letters,
        control,
        max_dead_letters_in_flight,
    )
}

/// [`engine_with_sink`] taking a snapshot every `interval`.
#[allow(clippy::too_many_arguments)]
pub fn engine_every<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: Arc<S>,
    interval: Duration,
    max_buffered_rows: usize,
    evict_completed_after_ms: Option<i64>,
    dead_letters: Arc<dyn DeadLetterSink>,
    control: Arc<SourceControl>,
    max_dead_letters_in_flight: usize,
) -> Engine<S> {
    engine_of(
        rt,
        store,
        test_config(
            interval,
            max_buffered_rows,
            evict_completed_after_ms,
            max_dead_letters_in_flight,
        ),
        dead_letters,
        control,
    )
}

/// The settings of the test engines: topics l, n, i, no retention, early
/// alert snapshots off.
pub fn test_config(
    interval: Duration,
    max_buffered_rows: usize,
    evict_completed_after_ms: Option<i64>,
    max_dead_letters_in_flight: usize,
) -> EngineConfig {
    EngineConfig {
        topics: ["l".into(), "n".into(), "i".into()],
        snapshot_interval: interval,
        max_buffered_rows,
        max_dead_letters_in_flight,
        max_skew_ms: 60_000,
        evict_completed_after_ms,
        max_retained_bytes: usize::MAX,
        retention_ms: None,
        alert_snapshot_gap: None,
    }
}

/// An engine over `store` with these settings.
pub fn engine_of<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: Arc<S>,
    cfg: EngineConfig,
    dead_letters: Arc<dyn DeadLetterSink>,
    control: Arc<SourceControl>,
) -> Engine<S> {
    Engine::new(
        cfg,
        store,
        Codec::new().unwrap(),
        TenantZones::default(),
        Metrics::new(),
        rt.handle().clone(),
        dead_letters,
        control,
    )
}

/// A stream of (topic, event) with a redelivery of every fifth user's last click.
pub fn traffic(users: usize) -> Vec<(usize, Event)> {
    let mut out = Vec::new();
    for u in 0..users {
        let n = Event::Notification(NotificationSent {
            event_id: format!("n-{u}"),
            tenant_id: "t".into(),
            campaign_id: format!("c{}", u % 3),
            job_id: "j".into(),
            occurred_at: 1_000 + u as i64,
            user_id: format!("u{u}"),
            node_id: Some("start".into()),
            first_message: true,
            warning_message: false,
        });
        out.push((1, n));
        for step in 0..3 {
            let i = Event::Interaction(UserInteraction {
                event_id: format!("i-{u}-{step}"),
                tenant_id: "t".into(),
                campaign_id: format!("c{}", u % 3),
                job_id: "j".into(),
                occurred_at: 2_000 + (u * 10 + step) as i64,
                user_id: format!("u{u}"),
                selected_action: "next".into(),
                answer_target: if step == 2 {
                    "end".into()
                } else {
                    format!("n{step}")
                },
                answer_title: None,
                question: None,
            });
            out.push((2, i));
        }
        if u % 5 == 0 {
            let again = out[out.len() - 2].clone();
            out.push(again);
        }
    }
    out
}

/// Kafka records for the traffic, with offsets per topic.
pub fn records(codec: &Codec, traffic: &[(usize, Event)]) -> Vec<SourceRecord> {
    let mut next = [0i64; 3];
    traffic
        .iter()
        .map(|(t, e)| {
            let offset = next[*t];
            next[*t] += 1;
            SourceRecord {
                topic: *t,
                partition: 0,
                offset,
                key: Some(e.campaign_id().as_bytes().to_vec()),
                payload: codec.encode(e).unwrap(),
            }
        })
        .collect()
}

pub fn reference(traffic: &[(usize, Event)]) -> PartitionState {
    let mut s = PartitionState::new();
    for (_, e) in traffic {
        s.apply(e);
    }
    s
}

pub fn distinct_events(traffic: &[(usize, Event)]) -> usize {
    traffic
        .iter()
        .map(|(_, e)| e.event_id().to_string())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Apply what the consumer delivers after an assignment: the records at or
/// past where their partition resumes (`resume(partition)`, per topic).
pub fn replay<S: Store>(
    engine: &mut Engine<S>,
    recs: &[SourceRecord],
    resume: impl Fn(i32) -> Offsets,
) {
    for r in recs {
        if r.offset >= resume(r.partition)[r.topic].unwrap_or(0) {
            engine.on_record(r.clone());
        }
    }
}

/// The records put on the partitions `partition_of` picks, with offsets
/// numbered from 0 per (topic, partition), as the broker would number them.
pub fn spread(
    recs: Vec<SourceRecord>,
    partition_of: impl Fn(&SourceRecord) -> i32,
) -> Vec<SourceRecord> {
    let mut next = std::collections::HashMap::new();
    recs.into_iter()
        .map(|mut r| {
            r.partition = partition_of(&r);
            let offset = next.entry((r.topic, r.partition)).or_insert(0i64);
            r.offset = *offset;
            *offset += 1;
            r
        })
        .collect()
}

/// Every transition handed over, in order.
pub struct Published {
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
    pub fn new(handle: Handle) -> Self {
        Published {
            handle,
            transitions: Mutex::new(Vec::new()),
        }
    }

    pub fn take(&self) -> Vec<(TransitionKind, String, String, String)> {
        std::mem::take(&mut *self.transitions.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .map(|t| (t.kind, t.campaign_id, t.rule_id, t.alert_id))
            .collect()
    }
}

/// Put a rule of tenant `t` on the board, as the rules topic would.
pub fn rule(board: &RuleBoard, id: &str, revision: u64, json: &str) {
    let rule = RuleInput::from_json(json)
        .unwrap()
        .validate()
        .unwrap()
        .into_rule(id.into(), "t".into(), revision);
    assert!(board.apply(id, Some(rule)));
}

/// A runtime of one worker thread, for engines that block on it.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Run a scenario over the in-memory store.
pub fn on_memory(scenario: fn(&tokio::runtime::Runtime, Arc<MemoryStore>)) {
    scenario(&runtime(), Arc::new(MemoryStore::default()));
}

/// Run a scenario over a database of its own on the real server.
pub fn on_clickhouse(name: &str, scenario: fn(&tokio::runtime::Runtime, Arc<ClickHouseStore>)) {
    let rt = runtime();
    let db = rt.block_on(TestDatabase::migrated(name));
    scenario(&rt, Arc::new(ClickHouseStore::new(db.client())));
    rt.block_on(db.drop());
}

/// A process on `store` that owns partition 0 and evaluates the rules of
/// `board` (read from the rules topic at start: none of them is a change
/// to this process), handing its transitions to `sink`.
pub fn alerting_engine<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: &Arc<S>,
    board: Arc<RuleBoard>,
    sink: &Arc<Published>,
    evict_completed_after_ms: Option<i64>,
) -> Engine<S> {
    let cfg = test_config(
        Duration::from_secs(3600),
        1_000_000,
        evict_completed_after_ms,
        10_000,
    );
    alerting_engine_with(rt, store, board, sink, cfg)
}

/// [`alerting_engine`] with snapshots an hour apart, taken early when an
/// alert transition is due if `alert_snapshot_gap` is set.
pub fn early_alerting_engine<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: &Arc<S>,
    board: Arc<RuleBoard>,
    sink: &Arc<Published>,
    alert_snapshot_gap: Option<Duration>,
) -> Engine<S> {
    let cfg = EngineConfig {
        alert_snapshot_gap,
        ..test_config(Duration::from_secs(3600), 1_000_000, None, 10_000)
    };
    alerting_engine_with(rt, store, board, sink, cfg)
}

/// An alerting process with these settings that owns partition 0.
fn alerting_engine_with<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: &Arc<S>,
    board: Arc<RuleBoard>,
    sink: &Arc<Published>,
    cfg: EngineConfig,
) -> Engine<S> {
    let mut engine = engine_of(
        rt,
        store.clone(),
        cfg,
        Arc::new(Collect::default()),
        Arc::new(SourceControl::default()),
    )
    .with_alerts(board, sink.clone());
    engine.assign(&BTreeSet::from([0]));
    engine
}
