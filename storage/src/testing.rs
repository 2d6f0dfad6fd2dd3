//! For tests (feature `testing`): a database of its own on the real
//! ClickHouse server (CLICKHOUSE_URL,
//! default http://127.0.0.1:8123, and CLICKHOUSE_CA_FILE for an https://
//! URL) for each test.
//!
//! An unreachable server fails the test with a message saying how to start
//! it; it is never skipped. `drop()` at the end of a test removes the
//! database; a test that fails before that leaves it for inspection.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{migrate, ClickHouseConfig, CompressionChoice};

/// The local stack's CA certificate (`deploy/local/tls.sh`): LOCAL_CA_FILE,
/// default `.local/tls/ca.pem` of this checkout.
pub fn local_ca_file() -> std::path::PathBuf {
    std::env::var_os("LOCAL_CA_FILE")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/tls/ca.pem"),
            std::path::PathBuf::from,
        )
}

/// The local stack's HTTPS URL: CLICKHOUSE_HTTPS_URL, default
/// https://127.0.0.1:8443.
pub fn https_url() -> String {
    std::env::var("CLICKHOUSE_HTTPS_URL").unwrap_or_else(|_| "https://127.0.0.1:8443".into())
}

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
            ca_file: std::env::var_os("CLICKHOUSE_CA_FILE").map(Into::into),
        };
        let client = cfg
            .server_client()
            .unwrap_or_else(|e| panic!("ClickHouse settings of the tests: {e}"));
        let ping = client.query("SELECT 1").fetch_one::<u8>().await;
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
        self.server_client().with_database(&self.cfg.database)
    }

    /// A client of the server, not bound to a database.
    pub fn server_client(&self) -> clickhouse::Client {
        // `new` built one with the same settings.
        self.cfg
            .server_client()
            .unwrap_or_else(|e| panic!("ClickHouse settings of the tests: {e}"))
    }

    pub async fn drop(self) {
        self.server_client()
            .query(&format!("DROP DATABASE IF EXISTS `{}`", self.cfg.database))
            .execute()
            .await
            .unwrap_or_else(|e| panic!("dropping {}: {e}", self.cfg.database));
    }
}
