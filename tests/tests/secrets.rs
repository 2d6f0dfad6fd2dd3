//! Secrets from files (`NAME_FILE`, runtime::secrets) in the real binaries:
//! the query API reaches the metadata database through `DATABASE_URL_FILE`
//! alone; both `NAME` and `NAME_FILE`, or a file that is missing, stop a
//! binary at start with a message that names the setting.

use std::process::Command;

use integration_tests::api::{keys, QueryApi};
use integration_tests::procs::log_dir;
use integration_tests::{bin, clickhouse_url, fresh_database, unique};
use metadata::testing::TestDatabase;

#[tokio::test]
async fn the_metadata_database_url_can_come_from_a_file() {
    let (db, _client) = fresh_database("e2e_secrets").await;
    let pg = TestDatabase::new("e2e_secrets").await;
    let file = log_dir().join(unique("database-url"));
    std::fs::write(&file, format!("{}\n", pg.cfg.database_url)).expect("write the secret file");
    let tenant = "acme".to_string();
    let keys = keys([&tenant]);
    let api = QueryApi::start_with(
        &clickhouse_url(),
        &db,
        "",
        vec![
            ("API_KEYS_FILE".into(), keys.path.display().to_string()),
            ("DATABASE_URL".into(), String::new()),
            ("DATABASE_URL_FILE".into(), file.display().to_string()),
        ],
        // Alive is enough: the scratch ClickHouse database has no tables
        // (dashboards are listed from PostgreSQL).
        false,
    )
    .await;
    // Dashboards need the metadata database: without it they answer 503.
    let list: serde_json::Value = api.get_json("/v1/dashboards", &keys.tenants[&tenant]).await;
    assert_eq!(list["dashboards"], serde_json::json!([]));
    drop(api);
    pg.drop().await;
    let _ = std::fs::remove_file(file);
}

#[test]
fn both_or_a_missing_file_stop_the_binaries_at_start() {
    let file = log_dir().join(unique("secret"));
    std::fs::write(&file, "postgres://nobody@127.0.0.1:1/none").expect("write the secret file");
    let run = |binary: &str, env: &[(&str, &str)]| {
        let out = Command::new(bin(binary))
            .arg("--help")
            .envs(env.iter().copied())
            .output()
            .expect("run the binary");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let path = file.display().to_string();
    let (ok, err) = run(
        "query-api",
        &[
            ("DATABASE_URL", "postgres://x"),
            ("DATABASE_URL_FILE", &path),
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("DATABASE_URL and DATABASE_URL_FILE are both set"),
        "{err}"
    );
    let (ok, err) = run(
        "processor",
        &[("CLICKHOUSE_PASSWORD_FILE", "/nonexistent/secret")],
    );
    assert!(!ok);
    assert!(
        err.contains("CLICKHOUSE_PASSWORD_FILE: cannot read /nonexistent/secret"),
        "{err}"
    );
    // The file alone is fine, and --help never prints a secret's value.
    let (ok, err) = run(
        "query-api",
        &[("DATABASE_URL", ""), ("DATABASE_URL_FILE", &path)],
    );
    assert!(ok, "{err}");
    let help = Command::new(bin("query-api"))
        .args(["serve", "--help"])
        .env("DATABASE_URL_FILE", &path)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run the binary");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("DATABASE_URL"), "{text}");
    assert!(!text.contains("nobody@"), "a secret in --help: {text}");
    let _ = std::fs::remove_file(file);
}

/// Every secret setting of both binaries, with a marker value of its own.
const MARKED: [(&str, &str); 7] = [
    ("CLICKHOUSE_PASSWORD", "marker-ch-pw-1"),
    ("SCHEMA_REGISTRY_PASSWORD", "marker-registry-pw-2"),
    ("SMTP_URL", "smtp://mailer:marker-smtp-pw-3@127.0.0.1:1"),
    (
        "REPORT_LINK_SECRET",
        "marker-link-secret-4-0123456789abcdef",
    ),
    ("KAFKA_PROPERTY_SASL_PASSWORD", "marker-kafka-pw-5"),
    ("KAFKA_PROPERTY_SSL_KEY_PASSWORD", "marker-kafka-key-pw-6"),
    ("KAFKA_PROPERTY_SASL_USERNAME", "analytics"),
];

fn leaked(text: &str) -> Vec<&'static str> {
    [
        "marker-ch-pw-1",
        "marker-registry-pw-2",
        "marker-smtp-pw-3",
        "marker-link-secret-4",
        "marker-kafka-pw-5",
        "marker-kafka-key-pw-6",
        "marker-db-pw-7",
    ]
    .into_iter()
    .filter(|m| text.contains(m))
    .collect()
}

#[tokio::test]
async fn secrets_never_reach_help_logs_or_metrics() {
    let pg = TestDatabase::new("e2e_secret_leaks").await;
    // The metadata URL with a password the server ignores (trust on
    // loopback) but that must not be shown.
    let database_url = pg
        .cfg
        .database_url
        .replacen("campaign@", "campaign:marker-db-pw-7@", 1);
    assert!(database_url.contains("marker-db-pw-7"), "{database_url}");
    let mut env: Vec<(String, String)> = MARKED
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push(("DATABASE_URL".into(), database_url));

    for (binary, sub) in [("processor", "run"), ("query-api", "serve")] {
        let out = Command::new(bin(binary))
            .args([sub, "--help"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run the binary");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{binary} {sub} --help: {text}");
        assert_eq!(
            leaked(&text),
            Vec::<&str>::new(),
            "{binary} {sub} --help:\n{text}"
        );
    }

    // A query API running with them all (Kafka brokers that do not answer:
    // it warns and serves), its log and /metrics after a few requests.
    let (db, _client) = fresh_database("e2e_secret_leaks").await;
    let tenant = "acme".to_string();
    let keys = keys([&tenant]);
    let mut api_env = env.clone();
    api_env.push(("API_KEYS_FILE".into(), keys.path.display().to_string()));
    api_env.push((
        "KAFKA_BROKERS".into(),
        format!("127.0.0.1:{}", integration_tests::server::free_port()),
    ));
    api_env.push(("CLICKHOUSE_PASSWORD".into(), String::new()));
    let api = QueryApi::start_with(&clickhouse_url(), &db, "", api_env, false).await;
    let _ = api
        .get_as("/v1/dashboards", Some(&keys.tenants[&tenant]), None)
        .await;
    let _ = api.get_as("/v1/me", Some("a-wrong-key"), None).await;
    let metrics = api.get_as("/metrics", None, None).await.text();
    assert!(metrics.contains("query_api_requests_total"), "{metrics}");
    assert_eq!(leaked(&metrics), Vec::<&str>::new(), "/metrics:\n{metrics}");
    let log = std::fs::read_to_string(&api.log).expect("the API's log");
    assert!(log.contains("Kafka client properties"), "{log}");
    assert_eq!(leaked(&log), Vec::<&str>::new(), "the API's log:\n{log}");
    drop(api);
    pg.drop().await;
}
