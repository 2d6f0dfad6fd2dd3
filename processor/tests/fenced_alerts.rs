//! A frozen owner that wakes up after its partition was claimed again
//! publishes no alert transition of the snapshot it then writes: the store
//! refused that snapshot's checkpoint, so no state holds those transitions
//! (alerts.md: a transition leaves the processor only once its checkpoint
//! is committed). The new owner evaluates the campaigns itself and
//! publishes their transitions once. Over the in-memory store and over the
//! real ClickHouse server (CLICKHOUSE_URL; `make up`).

use std::collections::BTreeSet;
use std::sync::Arc;

use alerting::TransitionKind;
use processor::alerts::RuleBoard;
use processor::store::Store;
use schemas::Codec;

mod common;
use common::{alerting_engine, on_clickhouse, on_memory, records, rule, traffic, Published};

const SENT_C0: &str = r#"{"name": "c0 sent", "scope": {"campaign_id": "c0"},
    "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": ">=", "value": 1}}"#;
const SENT_ANY: &str = r#"{"name": "any sent",
    "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": ">=", "value": 1}}"#;

#[test]
fn a_fenced_snapshot_publishes_no_transition_over_memory() {
    on_memory(scenario);
}

#[test]
fn a_fenced_snapshot_publishes_no_transition_over_clickhouse() {
    on_clickhouse("fenced_alerts", scenario);
}

fn scenario<S: Store>(rt: &tokio::runtime::Runtime, store: Arc<S>) {
    // Each process reads the rules topic into a board of its own.
    let (a_board, b_board) = (Arc::new(RuleBoard::new()), Arc::new(RuleBoard::new()));
    rule(&a_board, "r1", 1, SENT_C0);
    let recs = records(&Codec::new().unwrap(), &traffic(9));

    // While it owns the partition, A publishes what its snapshots commit.
    let a_sink = Arc::new(Published::new(rt.handle().clone()));
    let mut a = alerting_engine(rt, &store, a_board.clone(), &a_sink, None);
    for r in recs.iter().cloned() {
        a.on_record(r);
    }
    a.flush();
    let first = a_sink.take();
    assert!(!first.is_empty(), "r1 fired on c0's reports");
    assert!(first
        .iter()
        .all(|(kind, campaign, rule, _)| *kind == TransitionKind::Fired
            && campaign == "c0"
            && rule == "r1"));

    // A rule change, then A freezes before its next snapshot. B is given
    // the partition (a new epoch), restores A's committed state and
    // evaluates the new rule: it fires on every campaign.
    rule(&a_board, "r2", 1, SENT_ANY);
    rule(&b_board, "r1", 1, SENT_C0);
    rule(&b_board, "r2", 1, SENT_ANY);
    let b_sink = Arc::new(Published::new(rt.handle().clone()));
    let mut b = alerting_engine(rt, &store, b_board, &b_sink, None);
    b.flush();
    // (A's last committed header still carries r1's transitions: B
    // carries them again, same ids, which the alert store keeps once.)
    let (replayed, by_b): (Vec<_>, Vec<_>) =
        b_sink.take().into_iter().partition(|t| first.contains(t));
    assert!(replayed.len() <= first.len());
    let campaigns: BTreeSet<&str> = by_b.iter().map(|(_, c, _, _)| c.as_str()).collect();
    assert_eq!(campaigns, BTreeSet::from(["c0", "c1", "c2"]), "{by_b:?}");
    assert!(by_b
        .iter()
        .all(|(kind, _, rule, _)| *kind == TransitionKind::Fired && rule == "r2"));
    let checkpoint = rt.block_on(store.checkpoint(0)).unwrap();

    // A wakes and writes its snapshot, which evaluated r2 too (the same
    // transitions): the store refuses it, and nothing of it leaves.
    a.flush();
    assert_eq!(
        a_sink.take(),
        Vec::new(),
        "the fenced owner publishes nothing"
    );
    assert_eq!(
        rt.block_on(store.checkpoint(0)).unwrap(),
        checkpoint,
        "B's checkpoint stands"
    );
    // B goes on: nothing is published twice.
    b.flush();
    assert_eq!(b_sink.take(), Vec::new());
}
