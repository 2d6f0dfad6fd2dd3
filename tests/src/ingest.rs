//! HTTP ingestion for the end-to-end tests: loadgen's traffic as JSON
//! events, and the query API with ingestion on, with test-style failures.
//! The pieces are the ingest benchmark's ([`benches::e2e::ingest`]).

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub use benches::e2e::ingest::{batches, Batch, JsonEvent, Poster, ProducerKeys};
use benches::loadgen::expected_json::ExpectedFile;
use query_api::model::IngestResult;

use crate::kafka::Topics;
use crate::procs::{log_dir, read_expected};

/// Run `loadgen --dry-run` with `args` (give `--poison 0`: poison records
/// have no JSON form) for `topics` (the expected figures count records per
/// topic name), writing its expected figures and its records as JSON events
/// (`--emit-json`); returns both.
pub fn loadgen_json(topics: &Topics, args: &[&str]) -> (ExpectedFile, Vec<JsonEvent>) {
    let expected = log_dir().join(format!("{}.json", crate::unique("expected")));
    let events: PathBuf = log_dir().join(format!("{}.jsonl", crate::unique("events")));
    let status = Command::new(crate::bin("loadgen"))
        .args(args)
        .arg("--dry-run")
        .arg("--expected")
        .arg(&expected)
        .arg("--emit-json")
        .arg(&events)
        .args(["--topic-lifecycle", &topics.lifecycle])
        .args(["--topic-notifications", &topics.notifications])
        .args(["--topic-interactions", &topics.interactions])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run loadgen");
    assert!(
        status.success(),
        "loadgen --dry-run --emit-json failed: {status}"
    );
    let json = benches::e2e::ingest::read_json_events(&events)
        .unwrap_or_else(|e| panic!("{}: {e:#}", events.display()));
    (read_expected(&expected), json)
}

/// Producer keys for these tenants (a keys file in the log directory).
pub fn producer_keys<'a>(tenants: impl IntoIterator<Item = &'a String>) -> ProducerKeys {
    ProducerKeys::write(&log_dir(), tenants).expect("write the producer keys file")
}

/// The environment of a query API that takes events for `topics` on the
/// test broker, one record per produce batch (tansu's memory storage).
pub fn api_env(topics: &Topics, keys: &ProducerKeys) -> Vec<(String, String)> {
    benches::e2e::ingest::ingest_env(&crate::brokers(), topics, &keys.path, 1)
}

/// POST `body` to `path` with `key`; it must be answered 202.
pub async fn post(poster: &Poster, path: &str, key: &str, body: String) -> IngestResult {
    poster
        .ingest(path, key, body.into())
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e:#}"))
}
