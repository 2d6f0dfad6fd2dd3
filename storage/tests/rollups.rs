//! A tenant's rollups rebuilt in another calendar, against the real
//! ClickHouse server: rows in the old calendar and rows counted twice are
//! differences; deleting and inserting from `events_raw` leaves none; the
//! other tenants' rows stay.

use std::time::Duration;

use storage::rollups::{Period, TenantRollups};
use storage::testing::TestDatabase;

const BERLIN: &str = "Europe/Berlin";
const LOS_ANGELES: &str = "America/Los_Angeles";

/// (tenant, campaign, user, event id, kind, status, occurred at UTC)
const EVENTS: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    // 03:00 UTC: the 15th in Berlin, the 14th in Los Angeles.
    (
        "t",
        "c",
        "u1",
        "n1",
        "notification",
        "",
        "2026-09-15 03:00:00",
    ),
    (
        "t",
        "c",
        "u1",
        "i1",
        "interaction",
        "",
        "2026-09-15 03:00:00",
    ),
    (
        "t",
        "c",
        "",
        "l1",
        "lifecycle",
        "RUNNING",
        "2026-09-15 03:00:00",
    ),
    // 12:00 UTC: the 15th in both.
    (
        "t",
        "c",
        "u2",
        "n2",
        "notification",
        "",
        "2026-09-15 12:00:00",
    ),
    (
        "t",
        "c",
        "u2",
        "i2",
        "interaction",
        "",
        "2026-09-15 12:00:00",
    ),
    (
        "other",
        "c",
        "u1",
        "o1",
        "interaction",
        "",
        "2026-09-15 03:00:00",
    ),
];

async fn insert_raw(client: &clickhouse::Client) {
    for (tenant, campaign, user, id, kind, status, at) in EVENTS {
        client
            .query(
                "INSERT INTO events_raw (tenant_id, campaign_id, job_id, user_id, event_id, \
                   event_kind, first_message, status, occurred_at, occurred_at_ms, local_date) \
                 SELECT ?, ?, 'j', ?, ?, ?, 1, ?, toDateTime(?, 'UTC') AS t, \
                   toInt64(t) * 1000, toDate(t, ?)",
            )
            .bind(tenant)
            .bind(campaign)
            .bind(user)
            .bind(id)
            .bind(kind)
            .bind(status)
            .bind(at)
            .bind(BERLIN)
            .execute()
            .await
            .expect("insert a raw event");
    }
}

fn rollups<'a>(
    client: &'a clickhouse::Client,
    tenant: &'a str,
    zone: &'a str,
) -> TenantRollups<'a> {
    TenantRollups {
        client,
        tenant,
        zone,
        from: None,
    }
}

#[tokio::test]
async fn a_rebuild_moves_one_tenant_to_another_calendar_and_the_comparison_sees_every_difference() {
    let db = TestDatabase::migrated("rollups_rebuild").await;
    let client = db.client();
    insert_raw(&client).await;
    // What the views wrote: the rows in the Berlin calendar.
    rollups(&client, "t", BERLIN)
        .insert(None)
        .await
        .expect("insert");
    rollups(&client, "other", BERLIN)
        .insert(None)
        .await
        .expect("insert");
    let old = rollups(&client, "t", BERLIN)
        .compare()
        .await
        .expect("compare");
    assert!(old.differences.is_empty() && old.status_differences.is_empty());
    assert_eq!((old.rows, old.status_changes), (3, 1));

    // In Los Angeles the early events fall on the 14th (a Monday: the week
    // and the month are the same): two day rows and the status change's
    // day differ.
    let moved = rollups(&client, "t", LOS_ANGELES);
    let c = moved.compare().await.expect("compare");
    let periods: Vec<Period> = c.differences.iter().map(|d| d.period).collect();
    assert_eq!(periods, vec![Period::Day, Period::Day], "{c:?}");
    assert_eq!(c.status_differences.len(), 2, "{c:?}");
    assert_eq!(
        moved.first_days().await.expect("first days").0,
        Some(20_711)
    );

    let cutoffs = moved.delete(Duration::from_secs(60)).await.expect("delete");
    moved.insert(Some(&cutoffs)).await.expect("insert");
    let c = moved.compare().await.expect("compare");
    assert!(
        c.differences.is_empty() && c.status_differences.is_empty(),
        "{c:?}"
    );
    assert_eq!((c.rows, c.status_changes), (4, 1));

    // A raw row inserted once a deletion began is not taken again (its view
    // rows stayed): here it has none, so its day differs.
    let cutoffs = moved.delete(Duration::from_secs(60)).await.expect("delete");
    client
        .query(
            "INSERT INTO events_raw (tenant_id, campaign_id, user_id, event_id, event_kind, \
               occurred_at, occurred_at_ms, local_date) \
             VALUES ('t', 'c', 'u9', 'late', 'interaction', toDateTime('2026-09-20 12:00:00', 'UTC'), \
               1789905600000, toDate('2026-09-20'))",
        )
        .execute()
        .await
        .expect("a raw row after the deletion");
    moved.insert(Some(&cutoffs)).await.expect("insert");
    let c = moved.compare().await.expect("compare");
    let keys: Vec<(Period, u16)> = c.differences.iter().map(|d| (d.period, d.key.0)).collect();
    assert_eq!(
        keys,
        [
            (Period::Day, 20_716),
            (Period::Week, 20_710),
            (Period::Month, 20_697)
        ],
        "{c:?}"
    );
    assert!(c
        .differences
        .iter()
        .all(|d| d.got.interactions + 1 == d.want.interactions));
    moved.delete(Duration::from_secs(60)).await.expect("delete");
    moved.insert(None).await.expect("insert");
    let c = moved.compare().await.expect("compare");
    assert!(c.equal(), "{c:?}");
    assert_eq!((c.rows, c.status_changes), (5, 1));

    // Inserted twice (a view's rows that survived the deletion): the users
    // are unions, the interactions a sum: a difference.
    moved.insert(None).await.expect("insert");
    let c = moved.compare().await.expect("compare");
    assert!(!c.differences.is_empty());
    assert!(c
        .differences
        .iter()
        .all(|d| d.got.interactions == 2 * d.want.interactions
            && d.got.sent_users == d.want.sent_users));
    assert_eq!(c.status_differences.len(), 1, "the status change twice");
    moved.delete(Duration::from_secs(60)).await.expect("delete");
    moved.insert(None).await.expect("insert");
    let c = moved.compare().await.expect("compare");
    assert!(c.differences.is_empty() && c.status_differences.is_empty());

    // The other tenant's rows are as they were.
    let other = rollups(&client, "other", BERLIN)
        .compare()
        .await
        .expect("compare");
    assert!(other.differences.is_empty() && other.status_differences.is_empty());
    assert_eq!(other.rows, 3);
    db.drop().await;
}
