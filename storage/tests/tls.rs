//! ClickHouse over HTTPS against the real server: the local stack's https
//! port (CLICKHOUSE_HTTPS_URL, default https://127.0.0.1:8443), whose
//! certificate the local CA signed (LOCAL_CA_FILE, default
//! `.local/tls/ca.pem`; `deploy/local/tls.sh`). Never skipped: a stack
//! without them fails the tests with how to start it.

use std::path::PathBuf;

use schemas::migrations::MIGRATIONS;
use storage::migrate::{migrate, MigrateError};
use storage::testing::{https_url, local_ca_file, TestDatabase};
use storage::ClickHouseConfig;

/// An error and its causes, one after the other (clickhouse's network
/// error says "client error (Connect)"; the TLS reason is a cause).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The local CA's file, which must be there.
fn ca_file() -> PathBuf {
    let ca = local_ca_file();
    assert!(
        ca.is_file(),
        "the local CA certificate {} is missing: start the local stack with `make up` \
         (deploy/local/tls.sh makes it), or set LOCAL_CA_FILE",
        ca.display()
    );
    ca
}

/// A scratch database name (dropped at the end), reached over HTTPS.
async fn over_https(prefix: &str, ca_file: Option<PathBuf>) -> (TestDatabase, ClickHouseConfig) {
    let db = TestDatabase::new(prefix).await;
    let mut cfg = db.cfg.clone();
    cfg.url = https_url();
    cfg.ca_file = ca_file;
    (db, cfg)
}

#[tokio::test]
async fn https_with_the_ca_file_runs_queries_and_migrations() {
    let (db, cfg) = over_https("tls_ok", Some(ca_file())).await;
    let client = cfg.server_client().expect("the CA file is read");
    let one = client.query("SELECT 1").fetch_one::<u8>().await;
    let one = one.unwrap_or_else(|e| {
        panic!(
            "SELECT 1 at {} trusting {}: {}. Start the local stack with `make up` \
             (a stack started before HTTPS was added: `make down && make up`)",
            cfg.url,
            local_ca_file().display(),
            chain(&e)
        )
    });
    assert_eq!(one, 1);

    // The migrations, and reading their versions back, over HTTPS.
    let report = migrate(&cfg).await.unwrap();
    assert_eq!(report.applied.len(), MIGRATIONS.len());
    let versions: Vec<u32> = cfg
        .client()
        .unwrap()
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        versions,
        MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    db.drop().await;
}

#[tokio::test]
async fn https_by_host_name_is_verified_too() {
    let (db, mut cfg) = over_https("tls_name", Some(ca_file())).await;
    // The certificate names localhost as well as 127.0.0.1.
    cfg.url = cfg.url.replace("://127.0.0.1:", "://localhost:");
    let one = cfg
        .server_client()
        .unwrap()
        .query("SELECT 1")
        .fetch_one::<u8>()
        .await;
    assert_eq!(one.map_err(|e| chain(&e)).unwrap(), 1, "{}", cfg.url);
    db.drop().await;
}

#[tokio::test]
async fn without_the_ca_file_the_certificate_is_refused() {
    let (db, cfg) = over_https("tls_untrusted", None).await;
    // The system's CA certificates do not include the local CA.
    match cfg.server_client() {
        Ok(client) => {
            let err = client
                .query("SELECT 1")
                .fetch_one::<u8>()
                .await
                .expect_err("a certificate of an unknown CA is refused");
            let text = chain(&err);
            assert!(
                text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
                "{text}"
            );
        }
        // A machine without system CA certificates: refused before any request.
        Err(e) => assert!(e.to_string().contains("system's CA certificates"), "{e}"),
    }
    db.drop().await;
}

#[tokio::test]
async fn a_bad_ca_file_is_a_named_error_at_start() {
    let (db, mut cfg) = over_https("tls_bad_ca", None).await;
    cfg.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
    let err = migrate(&cfg)
        .await
        .expect_err("a missing CA file is refused");
    assert!(matches!(err, MigrateError::Config(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "CLICKHOUSE_CA_FILE: cannot read /nonexistent/ca.pem: No such file or directory (os error 2)"
    );

    // A file that is not PEM (this crate's Cargo.toml).
    cfg.ca_file = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    let err = cfg
        .client()
        .expect_err("a file without certificates is refused");
    assert!(
        err.to_string().starts_with("CLICKHOUSE_CA_FILE: ")
            && err
                .to_string()
                .contains("is not a PEM file of CA certificates"),
        "{err}"
    );
    db.drop().await;
}
