//! For tests (feature `testing`): a database of its own on the real
//! ClickHouse server (CLICKHOUSE_URL,
//! default http://127.0.0.1:8123) for each test.
//!
//! An unreachable server fails the test with a message saying how to start
//! it; it is never skipped. `drop()` at the end of a test removes the
//! database; a test that fails before that leaves it for inspection.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{migrate, ClickHouseConfig, CompressionChoice};

#[derive(Debug)]
pub struct TestDatabase {
    pub cfg: ClickHouseConfig,
}

fn url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "test_{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

impl TestDatabase {
    /// A unique database name on a server that answers; the database itself
    /// is not created (the migrations create it).
    pub async fn new(prefix: &str) -> Self {
        let cfg = ClickHouseConfig {
            url: url(),
            user: "default".into(),
            password: String::new(),
            database: unique_name(prefix),
            compression: CompressionChoice::Auto,
        };
        let ping = cfg
            .server_client()
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await;
        if let Err(e) = ping {
            panic!(
                "ClickHouse at {} is not reachable ({e}). Start the local stack with \
                 `make up`, or point CLICKHOUSE_URL at a running server.",
                cfg.url
            );
        }
        TestDatabase { cfg }
    }

    /// A fresh database with every migration applied.
    pub async fn migrated(prefix: &str) -> Self {
        let db = Self::new(prefix).await;
        migrate(&db.cfg)
            .await
            .unwrap_or_else(|e| panic!("migrating {}: {e}", db.cfg.database));
        db
    }

    /// A client bound to this database.
    pub fn client(&self) -> clickhouse::Client {
        self.cfg.client()
    }

    pub async fn drop(self) {
        self.cfg
            .server_client()
            .query(&format!("DROP DATABASE IF EXISTS `{}`", self.cfg.database))
            .execute()
            .await
            .unwrap_or_else(|e| panic!("dropping {}: {e}", self.cfg.database));
    }
}
