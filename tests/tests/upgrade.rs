//! An in-place upgrade on the real broker and ClickHouse server, from a
//! database the previous release's own processor filled: the release before
//! state rows, fencing and retention (built from this repository's history
//! by `deploy/local/previous-release.sh`, which `make test` runs first).
//!
//! That processor consumes part of a stream and is killed mid-stream (raw
//! rows may lie past its checkpoint). This release's processor then
//! migrates the database, restores once from the raw events, writes its
//! state rows, and catches up: every figure exact, one raw row per distinct
//! event. Killed and restarted, it restores from its state rows and stays
//! exact. The previous release refuses the upgraded database.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benches::e2e::watch::checkpointed;
use integration_tests::compare::{assert_exact, raw_counts};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{
    latest_checkpoints, loadgen_command, log_dir, read_expected, wait_caught_up, ProcessorSpec,
};
use integration_tests::{bin, fresh_database, unique};

const CATCH_UP: Duration = Duration::from_secs(180);

/// What the restore of a checkpoint without state rows logs (once).
const FROM_HISTORY: &str = "checkpoints from a release without state rows";

/// About 20 s of traffic at 500 records/s: two tenants in different zones,
/// duplicates, late scripts and poison records.
#[rustfmt::skip]
const STREAM: &[&str] = &[
    "--seed", "31", "--tenants", "2", "--campaigns", "4", "--jobs", "2", "--users", "200",
    "--days", "40", "--duplicate-ratio", "0.1", "--poison", "12",
];

/// The previous release's processor, built (once, then cached) by the
/// script `make test` runs before the tests.
fn previous_release() -> PathBuf {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/previous-release.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run deploy/local/previous-release.sh");
    assert!(
        out.status.success(),
        "{} failed ({}): the upgrade test needs the previous release's processor",
        script.display(),
        out.status
    );
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(path.exists(), "{} is missing", path.display());
    path
}

async fn has_column(client: &clickhouse::Client, table: &str, column: &str) -> bool {
    client
        .query(
            "SELECT count() FROM system.columns \
             WHERE database = currentDatabase() AND table = ? AND name = ?",
        )
        .bind(table)
        .bind(column)
        .fetch_one::<u64>()
        .await
        .expect("system.columns")
        > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_the_previous_release_filled_upgrades_in_place() {
    let previous = previous_release();
    let topics = Topics::unique("upgrade", 4);
    kafka::create(&topics).await;
    let (db, client) = fresh_database("e2e_upgrade").await;

    // Tenant zones from a dry run of the same traffic.
    let dry = log_dir().join(format!("{}.json", unique("upgrade-dry")));
    let status = Command::new(bin("loadgen"))
        .args(STREAM)
        .args(["--dry-run", "--expected"])
        .arg(&dry)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("loadgen dry run");
    assert!(status.success(), "loadgen dry run failed");
    let spec = ProcessorSpec::new(&topics, &db, &read_expected(&dry));
    let path = log_dir().join(format!("{}.json", unique("upgrade-stream")));
    let mut producer = loadgen_command(&topics, &[STREAM, &["--rate", "500"]].concat(), &path)
        .spawn()
        .expect("start loadgen");

    // The previous release: killed once its checkpoints cover a few
    // thousand records, while the stream goes on.
    let mut old = spec.start_binary(&previous, "upgrade-previous");
    let deadline = Instant::now() + CATCH_UP;
    loop {
        old.assert_running();
        if checkpointed(&client).await.iter().sum::<u64>() >= 3_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the previous release checkpointed {:?} records after {CATCH_UP:?}; log: {}",
            checkpointed(&client).await,
            old.log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    old.kill();
    let at_kill = checkpointed(&client).await;
    // What the previous release left: checkpoints without a state format,
    // raw events without an epoch, no state rows.
    assert!(!has_column(&client, "checkpoints", "state_format").await);
    assert!(!has_column(&client, "events_raw", "epoch").await);
    assert!(!has_column(&client, "journeys", "state").await);
    let (raw_before, _) = raw_counts(&client).await;
    assert!(raw_before > 0);

    // This release takes over mid-stream.
    let mut new = spec.start("upgrade-current");
    let status = producer.wait().expect("loadgen");
    assert!(status.success(), "loadgen failed: {status}");
    let expected = read_expected(&path);
    assert!(expected.counts.duplicates > 0 && expected.counts.poison > 0);
    assert!(
        at_kill.iter().sum::<u64>() < expected.counts.records,
        "the previous release was killed mid-stream ({at_kill:?} of {} records)",
        expected.counts.records
    );
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut new]).await;
    assert_exact(&client, &expected).await;
    let (rows, distinct) = raw_counts(&client).await;
    assert_eq!(distinct, expected.counts.distinct_events);
    assert_eq!(rows, distinct, "exactly one raw row per distinct event_id");
    let checkpoints = latest_checkpoints(&client).await.expect("checkpoints");
    assert!(!checkpoints.is_empty());
    for c in &checkpoints {
        assert_eq!(
            c.state_format,
            processor::store::STATE_FORMAT,
            "every partition's checkpoint is in the new format: {c:?}"
        );
    }
    let log = new.log_text();
    assert!(
        log.contains(FROM_HISTORY),
        "the first start restored from the raw events; log: {}",
        new.log.display()
    );

    // Killed and restarted: restored from the state rows, still exact.
    new.kill();
    let mut again = spec.start("upgrade-restarted");
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut again]).await;
    // Its checkpoints covered everything already: wait for its restore of
    // all four partitions.
    let deadline = Instant::now() + CATCH_UP;
    while again.log_text().matches("partition restored").count() < 4 {
        again.assert_running();
        assert!(
            Instant::now() < deadline,
            "the restart restored no partition; log: {}",
            again.log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_exact(&client, &expected).await;
    let (rows, distinct) = raw_counts(&client).await;
    assert_eq!(rows, distinct, "exactly one raw row per distinct event_id");
    assert!(
        !again.log_text().contains(FROM_HISTORY),
        "the restart restored from the state rows; log: {}",
        again.log.display()
    );
    again.stop();
    assert_exact(&client, &expected).await;

    // The previous release refuses the upgraded database (it does not
    // know the newer migrations) instead of writing into it.
    let mut refused = spec.start_binary(&previous, "upgrade-refused");
    let status = refused
        .exited_within(Duration::from_secs(60))
        .expect("the previous release exits on the upgraded database");
    let text = refused.log_text();
    assert!(!status.success(), "{text}");
    assert!(text.contains("which this binary does not know"), "{text}");
}
