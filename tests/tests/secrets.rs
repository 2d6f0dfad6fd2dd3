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
