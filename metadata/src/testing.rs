//! For tests (feature `testing`): a database of its own on the real
//! PostgreSQL server (DATABASE_URL, default the local stack's) for each
//! test, migrated.
//!
//! An unreachable server fails the test with a message saying how to start
//! it; it is never skipped. `drop()` at the end of a test removes the
//! database; a test that fails before that leaves it for inspection.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Metadata, MetadataConfig};

/// The local stack's server.
const DEFAULT_URL: &str = "postgres://campaign@127.0.0.1:5433/campaign_analytics";

/// A scratch database and a pool on it.
#[derive(Debug)]
pub struct TestDatabase {
    pub cfg: MetadataConfig,
    pub metadata: Metadata,
    name: String,
    server: tokio_postgres::Config,
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

async fn admin(server: &tokio_postgres::Config, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = server.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(sql).await;
    drop(client);
    let _ = driver.await;
    result
}

impl TestDatabase {
    /// A new, migrated database on the server of DATABASE_URL.
    pub async fn new(prefix: &str) -> Self {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into());
        let mut server: tokio_postgres::Config = url.parse().expect("DATABASE_URL parses");
        server.dbname("postgres");
        let name = unique_name(prefix);
        if let Err(e) = admin(&server, &format!("CREATE DATABASE \"{name}\"")).await {
            panic!(
                "PostgreSQL of {url} is not reachable ({e}). Start the local stack with \
                 `make up`, or point DATABASE_URL at a running server."
            );
        }
        let cfg = MetadataConfig {
            database_url: url_with_db(&url, &name),
            pool_size: 4,
        };
        let metadata = Metadata::connect(&cfg)
            .await
            .expect("connect to the test database");
        metadata.migrate().await.expect("migrations apply");
        TestDatabase {
            cfg,
            metadata,
            name,
            server,
        }
    }

    /// Remove the database.
    pub async fn drop(self) {
        let TestDatabase {
            metadata,
            name,
            server,
            ..
        } = self;
        drop(metadata);
        let _ = admin(
            &server,
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        )
        .await;
    }
}

/// `url` with its database replaced by `name` (query string kept).
fn url_with_db(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| scheme_end + i);
    let host = path_start.map_or(base, |i| &base[..i]);
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_replaced_in_url() {
        assert_eq!(
            super::url_with_db("postgres://u@h:1/db?sslmode=disable", "t"),
            "postgres://u@h:1/t?sslmode=disable"
        );
        assert_eq!(
            super::url_with_db("postgres://u@h:1", "t"),
            "postgres://u@h:1/t"
        );
    }
}
