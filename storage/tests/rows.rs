//! The row types against the real ClickHouse server (CLICKHOUSE_URL): what
//! the processor writes is what a restore reads back.

use storage::rows::{UserStateRead, UserStateRow, USER_STATE_READ_COLUMNS};
use storage::testing::TestDatabase;

/// A user row as the processor writes it: non-ASCII strings, three steps,
/// keys whose byte order shows.
fn written() -> UserStateRow {
    let key = |first: u8| std::array::from_fn(|i| first.wrapping_add(i as u8));
    UserStateRow {
        tenant_id: "tenant-ü".into(),
        campaign_id: "c-1".into(),
        job_id: "job-ø".into(),
        user_id: "user-😀".into(),
        partition: 3,
        version: 42,
        step_node_ids: vec!["n1".into(), "n2".into(), "n3".into()],
        step_choices: vec!["yes".into(), "".into(), "nein".into()],
        step_occurred_at_ms: vec![1_000, 2_000, -5],
        step_event_ids: vec!["e1".into(), "e2".into(), "e3".into()],
        total_interactions: 3,
        completed: 1,
        exit_node: "n3".into(),
        completion_seconds: Some(1.5),
        snapshot_at: 1_700_000_000,
        first_message_at_ms: Some(500),
        message_keys: vec![key(0), key(0xf0)],
        warning_keys: vec![],
    }
}

#[tokio::test]
async fn a_user_row_reads_back_as_the_restore_reads_it() {
    let db = TestDatabase::migrated("rows_user_state").await;
    let client = db.client();
    let row = written();
    let mut insert = client.insert::<UserStateRow>("journeys").await.unwrap();
    insert.write(&row).await.unwrap();
    insert.end().await.unwrap();

    let mut cursor = client
        .query(&format!("SELECT {USER_STATE_READ_COLUMNS} FROM journeys"))
        .fetch::<UserStateRead<'_>>()
        .unwrap();
    let read = cursor.next().await.unwrap().expect("one row");
    assert_eq!(read.tenant_id, row.tenant_id);
    assert_eq!(read.campaign_id, row.campaign_id);
    assert_eq!(read.job_id, row.job_id);
    assert_eq!(read.user_id, row.user_id);
    assert_eq!(read.version, row.version);
    assert_eq!(read.step_node_ids, row.step_node_ids);
    assert_eq!(read.step_choices, row.step_choices);
    assert_eq!(read.step_occurred_at_ms, row.step_occurred_at_ms);
    assert_eq!(read.step_event_ids, row.step_event_ids);
    assert_eq!(read.first_message_at_ms, row.first_message_at_ms);
    // FixedString(16) holds the key big-endian.
    assert_eq!(
        read.message_keys,
        vec![
            0x000102030405060708090a0b0c0d0e0f,
            0xf0f1f2f3f4f5f6f7f8f9fafbfcfdfeff
        ]
    );
    assert!(read.warning_keys.is_empty());
    drop(read);
    assert!(cursor.next().await.unwrap().is_none());
    db.drop().await;
}
