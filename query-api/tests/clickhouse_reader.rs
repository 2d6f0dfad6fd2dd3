//! The ClickHouse reader against the real server (CLICKHOUSE_URL, default
//! http://127.0.0.1:8123), on a fresh database per test with the
//! processor's migrations: every `Reader` method, the visibility rule
//! (per key the greatest version, whichever part holds it), tenant
//! isolation, filters, pagination and the streamed exports through the
//! router. The database is dropped at the end of each test.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::NaiveDate;
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use query_api::app::{router, AppState, Settings};
use query_api::keys::{hash_key, KeyStore};
use query_api::rate_limit::Limit;
use query_api::read::{
    self, CampaignQuery, ClickHouseReader, Granularity, JourneyQuery, Reader, ReportSet,
};
use runtime::tenants::TenantZones;
use serde_json::Value;
use storage::rows::{CheckpointRow, JourneyRow, RawRow, ReportRow};
use storage::testing::TestDatabase;
use storage::{ClickHouseConfig, CompressionChoice};
use tower::ServiceExt;

/// 2026-11-01T10:00:00Z.
const T0_MS: i64 = 1_793_527_200_000;
const T0: u32 = 1_793_527_200;

struct Db {
    db: TestDatabase,
}

impl Db {
    /// A fresh, migrated database; merges of the snapshot tables are
    /// stopped so that superseded rows stay next to the ones that replace
    /// them (as between a snapshot and a merge).
    async fn new() -> Db {
        let db = Db {
            db: TestDatabase::migrated("query_api").await,
        };
        for table in ["campaign_reports", "journeys"] {
            db.client()
                .query(&format!(
                    "SYSTEM STOP MERGES `{}`.{table}",
                    db.db.cfg.database
                ))
                .execute()
                .await
                .unwrap();
        }
        db
    }

    fn client(&self) -> clickhouse::Client {
        self.db.client()
    }

    async fn insert<T>(&self, table: &str, rows: &[T])
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        let mut insert = self.client().insert::<T>(table).await.unwrap();
        for r in rows {
            insert.write(r).await.unwrap();
        }
        insert.end().await.unwrap();
    }

    async fn drop(self) {
        self.db.drop().await;
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    tenant: &str,
    campaign: &str,
    job: &str,
    partition: i32,
    version: u64,
    status: &str,
    sent: u64,
    snapshot_at: u32,
) -> ReportRow {
    ReportRow {
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: job.into(),
        partition,
        version,
        status: status.into(),
        target_users: sent + 1,
        sent_users: sent,
        interacted_users: sent / 2,
        completed_users: sent / 4,
        interaction_rate: 50.0,
        completion_rate: 25.0,
        total_interactions: sent,
        messages_sent: sent + 2,
        warnings_sent: 1,
        avg_completion_seconds: Some(30.25),
        nodes_json: r#"[{"node_id":"end","reached_users":1,"choices":{"yes":1}}]"#.into(),
        funnel_json:
            r#"[{"node_id":"start","users":2,"conversion_from_previous":100.0,"drop_off":0}]"#
                .into(),
        first_event_at_ms: T0_MS + 123,
        last_event_at_ms: T0_MS + 3_600_456,
        snapshot_at,
    }
}

fn journey(
    tenant: &str,
    campaign: &str,
    job: &str,
    user: &str,
    partition: i32,
    version: u64,
    completed: bool,
) -> JourneyRow {
    JourneyRow {
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: job.into(),
        user_id: user.into(),
        partition,
        version,
        step_node_ids: vec!["n1".into(), if completed { "end" } else { "n2" }.into()],
        step_choices: vec!["a".into(), "b".into()],
        step_occurred_at_ms: vec![T0_MS, T0_MS + 1500],
        step_event_ids: vec![format!("{user}-1"), format!("{user}-2")],
        total_interactions: 2,
        completed: u8::from(completed),
        exit_node: if completed {
            "end".into()
        } else {
            String::new()
        },
        completion_seconds: completed.then_some(1.5),
        snapshot_at: T0 + 60,
    }
}

fn raw(tenant: &str, campaign: &str, user: &str, kind: i8, id: &str, status: &str) -> RawRow {
    RawRow {
        tenant_id: tenant.into(),
        campaign_id: campaign.into(),
        job_id: "j1".into(),
        user_id: user.into(),
        event_id: id.into(),
        event_kind: kind,
        node_id: "end".into(),
        choice: if kind == 3 {
            "yes".into()
        } else {
            String::new()
        },
        first_message: u8::from(kind == 2),
        warning_message: 0,
        lifecycle_kind: if kind == 1 {
            "STATUS_CHANGED".into()
        } else {
            String::new()
        },
        status: status.into(),
        audience_size: None,
        script_json: String::new(),
        answer_title: None,
        question: None,
        occurred_at: T0,
        occurred_at_ms: T0_MS,
        // 2026-11-01
        local_date: 20_758,
        kafka_topic: "t".into(),
        kafka_partition: 0,
        kafka_offset: 0,
        epoch: 1,
    }
}

/// Partition 0 is checkpointed at version 10, partition 1 at 3.
///
/// Tenant t1: c01..c05 (odd ones on partition 0, even on 1), each with an
/// all-jobs report and jobs j1, j2; c01 also has an older version 2 (in a
/// later part: superseded) with status COMPLETED and sent 999; c02 has an
/// older version 1 too. Journeys of t1/c01/j1: u01..u07 (odd completed),
/// u01 with older versions that flip `completed`. Tenant t2: its own c01
/// and a journey.
async fn seed(db: &Db) {
    db.insert(
        "checkpoints",
        &[
            CheckpointRow {
                partition: 0,
                version: 5,
                lifecycle_offset: 1,
                notifications_offset: 1,
                interactions_offset: 1,
                state_format: 1,
                retained_from_ms: 0,
                rules_offset: -1,
            },
            CheckpointRow {
                partition: 0,
                version: 10,
                lifecycle_offset: 2,
                notifications_offset: 2,
                interactions_offset: 2,
                state_format: 1,
                retained_from_ms: 0,
                rules_offset: -1,
            },
            CheckpointRow {
                partition: 1,
                version: 3,
                lifecycle_offset: 1,
                notifications_offset: 1,
                interactions_offset: 1,
                state_format: 1,
                retained_from_ms: 0,
                rules_offset: -1,
            },
        ],
    )
    .await;
    let mut reports = Vec::new();
    for i in 1..=5u32 {
        let c = format!("c{i:02}");
        let (partition, version) = if i % 2 == 1 { (0, 10) } else { (1, 3) };
        let status = if i <= 2 { "RUNNING" } else { "COMPLETED" };
        let at = T0 + 3600 * i;
        reports.push(report(
            "t1",
            &c,
            "",
            partition,
            version,
            status,
            u64::from(i) * 10,
            at,
        ));
        for j in ["j1", "j2"] {
            reports.push(report(
                "t1",
                &c,
                j,
                partition,
                version,
                status,
                u64::from(i),
                at,
            ));
        }
    }
    // An older visible version of c01 (superseded by version 10).
    reports.push(report("t1", "c01", "", 0, 5, "NEW", 1, T0));
    // Beyond its partition's checkpoint: durable, so shown (to t2 only).
    reports.push(report("t2", "c09", "", 0, 11, "RUNNING", 1, T0));
    reports.push(report("t2", "c01", "", 0, 10, "ERROR", 777, T0));
    reports.push(report("t2", "c01", "j1", 0, 10, "ERROR", 777, T0));
    db.insert("campaign_reports", &reports).await;
    // Older versions, in a later insert (another part).
    db.insert(
        "campaign_reports",
        &[
            report("t1", "c01", "", 0, 2, "COMPLETED", 999, T0 + 99_999),
            report("t1", "c01", "j1", 0, 2, "COMPLETED", 999, T0 + 99_999),
            report("t1", "c02", "", 1, 1, "ERROR", 999, T0 + 99_999),
        ],
    )
    .await;
    let mut journeys = Vec::new();
    for u in 1..=7 {
        journeys.push(journey(
            "t1",
            "c01",
            "j1",
            &format!("u{u:02}"),
            0,
            10,
            u % 2 == 1,
        ));
    }
    journeys.push(journey("t1", "c01", "j1", "u01", 0, 4, false));
    journeys.push(journey("t1", "c01", "j2", "u01", 0, 10, true));
    journeys.push(journey("t2", "c01", "j1", "u01", 0, 10, false));
    journeys.push(journey("t2", "c01", "j1", "t2-user", 0, 10, true));
    db.insert("journeys", &journeys).await;
    db.insert(
        "journeys",
        &[journey("t1", "c01", "j1", "u01", 0, 2, false)],
    )
    .await;
    // Through the processor's fenced write path (partition 0's owner is
    // epoch 1), which feeds the rollups.
    db.client()
        .query("INSERT INTO partition_epochs (partition, epoch, owner) VALUES (0, 1, 'test')")
        .execute()
        .await
        .unwrap();
    db.insert(
        "events_incoming",
        &[
            raw("t1", "c01", "", 1, "l1", "RUNNING"),
            raw("t1", "c01", "u1", 2, "n1", ""),
            raw("t1", "c01", "u1", 3, "i1", ""),
            raw("t1", "c02", "u2", 2, "n2", ""),
            raw("t2", "c01", "u1", 2, "n3", ""),
        ],
    )
    .await;
}

async fn fixture() -> (Db, ClickHouseReader) {
    let db = Db::new().await;
    seed(&db).await;
    let reader = ClickHouseReader::new(db.client());
    (db, reader)
}

fn ids(rows: &[ReportRow]) -> Vec<&str> {
    rows.iter().map(|r| r.campaign_id.as_str()).collect()
}

fn users(rows: &[JourneyRow]) -> Vec<&str> {
    rows.iter().map(|r| r.user_id.as_str()).collect()
}

async fn campaigns(reader: &ClickHouseReader, q: CampaignQuery) -> Vec<ReportRow> {
    reader
        .campaigns(q)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

async fn journeys(reader: &ClickHouseReader, q: JourneyQuery) -> Vec<JourneyRow> {
    reader
        .journeys(q)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn reports_are_read_as_of_the_checkpoint() {
    let (db, reader) = fixture().await;
    reader.ping().await.unwrap();
    let c01 = reader.report("t1", "c01", None).await.unwrap().unwrap();
    assert_eq!(
        (c01.version, c01.status.as_str(), c01.sent_users),
        (10, "RUNNING", 10)
    );
    let j1 = reader
        .report("t1", "c01", Some("j1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (j1.job_id.as_str(), j1.version, j1.sent_users),
        ("j1", 10, 1)
    );
    let c02 = reader.report("t1", "c02", None).await.unwrap().unwrap();
    assert_eq!((c02.version, c02.status.as_str()), (3, "RUNNING"));
    let c09 = reader.report("t2", "c09", None).await.unwrap().unwrap();
    assert_eq!(c09.version, 11, "beyond the checkpoint, and shown");
    assert!(
        reader.report("t1", "c09", None).await.unwrap().is_none(),
        "another tenant's"
    );
    assert!(reader.report("t1", "nope", None).await.unwrap().is_none());
    assert!(reader
        .report("t1", "c01", Some("nope"))
        .await
        .unwrap()
        .is_none());
    let t2 = reader.report("t2", "c01", None).await.unwrap().unwrap();
    assert_eq!((t2.tenant_id.as_str(), t2.sent_users), ("t2", 777));
    assert!(reader.report("t2", "c02", None).await.unwrap().is_none());
    // Ids with quotes, backslashes and question marks are bound, not spliced.
    assert!(reader
        .report("t1", "c01' OR '1'='1", None)
        .await
        .unwrap()
        .is_none());
    assert!(reader
        .report("t1\\", "?", Some("'"))
        .await
        .unwrap()
        .is_none());

    let jobs = reader.jobs("t1", "c01").await.unwrap();
    let got: Vec<(&str, u64)> = jobs
        .iter()
        .map(|r| (r.job_id.as_str(), r.version))
        .collect();
    assert_eq!(got, [("j1", 10), ("j2", 10)]);
    assert_eq!(reader.jobs("t2", "c01").await.unwrap().len(), 1);
    assert!(reader.jobs("t1", "c09").await.unwrap().is_empty());

    // The bulk read model agrees.
    let all = read::visible_reports(&db.client(), Some("t1"))
        .await
        .unwrap();
    assert_eq!(all.iter().filter(|r| r.job_id.is_empty()).count(), 5);
    assert!(all.iter().all(|r| r.version <= 10 && r.tenant_id == "t1"));
    db.drop().await;
}

#[tokio::test]
async fn a_report_set_is_the_visible_reports_of_its_keys() {
    let (db, reader) = fixture().await;
    let keyed = |r: &ReportRow| (r.campaign_id.clone(), r.job_id.clone(), r.version);
    let visible = read::visible_reports(&db.client(), Some("t1"))
        .await
        .unwrap();
    let set = |all_campaigns: bool, keys: &[(&str, &str)]| ReportSet {
        tenant: "t1".into(),
        all_campaigns,
        keys: keys
            .iter()
            .map(|(c, j)| (c.to_string(), j.to_string()))
            .collect(),
    };

    // Every all-jobs report and one job's, the greatest version of each.
    let got = reader
        .report_set(&set(true, &[("c01", "j1"), ("c01", "nope")]))
        .await
        .unwrap();
    let expected: Vec<_> = visible
        .iter()
        .filter(|r| r.job_id.is_empty() || (r.campaign_id == "c01" && r.job_id == "j1"))
        .map(keyed)
        .collect();
    assert_eq!(got.iter().map(keyed).collect::<Vec<_>>(), expected);
    assert_eq!(expected.len(), 6, "5 campaigns and a job");

    // Keys alone; another tenant's key and spliced SQL find nothing.
    let got = reader
        .report_set(&set(
            false,
            &[("c02", ""), ("c09", ""), ("c01' OR '1'='1", "?")],
        ))
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(keyed).collect::<Vec<_>>(),
        [("c02".to_string(), String::new(), 3)]
    );
    assert!(reader
        .report_set(&set(false, &[]))
        .await
        .unwrap()
        .is_empty());
    db.drop().await;
}

#[tokio::test]
async fn the_campaign_list_filters_and_pages() {
    let (db, reader) = fixture().await;
    let q = |f: fn(&mut CampaignQuery)| {
        let mut q = CampaignQuery {
            tenant: "t1".into(),
            ..CampaignQuery::default()
        };
        f(&mut q);
        q
    };
    let all = campaigns(&reader, q(|_| {})).await;
    assert_eq!(ids(&all), ["c01", "c02", "c03", "c04", "c05"]);
    assert!(all.iter().all(|r| r.job_id.is_empty()));
    assert_eq!(all[0].version, 10);
    let running = campaigns(&reader, q(|q| q.status = Some("RUNNING".into()))).await;
    assert_eq!(ids(&running), ["c01", "c02"]);
    // c01's older version is COMPLETED: it must not match.
    let completed = campaigns(&reader, q(|q| q.status = Some("COMPLETED".into()))).await;
    assert_eq!(ids(&completed), ["c03", "c04", "c05"]);
    let recent = campaigns(&reader, q(|q| q.updated_since = Some(T0 + 3 * 3600))).await;
    assert_eq!(ids(&recent), ["c03", "c04", "c05"]);
    let both = campaigns(
        &reader,
        q(|q| {
            q.updated_since = Some(T0 + 2 * 3600);
            q.status = Some("RUNNING".into());
        }),
    )
    .await;
    assert_eq!(ids(&both), ["c02"]);
    // Keyset pages.
    let mut after: Option<Vec<u8>> = None;
    let mut walked = Vec::new();
    loop {
        let page = campaigns(
            &reader,
            CampaignQuery {
                tenant: "t1".into(),
                after: after.clone(),
                limit: Some(2),
                ..CampaignQuery::default()
            },
        )
        .await;
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        walked.extend(page.iter().map(|r| r.campaign_id.clone()));
        after = page.last().map(|r| r.campaign_id.as_bytes().to_vec());
    }
    assert_eq!(walked, ["c01", "c02", "c03", "c04", "c05"]);
    let t2 = campaigns(
        &reader,
        CampaignQuery {
            tenant: "t2".into(),
            ..CampaignQuery::default()
        },
    )
    .await;
    assert_eq!(
        ids(&t2),
        ["c01", "c09"],
        "c09 beyond its checkpoint is listed"
    );
    assert_eq!(t2[0].sent_users, 777);
    // A cursor that is not UTF-8 still orders bytewise.
    let odd = campaigns(&reader, q(|q| q.after = Some(vec![b'c', b'0', 0xff]))).await;
    assert!(odd.is_empty());
    let odd = campaigns(&reader, q(|q| q.after = Some(vec![b'c', b'0', b'3', 0x00]))).await;
    assert_eq!(ids(&odd), ["c04", "c05"]);
    db.drop().await;
}

#[tokio::test]
async fn journeys_filter_and_page() {
    let (db, reader) = fixture().await;
    let q = |completed: Option<bool>, after: Option<&str>, limit: Option<u64>| JourneyQuery {
        tenant: "t1".into(),
        campaign: "c01".into(),
        job: "j1".into(),
        completed,
        after: after.map(|a| a.as_bytes().to_vec()),
        limit,
    };
    let all = journeys(&reader, q(None, None, None)).await;
    assert_eq!(
        users(&all),
        ["u01", "u02", "u03", "u04", "u05", "u06", "u07"]
    );
    let u01 = &all[0];
    assert_eq!(
        (u01.version, u01.completed),
        (10, 1),
        "the older version in a later part is not read"
    );
    let done = journeys(&reader, q(Some(true), None, None)).await;
    assert_eq!(users(&done), ["u01", "u03", "u05", "u07"]);
    let open = journeys(&reader, q(Some(false), None, None)).await;
    assert_eq!(users(&open), ["u02", "u04", "u06"]);
    // Pages, with and without the filter (the inner limit path).
    for completed in [None, Some(true), Some(false)] {
        let mut after: Option<String> = None;
        let mut walked = Vec::new();
        loop {
            let page = journeys(&reader, q(completed, after.as_deref(), Some(2))).await;
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            walked.extend(page.iter().map(|r| r.user_id.clone()));
            after = page.last().map(|r| r.user_id.clone());
        }
        let want: Vec<&str> = match completed {
            None => users(&all),
            Some(true) => users(&done),
            Some(false) => users(&open),
        };
        assert_eq!(walked, want, "completed={completed:?}");
    }
    let page = journeys(&reader, q(None, Some("u06"), Some(5))).await;
    assert_eq!(users(&page), ["u07"]);
    let t2 = journeys(
        &reader,
        JourneyQuery {
            tenant: "t2".into(),
            campaign: "c01".into(),
            job: "j1".into(),
            ..JourneyQuery::default()
        },
    )
    .await;
    assert_eq!(users(&t2), ["t2-user", "u01"]);
    assert_eq!(t2[1].completed, 0, "t2's own u01");

    let one = reader
        .journey("t1", "c01", "j1", "u03")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.step_event_ids, ["u03-1", "u03-2"]);
    assert_eq!(one.step_occurred_at_ms, [T0_MS, T0_MS + 1500]);
    assert_eq!(one.completion_seconds, Some(1.5));
    let u01 = reader
        .journey("t1", "c01", "j1", "u01")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u01.version, 10);
    assert!(reader
        .journey("t1", "c01", "j1", "t2-user")
        .await
        .unwrap()
        .is_none());
    assert!(reader
        .journey("t2", "c01", "j2", "u01")
        .await
        .unwrap()
        .is_none());
    db.drop().await;
}

#[tokio::test]
async fn the_overview_passes_through() {
    let (db, reader) = fixture().await;
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let got = reader
        .overview("t1", Granularity::Day, d("2026-10-01"), d("2026-11-30"))
        .await
        .unwrap();
    let want = read::overview(
        &db.client(),
        Some("t1"),
        Granularity::Day,
        d("2026-10-01"),
        d("2026-11-30"),
    )
    .await
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got.len(), 1);
    let p = &got[0];
    assert_eq!(p.period_start, d("2026-11-01"));
    assert_eq!(
        (
            p.campaigns,
            p.sent_users,
            p.interacted_users,
            p.interactions
        ),
        (2, 2, 1, 1)
    );
    assert_eq!(p.campaigns_running, 1);
    let week = reader
        .overview("t1", Granularity::Week, d("2026-10-01"), d("2026-11-30"))
        .await
        .unwrap();
    assert_eq!(week[0].period_start, d("2026-10-26"));
    let t2 = reader
        .overview("t2", Granularity::Month, d("2026-11-01"), d("2026-11-01"))
        .await
        .unwrap();
    assert_eq!(
        (t2[0].campaigns, t2[0].sent_users, t2[0].campaigns_running),
        (1, 1, 0)
    );
    // Out of the range ClickHouse dates hold: clamped, no error.
    let far = reader
        .overview("t1", Granularity::Week, d("0001-01-01"), d("9999-12-31"))
        .await
        .unwrap();
    assert_eq!(far.len(), 1);
    assert!(reader
        .overview("t1", Granularity::Day, d("2200-01-01"), d("2200-01-02"))
        .await
        .unwrap()
        .is_empty());
    db.drop().await;
}

/// The router over the ClickHouse reader: JSON, and the streamed CSV and
/// NDJSON exports.
#[tokio::test]
async fn the_api_serves_and_streams_from_clickhouse() {
    let (db, reader) = fixture().await;
    let keys = KeyStore::parse(
        &format!(
            "[[keys]]\ntenant = \"t1\"\nsha256 = \"{}\"\n",
            hash_key("k1")
        ),
        "keys",
    )
    .unwrap();
    let app = router(AppState::new(
        reader,
        keys,
        TenantZones::default(),
        Limit {
            per_second: 1000.0,
            burst: 1000,
        },
        Settings::default(),
    ));
    let get = |uri: &str| {
        let app = app.clone();
        let req = Request::get(uri)
            .header(header::AUTHORIZATION, "Bearer k1")
            .body(Body::empty())
            .unwrap();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let ct = res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_string();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, ct, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let (status, _, body) = get("/v1/campaigns?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["campaigns"][0]["campaign_id"], "c01");
    assert_eq!(v["campaigns"][0]["status"], "RUNNING");
    assert_eq!(v["campaigns"][0]["as_of"], "2026-11-01T11:00:00.000Z");
    assert_eq!(
        v["campaigns"][0]["first_event_at"],
        "2026-11-01T10:00:00.123Z"
    );
    let next = v["next_cursor"].as_str().unwrap().to_string();
    let (_, _, body) = get(&format!("/v1/campaigns?limit=2&cursor={next}")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["campaigns"][0]["campaign_id"], "c03");

    let (status, ct, csv) = get("/v1/campaigns?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(lines[0].starts_with("tenant_id,campaign_id,job_id,status"));
    assert!(
        lines[1].starts_with("t1,c01,,RUNNING,11,10,"),
        "{}",
        lines[1]
    );
    let (_, ct, nd) = get("/v1/campaigns/c01/jobs/j1/journeys?format=ndjson").await;
    assert!(ct.starts_with("application/x-ndjson"));
    let got: Vec<Value> = nd
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 7);
    assert_eq!(got[0]["user_id"], "u01");
    assert_eq!(got[0]["completed"], true);
    assert_eq!(
        got[0]["steps"][1]["occurred_at"],
        "2026-11-01T10:00:01.500Z"
    );
    let (_, _, nd) =
        get("/v1/campaigns/c01/jobs/j1/journeys?format=ndjson&completed=false&limit=2").await;
    assert_eq!(nd.lines().count(), 2);
    let (status, _, body) = get("/v1/campaigns/c01/jobs/j1/journeys/u01").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = get("/v1/campaigns/c09/report").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = get("/v1/overview?from=2026-11-01&to=2026-11-30&format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.lines().count(), 2, "{body}");
    db.drop().await;
}

/// Filtered pages read in rounds of keys: whatever the round size, the
/// pages walked with the cursor are the filtered list, in order, each at
/// most the limit (superseded versions never match).
#[tokio::test]
async fn filtered_pages_in_rounds_walk_the_filtered_list() {
    let (db, reader) = fixture().await;
    let client = db.client();
    let filters: [fn(&mut CampaignQuery); 4] = [
        |q| q.status = Some("RUNNING".into()),
        |q| q.status = Some("COMPLETED".into()),
        |q| q.updated_since = Some(T0 + 3 * 3600),
        |q| {
            q.updated_since = Some(T0 + 2 * 3600);
            q.status = Some("RUNNING".into());
        },
    ];
    for filter in filters {
        let mut base = CampaignQuery {
            tenant: "t1".into(),
            ..CampaignQuery::default()
        };
        filter(&mut base);
        let want: Vec<String> = campaigns(&reader, base.clone())
            .await
            .iter()
            .map(|r| r.campaign_id.clone())
            .collect();
        assert!(!want.is_empty());
        for chunk in [1, 2, 3, read::snapshots::FILTER_CHUNK] {
            for limit in 1..=3 {
                let mut walked = Vec::new();
                let mut after: Option<Vec<u8>> = None;
                loop {
                    let q = CampaignQuery {
                        after: after.clone(),
                        ..base.clone()
                    };
                    let page = read::snapshots::campaigns_page(&client, &q, limit, chunk)
                        .await
                        .unwrap();
                    assert!(page.len() as u64 <= limit);
                    let Some(last) = page.last() else { break };
                    after = Some(last.campaign_id.as_bytes().to_vec());
                    walked.extend(page.iter().map(|r| r.campaign_id.clone()));
                }
                assert_eq!(walked, want, "chunk {chunk}, limit {limit}, {base:?}");
            }
        }
    }
    for completed in [true, false] {
        let base = JourneyQuery {
            tenant: "t1".into(),
            campaign: "c01".into(),
            job: "j1".into(),
            completed: Some(completed),
            ..JourneyQuery::default()
        };
        let want: Vec<String> = journeys(&reader, base.clone())
            .await
            .iter()
            .map(|r| r.user_id.clone())
            .collect();
        assert!(!want.is_empty());
        for chunk in [1, 2, read::snapshots::FILTER_CHUNK] {
            let mut walked = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            loop {
                let q = JourneyQuery {
                    after: after.clone(),
                    ..base.clone()
                };
                let page = read::snapshots::journeys_page(&client, &q, 2, chunk)
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                after = Some(last.user_id.as_bytes().to_vec());
                walked.extend(page.iter().map(|r| r.user_id.clone()));
            }
            assert_eq!(walked, want, "chunk {chunk}, completed {completed}");
        }
    }
    db.drop().await;
}

/// Statuses announced before the asked range count as of each period: the
/// overview reads one latest change per campaign before the range, then
/// the changes in it.
#[tokio::test]
async fn the_overview_counts_statuses_announced_before_its_range() {
    let db = Db::new().await;
    db.client()
        .query("INSERT INTO partition_epochs (partition, epoch, owner) VALUES (0, 1, 'test')")
        .execute()
        .await
        .unwrap();
    let day = |n: u16, row: RawRow| RawRow {
        local_date: n,
        occurred_at: T0 + u32::from(n) * 60,
        occurred_at_ms: T0_MS + i64::from(n) * 60_000,
        ..row
    };
    // 2026-10-01 is day 20 727, 2026-11-10 day 20 767.
    db.insert(
        "events_incoming",
        &[
            day(20_727, raw("t3", "x", "", 1, "x-run", "RUNNING")),
            day(20_731, raw("t3", "x", "", 1, "x-done", "COMPLETED")),
            day(20_727, raw("t3", "y", "", 1, "y-run", "RUNNING")),
            day(20_767, raw("t3", "x", "u1", 2, "x-n1", "")),
            day(20_767, raw("t3", "y", "u2", 2, "y-n1", "")),
            day(20_768, raw("t3", "y", "", 1, "y-err", "ERROR")),
            day(20_769, raw("t3", "y", "u3", 2, "y-n2", "")),
        ],
    )
    .await;
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let got = read::overview(
        &db.client(),
        Some("t3"),
        Granularity::Day,
        d("2026-11-01"),
        d("2026-11-30"),
    )
    .await
    .unwrap();
    let counts: Vec<(NaiveDate, u64, u64, u64)> = got
        .iter()
        .map(|p| {
            (
                p.period_start,
                p.campaigns_running,
                p.campaigns_completed,
                p.campaigns_error,
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            (d("2026-11-10"), 1, 1, 0),
            // y's ERROR (a lifecycle event is activity of its day).
            (d("2026-11-11"), 0, 1, 1),
            (d("2026-11-12"), 0, 1, 1),
        ]
    );
    db.drop().await;
}

/// A server that does not answer: every read fails, and the API says 503.
#[tokio::test]
async fn an_unreachable_server_fails_reads() {
    let cfg = ClickHouseConfig {
        url: "http://127.0.0.1:9".into(),
        user: "default".into(),
        password: String::new(),
        database: "nowhere".into(),
        compression: CompressionChoice::Auto,
        ca_file: None,
    };
    let reader = ClickHouseReader::new(cfg.client().unwrap());
    assert!(reader.ping().await.is_err());
    assert!(reader.report("t", "c", None).await.is_err());
    let keys = KeyStore::parse(
        &format!(
            "[[keys]]\ntenant = \"t1\"\nsha256 = \"{}\"\n",
            hash_key("k1")
        ),
        "keys",
    )
    .unwrap();
    let app = router(AppState::new(
        reader,
        keys,
        TenantZones::default(),
        Limit {
            per_second: 1000.0,
            burst: 1000,
        },
        Settings::default(),
    ));
    for uri in [
        "/v1/campaigns",
        "/v1/campaigns?format=csv",
        "/v1/campaigns/c/report",
        "/readyz",
    ] {
        let req = Request::get(uri)
            .header(header::AUTHORIZATION, "Bearer k1")
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{uri}");
    }
}
