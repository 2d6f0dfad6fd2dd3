//! A checkpoint outside its partition's log is noticed at assignment (issue
//! "checkpoints beyond the log"): the broker's data was lost (here: the
//! processor is pointed at new, empty topics while ClickHouse keeps its
//! checkpoints). The processor refuses those partitions with an error that
//! names `processor checkpoint reset`, consumes nothing of them even when
//! records arrive, and after a deliberate reset to the earliest offsets it
//! reads the new log and every figure is exact (the records replayed into
//! the new topics count once).
//!
//! The other case (a checkpoint before the log's start, after retention
//! removed records) needs a broker that deletes records: tansu 0.6 does not,
//! so it is covered by the unit tests of `processor::kafka::bounds`.

use std::process::Command;
use std::time::Duration;

use integration_tests::compare::{assert_exact, raw_counts};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{latest_checkpoints, loadgen, wait_caught_up, ProcessorSpec};
use integration_tests::{fresh_database, unique};
use processor::clickhouse::convert::CheckpointRow;

#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "41", "--tenants", "2", "--campaigns", "3", "--jobs", "2", "--users", "20",
    "--days", "20", "--duplicate-ratio", "0.05", "--poison", "0",
];

async fn checkpoints(client: &clickhouse::Client) -> Vec<CheckpointRow> {
    latest_checkpoints(client).await.expect("read checkpoints")
}

/// (partition, next offset per topic) of each checkpoint, versions left out.
fn offsets(rows: Vec<CheckpointRow>) -> Vec<(i32, i64, i64, i64)> {
    rows.into_iter()
        .map(|c| {
            (
                c.partition,
                c.lifecycle_offset,
                c.notifications_offset,
                c.interactions_offset,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_past_the_end_of_the_log_is_refused_until_reset() {
    let (db, client) = fresh_database("e2e_bounds").await;
    // The first life: topics filled, the processor catches up.
    let old = Topics::unique("bounds-old", 4);
    kafka::create(&old).await;
    let expected = loadgen(&old, TRAFFIC);
    let spec = ProcessorSpec::new(&old, &db, &expected);
    let mut p = spec.start("bounds-old");
    wait_caught_up(
        &client,
        &old,
        &expected,
        Duration::from_secs(120),
        &mut [&mut p],
    )
    .await;
    p.stop();
    let before = checkpoints(&client).await;
    let behind: Vec<i32> = before
        .iter()
        .filter(|c| {
            c.lifecycle_offset > 0 || c.notifications_offset > 0 || c.interactions_offset > 0
        })
        .map(|c| c.partition)
        .collect();
    assert!(!behind.is_empty());

    // The broker lost its data: the same topics, empty.
    let new = Topics::unique("bounds-new", 4);
    kafka::create(&new).await;
    let mut spec = ProcessorSpec::new(&new, &db, &expected);
    spec.group = unique("bounds-group");
    let mut p = spec.start("bounds-refused");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while p.log_text().matches("refused").count() < behind.len() {
        p.assert_running();
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal of partitions {behind:?}: {}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = p.log_text();
    assert!(
        log.contains("processor checkpoint reset --partition"),
        "{log}"
    );
    assert!(log.contains("the log ends at 0"), "{log}");
    // Records arrive on the new topics (the same events again): nothing of
    // the refused partitions is consumed, no checkpoint moves.
    let again = loadgen(&new, TRAFFIC);
    tokio::time::sleep(Duration::from_secs(3)).await;
    p.assert_running();
    // (A snapshot may rewrite a checkpoint at the same offsets.)
    let of_refused = |rows: Vec<CheckpointRow>| {
        let mut o = offsets(rows);
        o.retain(|(p, ..)| behind.contains(p));
        o
    };
    assert_eq!(
        of_refused(checkpoints(&client).await),
        of_refused(before.clone()),
        "refused partitions stay where they were"
    );
    p.stop();

    // The deliberate reset, then the new log is read from its start.
    for partition in &behind {
        let out = Command::new(integration_tests::bin("processor"))
            .args([
                "checkpoint",
                "reset",
                "--partition",
                &partition.to_string(),
                "--to",
                "earliest",
            ])
            .env("KAFKA_BROKERS", integration_tests::brokers())
            .env("TOPIC_LIFECYCLE", &new.lifecycle)
            .env("TOPIC_NOTIFICATIONS", &new.notifications)
            .env("TOPIC_INTERACTIONS", &new.interactions)
            .env("CLICKHOUSE_URL", integration_tests::clickhouse_url())
            .env("CLICKHOUSE_DATABASE", &db)
            .output()
            .expect("run processor checkpoint reset");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "reset failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("wrote version"), "{stdout}");
    }
    let mut p = spec.start("bounds-reset");
    wait_caught_up(
        &client,
        &new,
        &again,
        Duration::from_secs(120),
        &mut [&mut p],
    )
    .await;
    assert!(!p.log_text().contains("refused"), "{}", p.log_text());
    assert_exact(&client, &expected).await;
    let (rows, distinct) = raw_counts(&client).await;
    assert_eq!(rows, distinct, "the replayed events count once");
    assert_eq!(distinct, expected.counts.distinct_events);
    p.stop();
}

/// tansu 0.6 (memory storage) lists a log's end as the base offset of its
/// last stored batch plus one. A checkpoint at the true end of a log whose
/// last batch holds several records must not be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_at_the_end_of_a_multi_record_batch_is_accepted() {
    let topics = Topics::unique("bounds-batch", 2);
    kafka::create(&topics).await;
    let path = integration_tests::procs::log_dir().join(format!("{}.json", unique("expected")));
    let status = Command::new(integration_tests::bin("loadgen"))
        .args(TRAFFIC)
        .args(["--batch-records", "500", "--linger-ms", "50"])
        .arg("--expected")
        .arg(&path)
        .args(["--brokers", &integration_tests::brokers()])
        .args(["--topic-lifecycle", &topics.lifecycle])
        .args(["--topic-notifications", &topics.notifications])
        .args(["--topic-interactions", &topics.interactions])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run loadgen");
    assert!(status.success());
    let expected = integration_tests::procs::read_expected(&path);
    let (db, client) = fresh_database("e2e_bounds_batch").await;
    let spec = ProcessorSpec::new(&topics, &db, &expected);
    let mut p = spec.start("bounds-batch");
    wait_caught_up(
        &client,
        &topics,
        &expected,
        Duration::from_secs(120),
        &mut [&mut p],
    )
    .await;
    p.stop();
    let before = checkpoints(&client).await;
    let mut p = spec.start("bounds-batch-again");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !p.log_text().contains("partition restored") {
        p.assert_running();
        assert!(std::time::Instant::now() < deadline, "{}", p.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = p.log_text();
    assert!(!log.contains("refused"), "{log}");
    p.stop();
    assert_eq!(offsets(checkpoints(&client).await), offsets(before));
    assert_exact(&client, &expected).await;
}
