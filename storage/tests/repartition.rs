//! `REPARTITION TABLE` (migration 0007) against the real ClickHouse
//! server: the snapshot tables of a database of the release before get a
//! partition key by month of version, keep every row, keep being written
//! through their fenced views, and a rebuild that died half-way resumes.

use schemas::migrations::MIGRATIONS;
use storage::migrate::{migrate, migrate_client};
use storage::repartition::{self, Repartition};
use storage::testing::TestDatabase;

const EPOCH_1: u64 = 1 << 41;
/// 2026-10-15 and 2026-11-15 (UTC), in milliseconds.
const OCT: u64 = 1_792_022_400_000;
const NOV: u64 = 1_794_700_800_000;

/// A database with the migrations of the release before retention.
async fn before_retention(prefix: &str) -> TestDatabase {
    let db = TestDatabase::new(prefix).await;
    db.server_client()
        .query(&format!("CREATE DATABASE `{}`", db.cfg.database))
        .execute()
        .await
        .unwrap();
    migrate_client(&db.client(), &MIGRATIONS[..6])
        .await
        .unwrap();
    db
}

async fn header(db: &TestDatabase, table: &str, campaign: &str, clock: u64) {
    db.client()
        .query(&format!(
            "INSERT INTO {table} (partition, tenant_id, campaign_id, version, evicted, state_json) \
             VALUES (0, 't', ?, ?, 0, '{{}}')"
        ))
        .bind(campaign)
        .bind(EPOCH_1 + clock)
        .execute()
        .await
        .unwrap();
}

async fn rows(db: &TestDatabase) -> Vec<(String, String)> {
    db.client()
        .query("SELECT campaign_id, _partition_id FROM campaign_state ORDER BY campaign_id")
        .fetch_all()
        .await
        .unwrap()
}

async fn names(db: &TestDatabase) -> Vec<String> {
    db.client()
        .query("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%rebuil%'")
        .fetch_all()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_rebuild_keeps_every_row_and_the_views_follow_it() {
    let db = before_retention("repart_keep").await;
    header(&db, "campaign_state", "c-oct", OCT).await;
    header(&db, "campaign_state", "c-nov", NOV).await;
    migrate(&db.cfg).await.unwrap();
    assert_eq!(
        rows(&db).await,
        vec![
            ("c-nov".to_string(), "202611".to_string()),
            ("c-oct".to_string(), "202610".to_string()),
        ]
    );
    // Through the fenced view, which still writes into `campaign_state`.
    db.client()
        .query("INSERT INTO partition_epochs (partition, epoch, owner) VALUES (0, 1, 'test')")
        .execute()
        .await
        .unwrap();
    header(&db, "campaign_state_incoming", "c-new", NOV + 1).await;
    assert_eq!(rows(&db).await.len(), 3);
    assert!(names(&db).await.is_empty(), "no leftovers");
    db.drop().await;
}

#[tokio::test]
async fn a_rebuild_that_died_between_the_renames_resumes() {
    let db = before_retention("repart_resume").await;
    header(&db, "campaign_state", "c-oct", OCT).await;
    let statement = MIGRATIONS[6]
        .statements()
        .into_iter()
        .find(|s| s.contains("REPARTITION TABLE campaign_state"))
        .unwrap();
    let r = Repartition::parse(&statement).unwrap();
    // What the first steps did before the process died.
    let client = db.client();
    for sql in [
        format!(
            "CREATE TABLE campaign_state__rebuilt AS campaign_state {}",
            r.engine_clause
        ),
        "INSERT INTO campaign_state__rebuilt SELECT * FROM campaign_state".to_string(),
        "RENAME TABLE campaign_state TO campaign_state__before_rebuild".to_string(),
    ] {
        client.query(&sql).execute().await.unwrap();
    }
    assert!(repartition::run(&client, &r).await.unwrap());
    assert_eq!(
        rows(&db).await,
        vec![("c-oct".to_string(), "202610".to_string())]
    );
    assert!(names(&db).await.is_empty(), "no leftovers");
    // Done: running it again changes nothing.
    assert!(!repartition::run(&client, &r).await.unwrap());
    migrate(&db.cfg).await.unwrap();
    assert_eq!(rows(&db).await.len(), 1);
    db.drop().await;
}
