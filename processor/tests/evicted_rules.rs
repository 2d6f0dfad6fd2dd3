//! Rule changes reach campaigns already evicted from memory (alerts.md:
//! once the input is processed, the firing alerts are the pairs whose
//! condition holds on the final reports, whenever the rule was made; a
//! deleted rule resolves its alerts). The engine over the in-memory store
//! and over the real ClickHouse server (CLICKHOUSE_URL; `make up`).

use std::sync::Arc;

use alerting::TransitionKind;
use processor::alerts::RuleBoard;
use processor::engine::Engine;
use processor::store::Store;
use schemas::{CampaignLifecycle, CampaignStatus, Codec, Event, LifecycleKind};

mod common;
use common::{alerting_engine, on_clickhouse, on_memory, records, rule, traffic, Published};

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

/// The test traffic, in which c0 and c1 complete (events of 1970, long
/// past the grace period): they leave memory, c2 stays.
fn complete_and_evict<S: Store>(engine: &mut Engine<S>) {
    let mut events = traffic(9);
    events.push(completed("c0", 9_000));
    events.push(completed("c1", 9_000));
    for r in records(&Codec::new().unwrap(), &events) {
        engine.on_record(r);
    }
    settle(engine);
    assert_eq!(engine.campaigns_in_memory(), 1, "c0 and c1 evicted");
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
    on_memory(rules_reach_evicted_campaigns);
}

#[test]
fn the_same_over_clickhouse() {
    on_clickhouse("evicted_rules", rules_reach_evicted_campaigns);
}

#[test]
fn a_rule_change_made_while_down_or_a_sweep_cut_off_is_swept_by_the_next_start() {
    on_memory(restarts_sweep_again);
}

#[test]
fn the_same_over_clickhouse_after_restarts() {
    on_clickhouse("evicted_rules_restarts", restarts_sweep_again);
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
    let sink = Arc::new(Published::new(rt.handle().clone()));
    let mut engine = process(rt, &store, board.clone(), &sink);
    complete_and_evict(&mut engine);
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

/// A process on `store` with these rules, evicting completed campaigns
/// after a second.
fn process<S: Store>(
    rt: &tokio::runtime::Runtime,
    store: &Arc<S>,
    board: Arc<RuleBoard>,
    sink: &Arc<Published>,
) -> Engine<S> {
    alerting_engine(rt, store, board, sink, Some(1_000))
}

fn restarts_sweep_again<S: Store>(rt: &tokio::runtime::Runtime, store: Arc<S>) {
    let sink = Arc::new(Published::new(rt.handle().clone()));
    let sent_rule = r#"{"name": "sent", "scope": {"campaign_id": "c0"},
        "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": ">=", "value": 1}}"#;
    let rules_offset = |store: &Arc<S>| {
        rt.block_on(store.checkpoint(0))
            .unwrap()
            .map(|c| c.rules_offset)
    };

    // No rules: c0 and c1 complete and leave memory.
    let mut first = process(rt, &store, Arc::new(RuleBoard::new()), &sink);
    complete_and_evict(&mut first);
    drop(first);
    assert_eq!(rules_offset(&store), Some(-1), "no rule read yet");

    // The rule is made while no processor runs (rules-topic offset 0):
    // the next start sweeps, c0 fires, the checkpoint says offset 0.
    let board = Arc::new(RuleBoard::new());
    rule(&board, "r1", 1, sent_rule);
    let mut second = process(rt, &store, board, &sink);
    settle(&mut second);
    let fired = sink.take();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(
        (fired[0].0, fired[0].1.as_str()),
        (TransitionKind::Fired, "c0")
    );
    assert_eq!(second.campaigns_in_memory(), 1, "c0 evicted again");
    assert_eq!(rules_offset(&store), Some(0));
    drop(second);

    // Deleted (offset 1); the process that sees it starts its sweep but
    // crashes before it is through: its checkpoint stays at offset 0.
    let board = Arc::new(RuleBoard::new());
    rule(&board, "r1", 1, sent_rule);
    assert!(board.apply("r1", None));
    let mut third = process(rt, &store, board.clone(), &sink);
    third.flush();
    drop(third);
    assert!(
        sink.take().is_empty(),
        "nothing published by the crashed one"
    );
    assert_eq!(rules_offset(&store), Some(0));

    // The next start sweeps again: resolved, once, and through.
    let mut fourth = process(rt, &store, board, &sink);
    settle(&mut fourth);
    let resolved = sink.take();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].0, TransitionKind::Resolved);
    assert_eq!(resolved[0].3, fired[0].3);
    assert_eq!(rules_offset(&store), Some(1));
    assert_eq!(c0_firing(rt, store.as_ref()), 0);
    drop(fourth);

    // A start with nothing new sweeps nothing.
    let board = Arc::new(RuleBoard::new());
    rule(&board, "r1", 1, sent_rule);
    assert!(board.apply("r1", None));
    let mut fifth = process(rt, &store, board, &sink);
    settle(&mut fifth);
    assert!(sink.take().is_empty());
    assert_eq!(fifth.campaigns_in_memory(), 1);
    drop(fifth);

    // The rules topic deleted and created again, holding a new rule
    // (offset 0, below the checkpoint's 1): every tenant is looked at
    // again, and c0 fires for it.
    let board = Arc::new(RuleBoard::new());
    rule(&board, "r2", 1, sent_rule);
    let mut sixth = process(rt, &store, board, &sink);
    settle(&mut sixth);
    let again = sink.take();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        (again[0].0, again[0].1.as_str(), again[0].2.as_str()),
        (TransitionKind::Fired, "c0", "r2")
    );
    assert_eq!(rules_offset(&store), Some(0));
}
