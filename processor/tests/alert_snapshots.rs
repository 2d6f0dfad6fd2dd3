//! A snapshot is taken ahead of the interval once an applied event makes
//! an alert transition due (ALERT_SNAPSHOT_GAP_MS): the transition leaves
//! after one write, not after the interval, and still only once its
//! checkpoint is committed. Events that make no transition due wait for
//! the interval as before. Over the in-memory store and over the real
//! ClickHouse server (CLICKHOUSE_URL; `make up`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alerting::TransitionKind;
use processor::alerts::RuleBoard;
use processor::engine::Engine;
use processor::store::{MemoryStore, Store};
use schemas::{Codec, Event};

mod common;
use common::{early_alerting_engine, on_clickhouse, on_memory, records, rule, traffic, Published};

const SENT_C0: &str = r#"{"name": "c0 sent", "scope": {"campaign_id": "c0"},
    "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": ">=", "value": 1}}"#;

#[test]
fn a_due_transition_takes_the_snapshot_early_over_memory() {
    on_memory(scenario);
}

#[test]
fn a_due_transition_takes_the_snapshot_early_over_clickhouse() {
    on_clickhouse("alert_snapshots", scenario);
}

/// Tick the engine (as its loop does between batches) for `limit`, or
/// until `sink` has something.
fn tick_for<S: Store>(engine: &mut Engine<S>, sink: &Published, limit: Duration) -> Vec<Got> {
    let started = Instant::now();
    loop {
        engine.tick();
        let got = sink.take();
        if !got.is_empty() || started.elapsed() >= limit {
            return got;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

type Got = (TransitionKind, String, String, String);

/// The same events for new users of the same campaign.
fn for_new_users(events: &[(usize, Event)]) -> Vec<(usize, Event)> {
    events
        .iter()
        .map(|(topic, e)| {
            let mut e = e.clone();
            match &mut e {
                Event::Notification(n) => {
                    n.event_id.push_str("-again");
                    n.user_id.push_str("-again");
                }
                Event::Interaction(i) => {
                    i.event_id.push_str("-again");
                    i.user_id.push_str("-again");
                }
                Event::Lifecycle(l) => l.event_id.push_str("-again"),
            }
            (*topic, e)
        })
        .collect()
}

fn scenario<S: Store>(rt: &tokio::runtime::Runtime, store: Arc<S>) {
    // Other campaigns, then c0, then more of c0: offsets in order within
    // each topic.
    let (c0, others): (Vec<_>, Vec<_>) = traffic(9)
        .into_iter()
        .partition(|(_, e)| e.campaign_id() == "c0");
    let more = for_new_users(&c0);
    let ordered: Vec<_> = others.iter().chain(&c0).chain(&more).cloned().collect();
    let recs = records(&Codec::new().unwrap(), &ordered);
    let (others_recs, rest) = recs.split_at(others.len());
    let (c0_recs, more_recs) = rest.split_at(c0.len());

    let board = Arc::new(RuleBoard::new());
    rule(&board, "r1", 1, SENT_C0);
    let sink = Arc::new(Published::new(rt.handle().clone()));
    let mut engine = early_alerting_engine(
        rt,
        &store,
        board.clone(),
        &sink,
        Some(Duration::from_millis(20)),
    );

    // Nothing due: the snapshot waits for the interval (an hour).
    engine.on_records(others_recs.to_vec());
    let got = tick_for(&mut engine, &sink, Duration::from_millis(400));
    assert!(got.is_empty(), "{got:?}");
    assert!(
        rt.block_on(store.checkpoint(0)).unwrap().is_none(),
        "no snapshot yet"
    );

    // c0's first sends make r1 due: a snapshot now, and its transition
    // once the checkpoint is written.
    engine.on_records(c0_recs.to_vec());
    let got = tick_for(&mut engine, &sink, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].0, got[0].1.as_str(), got[0].2.as_str()),
        (TransitionKind::Fired, "c0", "r1")
    );
    let checkpoint = rt
        .block_on(store.checkpoint(0))
        .unwrap()
        .expect("the early snapshot's checkpoint is written");
    let mut next = [None; 3];
    for r in others_recs.iter().chain(c0_recs) {
        next[r.topic] = Some(r.offset + 1);
    }
    assert_eq!(checkpoint.offsets, next, "it covers every record applied");

    // Still firing: new users of c0 make nothing due, and nothing is
    // written before the interval.
    engine.on_records(more_recs.to_vec());
    let got = tick_for(&mut engine, &sink, Duration::from_millis(400));
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(
        rt.block_on(store.checkpoint(0)).unwrap().map(|c| c.version),
        Some(checkpoint.version),
        "no snapshot without a transition due"
    );

    // The same with early snapshots off: the transition waits for the
    // interval (here: the flush).
    let store_off = Arc::new(MemoryStore::default());
    let sink_off = Arc::new(Published::new(rt.handle().clone()));
    let mut off = early_alerting_engine(rt, &store_off, board, &sink_off, None);
    off.on_records(others_recs.iter().chain(c0_recs).cloned().collect());
    let got = tick_for(&mut off, &sink_off, Duration::from_millis(600));
    assert!(got.is_empty(), "off: nothing before the interval: {got:?}");
    off.flush();
    assert_eq!(sink_off.take().len(), 1);
}
