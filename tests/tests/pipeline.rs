//! The processor end to end, on the real broker and ClickHouse server:
//! loadgen traffic (duplicates, out-of-order deliveries, late scripts,
//! poison records) in, every report, journey and rollup exact out; and the
//! same after crashes, a rebalance and a ClickHouse outage.

use std::time::{Duration, Instant};

use benches::loadgen::expected_json::ExpectedFile;
use integration_tests::compare::{assert_exact, raw_counts};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{
    loadgen, loadgen_command, read_expected, wait_caught_up, ProcessorSpec,
};
use integration_tests::{fresh_database, unique};

const CATCH_UP: Duration = Duration::from_secs(180);

/// Wait until the checkpoints cover every produced record, then check every
/// figure and that `events_raw` holds exactly one row per distinct event.
async fn caught_up_and_exact(
    client: &clickhouse::Client,
    topics: &Topics,
    expected: &ExpectedFile,
    running: &mut [&mut integration_tests::procs::ProcessorProc],
) {
    wait_caught_up(client, topics, expected, CATCH_UP, running).await;
    assert_exact(client, expected).await;
    let (rows, distinct) = raw_counts(client).await;
    assert_eq!(
        distinct, expected.counts.distinct_events,
        "every distinct event"
    );
    assert_eq!(rows, distinct, "exactly one raw row per distinct event_id");
}

/// Small but complete traffic: two tenants in different time zones.
#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "11", "--tenants", "2", "--campaigns", "4", "--jobs", "2", "--users", "30",
    "--days", "40", "--duplicate-ratio", "0.1", "--poison", "12",
];

/// Longer traffic (users per job given per test), produced at a steady rate
/// while processors come and go.
#[rustfmt::skip]
const STREAM: &[&str] = &[
    "--seed", "12", "--tenants", "2", "--campaigns", "4", "--jobs", "2",
    "--days", "40", "--duplicate-ratio", "0.1", "--poison", "12",
];

/// Start loadgen producing STREAM with `users` per job at `rate` records/s
/// in the background; returns it, where its expected figures will be, and
/// the processor spec (tenant time zones from a dry run of the same traffic).
fn stream(
    topics: &Topics,
    db: &str,
    users: &str,
    rate: &str,
) -> (std::process::Child, std::path::PathBuf, ProcessorSpec) {
    let traffic = [STREAM, &["--users", users]].concat();
    let dir = integration_tests::procs::log_dir();
    let dry = dir.join(format!("{}.json", unique("dry")));
    let status = std::process::Command::new(integration_tests::bin("loadgen"))
        .args(&traffic)
        .args(["--dry-run", "--expected"])
        .arg(&dry)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("loadgen dry run");
    assert!(status.success(), "loadgen dry run failed");
    let spec = ProcessorSpec::new(topics, db, &read_expected(&dry));
    let path = dir.join(format!("{}.json", unique("stream")));
    let producer = loadgen_command(topics, &[&traffic[..], &["--rate", rate]].concat(), &path)
        .spawn()
        .expect("start loadgen");
    (producer, path, spec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_are_exact_and_poison_is_dead_lettered() {
    let topics = Topics::unique("exact", 4);
    kafka::create(&topics).await;
    let expected = loadgen(&topics, TRAFFIC);
    assert!(expected.counts.duplicates > 0 && expected.counts.poison > 0);
    let (db, client) = fresh_database("e2e_exact").await;
    let spec = ProcessorSpec::new(&topics, &db, &expected);
    let mut p = spec.start("exact");
    caught_up_and_exact(&client, &topics, &expected, &mut [&mut p]).await;

    let dead = kafka::dead_letters(&topics, expected.poison.len());
    assert_eq!(
        dead.len(),
        expected.poison.len(),
        "every poison record, once"
    );
    for (headers, _) in &dead {
        for h in [
            "source-topic",
            "source-partition",
            "source-offset",
            "reason",
        ] {
            assert!(
                headers.contains_key(h),
                "dead letter without {h}: {headers:?}"
            );
        }
        assert!(topics.inputs().contains(&headers["source-topic"].as_str()));
    }
    p.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_counts_nothing_twice() {
    let topics = Topics::unique("crash", 4);
    kafka::create(&topics).await;
    let (db, client) = fresh_database("e2e_crash").await;
    // About 26 s of traffic: the six kills below take about 17 s.
    let (mut producer, path, spec) = stream(&topics, &db, "250", "500");

    let mut seed = 0x9e37_79b9_u64;
    let mut kills_while_producing = 0;
    for round in 0..6 {
        let p = spec.start(&format!("crash-{round}"));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(1_500 + seed % 3_000);
        tokio::time::sleep(wait).await;
        if producer.try_wait().expect("loadgen").is_none() {
            kills_while_producing += 1;
        }
        p.kill();
    }
    assert!(
        kills_while_producing >= 5,
        "only {kills_while_producing} kills hit the stream"
    );
    let status = producer.wait().expect("loadgen");
    assert!(status.success(), "loadgen failed");
    let expected = read_expected(&path);
    let mut p = spec.start("crash-final");
    caught_up_and_exact(&client, &topics, &expected, &mut [&mut p]).await;
    p.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_joins_and_leaves_mid_stream() {
    let topics = Topics::unique("rebalance", 4);
    kafka::create(&topics).await;
    let (db, client) = fresh_database("e2e_rebalance").await;
    let (mut producer, path, spec) = stream(&topics, &db, "150", "500");
    let mut a = spec.start("rebalance-a");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut b = spec.start("rebalance-b");
    tokio::time::sleep(Duration::from_secs(10)).await;
    a.assert_running();
    b.assert_running();
    let joined = Instant::now();
    let b_log = b.log_text();
    b.stop();
    assert!(joined.elapsed() < Duration::from_secs(60));
    let status = producer.wait().expect("loadgen");
    assert!(status.success());
    let expected = read_expected(&path);
    caught_up_and_exact(&client, &topics, &expected, &mut [&mut a]).await;
    assert!(
        a.log_text().contains("partitions revoked"),
        "instance a saw the rebalance"
    );
    assert!(
        b_log.contains("partition restored"),
        "instance b took over partitions: {b_log}"
    );
    a.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_owner_resumed_after_a_takeover_adds_no_row() {
    // A owns every partition and is frozen (SIGSTOP) with records applied
    // but not yet written (snapshots every 500 ms of a steady stream). B
    // starts, takes the partitions over once A's session expires, restores
    // and catches up. A is resumed: its pending write and the final
    // snapshot of its lost partitions reach ClickHouse after B's claim, and
    // the server drops them. Both then share the partitions to the end:
    // events_raw holds exactly one row per distinct event and every report,
    // journey and rollup is exact.
    let topics = Topics::unique("zombie", 4);
    kafka::create(&topics).await;
    let (db, client) = fresh_database("e2e_zombie").await;
    let (mut producer, path, spec) = stream(&topics, &db, "250", "500");
    let mut a = spec.start("zombie-a");
    tokio::time::sleep(Duration::from_secs(5)).await;
    a.assert_running();
    a.signal("STOP");
    let mut b = spec.start("zombie-b");
    // A's session (6 s) expires, then B is assigned everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !b.log_text().contains("partition restored") {
        assert!(
            Instant::now() < deadline,
            "b never took the partitions over"
        );
        b.assert_running();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.signal("CONT");
    let status = producer.wait().expect("loadgen");
    assert!(status.success(), "loadgen failed");
    let expected = read_expected(&path);
    caught_up_and_exact(&client, &topics, &expected, &mut [&mut a, &mut b]).await;
    let epochs: u64 = client
        .query("SELECT count() FROM partition_epochs WHERE partition = 0")
        .fetch_one()
        .await
        .expect("read epochs");
    assert!(
        epochs >= 2,
        "partition 0 was claimed again ({epochs} epochs)"
    );
    assert!(
        a.log_text().contains("partitions revoked"),
        "the resumed instance learned that it lost its partitions"
    );
    a.stop();
    b.stop();
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The value of an unlabelled metric on the processor's /metrics page.
async fn metric(addr: &str, name: &str) -> Option<f64> {
    let body = tokio::task::spawn_blocking({
        let url = format!("http://{addr}/metrics");
        move || {
            std::process::Command::new("curl")
                .args(["-fsS", &url])
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        }
    })
    .await
    .ok()??;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clickhouse_outage_loses_nothing_and_memory_stays_bounded() {
    let server = integration_tests::server::OwnClickHouse::new();
    server.start();
    let topics = Topics::unique("outage", 4);
    kafka::create(&topics).await;
    let (db, client) = integration_tests::fresh_database_at(&server.url, "e2e_outage").await;
    let (mut producer, path, mut spec) = stream(&topics, &db, "300", "500");
    let metrics_addr = format!("127.0.0.1:{}", integration_tests::server::free_port());
    spec.clickhouse_url = server.url.clone();
    spec.extra_env = vec![
        ("METRICS_ADDR".into(), metrics_addr.clone()),
        ("MAX_BUFFERED_ROWS".into(), "1000".into()),
        ("READ_AHEAD".into(), "200".into()),
    ];
    let mut p = spec.start("outage");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let outage = Instant::now();
    server.stop_within(3);
    let (mut paused, mut max_buffered, mut max_rss) = (false, 0.0f64, 0u64);
    while outage.elapsed() < Duration::from_secs(30) {
        p.assert_running();
        paused |= metric(&metrics_addr, "processor_paused").await == Some(1.0);
        max_buffered = max_buffered.max(
            metric(&metrics_addr, "processor_buffered_rows")
                .await
                .unwrap_or(0.0),
        );
        max_rss = max_rss.max(rss_kib(p.child.id()));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    server.start();
    let status = producer.wait().expect("loadgen");
    assert!(status.success());
    // Rollups too: an insert cut off by the server's stop can land in
    // events_raw without its views' rows; the retry repairs them
    // (processor/tests/clickhouse_store.rs shows it deterministically).
    let expected = read_expected(&path);
    caught_up_and_exact(&client, &topics, &expected, &mut [&mut p]).await;
    assert!(paused, "consumption paused while ClickHouse was down");
    // The budget plus what the consumer had read when consumption paused:
    // the read-ahead channel holds whole batches (READ_AHEAD 200 rounds up
    // to one batch), and one more batch waits to be sent. Never the whole
    // stream (thousands of records).
    let batch = processor::kafka::source::BATCH_RECORDS as f64;
    let read_ahead = (200.0 / batch).ceil() * batch + batch;
    assert!(
        max_buffered <= 1_000.0 + read_ahead + 10.0,
        "buffered {max_buffered} rows"
    );
    assert!(
        max_buffered < expected.counts.distinct_events as f64 / 2.0,
        "buffered {max_buffered} rows of {} events",
        expected.counts.distinct_events
    );
    assert!(max_rss < 512 * 1024, "resident memory {max_rss} KiB");
    p.stop();
}
