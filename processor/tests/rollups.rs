//! The tenant overview rollups of migration 0002 on the real ClickHouse
//! server (CLICKHOUSE_URL), fed through the processor's own write path:
//! events -> `RawRow` -> RowBinary insert into `events_incoming` (checked
//! against the partition's epoch) -> materialized views. Every expected figure below is worked out by hand from the events
//! in `events()`.
//!
//! What the figures show: a week or month counts a user once per campaign
//! however many of its days the user was active on (a union, not a sum of
//! days); weeks start on Monday; a week that straddles a month boundary
//! splits between the months; days are the tenant's local calendar days
//! (acme is in Europe/Berlin); lifecycle events make a campaign active but no
//! user; two tenants with the same campaign and user ids never mix.

use chrono::DateTime;
use serde::Deserialize;

use processor::clickhouse::convert::{RawRow, RAW_COLUMNS};
use processor::store::RawEvent;
use runtime::tenants::TenantZones;
use schemas::{
    CampaignLifecycle, CampaignStatus, Event, LifecycleKind, NotificationSent, UserInteraction,
};

mod common;
use storage::testing::TestDatabase;

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

/// Milliseconds since the epoch of an RFC 3339 instant.
fn at(instant: &str) -> i64 {
    DateTime::parse_from_rfc3339(instant)
        .unwrap_or_else(|e| panic!("{instant}: {e}"))
        .timestamp_millis()
}

/// Noon UTC of a day: the same calendar day in UTC and in Berlin.
fn noon(day: &str) -> i64 {
    at(&format!("{day}T12:00:00Z"))
}

fn notification(tenant: &str, campaign: &str, id: &str, user: &str, first: bool, t: i64) -> Event {
    Event::Notification(NotificationSent {
        event_id: id.into(),
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: "j1".into(),
        occurred_at: t,
        user_id: user.into(),
        node_id: Some("welcome".into()),
        first_message: first,
        warning_message: !first,
    })
}

fn interaction(tenant: &str, campaign: &str, id: &str, user: &str, t: i64) -> Event {
    Event::Interaction(UserInteraction {
        event_id: id.into(),
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: "j1".into(),
        occurred_at: t,
        user_id: user.into(),
        selected_action: "yes".into(),
        answer_target: "q2".into(),
        answer_title: Some("Yes".into()),
        question: None,
    })
}

fn lifecycle(
    tenant: &str,
    campaign: &str,
    id: &str,
    kind: LifecycleKind,
    status: Option<CampaignStatus>,
    t: i64,
) -> Event {
    Event::Lifecycle(CampaignLifecycle {
        event_id: id.into(),
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: String::new(),
        occurred_at: t,
        kind,
        status,
        audience_size: Some(100),
        script: None,
    })
}

/// November 2026: Monday 23rd to Sunday 29th is one week; the next week,
/// Monday 30th to Sunday 6 December, straddles the month boundary.
#[rustfmt::skip]
fn events() -> Vec<Event> {
    use CampaignStatus::{Completed, Error, New, Running};
    use LifecycleKind::{Created, ScriptUpdated, StatusChanged};
    vec![
        // acme c1
        notification(ACME, "c1", "a-c1-n-u1", "u1", true, noon("2026-11-23")),
        interaction(ACME, "c1", "a-c1-i-u1-1", "u1", noon("2026-11-23")),
        interaction(ACME, "c1", "a-c1-i-u1-2", "u1", noon("2026-11-23") + 60_000),
        interaction(ACME, "c1", "a-c1-i-u1-3", "u1", noon("2026-11-25")),
        notification(ACME, "c1", "a-c1-n-u2", "u2", true, noon("2026-11-25")),
        notification(ACME, "c1", "a-c1-w-u2", "u2", false, noon("2026-11-26")),
        interaction(ACME, "c1", "a-c1-i-u3", "u3", noon("2026-11-29")),
        interaction(ACME, "c1", "a-c1-i-u1-4", "u1", noon("2026-11-30")),
        interaction(ACME, "c1", "a-c1-i-u1-5", "u1", noon("2026-12-01")),
        lifecycle(ACME, "c1", "a-c1-l-run", StatusChanged, Some(Running), noon("2026-11-23")),
        lifecycle(ACME, "c1", "a-c1-l-script", ScriptUpdated, None, noon("2026-11-24")),
        lifecycle(ACME, "c1", "a-c1-l-done", LifecycleKind::Completed, Some(Completed), noon("2026-12-01")),
        // acme c2 (u1 again: counted once per campaign, so in c1 and in c2)
        notification(ACME, "c2", "a-c2-w-u1", "u1", false, noon("2026-11-24")),
        notification(ACME, "c2", "a-c2-n-u4", "u4", true, noon("2026-11-24")),
        interaction(ACME, "c2", "a-c2-i-u4", "u4", noon("2026-11-24")),
        // Sunday 23:30 UTC is Monday 00:30 in Berlin: the week of the 30th.
        interaction(ACME, "c2", "a-c2-i-u5", "u5", at("2026-11-29T23:30:00Z")),
        lifecycle(ACME, "c2", "a-c2-l-err", StatusChanged, Some(Error), noon("2026-11-27")),
        // acme c3: lifecycle only
        lifecycle(ACME, "c3", "a-c3-l-new", Created, Some(New), noon("2026-11-26")),
        // globex c1, same campaign and user ids as acme's
        notification(GLOBEX, "c1", "g-c1-n-u1", "u1", true, noon("2026-11-25")),
        interaction(GLOBEX, "c1", "g-c1-i-u1", "u1", noon("2026-11-25")),
        interaction(GLOBEX, "c1", "g-c1-i-u9", "u9", noon("2026-11-25")),
        lifecycle(GLOBEX, "c1", "g-c1-l-run", StatusChanged, Some(Running), noon("2026-11-25")),
    ]
}

fn rows(events: &[Event]) -> Vec<RawRow> {
    let zones = TenantZones::parse("UTC", &["acme=Europe/Berlin".into()]).unwrap();
    events
        .iter()
        .enumerate()
        .map(|(offset, event)| {
            RawRow::from(&RawEvent {
                local_date: zones.local_date(event.tenant_id(), event.occurred_at()),
                topic: "t".into(),
                partition: 0,
                offset: offset as i64,
                event: event.clone(),
            })
        })
        .map(|row| RawRow { epoch: 1, ..row })
        .collect()
}

/// Partition 0's owner is epoch `epoch` from now on.
async fn claim(client: &clickhouse::Client, epoch: u64) {
    client
        .query("INSERT INTO partition_epochs (partition, epoch, owner) VALUES (0, ?, 'test')")
        .bind(epoch)
        .execute()
        .await
        .unwrap();
}

/// The processor's write path: into `events_incoming`, from where the
/// server moves rows of the partition's current epoch on.
async fn insert(client: &clickhouse::Client, rows: &[RawRow]) {
    let mut insert = client.insert::<RawRow>("events_incoming").await.unwrap();
    for row in rows {
        insert.write(row).await.unwrap();
    }
    insert.end().await.unwrap();
}

/// A fresh migrated database holding `events()`, inserted in three batches
/// so that the rollups hold several partial states per key.
async fn loaded(prefix: &str) -> (TestDatabase, Vec<RawRow>) {
    let db = TestDatabase::migrated(prefix).await;
    claim(&db.client(), 1).await;
    let rows = rows(&events());
    for batch in rows.chunks(8) {
        insert(&db.client(), batch).await;
    }
    (db, rows)
}

/// One tenant's period, summed over its campaigns:
/// (period_start, campaigns, active users, sent users, interacted users, interactions).
type Period = (String, u64, u64, u64, u64, u64);

#[derive(Debug, clickhouse::Row, Deserialize)]
struct PeriodRow {
    period: String,
    campaigns: u64,
    active: u64,
    sent: u64,
    interacted: u64,
    interactions: u64,
}

/// Per campaign: (campaign, active, sent, interacted, interactions).
type CampaignPeriod = (String, u64, u64, u64, u64);

#[derive(Debug, clickhouse::Row, Deserialize)]
struct CampaignRow {
    campaign_id: String,
    active: u64,
    sent: u64,
    interacted: u64,
    interactions: u64,
}

const PER_CAMPAIGN: &str = "SELECT tenant_id, period_start, campaign_id, \
        uniqExactMerge(active_users) AS active, uniqExactMerge(sent_users) AS sent, \
        uniqExactMerge(interacted_users) AS interacted, sumMerge(interactions) AS interactions \
    FROM {table} WHERE tenant_id = ? \
    GROUP BY tenant_id, period_start, campaign_id";

/// The tenant's periods of `table`, the way the overview reads them: merged
/// per campaign, then summed over campaigns.
async fn periods(client: &clickhouse::Client, table: &str, tenant: &str) -> Vec<Period> {
    let inner = PER_CAMPAIGN.replace("{table}", table);
    let rows: Vec<PeriodRow> = client
        .query(&format!(
            "SELECT toString(period_start) AS period, count() AS campaigns, \
                    sum(active) AS active, sum(sent) AS sent, sum(interacted) AS interacted, \
                    sum(interactions) AS interactions \
             FROM ({inner}) GROUP BY period_start ORDER BY period_start"
        ))
        .bind(tenant)
        .fetch_all()
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.period,
                r.campaigns,
                r.active,
                r.sent,
                r.interacted,
                r.interactions,
            )
        })
        .collect()
}

async fn campaigns(
    client: &clickhouse::Client,
    table: &str,
    tenant: &str,
    start: &str,
) -> Vec<CampaignPeriod> {
    let inner = PER_CAMPAIGN.replace("{table}", table);
    let rows: Vec<CampaignRow> = client
        .query(&format!(
            "SELECT campaign_id, active, sent, interacted, interactions FROM ({inner}) \
             WHERE period_start = toDate(?) ORDER BY campaign_id"
        ))
        .bind(tenant)
        .bind(start)
        .fetch_all()
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.campaign_id,
                r.active,
                r.sent,
                r.interacted,
                r.interactions,
            )
        })
        .collect()
}

fn p(start: &str, figures: (u64, u64, u64, u64, u64)) -> Period {
    let (campaigns, active, sent, interacted, interactions) = figures;
    (
        start.into(),
        campaigns,
        active,
        sent,
        interacted,
        interactions,
    )
}

fn c(campaign: &str, figures: (u64, u64, u64, u64)) -> CampaignPeriod {
    let (active, sent, interacted, interactions) = figures;
    (campaign.into(), active, sent, interacted, interactions)
}

async fn assert_acme_and_globex(client: &clickhouse::Client) {
    // Per day (campaigns, active, sent, interacted, interactions).
    assert_eq!(
        periods(client, "rollup_campaign_daily", ACME).await,
        vec![
            p("2026-11-23", (1, 1, 1, 1, 2)),
            p("2026-11-24", (2, 2, 1, 1, 1)), // c1 script update only; c2 u1, u4
            p("2026-11-25", (1, 2, 1, 1, 1)),
            p("2026-11-26", (2, 1, 0, 0, 0)), // c1 reminder to u2; c3 created
            p("2026-11-27", (1, 0, 0, 0, 0)), // c2 error status only
            p("2026-11-29", (1, 1, 0, 1, 1)),
            p("2026-11-30", (2, 2, 0, 2, 2)), // c1 u1; c2 u5 (Berlin date)
            p("2026-12-01", (1, 1, 0, 1, 1)),
        ]
    );
    // The days of the week of the 23rd sum to 7 active users; the week has 5:
    // c1 {u1, u2, u3} + c2 {u1, u4}.
    assert_eq!(
        periods(client, "rollup_campaign_weekly", ACME).await,
        vec![
            p("2026-11-23", (3, 5, 3, 3, 5)),
            p("2026-11-30", (2, 2, 0, 2, 3)), // u1 on two days of c1: once
        ]
    );
    assert_eq!(
        campaigns(client, "rollup_campaign_weekly", ACME, "2026-11-23").await,
        vec![
            c("c1", (3, 2, 2, 4)),
            c("c2", (2, 1, 1, 1)),
            c("c3", (0, 0, 0, 0)),
        ]
    );
    // The week of the 30th splits: its Monday in November, its Tuesday in
    // December.
    assert_eq!(
        periods(client, "rollup_campaign_monthly", ACME).await,
        vec![
            p("2026-11-01", (3, 6, 3, 4, 7)),
            p("2026-12-01", (1, 1, 0, 1, 1)),
        ]
    );
    assert_eq!(
        campaigns(client, "rollup_campaign_monthly", ACME, "2026-11-01").await,
        vec![
            c("c1", (3, 2, 2, 5)),
            c("c2", (3, 1, 2, 2)),
            c("c3", (0, 0, 0, 0)),
        ]
    );
    // globex has its own c1 and u1 and nothing of acme's.
    for (table, start) in [
        ("rollup_campaign_daily", "2026-11-25"),
        ("rollup_campaign_weekly", "2026-11-23"),
        ("rollup_campaign_monthly", "2026-11-01"),
    ] {
        assert_eq!(
            periods(client, table, GLOBEX).await,
            vec![p(start, (1, 2, 1, 2, 2))],
            "{table}"
        );
    }
}

#[tokio::test]
async fn rollups_count_distinct_users_per_campaign_and_period() {
    let (db, _) = loaded("rollups").await;
    let client = db.client();
    assert_acme_and_globex(&client).await;
    // Merging the parts changes nothing.
    for table in [
        "rollup_campaign_daily",
        "rollup_campaign_weekly",
        "rollup_campaign_monthly",
    ] {
        client
            .query(&format!("OPTIMIZE TABLE {table} FINAL"))
            .execute()
            .await
            .unwrap();
    }
    assert_acme_and_globex(&client).await;
    db.drop().await;
}

#[derive(Debug, PartialEq, clickhouse::Row, Deserialize)]
struct StatusChange {
    tenant_id: String,
    campaign_id: String,
    status: String,
    occurred_at_ms: i64,
    day: String,
    event_id: String,
}

#[tokio::test]
async fn status_changes_hold_the_announced_statuses_only() {
    let (db, _) = loaded("status").await;
    let changes: Vec<StatusChange> = db
        .client()
        .query(
            "SELECT tenant_id, campaign_id, status, occurred_at_ms, \
                    toString(local_date) AS day, event_id \
             FROM campaign_status_changes ORDER BY tenant_id, campaign_id, occurred_at_ms",
        )
        .fetch_all()
        .await
        .unwrap();
    let change = |tenant: &str, campaign: &str, status: &str, day: &str, id: &str| StatusChange {
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        status: status.into(),
        occurred_at_ms: noon(day),
        day: day.into(),
        event_id: id.into(),
    };
    // Not the script update (no status), not notifications or interactions.
    assert_eq!(
        changes,
        vec![
            change(ACME, "c1", "RUNNING", "2026-11-23", "a-c1-l-run"),
            change(ACME, "c1", "COMPLETED", "2026-12-01", "a-c1-l-done"),
            change(ACME, "c2", "ERROR", "2026-11-27", "a-c2-l-err"),
            change(ACME, "c3", "NEW", "2026-11-26", "a-c3-l-new"),
            change(GLOBEX, "c1", "RUNNING", "2026-11-25", "g-c1-l-run"),
        ]
    );
    db.drop().await;
}

#[tokio::test]
async fn raw_rows_read_back_exactly_as_inserted() {
    let (db, inserted) = loaded("raw").await;
    let mut read: Vec<RawRow> = db
        .client()
        .query(&format!("SELECT {RAW_COLUMNS} FROM events_raw"))
        .fetch_all()
        .await
        .unwrap();
    read.sort_by_key(|r| r.kafka_offset);
    assert_eq!(read, inserted);
    // Column by column on the server: the enum, the dates and the nullable.
    let (kind, occurred, local): (String, String, String) = db
        .client()
        .query(
            "SELECT toString(event_kind), toString(occurred_at), toString(local_date) \
             FROM events_raw WHERE event_id = 'a-c2-i-u5'",
        )
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        (kind.as_str(), occurred.as_str(), local.as_str()),
        ("interaction", "2026-11-29 23:30:00", "2026-11-30")
    );
    let audience: Option<i64> = db
        .client()
        .query("SELECT audience_size FROM events_raw WHERE event_id = 'a-c1-l-run'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(audience, Some(100));
    for row in read {
        let event = processor::clickhouse::convert::raw_event(row.clone()).map(|r| r.event);
        let expected = events().into_iter().find(|e| e.event_id() == row.event_id);
        assert_eq!(event, expected, "{}", row.event_id);
    }
    db.drop().await;
}

#[tokio::test]
async fn rows_of_an_earlier_owner_reach_neither_events_raw_nor_the_rollups() {
    // Partition 0 is claimed by a new owner (epoch 2); a late insert of the
    // old one (epoch 1, a zombie resuming) is dropped by the server, from
    // the table and from every view; the new owner's rows go through.
    let (db, inserted) = loaded("fenced").await;
    let client = db.client();
    let counts = |c: clickhouse::Client| async move {
        c.query(
            "SELECT (SELECT count() FROM events_raw), \
                    (SELECT sumMerge(interactions) FROM rollup_campaign_daily), \
                    (SELECT count() FROM campaign_status_changes)",
        )
        .fetch_one::<(u64, u64, u64)>()
        .await
        .unwrap()
    };
    let before = counts(client.clone()).await;
    assert_eq!(before.0 as usize, inserted.len());
    claim(&client, 2).await;
    let again: Vec<RawRow> = rows(&events())
        .into_iter()
        .map(|r| RawRow {
            event_id: format!("zombie-{}", r.event_id),
            ..r
        })
        .collect();
    insert(&client, &again).await;
    assert_eq!(
        counts(client.clone()).await,
        before,
        "the zombie's rows are dropped"
    );
    let owner: Vec<RawRow> = again
        .into_iter()
        .map(|r| RawRow { epoch: 2, ..r })
        .collect();
    insert(&client, &owner).await;
    let after = counts(client.clone()).await;
    assert_eq!(after.0, 2 * before.0, "the owner's rows are taken");
    assert_eq!((after.1, after.2), (2 * before.1, 2 * before.2));
    db.drop().await;
}
