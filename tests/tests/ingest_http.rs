//! HTTP ingestion end to end: loadgen's traffic as JSON events posted to
//! the real `query-api` (some one by one, the rest in batches), produced by
//! its idempotent producer to the real broker, folded by the real processor
//! into the real ClickHouse: every report, journey and rollup exact, nothing
//! dead-lettered; re-posting an accepted batch changes nothing. And a broker
//! that cannot be reached: posts are 503 within the delivery timeout while
//! the read API serves.

use std::time::{Duration, Instant};

use integration_tests::api::QueryApi;
use integration_tests::compare::{assert_exact, raw_counts};
use integration_tests::ingest::{api_env, batches, loadgen_json, post, producer_keys, Poster};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{log_dir, wait_caught_up, ProcessorSpec};
use integration_tests::server::free_port;
use integration_tests::{clickhouse_url, fresh_database, unique};
use query_api::keys::hash_key;
use query_api::model::IngestResult;

const CATCH_UP: Duration = Duration::from_secs(180);

/// Two tenants in different time zones, several jobs, duplicates; no
/// poison (it has no JSON form).
#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "31", "--tenants", "2", "--campaigns", "4", "--jobs", "2", "--users", "25",
    "--days", "40", "--duplicate-ratio", "0.1", "--poison", "0",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_events_give_the_exact_figures_and_reposting_changes_nothing() {
    let topics = Topics::unique("ingest-http", 4);
    kafka::create(&topics).await;
    let (db, client) = fresh_database("ingest_http").await;
    let (mut expected, events) = loadgen_json(&topics, TRAFFIC);
    assert_eq!(
        events.len() as u64,
        expected.counts.records,
        "with --poison 0 every record has its JSON event"
    );
    assert!(expected.counts.duplicates > 0, "the traffic has duplicates");
    for topic in topics.inputs() {
        let records = expected
            .counts
            .per_topic
            .get(topic)
            .map_or(0, |c| c.records);
        assert!(records > 0, "{topic} has records to wait for");
    }

    let spec = ProcessorSpec::new(&topics, &db, &expected);
    let mut processor = spec.start("ingest-http-processor");
    let keys = producer_keys(expected.tenants.keys());
    let api = QueryApi::start_with(
        &clickhouse_url(),
        &db,
        &spec.tenant_timezones,
        api_env(&topics, &keys),
        false,
    )
    .await;
    let poster = Poster::new(&api.base);
    let key = |tenant: &str| keys.of(tenant).expect("a key per tenant").to_owned();

    // The first events one at a time, the rest in batches of one tenant.
    let (singles, rest) = events.split_at(40);
    for e in singles {
        let answer = post(&poster, "/v1/events", &key(&e.tenant), e.json.clone()).await;
        assert_eq!(
            answer,
            IngestResult {
                accepted: 1,
                rejected: vec![]
            },
            "{}",
            e.json
        );
    }
    let all = batches(rest, 250);
    assert!(all.len() > 4, "several batches");
    for b in &all {
        let body = String::from_utf8(b.body.to_vec()).expect("UTF-8");
        let answer = post(&poster, "/v1/events/batch", &key(&b.tenant), body).await;
        assert_eq!(answer.accepted, b.events, "rejected: {:?}", answer.rejected);
        assert!(answer.rejected.is_empty(), "{:?}", answer.rejected);
    }

    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut processor]).await;
    assert_exact(&client, &expected).await;
    let (rows, distinct) = raw_counts(&client).await;
    assert_eq!(
        distinct, expected.counts.distinct_events,
        "every distinct event"
    );
    assert_eq!(rows, distinct, "one raw row per distinct event_id");

    // Re-post an accepted batch: accepted again (the broker has its records
    // twice now), and no figure changes.
    let again = &all[0];
    let body = String::from_utf8(again.body.to_vec()).expect("UTF-8");
    let answer = post(&poster, "/v1/events/batch", &key(&again.tenant), body).await;
    assert_eq!(answer.accepted, again.events);
    for (topic, added) in topics.inputs().iter().zip(again.per_kind) {
        if let Some(c) = expected.counts.per_topic.get_mut(*topic) {
            c.records += added;
        }
    }
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut processor]).await;
    assert_exact(&client, &expected).await;
    assert_eq!(
        raw_counts(&client).await,
        (rows, distinct),
        "no new raw event"
    );

    let metrics = api.get_as("/metrics", None, None).await.text();
    let accepted: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("query_api_ingest_events_accepted_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(accepted, expected.counts.records + again.events);
    assert!(
        !metrics.contains("query_api_ingest_events_rejected_total{"),
        "nothing rejected"
    );
    processor.stop();
    assert!(
        kafka::dead_letters(&topics, 0).is_empty(),
        "nothing dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_503_and_reads_still_serve() {
    let (db, _client) = fresh_database("ingest_down").await;
    let status = std::process::Command::new(integration_tests::bin("processor"))
        .arg("migrate")
        .env("CLICKHOUSE_URL", clickhouse_url())
        .env("CLICKHOUSE_DATABASE", &db)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("processor migrate");
    assert!(status.success());
    let (producer, reader) = (unique("producer"), unique("reader"));
    let keys = log_dir().join(format!("{}.toml", unique("keys")));
    std::fs::write(
        &keys,
        format!(
            "[[keys]]\nrole = \"producer\"\ntenant = \"t\"\nsha256 = \"{}\"\n\n\
             [[keys]]\ntenant = \"t\"\nsha256 = \"{}\"\n",
            hash_key(&producer),
            hash_key(&reader)
        ),
    )
    .expect("keys file");
    // Nothing listens on this port.
    let nowhere = format!("127.0.0.1:{}", free_port());
    let env = [
        ("API_KEYS_FILE", keys.display().to_string()),
        ("KAFKA_BROKERS", nowhere),
        ("INGEST_DELIVERY_TIMEOUT_MS", "1500".to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .to_vec();
    let api = QueryApi::start_with(&clickhouse_url(), &db, "", env, true).await;

    let event = r#"{"type": "notification_sent", "event_id": "e1", "tenant_id": "t",
        "campaign_id": "c", "job_id": "j", "occurred_at": "2026-09-01T10:00:00Z",
        "user_id": "u", "first_message": true, "warning_message": false}"#
        .to_string();
    let poster = Poster::new(&api.base);
    for (path, body) in [
        ("/v1/events", event.clone()),
        (
            "/v1/events/batch",
            format!("{{\"events\": [{event}, {event}]}}"),
        ),
    ] {
        let started = Instant::now();
        let r = poster
            .post(path, &producer, body.into())
            .await
            .expect("an answer");
        assert_eq!(r.status, 503, "{path}: {}", r.text());
        assert_eq!(
            r.error_code().as_deref(),
            Some("unavailable"),
            "{}",
            r.text()
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{path}: answered after {:?}, the delivery timeout is 1.5 s",
            started.elapsed()
        );
    }
    // The read API serves all the while.
    assert_eq!(api.get_as("/readyz", None, None).await.status, 200);
    let list: serde_json::Value = api.get_json("/v1/campaigns", &reader).await;
    assert_eq!(list["campaigns"], serde_json::json!([]));
    let metrics = api.get_as("/metrics", None, None).await.text();
    assert!(
        metrics.contains("query_api_ingest_events_undelivered_total 3"),
        "{metrics}"
    );
}
