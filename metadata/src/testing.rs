//! For tests (feature `testing`): a database of its own on the real
//! PostgreSQL server (DATABASE_URL, default the local stack's; its
//! `sslmode` and `sslrootcert` are used too) for each test, migrated.
//!
//! An unreachable server fails the test with a message saying how to start
//! it; it is never skipped. `drop()` at the end of a test removes the
//! database; a test that fails before that leaves it for inspection.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{tls, Metadata, MetadataConfig, MetadataError};

/// The local stack's server.
pub const DEFAULT_URL: &str = "postgres://campaign@127.0.0.1:5433/campaign_analytics";

/// DATABASE_URL, or the local stack's.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

/// The local stack's CA certificate (`deploy/local/tls.sh`), which signed
/// PostgreSQL's: LOCAL_CA_FILE, default `.local/tls/ca.pem` of this
/// checkout.
pub fn local_ca_file() -> std::path::PathBuf {
    std::env::var_os("LOCAL_CA_FILE")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/tls/ca.pem"),
            std::path::PathBuf::from,
        )
}

/// The server of DATABASE_URL, to build URLs to it with other hosts and
/// parameters (the TLS tests).
#[derive(Debug, Clone)]
pub struct TestServer {
    pub user: String,
    pub password: Option<String>,
    /// DATABASE_URL's host (a name or an IP address).
    pub host: String,
    pub port: u16,
    pub dbname: String,
}

/// Everything but unreserved characters and `/` percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl TestServer {
    /// The server of DATABASE_URL (a URL with a TCP host).
    pub fn from_env() -> Self {
        let url = database_url();
        // Without the query: its sslmode may be one tokio-postgres lacks.
        let base = url.split_once('?').map_or(url.as_str(), |(b, _)| b);
        let pg: tokio_postgres::Config = base.parse().expect("DATABASE_URL parses");
        let host = match pg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => panic!("the TLS tests need a DATABASE_URL with a TCP host"),
        };
        TestServer {
            user: pg.get_user().unwrap_or("postgres").to_owned(),
            password: pg
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            host,
            port: pg.get_ports().first().copied().unwrap_or(5432),
            dbname: pg.get_dbname().unwrap_or("postgres").to_owned(),
        }
    }

    /// A URL of this server's database through `host`, with the query
    /// `params`.
    pub fn url(&self, host: &str, params: &str) -> String {
        let password = self
            .password
            .as_deref()
            .map_or_else(String::new, |p| format!(":{}", encode(p)));
        format!(
            "postgres://{}{password}@{host}:{}/{}?{params}",
            encode(&self.user),
            self.port,
            encode(&self.dbname)
        )
    }

    /// `sslrootcert=<the local CA>`, which must be there.
    pub fn local_ca_param() -> String {
        let ca = local_ca_file();
        assert!(
            ca.is_file(),
            "the local CA certificate {} is missing: start the local stack with `make up` \
             (deploy/local/tls.sh makes it), or set LOCAL_CA_FILE",
            ca.display()
        );
        format!("sslrootcert={}", encode(&ca.to_string_lossy()))
    }

    /// The local stack's server, verified: host `localhost` (its
    /// certificate's name), `sslmode=verify-full` and the local CA.
    pub fn verify_full_url(&self) -> String {
        self.url(
            "localhost",
            &format!("sslmode=verify-full&{}", Self::local_ca_param()),
        )
    }
}

impl Metadata {
    /// Whether a connection of the pool is encrypted (pg_stat_ssl).
    pub async fn session_is_encrypted(&self) -> Result<bool, MetadataError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }
}

/// A scratch database and a pool on it.
pub struct TestDatabase {
    pub cfg: MetadataConfig,
    pub metadata: Metadata,
    name: String,
    server: tokio_postgres::Config,
    tls: tls::Tls,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("metadata", &self.metadata)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
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

async fn admin(
    server: &tokio_postgres::Config,
    tls: &tls::Tls,
    sql: &str,
) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = server.connect(tls.clone()).await?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(sql).await;
    drop(client);
    let _ = driver.await;
    result
}

impl TestDatabase {
    /// A new, migrated database on the server of DATABASE_URL.
    pub async fn new(prefix: &str) -> Self {
        Self::on(prefix, &database_url()).await
    }

    /// A new, migrated database on the server of `url` (connected to with
    /// its settings, TLS included).
    pub async fn on(prefix: &str, url: &str) -> Self {
        let tls::Settings { pg, tls, .. } =
            tls::settings(url).unwrap_or_else(|e| panic!("the tests' DATABASE_URL: {e}"));
        let mut server = pg;
        server.dbname("postgres");
        let name = unique_name(prefix);
        if let Err(e) = admin(&server, &tls, &format!("CREATE DATABASE \"{name}\"")).await {
            panic!(
                "PostgreSQL of {url} is not reachable ({e}). Start the local stack with \
                 `make up`, or point DATABASE_URL at a running server."
            );
        }
        let cfg = MetadataConfig {
            database_url: url_with_db(url, &name),
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
            tls,
        }
    }

    /// The server's connections to this database, and how many of them
    /// are encrypted (pg_stat_activity, pg_stat_ssl).
    pub async fn encrypted_connections(&self) -> (i64, i64) {
        let (client, connection) = self
            .server
            .connect(self.tls.clone())
            .await
            .expect("a connection to the server");
        let driver = tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) \
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
                &[&self.name],
            )
            .await
            .expect("pg_stat_ssl");
        drop(client);
        let _ = driver.await;
        (row.get(0), row.get(1))
    }

    /// Run `sql` on the test database outside the crate's API (to set up
    /// what an older release may have left, or to hold locks).
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = self
            .metadata
            .dedicated()
            .await
            .expect("a connection to the test database");
        tokio::spawn(connection);
        client
    }

    /// Remove the database.
    pub async fn drop(self) {
        let TestDatabase {
            metadata,
            name,
            server,
            tls,
            ..
        } = self;
        drop(metadata);
        let _ = admin(
            &server,
            &tls,
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
