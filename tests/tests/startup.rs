//! The processor refuses to start, with a clear message, when its input
//! topics are not co-partitioned or missing; and `--help` documents the
//! options with their defaults.

use std::process::Command;
use std::time::Duration;

use integration_tests::kafka::Topics;
use integration_tests::{bin, brokers, clickhouse_url, fresh_database};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

/// Run `processor run` to its exit; returns (success, stderr).
fn run_processor(topics: &Topics, database: &str) -> (bool, String) {
    let out = Command::new(bin("processor"))
        .arg("run")
        .env("KAFKA_BROKERS", brokers())
        .env("TOPIC_LIFECYCLE", &topics.lifecycle)
        .env("TOPIC_NOTIFICATIONS", &topics.notifications)
        .env("TOPIC_INTERACTIONS", &topics.interactions)
        .env("TOPIC_DLQ", &topics.dlq)
        .env("CLICKHOUSE_URL", clickhouse_url())
        .env("CLICKHOUSE_DATABASE", database)
        .env("METRICS_ADDR", "127.0.0.1:0")
        .output()
        .expect("run processor");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn topics_with_different_partition_counts_are_refused() {
    let topics = Topics::unique("copart", 4);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin");
    let new = [
        NewTopic::new(&topics.lifecycle, 4, TopicReplication::Fixed(1)),
        NewTopic::new(&topics.notifications, 4, TopicReplication::Fixed(1)),
        NewTopic::new(&topics.interactions, 2, TopicReplication::Fixed(1)),
        NewTopic::new(&topics.dlq, 4, TopicReplication::Fixed(1)),
    ];
    for r in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .expect("broker reachable (make up)")
    {
        r.expect("topic created");
    }
    let (db, _client) = fresh_database("e2e_copart").await;
    let (ok, stderr) = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || run_processor(&topics, &db)),
    )
    .await
    .expect("the processor exits")
    .expect("join");
    assert!(!ok, "the processor must refuse to run");
    assert!(stderr.contains("not co-partitioned"), "{stderr}");
    assert!(stderr.contains("has 2 partitions"), "{stderr}");
}

#[tokio::test]
async fn a_missing_topic_is_named() {
    let topics = Topics::unique("missing", 4);
    let (db, _client) = fresh_database("e2e_missing").await;
    let lifecycle = topics.lifecycle.clone();
    let (ok, stderr) = tokio::task::spawn_blocking(move || run_processor(&topics, &db))
        .await
        .expect("join");
    assert!(!ok);
    assert!(stderr.contains(&lifecycle), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn help_documents_every_option_with_its_default() {
    let out = Command::new(bin("processor"))
        .args(["run", "--help"])
        .output()
        .expect("processor --help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for option in [
        "--brokers",
        "--group-id",
        "--topic-lifecycle",
        "--topic-dlq",
        "--clickhouse-url",
        "--snapshot-interval-ms",
        "--tenant-timezone",
        "--metrics-addr",
        "--max-buffered-rows",
        "--evict-completed-after-seconds",
    ] {
        assert!(help.contains(option), "{option} missing from --help");
    }
    assert!(
        help.contains("[default: 1000]"),
        "snapshot interval default shown"
    );
}

#[tokio::test]
async fn a_changed_partition_count_is_refused_at_start() {
    let four = Topics::unique("count4", 4);
    integration_tests::kafka::create(&four).await;
    let (db, client) = fresh_database("e2e_count").await;
    // A first start records 4; stop it once it has.
    let mut first = Command::new(bin("processor"))
        .arg("run")
        .env("KAFKA_BROKERS", brokers())
        .env("TOPIC_LIFECYCLE", &four.lifecycle)
        .env("TOPIC_NOTIFICATIONS", &four.notifications)
        .env("TOPIC_INTERACTIONS", &four.interactions)
        .env("TOPIC_DLQ", &four.dlq)
        .env("CLICKHOUSE_URL", clickhouse_url())
        .env("CLICKHOUSE_DATABASE", &db)
        .env("METRICS_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start processor");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let recorded: Vec<i32> = client
            .query("SELECT partitions FROM topology")
            .fetch_all()
            .await
            .unwrap_or_default();
        if recorded == [4] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "count not recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = first.kill();
    let _ = first.wait();

    let two = Topics::unique("count2", 2);
    integration_tests::kafka::create(&two).await;
    let (ok, stderr) = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || run_processor(&two, &db)),
    )
    .await
    .expect("the processor exits")
    .expect("join");
    assert!(!ok, "started on 2 partitions with state of 4: {stderr}");
    assert!(
        stderr.contains("have 2 partitions") && stderr.contains("built with 4"),
        "{stderr}"
    );
}
