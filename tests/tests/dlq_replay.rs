//! `processor dlq replay` on the real broker: what it selects, where the
//! records go, what a re-run and a consumer group do, its errors; and end to
//! end with the real processor and ClickHouse: records dead-lettered for a
//! cause that is then fixed are replayed and counted exactly once, however
//! often the replay runs.

use std::time::{Duration, Instant};

use benches::loadgen::expected_json::ExpectedFile;
use integration_tests::compare::{assert_exact, check, raw_counts};
use integration_tests::kafka::{self, Record, Topics};
use integration_tests::procs::{
    dlq_replay, loadgen, wait_caught_up, wait_checkpointed, ProcessorProc, ProcessorSpec,
};
use integration_tests::{fresh_database, unique};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

const CATCH_UP: Duration = Duration::from_secs(180);
const REPLAY: Duration = Duration::from_secs(120);

/// A dead letter as the processor writes it.
struct DeadLetter<'a> {
    dlq_partition: i32,
    key: &'a str,
    payload: &'a str,
    /// None: no `source-topic` header.
    source_topic: Option<&'a str>,
    source_partition: i32,
    reason_code: &'a str,
    extra: &'a [(&'a str, &'a str)],
}

/// Produce dead letters, one record per batch (the tests' broker serves
/// fetches from whole batches only).
fn write_dead_letters(topic: &str, letters: &[DeadLetter<'_>]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", integration_tests::brokers())
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    for (i, d) in letters.iter().enumerate() {
        let partition = d.source_partition.to_string();
        let offset = (1000 + i).to_string();
        let mut headers = OwnedHeaders::new();
        if let Some(t) = d.source_topic {
            headers = headers.insert(Header {
                key: "source-topic",
                value: Some(t),
            });
        }
        for (key, value) in [
            ("source-partition", partition.as_str()),
            ("source-offset", offset.as_str()),
            ("reason-code", d.reason_code),
            ("reason", "written by the test"),
        ]
        .into_iter()
        .chain(d.extra.iter().copied())
        {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(d.dlq_partition)
                    .key(d.key)
                    .payload(d.payload)
                    .headers(headers),
            )
            .map_err(|(e, _)| e)
            .expect("produce a dead letter");
        producer.flush(Duration::from_secs(30)).expect("flush");
    }
}

fn key_of(r: &Record) -> String {
    String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_selects_routes_resumes_and_fails_cleanly() {
    let topics = Topics::unique("replaycmd", 2);
    kafka::create(&topics).await;
    let gone = unique("no-such-topic");
    let letter = |dlq_partition, key, source_topic, source_partition, reason_code| DeadLetter {
        dlq_partition,
        key,
        payload: key,
        source_topic,
        source_partition,
        reason_code,
        extra: &[],
    };
    let mut with_trace = letter(1, "k5", Some(&topics.interactions), 0, "in_future");
    with_trace.extra = &[("trace-id", "t-5")];
    write_dead_letters(
        &topics.dlq,
        &[
            letter(0, "k0", Some(&topics.interactions), 1, "in_future"),
            letter(1, "k1", Some(&topics.interactions), 0, "unknown_schema_id"),
            letter(0, "k2", Some(&topics.notifications), 1, "in_future"),
            letter(1, "k3", Some(&topics.lifecycle), 0, "bad_marker"),
            letter(0, "k4", None, 0, "in_future"),
            with_trace,
            letter(0, "k6", Some(&gone), 0, "gone"),
        ],
    );
    assert_eq!(kafka::record_count(&topics.dlq), 7);

    // A dry run counts and produces nothing.
    dlq_replay(
        &topics,
        &["--dry-run", "--reason-code", "in_future,unknown_schema_id"],
        REPLAY,
    )
    .assert_success()
    .assert_says("read 7 of 7 records in 2 partitions")
    .assert_says("would replay 4; skipped 2 by --reason-code, 0 by --source-topic, 1 unroutable")
    .assert_says(&format!("{} in_future: 2", topics.interactions))
    .assert_says(&format!("{} unknown_schema_id: 1", topics.interactions))
    .assert_says(&format!("{} in_future: 1", topics.notifications));
    for t in topics.inputs() {
        assert_eq!(kafka::record_count(t), 0, "a dry run produced to {t}");
    }

    // Replay the interactions in the future: to the partition each came
    // from, same key and payload, provenance headers instead of the
    // dead-letter ones.
    let run = dlq_replay(
        &topics,
        &[
            "--reason-code",
            "in_future",
            "--source-topic",
            &topics.interactions,
        ],
        REPLAY,
    );
    run.assert_success()
        .assert_says("replayed 2; skipped 3 by --reason-code, 2 by --source-topic, 0 unroutable");
    assert!(
        run.stderr.contains("dlq replay: read 7"),
        "progress on stderr: {}",
        run.stderr
    );
    let replayed = kafka::read_all(&topics.interactions);
    let placed: Vec<(i32, String)> = replayed.iter().map(|r| (r.partition, key_of(r))).collect();
    assert_eq!(placed, [(0, "k5".to_string()), (1, "k0".to_string())]);
    for r in &replayed {
        assert_eq!(
            r.payload,
            r.key.clone().unwrap_or_default(),
            "payload unchanged"
        );
        assert_eq!(r.headers["replayed-from-topic"], topics.dlq);
        assert_eq!(r.headers["replayed-from-reason-code"], "in_future");
        for h in [
            "source-topic",
            "source-partition",
            "source-offset",
            "reason",
            "reason-code",
        ] {
            assert!(!r.headers.contains_key(h), "{h} copied: {:?}", r.headers);
        }
    }
    let k5 = &replayed[0];
    assert_eq!(k5.headers["trace-id"], "t-5", "other headers kept");
    assert_eq!(
        (
            k5.headers["replayed-from-partition"].as_str(),
            k5.headers["replayed-from-offset"].as_str()
        ),
        ("1", "2"),
        "the dead letter's position"
    );

    // With a group, a second run resumes after what the first replayed.
    let group = unique("replay-group");
    let by_group = [
        "--group",
        group.as_str(),
        "--reason-code",
        "unknown_schema_id",
    ];
    dlq_replay(&topics, &by_group, REPLAY)
        .assert_success()
        .assert_says("replayed 1;");
    dlq_replay(&topics, &by_group, REPLAY)
        .assert_success()
        .assert_says("read 0 of 0 records")
        .assert_says("replayed 0;");
    write_dead_letters(
        &topics.dlq,
        &[letter(
            1,
            "k7",
            Some(&topics.interactions),
            1,
            "unknown_schema_id",
        )],
    );
    dlq_replay(&topics, &by_group, REPLAY)
        .assert_success()
        .assert_says("read 1 of 1 records")
        .assert_says("replayed 1;");
    let keys: Vec<String> = kafka::read_all(&topics.interactions)
        .iter()
        .map(key_of)
        .collect();
    assert_eq!(keys, ["k5", "k1", "k0", "k7"]);

    // Where to start and stop.
    dlq_replay(&topics, &["--dry-run", "--from-offset", "2"], REPLAY)
        .assert_success()
        .assert_says("read 4 of 4 records");
    dlq_replay(&topics, &["--dry-run", "--from-offset", "1:3,0:0"], REPLAY)
        .assert_success()
        .assert_says("read 5 of 5 records");
    // Times: the broker's time index (tansu's memory storage answers
    // offset 0 for any time) and each record's timestamp.
    for (args, selected) in [
        (["--from-time", "2099-01-01T00:00:00Z"], 0),
        (["--to-time", "2001-01-01T00:00:00Z"], 0),
        (["--from-time", "2001-01-01T00:00:00Z"], 6),
        (["--to-time", "2099-01-01T00:00:00Z"], 6),
    ] {
        let run = dlq_replay(&topics, &[&["--dry-run"], &args[..]].concat(), REPLAY);
        run.assert_success()
            .assert_says(&format!("would replay {selected};"));
    }
    let from_now = chrono::Utc::now().to_rfc3339();
    write_dead_letters(
        &topics.dlq,
        &[letter(0, "k8", Some(&topics.interactions), 1, "in_future")],
    );
    dlq_replay(&topics, &["--dry-run", "--from-time", &from_now], REPLAY)
        .assert_success()
        .assert_says("read 1 of")
        .assert_says("would replay 1;");
    let bad = dlq_replay(&topics, &["--from-offset", "5:0"], REPLAY);
    assert!(!bad.status.success());
    assert!(bad.stderr.contains("has 2 partitions"), "{}", bad.stderr);

    // A source topic that does not exist: a clear error, nothing produced.
    let before = kafka::record_count(&topics.interactions);
    let missing = dlq_replay(&topics, &["--reason-code", "gone"], REPLAY);
    assert!(!missing.status.success(), "{}", missing.stdout);
    assert!(
        missing.stderr.contains(&gone) && missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
    assert_eq!(kafka::record_count(&topics.interactions), before);

    // A record the producer refuses (larger than its message.max.bytes):
    // a clear error, the summary of what was done, a non-zero exit.
    let huge = "x".repeat(1_200_000);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", integration_tests::brokers())
        .set("message.max.bytes", "2000000")
        .create()
        .expect("producer");
    producer
        .send(
            BaseRecord::to(&topics.dlq)
                .partition(0)
                .key("k9")
                .payload(&huge)
                .headers(
                    OwnedHeaders::new()
                        .insert(Header {
                            key: "source-topic",
                            value: Some(&topics.interactions),
                        })
                        .insert(Header {
                            key: "source-partition",
                            value: Some("0"),
                        })
                        .insert(Header {
                            key: "reason-code",
                            value: Some("huge"),
                        }),
                ),
        )
        .map_err(|(e, _)| e)
        .expect("produce a large dead letter");
    producer.flush(Duration::from_secs(30)).expect("flush");
    let refused = dlq_replay(&topics, &["--reason-code", "huge"], REPLAY);
    assert!(!refused.status.success(), "{}", refused.stdout);
    refused.assert_says("replayed 0;").assert_says("huge ");
    assert!(
        refused.stderr.contains("cannot produce dead letter")
            && refused.stderr.contains("run the command again"),
        "{}",
        refused.stderr
    );
    assert_eq!(kafka::record_count(&topics.interactions), before);

    // No such dead-letter topic; no broker: clear errors, no hang.
    let mut nowhere = topics.clone();
    nowhere.dlq = unique("no-such-dlq");
    let no_topic = dlq_replay(&nowhere, &[], REPLAY);
    assert!(!no_topic.status.success());
    assert!(
        no_topic.stderr.contains("does not exist"),
        "{}",
        no_topic.stderr
    );
    let started = Instant::now();
    let no_broker = dlq_replay(
        &topics,
        &["--brokers", "127.0.0.1:1", "--timeout-seconds", "2"],
        REPLAY,
    );
    assert!(!no_broker.status.success());
    assert!(
        no_broker
            .stderr
            .contains("cannot reach the Kafka broker at 127.0.0.1:1"),
        "{}",
        no_broker.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

/// Wait until the checkpoints cover every record now on the input topics
/// (replayed ones included).
async fn caught_up_with_the_topics(
    client: &clickhouse::Client,
    topics: &Topics,
    running: &mut [&mut ProcessorProc],
) -> [i64; 3] {
    let want = topics.inputs().map(kafka::record_count);
    wait_checkpointed(client, want, CATCH_UP, running).await;
    want
}

/// Every figure exact, one raw row per distinct event.
async fn exact_once(client: &clickhouse::Client, expected: &ExpectedFile) {
    assert_exact(client, expected).await;
    let (rows, distinct) = raw_counts(client).await;
    assert_eq!(
        distinct, expected.counts.distinct_events,
        "every distinct event"
    );
    assert_eq!(rows, distinct, "exactly one raw row per distinct event_id");
}

fn reason_count(
    dead: &[(std::collections::BTreeMap<String, String>, Vec<u8>)],
    code: &str,
) -> usize {
    dead.iter()
        .filter(|(h, _)| h.get("reason-code").map(String::as_str) == Some(code))
        .count()
}

/// Traffic with a third of its campaigns in the future: a processor with
/// the default clock skew dead-letters their events (`in_future`); once
/// the skew is raised (the cause fixed), the replay brings them in and the
/// figures are exact, and a second replay changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_dead_lettered_in_the_future_are_replayed_once_the_skew_is_fixed() {
    let topics = Topics::unique("replayfuture", 2);
    kafka::create(&topics).await;
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::days(20)).to_rfc3339();
    #[rustfmt::skip]
    let expected = loadgen(&topics, &[
        "--seed", "31", "--tenants", "2", "--campaigns", "4", "--jobs", "2", "--users", "25",
        "--days", "30", "--start", &start, "--duplicate-ratio", "0.1", "--poison", "8",
    ]);
    let horizon = expected
        .reports
        .iter()
        .map(|r| r.last_event_at)
        .max()
        .expect("reports");
    assert!(
        horizon > now.timestamp_millis() + 86_400_000,
        "the traffic reaches into the future"
    );
    let (db, client) = fresh_database("e2e_replay_future").await;
    let spec = ProcessorSpec::new(&topics, &db, &expected);
    let mut p = spec.start("replay-future-a");
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut p]).await;
    let dead = kafka::dead_letters(&topics, expected.poison.len() + 1);
    assert_eq!(
        dead.len() as i64,
        kafka::record_count(&topics.dlq),
        "the dead-letter topic's records"
    );
    let in_future = reason_count(&dead, "in_future");
    let far_future = expected
        .poison
        .iter()
        .filter(|x| x.reason == "far_future")
        .count();
    assert!(
        in_future > far_future + 20,
        "{in_future} records dead-lettered in the future"
    );
    let checked = check(&client, &expected).await.expect("read figures");
    assert!(!checked.exact(), "figures exact without the future events?");
    p.stop();

    // The cause fixed: a skew that covers the traffic (not the poison
    // records of 2099, which are dead-lettered again).
    let skew = (horizon - now.timestamp_millis()) / 1000 + 86_400;
    let mut fixed = spec.clone();
    fixed
        .extra_env
        .push(("MAX_CLOCK_SKEW_SECONDS".into(), skew.to_string()));
    let mut p = fixed.start("replay-future-b");
    dlq_replay(&topics, &["--reason-code", "in_future"], REPLAY)
        .assert_success()
        .assert_says(&format!("replayed {in_future};"));
    caught_up_with_the_topics(&client, &topics, &mut [&mut p]).await;
    exact_once(&client, &expected).await;
    let dead = kafka::dead_letters(&topics, dead.len() + far_future);
    assert_eq!(
        reason_count(&dead, "in_future"),
        in_future + far_future,
        "only the poison records of 2099 were dead-lettered again"
    );

    // Again: everything is a duplicate now.
    dlq_replay(&topics, &["--reason-code", "in_future"], REPLAY).assert_success();
    caught_up_with_the_topics(&client, &topics, &mut [&mut p]).await;
    exact_once(&client, &expected).await;
    p.stop();
}

/// The Confluent wire format: ids 101-103 for the three record schemas.
fn schema_ids_file(path: &std::path::Path, with_interactions: bool) {
    let avro = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/avro");
    let line =
        |id: u32, file: &str| format!("{id} = {:?}\n", avro.join(file).display().to_string());
    let mut text = String::from("[ids]\n");
    text += &line(101, "campaign_lifecycle.v1.avsc");
    text += &line(102, "notification_sent.v1.avsc");
    if with_interactions {
        text += &line(103, "user_interaction.v1.avsc");
    }
    // Write and rename: the processor never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the schema ids file");
    std::fs::rename(&tmp, path).expect("rename the schema ids file");
}

/// Records dead-lettered for an unknown schema are replayed after the
/// schema ships and counted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_an_unknown_schema_are_replayed_after_it_ships_and_counted_once() {
    let dir = integration_tests::procs::log_dir();
    let full = dir.join(format!("{}.toml", unique("schema-ids-full")));
    let shipping = dir.join(format!("{}.toml", unique("schema-ids")));
    schema_ids_file(&full, true);
    schema_ids_file(&shipping, false);

    let topics = Topics::unique("replayschema", 2);
    kafka::create(&topics).await;
    let full_arg = full.display().to_string();
    #[rustfmt::skip]
    let expected = loadgen(&topics, &[
        "--seed", "32", "--tenants", "2", "--campaigns", "4", "--jobs", "2", "--users", "25",
        "--days", "40", "--duplicate-ratio", "0.1", "--poison", "0",
        "--wire-format", "confluent", "--schema-ids-file", &full_arg,
    ]);
    let interactions = expected.counts.per_topic[&topics.interactions].records as usize;
    assert!(interactions > 50, "{interactions} interactions");
    let (db, client) = fresh_database("e2e_replay_schema").await;
    let mut spec = ProcessorSpec::new(&topics, &db, &expected);
    spec.extra_env
        .push(("SCHEMA_IDS_FILE".into(), shipping.display().to_string()));
    let mut p = spec.start("replay-schema");
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut p]).await;
    let dead = kafka::dead_letters(&topics, interactions);
    assert_eq!(
        reason_count(&dead, "unknown_schema_id"),
        interactions,
        "every interaction dead-lettered for its schema id"
    );
    assert_eq!(dead.len(), interactions, "nothing else dead-lettered");
    let checked = check(&client, &expected).await.expect("read figures");
    assert!(!checked.exact(), "figures exact without the interactions?");

    // The schema ships: the processor (still running) reads the file again
    // at the next unknown id.
    schema_ids_file(&shipping, true);
    dlq_replay(&topics, &["--reason-code", "unknown_schema_id"], REPLAY)
        .assert_success()
        .assert_says(&format!("replayed {interactions};"));
    caught_up_with_the_topics(&client, &topics, &mut [&mut p]).await;
    exact_once(&client, &expected).await;
    assert_eq!(
        kafka::record_count(&topics.dlq),
        interactions as i64,
        "no replayed record was dead-lettered again"
    );

    // Again: counted once.
    dlq_replay(&topics, &["--reason-code", "unknown_schema_id"], REPLAY)
        .assert_success()
        .assert_says(&format!("replayed {interactions};"));
    caught_up_with_the_topics(&client, &topics, &mut [&mut p]).await;
    exact_once(&client, &expected).await;
    p.stop();
}
