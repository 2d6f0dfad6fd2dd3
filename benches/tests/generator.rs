//! The generator: determinism, script shapes, duplicates, poison, counts,
//! and the realism the expected figures rely on.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use benches::loadgen::expected_json::ExpectedFile;
use benches::loadgen::ordering::{Item, RecordClass};
use benches::loadgen::poison::PoisonReason;
use benches::loadgen::{self, compute, output, script, GenConfig, Generated, Topics};
use chrono::{DateTime, Timelike};
use clap::CommandFactory;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemas::{Codec, ContractViolation, DecodeError, Event, EventKind, LifecycleKind, Script};

fn config(seed: u64) -> GenConfig {
    GenConfig {
        seed,
        tenants: 3,
        campaigns: 8,
        jobs: 3,
        users: 30,
        poison: 30,
        ..GenConfig::default()
    }
}

fn generate(cfg: &GenConfig) -> (Codec, Generated) {
    let codec = Codec::new().expect("the compiled-in schemas");
    let generated = loadgen::generate(cfg, &codec).expect("generation");
    (codec, generated)
}

/// Every record's (topic, key, bytes), in production order.
fn records(codec: &Codec, g: &Generated) -> Vec<(EventKind, String, Vec<u8>)> {
    g.plan
        .records(&g.traffic, codec)
        .map(|r| {
            let r = r.expect("encodable");
            (r.kind, r.key.to_owned(), r.payload.into_owned())
        })
        .collect()
}

fn expected_json(cfg: &GenConfig, g: &Generated) -> Vec<u8> {
    let expected = compute(&g.traffic.events, &g.traffic.tenants);
    let file = output::expected_file(cfg, &Topics::default(), &g.traffic, &g.plan, expected, true);
    serde_json::to_vec(&file).expect("serializable")
}

#[test]
fn the_same_seed_gives_the_same_records_and_figures() {
    let cfg = config(7);
    let (codec, a) = generate(&cfg);
    let (_, b) = generate(&cfg);
    assert_eq!(a, b);
    assert_eq!(records(&codec, &a), records(&codec, &b));
    assert_eq!(expected_json(&cfg, &a), expected_json(&cfg, &b));
}

#[test]
fn different_seeds_give_different_traffic() {
    let (codec, a) = generate(&config(1));
    let (_, b) = generate(&config(2));
    assert_ne!(a.traffic.events, b.traffic.events);
    assert_ne!(records(&codec, &a), records(&codec, &b));
}

#[test]
fn the_ordering_options_do_not_change_the_events() {
    let (_, a) = generate(&config(3));
    let more = GenConfig {
        duplicate_ratio: 0.2,
        poison: 3,
        ..config(3)
    };
    let (_, b) = generate(&more);
    assert_eq!(a.traffic, b.traffic);
}

/// Checks the rules of a generated script; `Err` names the broken one.
fn check_script(s: &Script) -> Result<(), String> {
    let ids: BTreeSet<&str> = s.nodes.iter().map(|n| n.id.as_str()).collect();
    if ids.len() != s.nodes.len() {
        return Err("duplicate node ids".into());
    }
    if !(script::MIN_NODES..=script::MAX_NODES).contains(&s.nodes.len()) {
        return Err(format!("{} nodes", s.nodes.len()));
    }
    let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &s.edges {
        if !ids.contains(e.source.as_str()) || !ids.contains(e.target.as_str()) {
            return Err(format!(
                "edge {} -> {} leaves the nodes",
                e.source, e.target
            ));
        }
        out.entry(&e.source).or_default().push(&e.target);
    }
    let targets: BTreeSet<&str> = s.edges.iter().map(|e| e.target.as_str()).collect();
    let starts: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| out.contains_key(id) && !targets.contains(id))
        .collect();
    let [start] = starts.as_slice() else {
        return Err(format!("start nodes {starts:?}"));
    };
    if ids
        .iter()
        .any(|id| !out.contains_key(id) && !targets.contains(id))
    {
        return Err("an isolated node".into());
    }
    let mut seen = BTreeSet::from([*start]);
    let mut queue = VecDeque::from([*start]);
    while let Some(node) = queue.pop_front() {
        for next in out.get(node).into_iter().flatten() {
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    if seen != ids {
        return Err(format!("unreachable: {:?}", ids.difference(&seen)));
    }
    if let Some((node, buttons)) = out.iter().find(|(_, b)| b.len() > script::MAX_BUTTONS) {
        return Err(format!("{node} has {} buttons", buttons.len()));
    }
    if ids.iter().all(|id| out.contains_key(id)) {
        return Err("no end node".into());
    }
    Ok(())
}

fn scripts(events: &[Event]) -> Vec<(LifecycleKind, &Script)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Lifecycle(l) => l.script.as_ref().map(|s| (l.kind, s)),
            _ => None,
        })
        .collect()
}

#[test]
fn scripts_follow_the_graph_rules() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..2000 {
        let s = script::generate(&mut rng);
        check_script(&s).unwrap_or_else(|e| panic!("{e}: {s:#?}"));
        if let Some(updated) = script::update(&mut rng, &s) {
            check_script(&updated).unwrap_or_else(|e| panic!("update: {e}: {updated:#?}"));
        }
    }
    let (_, g) = generate(&config(11));
    let all = scripts(&g.traffic.events);
    assert!(all.len() >= 20);
    for (_, s) in &all {
        check_script(s).unwrap_or_else(|e| panic!("{e}: {s:#?}"));
    }
}

#[test]
fn scripts_have_the_shapes_the_figures_need() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut sizes = BTreeSet::new();
    let (mut end_named, mut end_inner, mut null_labels, mut updates) = (0, 0, 0, 0);
    for _ in 0..500 {
        let s = script::generate(&mut rng);
        sizes.insert(s.nodes.len());
        let sources: BTreeSet<&str> = s.edges.iter().map(|e| e.source.as_str()).collect();
        for n in &s.nodes {
            if n.id.to_lowercase().contains("end") {
                if sources.contains(n.id.as_str()) {
                    end_inner += 1;
                } else {
                    end_named += 1;
                }
            }
        }
        null_labels += s.edges.iter().filter(|e| e.label.is_none()).count();
        if let Some(updated) = script::update(&mut rng, &s) {
            updates += 1;
            // A former end node got a button: completion changes.
            let new_sources: BTreeSet<&str> =
                updated.edges.iter().map(|e| e.source.as_str()).collect();
            assert_eq!(new_sources.difference(&sources).count(), 1);
        }
    }
    assert_eq!(sizes.first(), Some(&script::MIN_NODES));
    assert_eq!(sizes.last(), Some(&script::MAX_NODES));
    assert!(end_named > 100 && end_inner > 50 && null_labels > 100 && updates > 400);
}

#[test]
fn event_ids_are_unique_and_events_fit_their_campaign() {
    let (_, g) = generate(&config(12));
    let ids: BTreeSet<&str> = g.traffic.events.iter().map(Event::event_id).collect();
    assert_eq!(ids.len(), g.traffic.events.len());
    for c in &g.traffic.campaigns {
        for e in &g.traffic.events[c.events.clone()] {
            assert_eq!(
                (e.tenant_id(), e.campaign_id()),
                (c.tenant_id.as_str(), c.campaign_id.as_str())
            );
        }
    }
    assert_eq!(g.traffic.tenants["t0"], chrono_tz::Tz::UTC);
    assert_eq!(g.traffic.tenants["t1"], chrono_tz::Tz::Europe__Berlin);
}

#[test]
fn duplicates_repeat_the_bytes_of_an_earlier_record() {
    let cfg = GenConfig {
        duplicate_ratio: 0.1,
        ..config(13)
    };
    let (codec, g) = generate(&cfg);
    let mut position = HashMap::new();
    let mut duplicates = 0;
    for (n, item) in g.plan.items.iter().enumerate() {
        match item {
            Item::Event(i) => {
                position.insert(*i, n);
            }
            Item::Duplicate(i) => {
                duplicates += 1;
                let original = position.get(i).expect("the original goes out first");
                let a = g
                    .plan
                    .record(&g.traffic, &codec, g.plan.items[*original])
                    .unwrap();
                let b = g.plan.record(&g.traffic, &codec, *item).unwrap();
                assert_eq!((a.kind, a.key, &a.payload), (b.kind, b.key, &b.payload));
                assert_eq!(
                    (a.class, b.class),
                    (RecordClass::Event, RecordClass::Duplicate)
                );
            }
            Item::Poison(_) => {}
        }
    }
    let wanted = (g.traffic.events.len() as f64 * 0.1).round() as usize;
    assert_eq!(duplicates, wanted);
}

#[test]
fn poison_never_decodes_cleanly_and_everything_else_does() {
    let (codec, g) = generate(&config(14));
    let now = chrono::Utc::now().timestamp_millis();
    let mut reasons = BTreeMap::new();
    let mut topics = BTreeSet::new();
    for (item, record) in g.plan.items.iter().zip(g.plan.records(&g.traffic, &codec)) {
        let record = record.unwrap();
        let decoded = codec.decode_expecting(&record.payload, record.kind);
        match item {
            Item::Event(i) | Item::Duplicate(i) => {
                let event = decoded.unwrap_or_else(|e| panic!("a real record fails: {e}"));
                assert_eq!(event, g.traffic.events[*i as usize]);
                assert_eq!(record.key, event.campaign_id());
                schemas::check_not_in_future(&event, now, 60_000).expect("not in the future");
            }
            Item::Poison(p) => {
                let poison = &g.plan.poison[*p as usize];
                *reasons.entry(poison.reason).or_insert(0) += 1;
                topics.insert((poison.reason, record.kind));
                assert!(g
                    .traffic
                    .campaigns
                    .iter()
                    .any(|c| c.campaign_id == record.key));
                match (poison.reason, decoded) {
                    (PoisonReason::FarFuture, Ok(event)) => {
                        assert!(schemas::check_not_in_future(&event, now, 86_400_000).is_err());
                        assert_eq!(
                            DateTime::from_timestamp_millis(event.occurred_at())
                                .unwrap()
                                .format("%Y")
                                .to_string(),
                            "2099"
                        );
                    }
                    (PoisonReason::EmptyTenantId, Err(e)) => assert_eq!(
                        e,
                        DecodeError::Contract(ContractViolation::EmptyField { field: "tenant_id" })
                    ),
                    (PoisonReason::EmptyUserId, Err(e)) => assert_eq!(
                        e,
                        DecodeError::Contract(ContractViolation::EmptyField { field: "user_id" })
                    ),
                    (PoisonReason::UnknownFingerprint, Err(e)) => {
                        assert!(matches!(e, DecodeError::UnknownFingerprint { .. }), "{e}")
                    }
                    (PoisonReason::TruncatedBody, Err(e)) => {
                        assert!(matches!(e, DecodeError::TruncatedBody { .. }), "{e}")
                    }
                    (PoisonReason::BadMarker, Err(e)) => {
                        assert!(matches!(e, DecodeError::BadMarker { .. }), "{e}")
                    }
                    (PoisonReason::UnknownSchemaId, Err(e)) => {
                        assert!(matches!(e, DecodeError::UnknownSchemaId { .. }), "{e}")
                    }
                    (PoisonReason::RandomBytes, Err(e)) => assert!(
                        matches!(
                            e,
                            DecodeError::BadMarker { .. } | DecodeError::TooShort { .. }
                        ),
                        "{e}"
                    ),
                    (reason, result) => panic!("{reason:?} poison gave {result:?}"),
                }
            }
        }
    }
    assert_eq!(reasons.len(), PoisonReason::ALL.len());
    assert_eq!(reasons.values().sum::<i32>(), 30);
    let kinds: BTreeSet<EventKind> = topics.iter().map(|(_, k)| *k).collect();
    assert_eq!(kinds.len(), 3);
}

#[test]
fn counts_add_up() {
    let cfg = config(15);
    let (_, g) = generate(&cfg);
    let topics = Topics {
        lifecycle: "lc".into(),
        notifications: "nt".into(),
        interactions: "in".into(),
    };
    let counts = g.plan.counts(&g.traffic, &topics);
    assert_eq!(counts.records, g.plan.items.len() as u64);
    assert_eq!(counts.distinct_events, g.traffic.events.len() as u64);
    assert_eq!(counts.poison, 30);
    assert_eq!(
        counts.records,
        counts.distinct_events + counts.duplicates + counts.poison
    );
    assert_eq!(
        counts.per_topic.values().map(|t| t.records).sum::<u64>(),
        counts.records
    );
    assert_eq!(
        counts.per_topic.values().map(|t| t.poison).sum::<u64>(),
        counts.poison
    );
    let per_kind = |kind: EventKind| {
        g.plan
            .items
            .iter()
            .filter(|i| g.plan.kind(&g.traffic, **i) == kind)
            .count() as u64
    };
    assert_eq!(
        counts.per_topic["lc"].records,
        per_kind(EventKind::Lifecycle)
    );
    assert_eq!(
        counts.per_topic["nt"].records,
        per_kind(EventKind::Notification)
    );
    assert_eq!(
        counts.per_topic["in"].records,
        per_kind(EventKind::Interaction)
    );
    let infos = g.plan.poison_infos(&topics);
    assert_eq!(infos.len(), 30);
    assert!(infos
        .iter()
        .all(|p| ["lc", "nt", "in"].contains(&p.topic.as_str())));
}

#[test]
fn the_expected_file_reads_back() {
    let cfg = config(16);
    let (_, g) = generate(&cfg);
    let bytes = expected_json(&cfg, &g);
    let file: ExpectedFile = serde_json::from_slice(&bytes).expect("it reads back");
    let expected = compute(&g.traffic.events, &g.traffic.tenants);
    assert_eq!(file.seed, 16);
    assert_eq!(file.config.start, cfg.start);
    assert_eq!(file.tenants["t2"].timezone, "America/New_York");
    assert_eq!(file.reports.len(), expected.reports.len());
    assert_eq!(
        file.journeys.as_ref().map(Vec::len),
        Some(expected.journeys.len())
    );
    for (a, b) in file.reports.iter().zip(&expected.reports) {
        assert_eq!(
            (&a.job_id, a.sent_users, a.first_event_at),
            (&b.job_id, b.sent_users, b.first_event_at)
        );
    }
    // Times as RFC 3339 UTC with milliseconds.
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let first = value["reports"][0]["first_event_at"].as_str().unwrap();
    assert_eq!(first.len(), "2026-09-01T10:00:00.123Z".len(), "{first}");
    assert!(first.starts_with("2026-") && first.ends_with('Z') && first.as_bytes()[19] == b'.');
    assert_eq!(
        value["rollups"]["week"][0]["period_start"]
            .as_str()
            .map(str::len),
        Some(10)
    );
}

#[test]
fn the_traffic_has_the_shapes_the_contract_is_about() {
    let cfg = GenConfig {
        tenants: 5,
        campaigns: 10,
        users: 40,
        ..config(17)
    };
    let (_, g) = generate(&cfg);
    let events = &g.traffic.events;
    let expected = compute(events, &g.traffic.tenants);

    // Late scripts, script updates, campaigns without a script.
    assert!(!g.plan.late_campaigns.is_empty());
    let kinds: Vec<LifecycleKind> = scripts(events).iter().map(|(k, _)| *k).collect();
    assert!(kinds.contains(&LifecycleKind::ScriptUpdated));
    // Every status the rollups count, and campaigns still running.
    let statuses: BTreeSet<Option<&str>> = expected
        .reports
        .iter()
        .filter(|r| r.job_id.is_none())
        .map(|r| r.status.as_deref())
        .collect();
    for status in ["COMPLETED", "ERROR", "RUNNING"] {
        assert!(statuses.contains(&Some(status)), "{statuses:?}");
    }
    // Users overlap between jobs: the union is below the sum somewhere.
    let mut sums: BTreeMap<&str, u64> = BTreeMap::new();
    for r in expected.reports.iter().filter(|r| r.job_id.is_some()) {
        *sums.entry(&r.campaign_id).or_default() += r.sent_users;
    }
    assert!(expected
        .reports
        .iter()
        .filter(|r| r.job_id.is_none())
        .any(|r| r.sent_users < sums[r.campaign_id.as_str()]));
    // Completions, warnings, users who only got messages.
    assert!(expected.journeys.iter().any(|j| j.completed));
    assert!(expected.journeys.iter().any(|j| j.steps.is_empty()));
    assert!(expected.reports.iter().any(|r| r.warnings_sent > 0));
    // Events near the tenant's local midnight.
    let near_midnight = events.iter().filter(|e| {
        let tz = g.traffic.tenants[e.tenant_id()];
        let local = DateTime::from_timestamp_millis(e.occurred_at())
            .unwrap()
            .with_timezone(&tz);
        (local.hour() == 23 && local.minute() >= 30) || (local.hour() == 0 && local.minute() < 30)
    });
    assert!(near_midnight.count() > 100);
    // Production order differs from event-time order across topics.
    let times: Vec<i64> = g
        .plan
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Event(i) => Some(events[*i as usize].occurred_at()),
            _ => None,
        })
        .collect();
    assert!(times.windows(2).any(|w| w[0] > w[1]));
    // Rollups over several days, weeks and months.
    assert!(expected.rollups.month.len() >= 3 * 5);
}

#[test]
fn late_campaigns_send_their_lifecycle_after_their_first_interactions() {
    let (_, g) = generate(&config(18));
    let events = &g.traffic.events;
    for campaign in &g.plan.late_campaigns {
        let first = |kind: EventKind| {
            g.plan.items.iter().position(|i| match i {
                Item::Event(i) => {
                    let e = &events[*i as usize];
                    e.campaign_id() == campaign && e.kind() == kind
                }
                _ => false,
            })
        };
        assert!(first(EventKind::Interaction) < first(EventKind::Lifecycle));
    }
    assert!(!g.plan.late_campaigns.is_empty());
}

#[test]
fn the_command_line_is_well_formed() {
    loadgen::Args::command().debug_assert();
}
