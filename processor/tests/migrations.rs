//! Migrations against the real ClickHouse server (CLICKHOUSE_URL): applied
//! in order once, idempotent, and refused when an applied file was edited or
//! the database is newer than the binary.

use processor::clickhouse::migrate::{migrate, migrate_client, MigrateError};
use processor::clickhouse::ClickHouseConfig;
use schemas::migrations::MIGRATIONS;

fn config(name: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        user: "default".into(),
        password: String::new(),
        database: format!(
            "test_mig_{name}_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        ),
    }
}

async fn tables(cfg: &ClickHouseConfig) -> Vec<String> {
    cfg.server_client()
        .query("SELECT name FROM system.tables WHERE database = ? ORDER BY name")
        .bind(&cfg.database)
        .fetch_all()
        .await
        .unwrap()
}

#[tokio::test]
async fn applies_every_migration_once_in_order() {
    let cfg = config("fresh");
    let report = migrate(&cfg)
        .await
        .unwrap_or_else(|e| panic!("{e} (is ClickHouse up? make up)"));
    let all: Vec<&str> = MIGRATIONS.iter().map(|m| m.file_name).collect();
    assert_eq!(report.applied, all);
    let t = tables(&cfg).await;
    for name in [
        "events_raw",
        "rollup_campaign_weekly",
        "campaign_reports",
        "journeys",
        "checkpoints",
        "schema_migrations",
    ] {
        assert!(t.iter().any(|x| x == name), "{name} missing: {t:?}");
    }
    let again = migrate(&cfg).await.unwrap();
    assert!(again.applied.is_empty(), "re-running applies nothing");
    assert_eq!(again.already, MIGRATIONS.len());
    let recorded: Vec<u32> = cfg
        .client()
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(recorded, (1..=MIGRATIONS.len() as u32).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused() {
    let cfg = config("edited");
    migrate(&cfg).await.unwrap();
    cfg.client()
        .query("ALTER TABLE schema_migrations DELETE WHERE version = 2")
        .execute()
        .await
        .unwrap();
    // Mutations are asynchronous on 18.16: wait until the row is gone.
    for _ in 0..100 {
        let n: u64 = cfg
            .client()
            .query("SELECT count() FROM schema_migrations WHERE version = 2")
            .fetch_one()
            .await
            .unwrap();
        if n == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    cfg.client()
        .query("INSERT INTO schema_migrations (version, file_name, checksum) VALUES (2, ?, 'not-the-checksum')")
        .bind(MIGRATIONS[1].file_name)
        .execute()
        .await
        .unwrap();
    match migrate(&cfg).await {
        Err(MigrateError::Edited { file, .. }) => assert_eq!(file, MIGRATIONS[1].file_name),
        other => panic!("expected an edited-migration error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused() {
    let cfg = config("newer");
    migrate(&cfg).await.unwrap();
    cfg.client()
        .query("INSERT INTO schema_migrations (version, file_name, checksum) VALUES (999, '0999_future.sql', 'x')")
        .execute()
        .await
        .unwrap();
    let err = migrate(&cfg).await.unwrap_err();
    assert!(
        matches!(err, MigrateError::Unknown { version: 999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("deploy the newer version"));
}

#[tokio::test]
async fn a_crash_mid_migration_is_safe_to_rerun() {
    let cfg = config("crash");
    cfg.server_client()
        .query(&format!("CREATE DATABASE {}", cfg.database))
        .execute()
        .await
        .unwrap();
    // The first statements of migration 2 ran, then the process died before
    // recording it.
    let client = cfg.client();
    migrate_client(&client, &MIGRATIONS[..1]).await.unwrap();
    for stmt in MIGRATIONS[1].statements().iter().take(2) {
        client.query(stmt).execute().await.unwrap();
    }
    let report = migrate(&cfg).await.unwrap();
    assert_eq!(
        report.applied.first().copied(),
        Some(MIGRATIONS[1].file_name)
    );
    assert_eq!(report.already, 1);
}
