//! Retention on the real broker and ClickHouse server: whole months of raw
//! events and of superseded snapshot rows past the horizon are dropped, and
//! no figure changes, through a SIGKILL and a restart, and with every event
//! delivered again (duplicates still count once with the raw events gone).

use std::process::Command;
use std::time::Duration;

use integration_tests::compare::{assert_exact, raw_counts};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{loadgen, wait_caught_up, wait_checkpointed, ProcessorSpec};
use integration_tests::{bin, clickhouse_url, fresh_database};

const CATCH_UP: Duration = Duration::from_secs(180);

/// Traffic of January 2025, long past a 60-day horizon.
#[rustfmt::skip]
const OLD_TRAFFIC: &[&str] = &[
    "--seed", "21", "--tenants", "2", "--campaigns", "3", "--jobs", "2", "--users", "25",
    "--days", "40", "--start", "2025-01-01T00:00:00Z", "--duplicate-ratio", "0.1",
];

/// 2025-03-15T00:00:00Z in milliseconds.
const MARCH_2025_MS: u64 = 1_741_996_800_000;

/// Copy every row of `table` with a version of the same epoch dated March
/// 2025 (so older than, and superseded by, the row it copies) and `wrong`
/// applied to its figures: an old version that must never be read.
async fn add_superseded_copies(client: &clickhouse::Client, table: &str, wrong: &[(&str, &str)]) {
    let columns: Vec<String> = client
        .query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ?")
        .bind(table)
        .fetch_all()
        .await
        .expect("columns");
    let select: Vec<String> = columns
        .iter()
        .map(|c| {
            if c == "version" {
                format!("intDiv(version, 2199023255552) * 2199023255552 + {MARCH_2025_MS}")
            } else if let Some((_, expr)) = wrong.iter().find(|(name, _)| name == c) {
                expr.to_string()
            } else {
                c.clone()
            }
        })
        .collect();
    client
        .query(&format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {table}",
            columns.join(", "),
            select.join(", ")
        ))
        .execute()
        .await
        .expect("insert superseded copies");
}

/// Active parts of the retention's tables in months of 2025.
async fn parts_of_2025(client: &clickhouse::Client) -> Vec<(String, String)> {
    client
        .query(
            "SELECT DISTINCT table, partition_id FROM system.parts \
             WHERE database = currentDatabase() AND active AND partition_id LIKE '2025%' \
             AND table IN ('events_raw', 'campaign_reports', 'journeys', 'campaign_state') \
             ORDER BY table, partition_id",
        )
        .fetch_all()
        .await
        .expect("parts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn months_past_the_horizon_are_dropped_and_no_figure_changes() {
    let topics = Topics::unique("retention", 4);
    kafka::create(&topics).await;
    let expected = loadgen(&topics, OLD_TRAFFIC);
    assert!(expected.counts.duplicates > 0);
    let (db, client) = fresh_database("e2e_retention").await;
    let mut spec = ProcessorSpec::new(&topics, &db, &expected);
    spec.extra_env.push(("RETENTION_DAYS".into(), "60".into()));
    let mut p = spec.start("retention-a");
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut p]).await;
    assert_exact(&client, &expected).await;

    // Every partition's checkpoint says none of its rows in memory is
    // older than the processor's first snapshot (written in full).
    let checkpoints = integration_tests::procs::latest_checkpoints(&client)
        .await
        .expect("checkpoints");
    assert!(!checkpoints.is_empty());
    let floor = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for c in &checkpoints {
        assert!(c.retained_from_ms > floor, "{c:?}");
    }

    add_superseded_copies(
        &client,
        "journeys",
        &[("total_interactions", "total_interactions + 1000")],
    )
    .await;
    add_superseded_copies(
        &client,
        "campaign_reports",
        &[("sent_users", "sent_users + 1000")],
    )
    .await;
    add_superseded_copies(&client, "campaign_state", &[]).await;
    assert_exact(&client, &expected).await;
    let before = parts_of_2025(&client).await;
    for table in ["journeys", "campaign_reports", "campaign_state"] {
        assert!(
            before.contains(&(table.to_string(), "202503".to_string())),
            "{table} has a March 2025 partition: {before:?}"
        );
    }

    let out = Command::new(bin("processor"))
        .args(["retention", "--retention-days", "60"])
        .env("CLICKHOUSE_URL", clickhouse_url())
        .env("CLICKHOUSE_DATABASE", &db)
        .output()
        .expect("processor retention");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "drop  events_raw 202501",
        "drop  journeys 202503",
        "drop  campaign_reports 202503",
        "drop  campaign_state 202503",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }
    assert_eq!(parts_of_2025(&client).await, Vec::<(String, String)>::new());
    assert_eq!(
        raw_counts(&client).await.0,
        0,
        "every raw event was of 2025"
    );
    assert_exact(&client, &expected).await;

    // Restored from the state rows alone after a crash: still exact.
    p.kill();
    let mut p = spec.start("retention-b");
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut p]).await;
    assert_exact(&client, &expected).await;

    // Every event again: all duplicates, known from the state rows.
    loadgen(&topics, OLD_TRAFFIC);
    let want = topics.inputs().map(|t| {
        2 * expected
            .counts
            .per_topic
            .get(t)
            .map_or(0, |c| c.records as i64)
    });
    wait_checkpointed(&client, want, CATCH_UP, &mut [&mut p]).await;
    assert_exact(&client, &expected).await;
    assert_eq!(raw_counts(&client).await.0, 0, "no event counted again");
    p.stop();
}
