//! Shared helpers of the end-to-end tests: where the local stack is, unique
//! names per test, the real binaries as child processes, and reading back
//! what landed in ClickHouse and on the dead-letter topic.
//!
//! The stack is the one `make up` / `make test` starts: the broker at
//! `KAFKA_BROKERS` (default 127.0.0.1:9092), ClickHouse at `CLICKHOUSE_URL`
//! (default http://127.0.0.1:8123). A test that cannot reach them fails and
//! says so; it never skips.

pub mod api;
pub mod browser;
pub mod compare;
pub mod ingest;
pub mod kafka;
pub mod procs;
pub mod secure_broker;
pub mod server;
pub mod sinks;

use std::path::PathBuf;

pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn clickhouse_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// A name no other test run uses: `prefix-<pid>-<nanos>`.
pub use benches::e2e::env::unique;

/// A workspace binary (`processor`, `loadgen`, `query-api`), built by
/// `cargo test --workspace` next to the test executables.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --workspace --bins; make test does)",
        path.display()
    );
    path
}

/// A client of a database of its own (created empty; the processor
/// migrates it on start).
pub async fn fresh_database(prefix: &str) -> (String, clickhouse::Client) {
    fresh_database_at(&clickhouse_url(), prefix).await
}

/// [`fresh_database`] on the server at `url`.
pub async fn fresh_database_at(url: &str, prefix: &str) -> (String, clickhouse::Client) {
    let db = unique(prefix).replace('-', "_");
    let root = clickhouse::Client::default()
        .with_url(url)
        .with_validation(false);
    root.query(&format!("CREATE DATABASE {db}"))
        .execute()
        .await
        .unwrap_or_else(|e| {
            panic!("ClickHouse at {url} is not reachable ({e}); start the stack with `make up`")
        });
    let client = root.with_database(&db);
    (db, client)
}
