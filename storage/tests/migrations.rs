//! Migrations against the real ClickHouse server (CLICKHOUSE_URL): applied
//! in order once, idempotent, safe to rerun after a crash, and refused when
//! an applied file was edited or renamed or the database is newer than the
//! binary. Each test has a database of its own, dropped at the end.

use std::time::Duration;

use schemas::migrations::{Migration, MIGRATIONS};
use storage::migrate::{migrate, migrate_client, MigrateError};

use storage::testing::TestDatabase;

async fn tables(db: &TestDatabase) -> Vec<String> {
    db.server_client()
        .query("SELECT name FROM system.tables WHERE database = ? ORDER BY name")
        .bind(&db.cfg.database)
        .fetch_all()
        .await
        .unwrap()
}

async fn recorded_versions(db: &TestDatabase) -> Vec<u32> {
    db.client()
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .unwrap()
}

/// Delete the rows of `version` from schema_migrations. Mutations are
/// asynchronous on 18.16: wait until the rows are gone.
async fn forget(db: &TestDatabase, version: u32) {
    db.client()
        .query("ALTER TABLE schema_migrations DELETE WHERE version = ?")
        .bind(version)
        .execute()
        .await
        .unwrap();
    for _ in 0..100 {
        let n: u64 = db
            .client()
            .query("SELECT count() FROM schema_migrations WHERE version = ?")
            .bind(version)
            .fetch_one()
            .await
            .unwrap();
        if n == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the rows of migration {version} are still there after 10 s");
}

#[tokio::test]
async fn applies_every_migration_once_in_order() {
    let db = TestDatabase::new("mig_fresh").await;
    let report = migrate(&db.cfg).await.unwrap();
    let all: Vec<&str> = MIGRATIONS.iter().map(|m| m.file_name).collect();
    assert_eq!(report.applied, all);
    assert_eq!(report.already, 0);
    let t = tables(&db).await;
    for name in [
        "events_raw",
        "rollup_campaign_daily",
        "rollup_campaign_weekly",
        "rollup_campaign_monthly",
        "campaign_status_changes",
        "campaign_reports",
        "journeys",
        "checkpoints",
        "schema_migrations",
    ] {
        assert!(t.iter().any(|x| x == name), "{name} missing: {t:?}");
    }
    let checksums: Vec<String> = db
        .client()
        .query("SELECT checksum FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .unwrap();
    let expected: Vec<String> = MIGRATIONS.iter().map(Migration::checksum).collect();
    assert_eq!(checksums, expected);

    let again = migrate(&db.cfg).await.unwrap();
    assert!(again.applied.is_empty(), "re-running applies nothing");
    assert_eq!(again.already, MIGRATIONS.len());
    assert_eq!(
        recorded_versions(&db).await,
        (1..=MIGRATIONS.len() as u32).collect::<Vec<_>>(),
        "each migration is recorded once"
    );
    db.drop().await;
}

#[tokio::test]
async fn a_migration_recorded_twice_by_concurrent_runs_counts_once() {
    let db = TestDatabase::migrated("mig_twice").await;
    db.client()
        .query("INSERT INTO schema_migrations (version, file_name, checksum) VALUES (?, ?, ?)")
        .bind(MIGRATIONS[0].version)
        .bind(MIGRATIONS[0].file_name)
        .bind(MIGRATIONS[0].checksum())
        .execute()
        .await
        .unwrap();
    let report = migrate(&db.cfg).await.unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.already, MIGRATIONS.len());
    db.drop().await;
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused() {
    let db = TestDatabase::migrated("mig_edited").await;
    forget(&db, 2).await;
    db.client()
        .query("INSERT INTO schema_migrations (version, file_name, checksum) VALUES (2, ?, 'not-the-checksum')")
        .bind(MIGRATIONS[1].file_name)
        .execute()
        .await
        .unwrap();
    let err = migrate(&db.cfg).await.unwrap_err();
    match &err {
        MigrateError::Edited {
            file,
            applied,
            current,
        } => {
            assert_eq!(*file, MIGRATIONS[1].file_name);
            assert_eq!(applied, "not-the-checksum");
            assert_eq!(*current, MIGRATIONS[1].checksum());
        }
        other => panic!("expected an edited-migration error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(MIGRATIONS[1].file_name), "{message}");
    assert!(message.contains("add a new numbered one"), "{message}");
    db.drop().await;
}

#[tokio::test]
async fn a_renamed_applied_migration_is_refused() {
    let db = TestDatabase::migrated("mig_renamed").await;
    forget(&db, 1).await;
    db.client()
        .query("INSERT INTO schema_migrations (version, file_name, checksum) VALUES (1, '0001_old_name.sql', ?)")
        .bind(MIGRATIONS[0].checksum())
        .execute()
        .await
        .unwrap();
    let err = migrate(&db.cfg).await.unwrap_err();
    assert!(
        matches!(&err, MigrateError::Renamed { version: 1, applied_file, .. } if applied_file == "0001_old_name.sql"),
        "{err:?}"
    );
    db.drop().await;
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused() {
    let db = TestDatabase::migrated("mig_newer").await;
    db.client()
        .query("INSERT INTO schema_migrations (version, file_name, checksum) VALUES (999, '0999_future.sql', 'x')")
        .execute()
        .await
        .unwrap();
    let err = migrate(&db.cfg).await.unwrap_err();
    assert!(
        matches!(err, MigrateError::Unknown { version: 999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("0999_future.sql"));
    assert!(err.to_string().contains("deploy the newer version"));
    db.drop().await;
}

#[tokio::test]
async fn a_crash_after_some_statements_of_a_file_is_safe_to_rerun() {
    let db = TestDatabase::new("mig_partial").await;
    db.server_client()
        .query(&format!("CREATE DATABASE `{}`", db.cfg.database))
        .execute()
        .await
        .unwrap();
    // The first statements of migration 2 ran, then the process died before
    // recording it.
    let client = db.client();
    migrate_client(&client, &MIGRATIONS[..1]).await.unwrap();
    for stmt in MIGRATIONS[1].statements().iter().take(2) {
        client.query(stmt).execute().await.unwrap();
    }
    let report = migrate(&db.cfg).await.unwrap();
    let rest: Vec<&str> = MIGRATIONS[1..].iter().map(|m| m.file_name).collect();
    assert_eq!(report.applied, rest);
    assert_eq!(report.already, 1);
    assert_eq!(
        recorded_versions(&db).await,
        (1..=MIGRATIONS.len() as u32).collect::<Vec<_>>()
    );
    db.drop().await;
}

#[tokio::test]
async fn a_crash_before_recording_the_last_file_reruns_it() {
    let db = TestDatabase::migrated("mig_unrecorded").await;
    let last = MIGRATIONS[MIGRATIONS.len() - 1];
    // Every statement of the last file ran; its row never landed.
    forget(&db, last.version).await;
    let before = tables(&db).await;
    let report = migrate(&db.cfg).await.unwrap();
    assert_eq!(report.applied, vec![last.file_name]);
    assert_eq!(report.already, MIGRATIONS.len() - 1);
    assert_eq!(tables(&db).await, before, "rerunning created nothing new");
    assert_eq!(
        recorded_versions(&db).await,
        (1..=MIGRATIONS.len() as u32).collect::<Vec<_>>()
    );
    db.drop().await;
}

/// A file whose second statement ClickHouse rejects.
static BROKEN: [Migration; 1] = [Migration {
    version: 1,
    file_name: "0001_broken.sql",
    sql: "CREATE TABLE IF NOT EXISTS fine (x UInt8) ENGINE = Memory;\n\
          SELEC broken FROM nowhere;\n",
}];

static FIXED: [Migration; 1] = [Migration {
    version: 1,
    file_name: "0001_broken.sql",
    sql: "CREATE TABLE IF NOT EXISTS fine (x UInt8) ENGINE = Memory;\n",
}];

#[tokio::test]
async fn a_failing_statement_is_named_and_its_file_not_recorded() {
    let db = TestDatabase::new("mig_failing").await;
    db.server_client()
        .query(&format!("CREATE DATABASE `{}`", db.cfg.database))
        .execute()
        .await
        .unwrap();
    let client = db.client();
    let err = migrate_client(&client, &BROKEN).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, MigrateError::Statement { file: "0001_broken.sql", statement, .. } if statement == "SELEC broken FROM nowhere"),
        "{err:?}"
    );
    assert!(message.contains("Syntax error"), "{message}");
    assert!(recorded_versions(&db).await.is_empty());

    let report = migrate_client(&client, &FIXED).await.unwrap();
    assert_eq!(report.applied, vec!["0001_broken.sql"]);
    db.drop().await;
}
