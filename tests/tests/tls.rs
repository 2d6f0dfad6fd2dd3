//! The binaries over TLS against the local stack (ClickHouse's https port
//! and PostgreSQL with ssl = on, certificates of the local CA,
//! `deploy/local/tls.sh`): the processor migrates over HTTPS, the query API
//! reads ClickHouse over HTTPS and its metadata database with
//! `sslmode=verify-full`; a CA file that cannot be read stops either at
//! start with a message naming the setting.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::api::{keys, QueryApi};
use integration_tests::procs::log_dir;
use integration_tests::{bin, fresh_database};
use metadata::testing::{local_ca_file, TestDatabase, TestServer};

/// CLICKHOUSE_HTTPS_URL, default the local stack's.
fn https_url() -> String {
    std::env::var("CLICKHOUSE_HTTPS_URL").unwrap_or_else(|_| "https://127.0.0.1:8443".into())
}

/// The local CA's file, which must be there.
fn ca_file() -> String {
    let ca = local_ca_file();
    assert!(
        ca.is_file(),
        "the local CA certificate {} is missing: start the local stack with `make up`",
        ca.display()
    );
    ca.display().to_string()
}

/// Run a binary that must stop by itself within 30 s: (success, output).
fn run_to_end(command: &mut Command) -> (bool, String) {
    let out = log_dir().join(integration_tests::unique("tls-run"));
    let file = std::fs::File::create(&out).expect("create the output file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone the output file"))
        .stderr(file)
        .spawn()
        .expect("start the binary");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the binary") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after 30 s: {}",
                std::fs::read_to_string(&out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(out);
    (status.success(), text)
}

#[tokio::test]
async fn the_binaries_reach_both_stores_over_tls() {
    let (db, _client) = fresh_database("e2e_tls").await;
    let ca = ca_file();
    let (ok, out) = run_to_end(
        Command::new(bin("processor"))
            .arg("migrate")
            .env("CLICKHOUSE_URL", https_url())
            .env("CLICKHOUSE_CA_FILE", &ca)
            .env("CLICKHOUSE_DATABASE", &db),
    );
    assert!(ok && out.contains("applied 0001_"), "{out}");

    let pg = TestDatabase::on("e2e_tls", &TestServer::from_env().verify_full_url()).await;
    let tenant = "acme".to_string();
    let keys = keys([&tenant]);
    let api = QueryApi::start_with(
        &https_url(),
        &db,
        "",
        vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("CLICKHOUSE_CA_FILE".into(), ca),
            ("DATABASE_URL".into(), pg.cfg.database_url.clone()),
        ],
        // /readyz: ClickHouse answered, over HTTPS.
        true,
    )
    .await;
    // Campaigns come from ClickHouse, dashboards from PostgreSQL.
    let campaigns: serde_json::Value = api.get_json("/v1/campaigns", &keys.tenants[&tenant]).await;
    assert_eq!(campaigns["campaigns"], serde_json::json!([]), "{campaigns}");
    let list: serde_json::Value = api.get_json("/v1/dashboards", &keys.tenants[&tenant]).await;
    assert_eq!(list["dashboards"], serde_json::json!([]));
    let (connections, encrypted) = pg.encrypted_connections().await;
    assert!(connections >= 1);
    assert_eq!(
        encrypted, connections,
        "the query API's connections are encrypted"
    );
    drop(api);
    pg.drop().await;
}

#[test]
fn a_ca_file_that_cannot_be_read_stops_the_binaries_at_start() {
    let (ok, out) = run_to_end(
        Command::new(bin("processor"))
            .arg("migrate")
            .env("CLICKHOUSE_URL", https_url())
            .env("CLICKHOUSE_CA_FILE", "/nonexistent/ca.pem"),
    );
    assert!(!ok);
    assert!(
        out.contains("CLICKHOUSE_CA_FILE: cannot read /nonexistent/ca.pem"),
        "{out}"
    );

    let tenant = "acme".to_string();
    let keys = keys([&tenant]);
    let serve = |env: &[(&str, &str)]| {
        run_to_end(
            Command::new(bin("query-api"))
                .arg("serve")
                .env("LISTEN_ADDR", "127.0.0.1:0")
                .env("API_KEYS_FILE", &keys.path)
                .env("CLICKHOUSE_URL", https_url())
                .env_remove("DATABASE_URL")
                .env_remove("KAFKA_BROKERS")
                .envs(env.iter().copied()),
        )
    };
    let (ok, out) = serve(&[("CLICKHOUSE_CA_FILE", "/nonexistent/ca.pem")]);
    assert!(!ok);
    assert!(
        out.contains("CLICKHOUSE_CA_FILE: cannot read /nonexistent/ca.pem"),
        "{out}"
    );
    let ca = ca_file();
    let (ok, out) = serve(&[
        ("CLICKHOUSE_CA_FILE", &ca),
        (
            "DATABASE_URL",
            "postgres://campaign@localhost:5433/campaign_analytics\
             ?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        ),
    ]);
    assert!(!ok);
    assert!(
        out.contains("DATABASE_URL: sslrootcert /nonexistent/ca.pem cannot be read"),
        "{out}"
    );
}
