//! Alert rules evaluated by the real processor on the real broker and
//! ClickHouse: rules are read from the rules topic, transitions leave on
//! the alerts topic only after their snapshot commits. After catch-up,
//! through five SIGKILLs while the traffic streams in and a rebalance, the
//! alerts still firing are exactly the
//! (rule, campaign) pairs whose condition holds on the final reports of the
//! load generator's independent oracle, a monotone rule fired exactly once
//! per campaign, and no alert id has two different firings. The API's
//! alert store (PostgreSQL) holds each transition once, and SSE clients
//! (curl, connected from the start) receive every stored transition.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use alerting::{RuleInput, Transition, TransitionKind};
use benches::loadgen::expected_json::{ExpectedFile, Report};
use integration_tests::api::{keys, QueryApi};
use integration_tests::kafka::{self, read_all, Topics};
use integration_tests::procs::{
    loadgen_command, log_dir, read_expected, signal_pid, wait_caught_up, ProcessorProc,
    ProcessorSpec,
};
use integration_tests::{bin, brokers, clickhouse_url, fresh_database, unique};
use metadata::testing::TestDatabase;
use metadata::AlertFilter;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

const CATCH_UP: Duration = Duration::from_secs(240);

#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "11", "--tenants", "2", "--campaigns", "8", "--jobs", "2", "--users", "40",
    "--days", "6", "--duplicate-ratio", "0.05",
];

/// Records a second: the traffic lasts about 30 s, over the kills.
const RATE: &str = "170";

/// Wait until an instance holds partitions (so that no two killed members
/// wait for their sessions to expire at once).
async fn wait_assigned(p: &mut ProcessorProc) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !p.log_text().contains("partition restored")
        && !p.log_text().contains("state kept in memory is current")
    {
        assert!(
            Instant::now() < deadline,
            "no partition assigned in 90 s; log: {}",
            p.log.display()
        );
        p.assert_running();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The rules of each tenant: (name, rule JSON).
const RULES: &[(&str, &str)] = &[
    (
        "sent",
        r#"{"name": "sent", "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": ">=", "value": 60}}"#,
    ),
    (
        "errors",
        r#"{"name": "errors", "severity": "critical", "condition": {"kind": "status", "status": "ERROR"}}"#,
    ),
    (
        "low-rate",
        r#"{"name": "low-rate", "min_sent_users": 5, "condition": {"kind": "metric_threshold", "metric": "interaction_rate", "op": "<", "value": 70}}"#,
    ),
];

/// Whether a rule's condition holds on a final report (the oracle's own
/// reading of alerts.md, independent of the alerting crate).
fn holds(rule: &str, r: &Report) -> bool {
    match rule {
        "sent" => r.sent_users >= 60,
        "errors" => r.status.as_deref() == Some("ERROR"),
        "low-rate" => r.sent_users >= 5 && r.interaction_rate < 70.0,
        other => panic!("unknown rule {other}"),
    }
}

fn rule_id(tenant_index: usize, rule_index: usize) -> String {
    format!(
        "00000000-0000-4000-8000-{:06}{:06}",
        tenant_index, rule_index
    )
}

/// Every rule of every tenant of the traffic, on the rules topic; returns
/// rule id -> rule name.
async fn publish_rules(topic: &str, expected: &ExpectedFile) -> BTreeMap<String, String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("producer");
    let mut names = BTreeMap::new();
    for (t, tenant) in expected.tenants.keys().enumerate() {
        for (i, (name, json)) in RULES.iter().enumerate() {
            let id = rule_id(t, i);
            let rule = RuleInput::from_json(json)
                .expect("rule JSON")
                .validate()
                .expect("valid rule")
                .into_rule(id.clone(), tenant.clone(), 1);
            let value = serde_json::to_vec(&rule).expect("rule encodes");
            producer
                .send(
                    FutureRecord::to(topic).key(&id).payload(&value),
                    Duration::from_secs(10),
                )
                .await
                .expect("rule produced");
            names.insert(id, name.to_string());
        }
    }
    names
}

/// The transitions on the alerts topic, once per idempotency key (replays
/// after a crash carry the same key).
fn transitions(topic: &str) -> BTreeMap<String, Transition> {
    let mut out = BTreeMap::new();
    for record in read_all(topic) {
        let t: Transition = serde_json::from_slice(&record.payload).expect("a transition");
        assert_eq!(record.key.as_deref(), Some(t.alert_id.as_bytes()));
        out.entry(t.idempotency_key()).or_insert(t);
    }
    out
}

/// (rule name, tenant, campaign) of the alerts fired and not resolved.
fn firing(
    by_key: &BTreeMap<String, Transition>,
    names: &BTreeMap<String, String>,
) -> BTreeSet<(String, String, String)> {
    let resolved: BTreeSet<&str> = by_key
        .values()
        .filter(|t| t.kind == TransitionKind::Resolved)
        .map(|t| t.alert_id.as_str())
        .collect();
    by_key
        .values()
        .filter(|t| t.kind == TransitionKind::Fired && !resolved.contains(t.alert_id.as_str()))
        .map(|t| {
            (
                names[&t.rule_id].clone(),
                t.tenant_id.clone(),
                t.campaign_id.clone(),
            )
        })
        .collect()
}

/// The input topics (4 partitions), the rules topic (1) and the alerts
/// topic (4) of one test.
async fn alert_topics(name: &str) -> (Topics, String, String) {
    let topics = Topics::unique(name, 4);
    kafka::create(&topics).await;
    let rules_topic = unique("alert-rules");
    let alerts_topic = unique("alerts-out");
    kafka::create_topic(&rules_topic, 1).await;
    kafka::create_topic(&alerts_topic, 4).await;
    (topics, rules_topic, alerts_topic)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_alerts_equal_the_oracle_through_kills_and_a_rebalance() {
    let (topics, rules_topic, alerts_topic) = alert_topics("alerts").await;
    // The figures first (a dry run: the same seed makes the same traffic),
    // for the tenants of the rules and the oracle.
    let dry = log_dir().join(format!("{}.json", unique("alerts-dry")));
    let status = std::process::Command::new(bin("loadgen"))
        .args(TRAFFIC)
        .args(["--dry-run", "--expected"])
        .arg(&dry)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("loadgen dry run");
    assert!(status.success());
    let expected = read_expected(&dry);
    let names = publish_rules(&rules_topic, &expected).await;

    let finals: Vec<&Report> = expected
        .reports
        .iter()
        .filter(|r| r.job_id.is_none())
        .collect();
    let mut oracle = BTreeSet::new();
    for r in &finals {
        for (name, _) in RULES {
            if holds(name, r) {
                oracle.insert((name.to_string(), r.tenant_id.clone(), r.campaign_id.clone()));
            }
        }
    }
    for (name, _) in RULES {
        assert!(
            oracle.iter().any(|(n, _, _)| n == name),
            "the traffic makes rule {name} fire somewhere: {oracle:?}"
        );
    }
    assert!(
        oracle.len() < finals.len() * RULES.len(),
        "some conditions do not hold"
    );

    let (db, client) = fresh_database("e2e_alerts").await;
    // The API as the alert store, and an SSE client per tenant from the
    // start.
    let pg = TestDatabase::new("e2e_alerts").await;
    let keys = keys(expected.tenants.keys());
    let api = QueryApi::start_with(
        &clickhouse_url(),
        &db,
        "",
        vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("DATABASE_URL".into(), pg.cfg.database_url.clone()),
            ("KAFKA_BROKERS".into(), brokers()),
            ("TOPIC_ALERT_RULES".into(), rules_topic.clone()),
            ("TOPIC_ALERTS".into(), alerts_topic.clone()),
            ("ALERT_STORE_GROUP".into(), unique("alert-store")),
        ],
        false,
    )
    .await;
    let mut sse = BTreeMap::new();
    for (tenant, key) in &keys.tenants {
        let out = log_dir().join(format!("{}.sse", unique("alerts")));
        let child = std::process::Command::new("curl")
            .args(["-sN", "--max-time", "600", "-H"])
            .arg(format!("Authorization: Bearer {key}"))
            .args(["-H", "Last-Event-ID: 0"])
            .arg(format!("http://{}/v1/alerts/stream", api.addr()))
            .stdout(std::fs::File::create(&out).expect("sse file"))
            .spawn()
            .expect("curl");
        sse.insert(tenant.clone(), (child, out));
    }
    let mut spec = ProcessorSpec::new(&topics, &db, &expected);
    spec.extra_env.extend([
        ("ALERTING".to_string(), "true".to_string()),
        ("TOPIC_ALERT_RULES".to_string(), rules_topic.clone()),
        ("TOPIC_ALERTS".to_string(), alerts_topic.clone()),
        ("SNAPSHOT_INTERVAL_MS".to_string(), "200".to_string()),
    ]);
    let streamed = log_dir().join(format!("{}.json", unique("alerts-stream")));
    let mut producer = loadgen_command(&topics, &[TRAFFIC, &["--rate", RATE]].concat(), &streamed)
        .spawn()
        .expect("start loadgen");
    // Five SIGKILLs at irregular moments while the traffic streams in.
    // The load generator is frozen while an instance starts (a slow start
    // on a loaded machine must not let the traffic end before the kills):
    // it produces only during the irregular moments.
    let mut kills_while_producing = 0;
    for (i, ms) in [300u64, 1_700, 900, 2_300, 1_300].into_iter().enumerate() {
        signal_pid(producer.id(), "STOP");
        let mut p = spec.start(&format!("alerts-k{i}"));
        wait_assigned(&mut p).await;
        signal_pid(producer.id(), "CONT");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        p.assert_running();
        if producer.try_wait().expect("loadgen").is_none() {
            kills_while_producing += 1;
        }
        p.kill();
    }
    assert!(
        kills_while_producing >= 4,
        "only {kills_while_producing} kills hit the stream"
    );
    let mut p = spec.start("alerts-a");
    wait_assigned(&mut p).await;
    // A second instance: the partitions are shared out again.
    let mut q = spec.start("alerts-b");
    wait_assigned(&mut q).await;
    assert!(
        producer.wait().expect("loadgen").success(),
        "loadgen failed"
    );
    assert_eq!(read_expected(&streamed).reports, expected.reports);
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut p, &mut q]).await;

    // Transitions leave after their checkpoint: wait until the alerts
    // topic shows the end state (or time out and show the difference).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut by_key = transitions(&alerts_topic);
    while firing(&by_key, &names) != oracle && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        by_key = transitions(&alerts_topic);
    }
    let now_firing = firing(&by_key, &names);
    let missing: Vec<_> = oracle.difference(&now_firing).collect();
    let extra: Vec<_> = now_firing.difference(&oracle).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "firing alerts differ from the oracle: missing {missing:?}, extra {extra:?}"
    );

    // Each alert id fired once (its own n-th firing) and resolved at most
    // once, never without firing.
    let mut per_alert: BTreeMap<&str, Vec<TransitionKind>> = BTreeMap::new();
    for t in by_key.values() {
        per_alert.entry(&t.alert_id).or_default().push(t.kind);
    }
    for (id, kinds) in &per_alert {
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == TransitionKind::Fired)
                .count(),
            1,
            "alert {id}: {kinds:?}"
        );
    }
    // A count that only grows past its threshold fires exactly once per
    // campaign and never resolves.
    let mut sent_alerts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for t in by_key.values() {
        if names[&t.rule_id] == "sent" {
            assert_eq!(t.kind, TransitionKind::Fired, "{t:?}");
            *sent_alerts
                .entry((t.tenant_id.clone(), t.campaign_id.clone()))
                .or_default() += 1;
        }
    }
    for r in &finals {
        let n = sent_alerts
            .get(&(r.tenant_id.clone(), r.campaign_id.clone()))
            .copied()
            .unwrap_or(0);
        assert_eq!(
            n,
            usize::from(holds("sent", r)),
            "{} / {}",
            r.tenant_id,
            r.campaign_id
        );
    }
    p.stop();
    q.stop();

    // The store: every transition once, the same end state.
    let m = &pg.metadata;
    let deadline = Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let mut n = 0;
        for tenant in expected.tenants.keys() {
            n += m
                .events_after(tenant, "test", 0, 100_000)
                .await
                .expect("events")
                .len();
        }
        if n == by_key.len() || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        stored,
        by_key.len(),
        "transitions stored once each; api log: {}",
        api.log.display()
    );
    let mut stored_firing = BTreeSet::new();
    for tenant in expected.tenants.keys() {
        let filter = AlertFilter {
            status: Some("firing".into()),
            include_dismissed: true,
            limit: 10_000,
            ..AlertFilter::default()
        };
        for a in m
            .list_alerts(tenant, "test", &filter)
            .await
            .expect("alerts")
            .alerts
        {
            let rule = a.rule_id.as_deref().expect("a rule's alert");
            stored_firing.insert((
                names[rule].clone(),
                a.tenant_id.clone(),
                a.campaign_id.clone().expect("campaign"),
            ));
        }
        let events = m
            .events_after(tenant, "test", 0, 100_000)
            .await
            .expect("events");
        let mut resolved: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &events {
            if e.kind == "resolved" {
                *resolved.entry(e.alert.id.as_str()).or_default() += 1;
                assert_eq!(e.alert.status, "resolved");
            }
        }
        assert!(
            resolved.values().all(|n| *n == 1),
            "one resolved transition per alert: {resolved:?}"
        );
        // The SSE client got every stored transition of its tenant.
        let want: BTreeSet<i64> = events.iter().map(|e| e.seq).collect();
        let (child, out) = sse.get_mut(tenant).expect("sse client");
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = loop {
            let text = std::fs::read_to_string(&*out).unwrap_or_default();
            let got: BTreeSet<i64> = text
                .lines()
                .filter_map(|l| l.strip_prefix("id:"))
                .filter_map(|id| id.trim().parse().ok())
                .collect();
            if got == want || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(got, want, "SSE events of {tenant} ({})", out.display());
    }
    assert_eq!(stored_firing, oracle, "firing alerts in the store");
    drop(api);
    pg.drop().await;
}

/// Campaigns whose latest header says they left memory.
async fn evicted_campaigns(client: &clickhouse::Client) -> u64 {
    client
        .query(
            "SELECT countIf(e = 1) FROM (SELECT argMax(evicted, version) AS e \
             FROM campaign_state GROUP BY tenant_id, campaign_id)",
        )
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_made_after_campaigns_left_memory_fire_on_them_and_resolve_when_deleted() {
    // The traffic is caught up and the completed campaigns are evicted
    // before any rule exists. Then the rules are made: the alerts firing
    // are the oracle's on every final report, evicted campaigns included;
    // once the rules are deleted, every alert is resolved once.
    let (topics, rules_topic, alerts_topic) = alert_topics("alerts-evicted").await;
    let expected = integration_tests::procs::loadgen(&topics, TRAFFIC);
    let finals: Vec<&Report> = expected
        .reports
        .iter()
        .filter(|r| r.job_id.is_none())
        .collect();
    let completed = finals
        .iter()
        .filter(|r| r.status.as_deref() == Some("COMPLETED"))
        .count() as u64;
    let mut oracle = BTreeSet::new();
    for r in &finals {
        for (name, _) in RULES {
            if holds(name, r) {
                oracle.insert((name.to_string(), r.tenant_id.clone(), r.campaign_id.clone()));
            }
        }
    }
    assert!(
        oracle.iter().any(|(_, t, c)| finals.iter().any(|r| {
            (&r.tenant_id, &r.campaign_id) == (t, c) && r.status.as_deref() == Some("COMPLETED")
        })),
        "some rule holds on a completed campaign: {oracle:?}"
    );

    let (db, client) = fresh_database("e2e_alerts_evicted").await;
    let mut spec = ProcessorSpec::new(&topics, &db, &expected);
    spec.extra_env.extend([
        ("ALERTING".to_string(), "true".to_string()),
        ("TOPIC_ALERT_RULES".to_string(), rules_topic.clone()),
        ("TOPIC_ALERTS".to_string(), alerts_topic.clone()),
        ("SNAPSHOT_INTERVAL_MS".to_string(), "200".to_string()),
        ("EVICT_COMPLETED_AFTER_SECONDS".to_string(), "1".to_string()),
    ]);
    let mut p = spec.start("alerts-evicted");
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut p]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while evicted_campaigns(&client).await < completed {
        p.assert_running();
        assert!(
            Instant::now() < deadline,
            "{} of {completed} completed campaigns evicted after 60 s; log: {}",
            evicted_campaigns(&client).await,
            p.log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(transitions(&alerts_topic).is_empty(), "no rule yet");

    let names = publish_rules(&rules_topic, &expected).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut by_key = transitions(&alerts_topic);
    while firing(&by_key, &names) != oracle && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        by_key = transitions(&alerts_topic);
    }
    let now_firing = firing(&by_key, &names);
    let missing: Vec<_> = oracle.difference(&now_firing).collect();
    let extra: Vec<_> = now_firing.difference(&oracle).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "firing alerts differ from the oracle: missing {missing:?}, extra {extra:?}; log: {}",
        p.log.display()
    );
    // The campaigns brought back for the rules leave memory again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while evicted_campaigns(&client).await < completed {
        assert!(
            Instant::now() < deadline,
            "the reloaded campaigns were not evicted again; log: {}",
            p.log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every rule deleted (a tombstone on the rules topic): every alert
    // resolved, once.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("producer");
    for id in names.keys() {
        producer
            .send(
                FutureRecord::<str, [u8]>::to(&rules_topic).key(id.as_str()),
                Duration::from_secs(10),
            )
            .await
            .expect("tombstone produced");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    by_key = transitions(&alerts_topic);
    while !firing(&by_key, &names).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        by_key = transitions(&alerts_topic);
    }
    assert_eq!(
        firing(&by_key, &names),
        BTreeSet::new(),
        "every alert resolved; log: {}",
        p.log.display()
    );
    let mut per_alert: BTreeMap<&str, Vec<TransitionKind>> = BTreeMap::new();
    for t in by_key.values() {
        per_alert.entry(&t.alert_id).or_default().push(t.kind);
    }
    assert_eq!(per_alert.len(), oracle.len());
    for (id, kinds) in &per_alert {
        let count = |k| kinds.iter().filter(|x| **x == k).count();
        assert_eq!(
            (
                kinds.len(),
                count(TransitionKind::Fired),
                count(TransitionKind::Resolved)
            ),
            (2, 1, 1),
            "alert {id}: {kinds:?}"
        );
    }
    p.stop();
}
