//! Every producer can feed the processor (ingestion.md): records encoded by
//! an independent Avro implementation (fastavro) and produced by another
//! Kafka client (confluent-kafka, Python), in the single-object encoding and
//! in the Confluent Schema Registry format with a schema ids file; and
//! loadgen's own Confluent framing. In each case every figure equals the
//! load generator's oracle and the poison records are dead-lettered.
//!
//! How: loadgen writes its traffic (with duplicates, out-of-order
//! deliveries and poison) to staging topics; tests/python/relay_fastavro.py
//! decodes each record with fastavro and encodes it again with fastavro
//! onto the processor's topics, partition for partition and in order.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use benches::loadgen::expected_json::ExpectedFile;
use integration_tests::compare::{assert_exact, raw_counts};
use integration_tests::kafka::{self, Topics};
use integration_tests::procs::{loadgen, wait_caught_up, wait_checkpointed, ProcessorSpec};
use integration_tests::{fresh_database, unique};

const CATCH_UP: Duration = Duration::from_secs(180);

#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "31", "--tenants", "2", "--campaigns", "3", "--jobs", "2", "--users", "25",
    "--days", "30", "--duplicate-ratio", "0.1", "--poison", "16",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The test venv's Python (deploy/local/install.sh python; make test
/// exports VENV_DIR).
fn python() -> PathBuf {
    let venv = std::env::var("VENV_DIR").unwrap_or_else(|_| {
        panic!("VENV_DIR is not set: run through `make test` (it installs the Python test tools)")
    });
    let python = Path::new(&venv).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run deploy/local/install.sh python",
        python.display()
    );
    python
}

/// A schema ids file naming our three `.avsc` files (ids 101 to 103).
fn ids_file(dir: &Path) -> PathBuf {
    let avro = repo_root().join("schemas/avro");
    let file = dir.join(format!("{}.toml", unique("schema-ids")));
    let text = format!(
        "[ids]\n101 = \"{}\"\n102 = \"{}\"\n103 = \"{}\"\n",
        avro.join("campaign_lifecycle.v1.avsc").display(),
        avro.join("notification_sent.v1.avsc").display(),
        avro.join("user_interaction.v1.avsc").display(),
    );
    std::fs::write(&file, text).expect("write the schema ids file");
    file
}

/// Records per input topic of the expected file, for `topics`' names.
fn records_of(expected: &ExpectedFile, staging: &Topics) -> [i64; 3] {
    staging.inputs().map(|t| {
        expected
            .counts
            .per_topic
            .get(t)
            .map_or(0, |c| c.records as i64)
    })
}

/// Relay the staging topics through fastavro onto `target`.
fn relay(staging: &Topics, target: &Topics, records: i64, confluent: Option<&Path>) {
    let mut cmd = Command::new(python());
    cmd.arg(repo_root().join("tests/python/relay_fastavro.py"))
        .args(["--brokers", &integration_tests::brokers()])
        .args(["--from", &staging.inputs().join(",")])
        .args(["--to", &target.inputs().join(",")])
        .args(["--records", &records.to_string()]);
    if let Some(ids) = confluent {
        cmd.args(["--framing", "confluent", "--schema-ids-file"])
            .arg(ids);
    }
    let out = cmd.output().expect("run the fastavro relay");
    assert!(
        out.status.success(),
        "relay failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("relay prints its counts");
    assert_eq!(counts["read"], records);
    assert!(
        counts["reencoded"].as_i64().unwrap_or(0) > 0,
        "fastavro re-encoded records: {counts}"
    );
}

async fn fastavro_feeds_the_processor(name: &str, confluent: bool) {
    let staging = Topics::unique(&format!("{name}-src"), 4);
    let target = Topics::unique(&format!("{name}-dst"), 4);
    kafka::create(&staging).await;
    kafka::create(&target).await;
    let expected = loadgen(&staging, TRAFFIC);
    assert!(expected.counts.poison > 0 && expected.counts.duplicates > 0);
    let records = records_of(&expected, &staging);
    let ids = confluent.then(|| ids_file(&integration_tests::procs::log_dir()));
    relay(&staging, &target, records.iter().sum(), ids.as_deref());

    let (db, client) = fresh_database(name).await;
    let mut spec = ProcessorSpec::new(&target, &db, &expected);
    if let Some(ids) = &ids {
        spec.extra_env
            .push(("SCHEMA_IDS_FILE".into(), ids.display().to_string()));
    }
    let mut p = spec.start(name);
    wait_checkpointed(&client, records, CATCH_UP, &mut [&mut p]).await;
    assert_exact(&client, &expected).await;
    let (rows, distinct) = raw_counts(&client).await;
    assert_eq!(distinct, expected.counts.distinct_events);
    assert_eq!(rows, distinct, "one raw row per distinct event");
    let dead = kafka::dead_letters(&target, expected.poison.len());
    assert_eq!(
        dead.len(),
        expected.poison.len(),
        "every poison record, once"
    );
    p.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastavro_single_object_records_from_confluent_kafka_are_exact() {
    fastavro_feeds_the_processor("fastavro_so", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastavro_confluent_framed_records_with_a_schema_ids_file_are_exact() {
    fastavro_feeds_the_processor("fastavro_cf", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_confluent_framing_is_exact() {
    let topics = Topics::unique("loadgen-cf", 4);
    kafka::create(&topics).await;
    let ids = ids_file(&integration_tests::procs::log_dir());
    let ids_arg = ids.display().to_string();
    let args = [
        TRAFFIC,
        &["--wire-format", "confluent", "--schema-ids-file", &ids_arg],
    ]
    .concat();
    let expected = loadgen(&topics, &args);
    // The records really are Confluent-framed.
    let first = kafka::read_all(&topics.notifications);
    let framed = first
        .iter()
        .filter(|r| {
            r.payload.first() == Some(&0) && r.payload.get(1..5) == Some(&102u32.to_be_bytes()[..])
        })
        .count();
    assert!(framed > 0, "no Confluent-framed notification with id 102");
    let (db, client) = fresh_database("loadgen_cf").await;
    let mut spec = ProcessorSpec::new(&topics, &db, &expected);
    spec.extra_env
        .push(("SCHEMA_IDS_FILE".into(), ids_arg.clone()));
    let mut p = spec.start("loadgen-cf");
    wait_caught_up(&client, &topics, &expected, CATCH_UP, &mut [&mut p]).await;
    assert_exact(&client, &expected).await;
    let (rows, distinct) = raw_counts(&client).await;
    assert_eq!(rows, distinct);
    assert_eq!(distinct, expected.counts.distinct_events);
    p.stop();
}
