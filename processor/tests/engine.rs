//! The engine over the in-memory store: snapshots, crash recovery, retries,
//! dead letters and back-pressure, without Kafka or ClickHouse.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use processor::engine::{Attempt, DeadLetterSink, Engine};
use processor::kafka::dlq::Rejected;
use processor::kafka::source::{SourceControl, SourceRecord};
use processor::store::MemoryStore;
use schemas::Codec;

mod common;
use common::{
    distinct_events, engine_with_sink, records, reference, replay, spread, test_engine,
    test_engine_capped, traffic, Collect,
};
use processor::state::PartitionState;

struct Harness {
    rt: tokio::runtime::Runtime,
    store: Arc<MemoryStore>,
    dlq: Arc<Collect>,
    control: Arc<SourceControl>,
}

impl Harness {
    fn new() -> Self {
        Self::with_store(Arc::new(MemoryStore::default()))
    }

    /// A new process (runtime, dead-letter topic, consumer) on `store`.
    fn with_store(store: Arc<MemoryStore>) -> Self {
        Harness {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            store,
            dlq: Arc::new(Collect::default()),
            control: Arc::new(SourceControl::default()),
        }
    }

    /// An engine with at most `cap` dead letters unacknowledged.
    fn engine_capped(&self, max_buffered_rows: usize, cap: usize) -> Engine<MemoryStore> {
        test_engine_capped(
            &self.rt,
            self.store.clone(),
            max_buffered_rows,
            None,
            self.dlq.clone(),
            self.control.clone(),
            cap,
        )
    }

    fn engine(&self, max_buffered_rows: usize) -> Engine<MemoryStore> {
        self.engine_evicting(max_buffered_rows, None)
    }

    fn engine_evicting(
        &self,
        max_buffered_rows: usize,
        evict_completed_after_ms: Option<i64>,
    ) -> Engine<MemoryStore> {
        test_engine(
            &self.rt,
            self.store.clone(),
            max_buffered_rows,
            evict_completed_after_ms,
            self.dlq.clone(),
            self.control.clone(),
        )
    }
}

/// The store's reports and journeys equal the reference fold.
fn assert_store_matches(store: &MemoryStore, expected: &PartitionState) {
    let all = expected.all();
    store.with(|s| {
        assert_eq!(s.reports.len(), all.reports.len());
        for r in &all.reports {
            let key = (
                r.tenant_id.clone(),
                r.campaign_id.clone(),
                r.job_id.clone().unwrap_or_default(),
            );
            assert_eq!(s.reports.get(&key).map(|x| &x.1), Some(r), "report {key:?}");
        }
        assert_eq!(s.journeys.len(), all.journeys.len());
        for j in &all.journeys {
            let key = (
                j.tenant_id.clone(),
                j.campaign_id.clone(),
                j.job_id.clone(),
                j.user_id.clone(),
            );
            assert_eq!(
                s.journeys.get(&key).map(|x| &x.2),
                Some(j),
                "journey {key:?}"
            );
        }
    });
}

#[test]
fn a_snapshot_writes_raw_events_reports_journeys_and_the_checkpoint() {
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(20);
    let recs = records(&codec, &traffic);
    let mut engine = h.engine(1_000_000);
    let offsets = engine.assign(&BTreeSet::from([0]));
    assert_eq!(
        offsets[&0],
        [None, None, None],
        "no checkpoint: from the beginning"
    );
    for r in recs.clone() {
        engine.on_record(r);
    }
    engine.flush();
    assert_store_matches(&h.store, &reference(&traffic));
    h.store.with(|s| {
        assert_eq!(s.raw.len(), distinct_events(&traffic));
        let cp = &s.checkpoints[&0];
        let notifications = recs.iter().filter(|r| r.topic == 1).count() as i64;
        let interactions = recs.iter().filter(|r| r.topic == 2).count() as i64;
        assert_eq!(cp.offsets, [None, Some(notifications), Some(interactions)]);
    });
}

#[test]
fn a_crash_at_any_point_loses_nothing_and_counts_nothing_twice() {
    let codec = Codec::new().unwrap();
    let traffic = traffic(30);
    let recs = records(&codec, &traffic);
    let expected = reference(&traffic);
    for crash_after in [0, 7, 33, 64, recs.len() - 1] {
        for snapshot_every in [5, 17] {
            let h = Harness::new();
            // First life: snapshots now and then, dies after `crash_after`
            // records without a final snapshot.
            let mut engine = h.engine(1_000_000);
            engine.assign(&BTreeSet::from([0]));
            for (i, r) in recs.iter().take(crash_after).cloned().enumerate() {
                engine.on_record(r);
                if i % snapshot_every == 0 {
                    engine.flush();
                }
            }
            drop(engine);
            // Second life: restore and replay from the checkpoint.
            let mut engine = h.engine(1_000_000);
            let offsets = engine.assign(&BTreeSet::from([0]))[&0];
            replay(&mut engine, &recs, |_| offsets);
            engine.flush();
            assert_store_matches(&h.store, &expected);
            h.store.with(|s| {
                assert_eq!(
                    s.raw.len(),
                    distinct_events(&traffic),
                    "crash after {crash_after}: one raw row per event"
                );
            });
        }
    }
}

#[test]
fn partitions_assigned_together_are_restored_together_each_from_its_checkpoint() {
    // Three partitions (campaigns spread over them), checkpointed at
    // different points, then a crash: one assignment restores all three
    // from one read of the store, and the replay from each partition's
    // checkpoint ends with exact figures.
    let codec = Codec::new().unwrap();
    let traffic = traffic(30);
    let recs = spread(records(&codec, &traffic), |r| {
        let key = r.key.as_deref().unwrap_or_default();
        (key.iter().map(|b| u32::from(*b)).sum::<u32>() % 3) as i32
    });
    let partitions = BTreeSet::from([0, 1, 2]);
    assert_eq!(
        recs.iter().map(|r| r.partition).collect::<BTreeSet<_>>(),
        partitions,
        "the traffic spans all three partitions"
    );
    let h = Harness::new();
    let mut engine = h.engine(1_000_000);
    engine.assign(&partitions);
    for (i, r) in recs.iter().cloned().enumerate() {
        // Snapshots at uneven points, and records after the last one.
        let partition = r.partition;
        engine.on_record(r);
        if i % (11 + 7 * partition as usize) == 0 && i < recs.len() * 3 / 4 {
            engine.flush();
        }
    }
    drop(engine);
    let checkpoints = h.store.with(|s| s.checkpoints.clone());
    assert_eq!(checkpoints.len(), 3);

    let mut engine = h.engine(1_000_000);
    let offsets = engine.assign(&partitions);
    assert_eq!(offsets.len(), 3);
    for (p, cp) in &checkpoints {
        assert_eq!(
            offsets[p], cp.offsets,
            "partition {p} resumes at its checkpoint"
        );
    }
    replay(&mut engine, &recs, |p| offsets[&p]);
    engine.flush();
    assert_store_matches(&h.store, &reference(&traffic));
    h.store
        .with(|s| assert_eq!(s.raw.len(), distinct_events(&traffic)));
}

#[test]
fn raw_events_beyond_the_checkpoint_are_not_written_again() {
    // A snapshot whose raw events landed but whose checkpoint did not: the
    // next owner must neither insert them again nor lose their effect.
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(10);
    let recs = records(&codec, &traffic);
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in recs.iter().take(10).cloned() {
        engine.on_record(r);
    }
    engine.flush();
    let checkpoint = h.store.with(|s| s.checkpoints[&0].clone());
    for r in recs.iter().skip(10).cloned() {
        engine.on_record(r);
    }
    engine.flush();
    // Roll the checkpoint back, as if its write had been lost.
    h.store.with(|s| s.checkpoints.insert(0, checkpoint));
    drop(engine);
    let mut engine = h.engine(1_000_000);
    let offsets = engine.assign(&BTreeSet::from([0]))[&0];
    replay(&mut engine, &recs, |_| offsets);
    engine.flush();
    assert_store_matches(&h.store, &reference(&traffic));
    h.store
        .with(|s| assert_eq!(s.raw.len(), distinct_events(&traffic)));
}

#[test]
fn failed_writes_are_retried_until_they_land() {
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(10);
    h.store.with(|s| s.fail_writes = 3);
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in records(&codec, &traffic) {
        engine.on_record(r);
    }
    engine.flush();
    assert_store_matches(&h.store, &reference(&traffic));
    h.store.with(|s| assert!(s.writes >= 4));
}

#[test]
fn poison_records_go_to_the_dead_letters_and_the_partition_flows_on() {
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(3);
    let mut recs = records(&codec, &traffic);
    let bad = SourceRecord {
        topic: 2,
        partition: 0,
        offset: 1_000,
        key: Some(b"c0".to_vec()),
        payload: b"not avro at all".to_vec(),
    };
    recs.push(bad.clone());
    let wrong_topic = SourceRecord {
        topic: 0,
        offset: 500,
        ..recs[1].clone()
    };
    recs.push(wrong_topic);
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in recs {
        engine.on_record(r);
    }
    engine.flush();
    let dead = h.dlq.delivered();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].payload, bad.payload, "unchanged");
    assert_eq!((dead[0].topic.as_str(), dead[0].offset), ("i", 1_000));
    assert_eq!(dead[0].reason_code, "bad_marker");
    assert_eq!(dead[1].reason_code, "wrong_topic");
    assert_store_matches(&h.store, &reference(&traffic));
    h.store.with(|s| {
        assert_eq!(s.checkpoints[&0].offsets[2], Some(1_001));
        assert_eq!(s.checkpoints[&0].offsets[0], Some(501));
    });
}

#[test]
fn a_stuck_store_pauses_consumption_instead_of_buffering_without_bound() {
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    h.store.with(|s| s.fail_writes = u32::MAX);
    let mut engine = h.engine(10);
    engine.assign(&BTreeSet::from([0]));
    let recs = records(&codec, &traffic(10));
    for r in recs.into_iter().take(30) {
        engine.on_record(r);
        engine.tick();
    }
    assert!(
        h.control.pause.load(Ordering::SeqCst),
        "paused while the store is down"
    );
    // The store comes back: the buffer drains and consumption resumes.
    h.store.with(|s| s.fail_writes = 0);
    for _ in 0..200 {
        engine.tick();
        std::thread::sleep(Duration::from_millis(50));
        if !h.control.pause.load(Ordering::SeqCst) {
            break;
        }
    }
    assert!(!h.control.pause.load(Ordering::SeqCst), "resumed");
}

#[test]
fn while_a_slow_write_runs_the_changed_reports_are_written_ahead() {
    // Each snapshot write takes a second; snapshots are due every 100 ms.
    // While a write runs, the reports changed since its snapshot go ahead
    // of the next snapshot, at a version between the two. (The second
    // leaves room for a loaded machine's pauses between the ticks.)
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(20);
    h.store
        .with(|s| s.write_delay = Duration::from_millis(1_000));
    let mut engine = common::engine_every(
        &h.rt,
        h.store.clone(),
        Duration::from_millis(100),
        1_000_000,
        None,
        h.dlq.clone(),
        h.control.clone(),
        10_000,
    );
    engine.assign(&BTreeSet::from([0]));
    let recs = records(&codec, &traffic);
    let half = recs.len() / 2;
    for r in recs.iter().take(half).cloned() {
        engine.on_record(r);
    }
    // The first snapshot is taken and its write starts.
    std::thread::sleep(Duration::from_millis(120));
    engine.tick();
    // More records while it runs; then the grid passes again.
    for r in recs.iter().skip(half).cloned() {
        engine.on_record(r);
    }
    let mut ahead = Vec::new();
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(50));
        engine.tick();
        ahead = h.store.with(|s| s.reports_ahead.clone());
        if !ahead.is_empty() {
            break;
        }
    }
    assert!(
        !ahead.is_empty(),
        "reports written ahead of the next snapshot"
    );
    let (ahead_version, n) = ahead[0];
    assert!(n > 0);
    let first = h
        .store
        .with(|s| s.log.first().map(|l| l.checkpoints[0].version));
    // The reports ahead reflect the records applied after the first
    // snapshot: the store's reports already equal the final figures,
    // before any later snapshot lands.
    let reference = reference(&traffic);
    let expected = reference.all();
    h.store.with(|s| {
        for r in &expected.reports {
            let key = (
                r.tenant_id.clone(),
                r.campaign_id.clone(),
                r.job_id.clone().unwrap_or_default(),
            );
            assert_eq!(s.reports.get(&key).map(|(_, x)| x), Some(r), "{key:?}");
        }
        assert!(s.log.len() <= 1, "no second snapshot yet: {}", s.log.len());
    });
    engine.flush();
    assert_store_matches(&h.store, &reference);
    let log = h.store.with(|s| s.log.clone());
    let versions: Vec<u64> = log.iter().map(|l| l.checkpoints[0].version).collect();
    assert!(
        first.is_none_or(|f| f < ahead_version),
        "ahead of the snapshot in flight: {first:?} < {ahead_version}"
    );
    assert!(
        versions.iter().any(|&v| v > ahead_version),
        "and below the snapshot that takes them: {versions:?} vs {ahead_version}"
    );
}

#[test]
fn revoked_partitions_get_a_final_snapshot_and_come_back_from_memory() {
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(5);
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in records(&codec, &traffic) {
        engine.on_record(r);
    }
    engine.revoke(&BTreeSet::from([0]));
    assert!(engine.partitions().is_empty());
    assert_store_matches(&h.store, &reference(&traffic));
    let writes = h.store.with(|s| s.writes);
    let offsets = engine.assign(&BTreeSet::from([0]))[&0];
    assert!(offsets[2].is_some());
    assert_eq!(engine.partitions(), [0]);
    assert_eq!(h.store.with(|s| s.writes), writes, "nothing rewritten");
}

#[test]
fn idle_completed_campaigns_are_evicted_and_reloaded_for_a_late_event() {
    use schemas::{CampaignLifecycle, CampaignStatus, Event, LifecycleKind, UserInteraction};
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let mut traffic = traffic(9);
    traffic.push((
        0,
        Event::Lifecycle(CampaignLifecycle {
            event_id: "done-c0".into(),
            tenant_id: "t".into(),
            campaign_id: "c0".into(),
            job_id: String::new(),
            occurred_at: 9_000,
            kind: LifecycleKind::Completed,
            status: Some(CampaignStatus::Completed),
            audience_size: None,
            script: None,
        }),
    ));
    let late = (
        2,
        Event::Interaction(UserInteraction {
            event_id: "late-c0".into(),
            tenant_id: "t".into(),
            campaign_id: "c0".into(),
            job_id: "j".into(),
            occurred_at: 9_500,
            user_id: "u0".into(),
            selected_action: "again".into(),
            answer_target: "n0".into(),
            answer_title: None,
            question: None,
        }),
    );
    let mut all = traffic.clone();
    all.push(late);
    let recs = records(&codec, &all);
    let (before, after) = recs.split_at(recs.len() - 1);
    let metrics_before = |e: &Engine<MemoryStore>| e.partitions().len();

    // Events from 1970: long past any grace period.
    let mut engine = h.engine_evicting(1_000_000, Some(1_000));
    engine.assign(&BTreeSet::from([0]));
    for r in before.iter().cloned() {
        engine.on_record(r);
    }
    // Written; idle for a snapshot, so its eviction is requested; written
    // in full marked evicted, then dropped.
    engine.flush();
    engine.flush();
    engine.flush();
    assert_eq!(metrics_before(&engine), 1);
    assert_eq!(
        engine.campaigns_in_memory(),
        2,
        "c0 completed and was evicted"
    );
    for r in after.iter().cloned() {
        engine.on_record(r);
    }
    assert_eq!(
        engine.campaigns_in_memory(),
        3,
        "the late event brought c0 back"
    );
    engine.flush();
    assert_store_matches(&h.store, &reference(&all));
    h.store
        .with(|s| assert_eq!(s.raw.len(), distinct_events(&all)));
}

/// A record of topic i (index 2) that cannot be decoded.
fn poison(offset: i64) -> SourceRecord {
    SourceRecord {
        topic: 2,
        partition: 0,
        offset,
        key: Some(b"c0".to_vec()),
        payload: format!("not avro {offset}").into_bytes(),
    }
}

/// The traffic's records with a poison record of the interactions topic
/// after every `every`-th one (offsets of that topic renumbered).
fn with_poison(recs: Vec<SourceRecord>, every: usize) -> (Vec<SourceRecord>, Vec<i64>) {
    let mut next = [0i64; 3];
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    for (i, mut r) in recs.into_iter().enumerate() {
        r.offset = next[r.topic];
        next[r.topic] += 1;
        out.push(r);
        if i % every == every - 1 {
            bad.push(next[2]);
            out.push(poison(next[2]));
            next[2] += 1;
        }
    }
    (out, bad)
}

/// The source offsets of the dead letters, sorted.
fn dead_offsets(dlq: &Collect) -> Vec<i64> {
    let mut offsets: Vec<i64> = dlq.delivered().iter().map(|r| r.offset).collect();
    offsets.sort_unstable();
    offsets
}

/// Wait up to 5 s for `condition`.
fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("not within 5 s: {what}");
}

#[test]
fn no_checkpoint_passes_a_dead_letter_before_the_broker_acknowledges_it() {
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(10);
    let (recs, bad) = with_poison(records(&codec, &traffic), 7);
    assert!(bad.len() >= 5);
    let interactions = recs.iter().filter(|r| r.topic == 2).count() as i64;
    h.dlq.acknowledge(false);
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in recs {
        engine.on_record(r);
    }
    assert_eq!(engine.dead_letters_in_flight(), bad.len());
    // The final snapshot waits for the dead letters' acknowledgements.
    let flushing = std::thread::spawn(move || {
        engine.flush();
        engine
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!flushing.is_finished(), "the snapshot waits for the acks");
    h.store.with(|s| {
        assert!(s.checkpoints.is_empty(), "no checkpoint before the acks");
        assert_eq!(s.writes, 0, "nothing of the snapshot written");
    });
    assert!(h.dlq.delivered().is_empty());

    h.dlq.acknowledge(true);
    let engine = flushing.join().unwrap();
    assert_eq!(dead_offsets(&h.dlq), bad, "every dead letter, once");
    assert_eq!(engine.dead_letters_in_flight(), 0);
    assert_store_matches(&h.store, &reference(&traffic));
    h.store.with(|s| {
        assert_eq!(s.checkpoints[&0].offsets[2], Some(interactions));
        assert_eq!(s.raw.len(), distinct_events(&traffic));
    });
}

#[test]
fn a_crash_before_the_acknowledgement_dead_letters_the_record_again() {
    let codec = Codec::new().unwrap();
    let traffic = traffic(10);
    let (recs, bad) = with_poison(records(&codec, &traffic), 5);
    let first = Harness::new();
    first.dlq.acknowledge(false);
    // A budget of one row: every tick starts a snapshot.
    let mut engine = first.engine(1);
    engine.assign(&BTreeSet::from([0]));
    for r in recs.iter().cloned() {
        engine.on_record(r);
        engine.tick();
    }
    // Time for snapshots to be written and taken.
    for _ in 0..30 {
        engine.tick();
        std::thread::sleep(Duration::from_millis(10));
    }
    // Snapshots taken before the first dead letter were written; none
    // passes it.
    let not_past_the_first = |store: &MemoryStore| {
        store.with(|s| {
            s.checkpoints
                .get(&0)
                .is_none_or(|c| c.offsets[2].unwrap_or(0) <= bad[0])
        })
    };
    assert!(not_past_the_first(&first.store));
    // The process dies with its dead letters unacknowledged.
    drop(engine);
    let Harness { rt, store, dlq, .. } = first;
    rt.shutdown_background();
    assert!(dlq.delivered().is_empty());
    assert!(not_past_the_first(&store));

    // The next process reads the records again from its checkpoint and
    // dead-letters them again.
    let second = Harness::with_store(store);
    let mut engine = second.engine(1_000_000);
    let offsets = engine.assign(&BTreeSet::from([0]))[&0];
    replay(&mut engine, &recs, |_| offsets);
    engine.flush();
    assert_eq!(dead_offsets(&second.dlq), bad);
    assert_store_matches(&second.store, &reference(&traffic));
    second
        .store
        .with(|s| assert_eq!(s.raw.len(), distinct_events(&traffic)));
}

#[test]
fn failed_dead_letter_deliveries_are_enqueued_again_until_each_record_is_delivered_once() {
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(10);
    let (recs, bad) = with_poison(records(&codec, &traffic), 4);
    let interactions = recs.iter().filter(|r| r.topic == 2).count() as i64;
    // Every record fails at least twice (backoff 100 ms, then 200 ms).
    let failures = bad.len() * 2 + 3;
    h.dlq.fail_next(failures);
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in recs {
        engine.on_record(r);
    }
    engine.flush();
    assert_eq!(
        h.dlq.attempts(),
        bad.len() + failures,
        "one more attempt per failure"
    );
    assert_eq!(
        dead_offsets(&h.dlq),
        bad,
        "each record delivered exactly once, none lost"
    );
    assert_eq!(engine.dead_letters_in_flight(), 0);
    assert_store_matches(&h.store, &reference(&traffic));
    h.store
        .with(|s| assert_eq!(s.checkpoints[&0].offsets[2], Some(interactions)));
}

#[test]
fn unacknowledged_dead_letters_are_bounded_and_pause_consumption() {
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(10);
    let (recs, bad) = with_poison(records(&codec, &traffic), 2);
    let cap = 4;
    assert!(bad.len() > 3 * cap);
    h.dlq.acknowledge(false);
    let mut engine = h.engine_capped(1_000_000, cap);
    engine.assign(&BTreeSet::from([0]));
    let consuming = std::thread::spawn(move || {
        engine.on_records(recs);
        engine
    });
    eventually("the cap is reached", || h.dlq.outstanding().0 == cap);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!consuming.is_finished(), "the engine waits for room");
    assert_eq!(h.dlq.attempts(), cap, "no more enqueued than the cap");
    assert!(h.control.pause.load(Ordering::SeqCst), "consumption paused");

    h.dlq.acknowledge(true);
    let mut engine = consuming.join().unwrap();
    eventually("all acknowledged", || engine.dead_letters_in_flight() == 0);
    engine.tick();
    assert!(!h.control.pause.load(Ordering::SeqCst), "resumed");
    engine.flush();
    let (_, most) = h.dlq.outstanding();
    assert!(most <= cap, "at most {cap} in flight, saw {most}");
    assert_eq!(dead_offsets(&h.dlq), bad);
    assert_store_matches(&h.store, &reference(&traffic));
}

#[test]
fn a_snapshot_cut_off_at_any_stage_is_restored_exactly() {
    // A first life writes snapshot 1 in full, then snapshot 2. A second
    // store gets snapshot 1 and only what a crash at each stage of
    // snapshot 2 leaves behind (intents and raw events; half the user
    // rows; everything but the checkpoint). A restore from that store,
    // then the replay from snapshot 1's checkpoint, ends exact, with one
    // raw row per event: the user rows and headers that landed are read
    // back, the raw events that landed are folded in and not inserted
    // again.
    use processor::store::FailAfter;
    let codec = Codec::new().unwrap();
    let traffic = traffic(30);
    let recs = records(&codec, &traffic);
    let recorder = Harness::new();
    let mut engine = recorder.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    let cut = recs.len() / 3;
    for r in recs.iter().take(cut).cloned() {
        engine.on_record(r);
    }
    engine.flush();
    for r in recs.iter().skip(cut).cloned() {
        engine.on_record(r);
    }
    engine.flush();
    drop(engine);
    let log = recorder.store.with(|s| s.log.clone());
    assert_eq!(log.len(), 2);
    assert!(
        !log[1].raw.is_empty() && log[1].journeys.len() > 1 && !log[1].headers.is_empty(),
        "snapshot 2 has rows of every kind"
    );
    for stage in [
        FailAfter::Nothing,
        FailAfter::Raw,
        FailAfter::HalfJourneys,
        FailAfter::Rows,
    ] {
        let store = Arc::new(MemoryStore::default());
        let h = Harness::with_store(store.clone());
        // The recorder's epoch (its first claim): its rows are taken.
        let epoch =
            h.rt.block_on(processor::store::Store::claim(store.as_ref(), 0, "test"))
                .unwrap();
        assert_eq!(Some(&epoch), log[0].epochs.get(&0));
        h.rt.block_on(processor::store::Store::write(store.as_ref(), &log[0]))
            .unwrap();
        store.with(|s| s.write_partially(&log[1], stage));
        let mut engine = h.engine(1_000_000);
        let offsets = engine.assign(&BTreeSet::from([0]))[&0];
        assert_eq!(offsets, log[0].checkpoints[0].offsets, "{stage:?}");
        replay(&mut engine, &recs, |_| offsets);
        engine.flush();
        assert_store_matches(&store, &reference(&traffic));
        store.with(|s| {
            assert_eq!(
                s.raw.len(),
                distinct_events(&traffic),
                "{stage:?}: one raw row per event"
            )
        });
    }
}

#[test]
fn a_restored_partition_reads_live_campaigns_only_and_evicts_at_once() {
    use schemas::{CampaignLifecycle, CampaignStatus, Event, LifecycleKind, UserInteraction};
    let codec = Codec::new().unwrap();
    let mut traffic = traffic(9);
    let done = |c: &str| {
        (
            0,
            Event::Lifecycle(CampaignLifecycle {
                event_id: format!("done-{c}"),
                tenant_id: "t".into(),
                campaign_id: c.into(),
                job_id: String::new(),
                occurred_at: 9_000,
                kind: LifecycleKind::Completed,
                status: Some(CampaignStatus::Completed),
                audience_size: None,
                script: None,
            }),
        )
    };
    traffic.push(done("c0"));
    traffic.push(done("c1"));
    let late = (
        2,
        Event::Interaction(UserInteraction {
            event_id: "late-c1".into(),
            tenant_id: "t".into(),
            campaign_id: "c1".into(),
            job_id: "j".into(),
            occurred_at: 9_500,
            user_id: "u1".into(),
            selected_action: "again".into(),
            answer_target: "n0".into(),
            answer_title: None,
            question: None,
        }),
    );
    let mut all = traffic.clone();
    all.push(late);
    let recs = records(&codec, &all);
    let (before, after) = recs.split_at(recs.len() - 1);

    // First life, without eviction: every campaign stays in memory; c0 is
    // then evicted by a second life and marked so in the store.
    let h = Harness::new();
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in before.iter().cloned() {
        engine.on_record(r);
    }
    engine.flush();
    assert_eq!(engine.campaigns_in_memory(), 3);
    drop(engine);

    // Restored campaigns count as unchanged since the restore: the
    // completed ones go at the first snapshot, not a grace period later.
    let mut engine = h.engine_evicting(1_000_000, Some(1_000));
    engine.assign(&BTreeSet::from([0]));
    assert_eq!(engine.campaigns_in_memory(), 3);
    engine.flush();
    engine.flush();
    assert_eq!(engine.campaigns_in_memory(), 1, "c0 and c1 evicted at once");
    drop(engine);
    let evicted = h.store.with(|s| {
        s.headers
            .values()
            .filter(|h| h.evicted)
            .map(|h| h.header.campaign_id.clone())
            .collect::<BTreeSet<_>>()
    });
    assert_eq!(evicted, BTreeSet::from(["c0".into(), "c1".into()]));

    // A third life restores only the live campaign; a late event of an
    // evicted one reloads it from its rows, and every figure is exact.
    let mut engine = h.engine_evicting(1_000_000, Some(1_000));
    let offsets = engine.assign(&BTreeSet::from([0]))[&0];
    assert_eq!(
        engine.campaigns_in_memory(),
        1,
        "evicted campaigns stay out"
    );
    for r in after.iter().cloned() {
        assert!(r.offset >= offsets[r.topic].unwrap_or(0));
        engine.on_record(r);
    }
    assert_eq!(
        engine.campaigns_in_memory(),
        2,
        "the late event reloaded c1"
    );
    engine.flush();
    assert_store_matches(&h.store, &reference(&all));
    h.store
        .with(|s| assert_eq!(s.raw.len(), distinct_events(&all)));
}

#[test]
fn retained_state_of_revoked_partitions_is_bounded_oldest_first() {
    // Two partitions revoked one after the other with a budget that holds
    // one of them: the later stays in memory, the earlier is dropped and,
    // assigned back, restored from the store with exact figures.
    let h = Harness::new();
    let codec = Codec::new().unwrap();
    let traffic = traffic(8);
    let recs = spread(records(&codec, &traffic), |r| {
        if r.key.as_deref().unwrap_or_default().ends_with(b"0") {
            1
        } else {
            0
        }
    });
    assert_eq!(
        recs.iter().map(|r| r.partition).collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 1])
    );
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0, 1]));
    for r in recs.iter().cloned() {
        engine.on_record(r);
    }
    engine.revoke(&BTreeSet::from([0]));
    engine.revoke(&BTreeSet::from([1]));
    let sizes = engine.retained_bytes();
    assert_eq!(sizes.len(), 2);
    assert!(sizes.iter().all(|(_, b)| *b > 0), "{sizes:?}");
    // A budget for the later one only: the earlier goes first.
    engine.set_max_retained_bytes(sizes[1].1);
    assert_eq!(engine.retained_partitions(), [1]);
    let writes = h.store.with(|s| s.writes);
    let offsets = engine.assign(&BTreeSet::from([0, 1]));
    assert_eq!(h.store.with(|s| s.writes), writes, "nothing rewritten");
    replay(&mut engine, &recs, |p| offsets[&p]);
    engine.flush();
    assert_store_matches(&h.store, &reference(&traffic));
    h.store
        .with(|s| assert_eq!(s.raw.len(), distinct_events(&traffic)));
}

#[test]
fn a_partition_checkpointed_by_a_release_without_state_rows_is_rebuilt_once() {
    // The store as the release before state rows left it: raw events,
    // reports, journeys and a checkpoint of format 0, no headers and no
    // intents. The first restore folds every raw event and rewrites every
    // campaign and user in the new format; the next restore reads those
    // rows, and every figure stays exact.
    use processor::store::Checkpoint;
    let codec = Codec::new().unwrap();
    let traffic = traffic(12);
    let recs = records(&codec, &traffic);
    let cut = recs.len() * 2 / 3;
    let h = Harness::new();
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in recs.iter().take(cut).cloned() {
        engine.on_record(r);
    }
    engine.flush();
    drop(engine);
    h.store.with(|s| {
        s.headers.clear();
        s.intents.clear();
        for (_, _, j) in s.journeys.values_mut() {
            j.first_message_at = None;
            j.message_keys.clear();
            j.warning_keys.clear();
        }
        let c = s.checkpoints[&0].clone();
        s.checkpoints.insert(0, Checkpoint { format: 0, ..c });
    });

    let mut engine = h.engine(1_000_000);
    let offsets = engine.assign(&BTreeSet::from([0]))[&0];
    assert_eq!(
        engine.campaigns_in_memory(),
        3,
        "folded from the raw events"
    );
    engine.flush();
    h.store.with(|s| {
        assert_eq!(s.checkpoints[&0].format, processor::store::STATE_FORMAT);
        assert_eq!(s.headers.len(), 3, "a header per campaign");
        assert!(
            s.journeys
                .values()
                .all(|(_, _, j)| !j.message_keys.is_empty()),
            "every user rewritten with its notification keys"
        );
    });
    drop(engine);

    // A restore from the rewritten rows, then the rest of the records.
    let mut engine = h.engine(1_000_000);
    let resumed = engine.assign(&BTreeSet::from([0]))[&0];
    assert_eq!(resumed, offsets);
    replay(&mut engine, &recs, |_| resumed);
    engine.flush();
    assert_store_matches(&h.store, &reference(&traffic));
    h.store
        .with(|s| assert_eq!(s.raw.len(), distinct_events(&traffic)));
}

#[test]
fn a_partition_without_traffic_checkpointed_by_a_release_without_state_rows_is_upgraded() {
    // The release before state rows checkpointed partition 1 with no
    // record in it. The first snapshot after the upgrade writes its
    // checkpoint in the new format although nothing moved, so the next
    // start does not restore it from its history again.
    use processor::store::{Checkpoint, STATE_FORMAT};
    let h = Harness::new();
    h.store.with(|s| {
        s.checkpoints.insert(
            1,
            Checkpoint {
                partition: 1,
                version: 1_700_000_000_000,
                offsets: [None; 3],
                format: 0,
                retained_from_ms: 0,
                rules_offset: -1,
            },
        );
    });
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([1]));
    engine.flush();
    let upgraded = h.store.with(|s| s.checkpoints[&1].clone());
    assert_eq!(upgraded.format, STATE_FORMAT);
    assert_eq!(upgraded.offsets, [None; 3]);
    assert!(upgraded.version > 1_700_000_000_000);
    let writes = h.store.with(|s| s.writes);
    engine.flush();
    assert_eq!(h.store.with(|s| s.writes), writes, "written once");
}

#[test]
fn a_zombie_owner_adds_no_row_once_the_partition_is_claimed_again() {
    // A owns partition 0 and has applied records it has not written yet;
    // it stalls. B is assigned the partition, restores and catches up.
    // Then A wakes and writes its snapshot: the store takes none of it
    // (A's epoch is over), and every figure and raw row is B's, exact.
    let codec = Codec::new().unwrap();
    let traffic = traffic(30);
    let recs = records(&codec, &traffic);
    let a = Harness::new();
    let mut zombie = a.engine(1_000_000);
    zombie.assign(&BTreeSet::from([0]));
    let cut = recs.len() / 3;
    for r in recs.iter().take(cut).cloned() {
        zombie.on_record(r);
    }
    zombie.flush();
    for r in recs.iter().skip(cut).take(cut).cloned() {
        zombie.on_record(r);
    }

    let b = Harness::with_store(a.store.clone());
    let mut owner = b.engine(1_000_000);
    let offsets = owner.assign(&BTreeSet::from([0]))[&0];
    replay(&mut owner, &recs, |_| offsets);
    owner.flush();
    let checkpoint = a.store.with(|s| s.checkpoints[&0].clone());

    zombie.flush();
    a.store.with(|s| {
        assert!(s.fenced > 0, "the zombie's rows were refused");
        assert_eq!(
            s.checkpoints[&0], checkpoint,
            "the owner's checkpoint stands"
        );
        assert_eq!(
            s.raw.len(),
            distinct_events(&traffic),
            "one raw row per event"
        );
    });
    assert_store_matches(&a.store, &reference(&traffic));
}

#[test]
fn with_retention_every_campaign_is_written_in_full_before_its_rows_age() {
    // A first life writes the state; its checkpoint says no row it holds
    // is older than its first snapshot. The stored headers are then made
    // to look written before retention existed (unknown full write): a
    // life with retention writes every campaign in full at its first
    // snapshot, and its checkpoint moves to that snapshot.
    let codec = Codec::new().unwrap();
    let traffic = traffic(12);
    let recs = records(&codec, &traffic);
    let h = Harness::new();
    let started = chrono::Utc::now().timestamp_millis();
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    for r in recs.iter().cloned() {
        engine.on_record(r);
    }
    engine.flush();
    drop(engine);
    let first = h.store.with(|s| s.checkpoints[&0].retained_from_ms);
    assert!(first >= started, "new campaigns: written in full at once");
    let users = h.store.with(|s| s.log[0].journeys.len());

    h.store.with(|s| {
        for row in s.headers.values_mut() {
            row.header.rewritten_at = 0;
        }
    });
    let mut engine = h.engine(1_000_000);
    engine.assign(&BTreeSet::from([0]));
    let log_len = h.store.with(|s| s.log.len());
    engine.flush();
    assert_eq!(
        h.store.with(|s| s.log.len()),
        log_len,
        "nothing to write without retention"
    );
    engine.set_retention_ms(Some(30 * 86_400_000));
    // A snapshot is taken once something moves: one more event.
    let extra = vec![(
        1,
        schemas::Event::Notification(schemas::NotificationSent {
            event_id: "n-extra".into(),
            tenant_id: "t".into(),
            campaign_id: "c0".into(),
            job_id: "j".into(),
            occurred_at: 5_000,
            user_id: "u-extra".into(),
            node_id: Some("start".into()),
            first_message: true,
            warning_message: false,
        }),
    )];
    let mut new_one = records(&codec, &extra).remove(0);
    new_one.offset = recs.iter().filter(|o| o.topic == 1).count() as i64;
    engine.on_record(new_one);
    engine.flush();
    let (written, checkpoint) = h.store.with(|s| {
        let last = s.log.last().expect("a snapshot");
        (last.journeys.len(), s.checkpoints[&0].retained_from_ms)
    });
    assert!(
        written >= users,
        "every user written again ({written} of {users})"
    );
    assert!(checkpoint >= started, "{checkpoint}");
    assert!(
        h.store
            .with(|s| s.headers.values().all(|r| r.header.rewritten_at >= started)),
        "every header says when"
    );
}

/// Loses every dead letter: the attempt is dropped without a report.
struct Dropper;

impl DeadLetterSink for Dropper {
    fn enqueue(&self, _rejected: &Rejected, attempt: Attempt) {
        drop(attempt);
    }
}

#[test]
fn an_abandoned_snapshot_is_written_in_full_by_the_next_one() {
    // A dead letter that is never acknowledged abandons its snapshot:
    // nothing of it reaches the store. The next snapshot writes the
    // partition in full, so the store ends exact all the same.
    let codec = Codec::new().unwrap();
    let traffic = traffic(9);
    let (recs, _) = with_poison(records(&codec, &traffic), 7);
    let h = Harness::new();
    let mut engine = engine_with_sink(
        &h.rt,
        h.store.clone(),
        1_000_000,
        None,
        Arc::new(Dropper),
        h.control.clone(),
        10_000,
    );
    engine.assign(&BTreeSet::from([0]));
    for r in recs.iter().cloned() {
        engine.on_record(r);
    }
    engine.flush();
    assert!(
        h.store.with(|s| !s.checkpoints.contains_key(&0)),
        "the snapshot with the lost dead letters was abandoned"
    );
    engine.flush();
    assert_store_matches(&h.store, &reference(&traffic));
}
