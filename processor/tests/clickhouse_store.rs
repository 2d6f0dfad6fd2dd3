//! The engine over the real ClickHouse server: what it writes reads back
//! exactly, a crash loses nothing and inserts no raw event twice, and a
//! retried write after a partial failure does not duplicate raw events.
//! Needs the server the Makefile starts (CLICKHOUSE_URL).

use std::collections::BTreeSet;
use std::sync::Arc;

use processor::clickhouse::snapshot_rows::{JourneyRow, ReportRow};
use processor::clickhouse::ClickHouseStore;
use processor::engine::Engine;
use processor::kafka::source::SourceControl;
use processor::store::{Snapshot, Store};
use schemas::Codec;

mod common;
use common::{distinct_events, records, reference, test_engine, traffic, Collect};

fn url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// A fresh, migrated database of its own.
async fn database(name: &str) -> clickhouse::Client {
    let db = format!(
        "test_store_{name}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let root = clickhouse::Client::default()
        .with_url(url())
        .with_validation(false);
    root.query(&format!("CREATE DATABASE {db}"))
        .execute()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "ClickHouse at {} is not reachable ({e}); run `make up`",
                url()
            )
        });
    let client = root.with_database(&db);
    for m in schemas::migrations::MIGRATIONS {
        for stmt in m.statements() {
            client.query(&stmt).execute().await.unwrap();
        }
    }
    client
}

fn engine(rt: &tokio::runtime::Runtime, store: Arc<ClickHouseStore>) -> Engine<ClickHouseStore> {
    test_engine(
        rt,
        store,
        1_000_000,
        None,
        Arc::new(Collect::default()),
        Arc::new(SourceControl::default()),
    )
}

/// Visible rows: per key the greatest version at most the checkpoint's.
async fn read_back(client: &clickhouse::Client) -> (Vec<ReportRow>, Vec<JourneyRow>, u64) {
    let reports: Vec<ReportRow> = client
        .query(
            "SELECT ?fields FROM campaign_reports AS r \
             WHERE (r.tenant_id, r.campaign_id, r.job_id, r.version) IN ( \
               SELECT tenant_id, campaign_id, job_id, max(version) FROM campaign_reports \
               WHERE version <= (SELECT max(version) FROM checkpoints WHERE partition = 0) \
               GROUP BY tenant_id, campaign_id, job_id) \
             ORDER BY tenant_id, campaign_id, job_id",
        )
        .fetch_all()
        .await
        .unwrap();
    let journeys: Vec<JourneyRow> = client
        .query(
            "SELECT ?fields FROM journeys AS j \
             WHERE (j.tenant_id, j.campaign_id, j.job_id, j.user_id, j.version) IN ( \
               SELECT tenant_id, campaign_id, job_id, user_id, max(version) FROM journeys \
               WHERE version <= (SELECT max(version) FROM checkpoints WHERE partition = 0) \
               GROUP BY tenant_id, campaign_id, job_id, user_id) \
             ORDER BY tenant_id, campaign_id, job_id, user_id",
        )
        .fetch_all()
        .await
        .unwrap();
    let raw: u64 = client
        .query("SELECT count() FROM events_raw")
        .fetch_one()
        .await
        .unwrap();
    (reports, journeys, raw)
}

fn assert_matches(
    (reports, journeys, raw): &(Vec<ReportRow>, Vec<JourneyRow>, u64),
    traffic: &[(usize, schemas::Event)],
) {
    let mut expected = reference(traffic).all();
    expected
        .reports
        .sort_by(|a, b| (&a.campaign_id, &a.job_id).cmp(&(&b.campaign_id, &b.job_id)));
    expected.journeys.sort_by(|a, b| {
        (&a.campaign_id, &a.job_id, &a.user_id).cmp(&(&b.campaign_id, &b.job_id, &b.user_id))
    });
    let got: Vec<_> = reports.iter().map(ReportRow::to_report).collect();
    assert_eq!(got, expected.reports);
    let got: Vec<_> = journeys.iter().map(JourneyRow::to_journey).collect();
    assert_eq!(got, expected.journeys);
    assert_eq!(
        *raw as usize,
        distinct_events(traffic),
        "one raw row per event"
    );
}

#[test]
fn snapshots_read_back_exactly_and_a_crash_is_recovered() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(database("crash"));
    let store = Arc::new(ClickHouseStore::new(client.clone()));
    let codec = Codec::new().unwrap();
    let traffic = traffic(40);
    let recs = records(&codec, &traffic);

    let mut first = engine(&rt, store.clone());
    first.assign(&BTreeSet::from([0]));
    for (i, r) in recs.iter().take(90).cloned().enumerate() {
        first.on_record(r);
        if i % 25 == 0 {
            first.flush();
        }
    }
    drop(first); // crash: no final snapshot

    let mut second = engine(&rt, store.clone());
    let offsets = second.assign(&BTreeSet::from([0]))[&0];
    for r in recs.iter().cloned() {
        if r.offset >= offsets[r.topic].unwrap_or(0) {
            second.on_record(r);
        }
    }
    second.flush();
    assert_matches(&rt.block_on(read_back(&client)), &traffic);
}

/// The raw events of `traffic` as one snapshot, built by an engine over a
/// scratch store.
fn raw_snapshot(rt: &tokio::runtime::Runtime, traffic: &[(usize, schemas::Event)]) -> Snapshot {
    let codec = Codec::new().unwrap();
    let scratch = Arc::new(processor::store::MemoryStore::default());
    let mut e = test_engine(
        rt,
        scratch.clone(),
        1_000_000,
        None,
        Arc::new(Collect::default()),
        Arc::new(SourceControl::default()),
    );
    e.assign(&BTreeSet::from([0]));
    for r in records(&codec, traffic) {
        e.on_record(r);
    }
    e.flush();
    Snapshot {
        raw: scratch.with(|s| s.raw.clone()),
        ..Snapshot::default()
    }
}

#[test]
fn a_retried_write_does_not_insert_raw_events_twice() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(database("retry"));
    let store = ClickHouseStore::new(client.clone());
    let traffic = traffic(5);
    let snapshot = raw_snapshot(&rt, &traffic);
    assert_eq!(snapshot.raw.len(), distinct_events(&traffic));
    // Half of the raw rows land, then the connection drops.
    let half = Snapshot {
        raw: snapshot.raw[..snapshot.raw.len() / 2].to_vec(),
        ..Snapshot::default()
    };
    rt.block_on(store.write(&half)).unwrap();
    // The write failed after that (as a failed write does, this marks the
    // store suspect); the retry sends the whole snapshot again.
    store.mark_suspect();
    rt.block_on(store.write(&snapshot)).unwrap();
    let raw: u64 = rt
        .block_on(client.query("SELECT count() FROM events_raw").fetch_one())
        .unwrap();
    assert_eq!(raw as usize, distinct_events(&traffic));
}

/// Rollups and status changes as `events_raw` says they must be, and as
/// the views hold them: (table, tenant, period, campaign, users, sent,
/// interacted, interactions) rows, sorted.
async fn views_and_truth(
    client: &clickhouse::Client,
) -> (
    Vec<(String, String, u64, u64, u64, u64)>,
    Vec<(String, String, u64, u64, u64, u64)>,
) {
    let mut views = Vec::new();
    let mut truth = Vec::new();
    for (table, period) in [
        ("rollup_campaign_daily", "local_date"),
        ("rollup_campaign_weekly", "toMonday(local_date)"),
        ("rollup_campaign_monthly", "toStartOfMonth(local_date)"),
    ] {
        let v: Vec<(String, String, u64, u64, u64, u64)> = client
            .query(&format!(
                "SELECT '{table}', concat(tenant_id, '/', campaign_id, '/', toString(period_start)) AS k, \
                   uniqExactMerge(active_users), uniqExactMerge(sent_users), \
                   uniqExactMerge(interacted_users), sumMerge(interactions) \
                 FROM {table} GROUP BY k ORDER BY k"
            ))
            .fetch_all()
            .await
            .unwrap();
        let t: Vec<(String, String, u64, u64, u64, u64)> = client
            .query(&format!(
                "SELECT '{table}', concat(tenant_id, '/', campaign_id, '/', toString({period})) AS k, \
                   uniqExactIf(user_id, event_kind != 'lifecycle'), \
                   uniqExactIf(user_id, event_kind = 'notification' AND first_message = 1), \
                   uniqExactIf(user_id, event_kind = 'interaction'), \
                   countIf(event_kind = 'interaction') \
                 FROM events_raw GROUP BY k ORDER BY k"
            ))
            .fetch_all()
            .await
            .unwrap();
        views.extend(v);
        truth.extend(t);
    }
    let status: Vec<(String, String, u64, u64, u64, u64)> = client
        .query(
            "SELECT 'status', event_id, 0, 0, 0, 0 FROM campaign_status_changes ORDER BY event_id",
        )
        .fetch_all()
        .await
        .unwrap();
    let status_truth: Vec<(String, String, u64, u64, u64, u64)> = client
        .query(
            "SELECT 'status', event_id, 0, 0, 0, 0 FROM events_raw \
             WHERE event_kind = 'lifecycle' AND status != '' ORDER BY event_id",
        )
        .fetch_all()
        .await
        .unwrap();
    views.extend(status);
    truth.extend(status_truth);
    (views, truth)
}

#[test]
fn a_retry_repairs_views_an_interrupted_insert_left_short() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(database("views"));
    let store = ClickHouseStore::new(client.clone());
    let traffic = traffic(6);
    let snapshot = raw_snapshot(&rt, &traffic);
    // The first half lands in events_raw but not in the views: the server
    // stopped between the source part and the views' parts.
    let half = Snapshot {
        raw: snapshot.raw[..snapshot.raw.len() / 2].to_vec(),
        ..Snapshot::default()
    };
    let views = [
        "rollup_campaign_daily_mv",
        "rollup_campaign_weekly_mv",
        "rollup_campaign_monthly_mv",
        "campaign_status_changes_mv",
    ];
    rt.block_on(async {
        for v in views {
            client
                .query(&format!("DETACH TABLE {v}"))
                .execute()
                .await
                .unwrap();
        }
        store.write(&half).await.unwrap();
        for v in views {
            client
                .query(&format!("ATTACH TABLE {v}"))
                .execute()
                .await
                .unwrap();
        }
    });
    let (short, truth) = rt.block_on(views_and_truth(&client));
    assert_ne!(short, truth, "the views miss the first half");
    // The retry of the whole snapshot.
    store.mark_suspect();
    rt.block_on(store.write(&snapshot)).unwrap();
    let (views, truth) = rt.block_on(views_and_truth(&client));
    assert!(!truth.is_empty());
    assert_eq!(views, truth, "every view agrees with events_raw again");
    let raw: u64 = rt
        .block_on(client.query("SELECT count() FROM events_raw").fetch_one())
        .unwrap();
    assert_eq!(raw as usize, distinct_events(&traffic));
}

#[test]
fn raw_events_read_back_by_partition_and_by_campaign() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(database("readback"));
    let store = ClickHouseStore::new(client);
    let snapshot = raw_snapshot(&rt, &traffic(12));
    rt.block_on(store.write(&snapshot)).unwrap();
    let ids = |events: &[processor::store::RawEvent]| -> BTreeSet<String> {
        events
            .iter()
            .map(|r| r.event.event_id().to_string())
            .collect()
    };
    let streamed = |partitions: &[i32]| {
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        rt.block_on(async {
            let collect = async {
                let mut all = Vec::new();
                while let Some(batch) = rx.recv().await {
                    all.extend(batch);
                }
                all
            };
            let (read, all) = tokio::join!(store.raw_events(partitions, tx), collect);
            read.unwrap();
            all
        })
    };
    let all = streamed(&[0, 1]);
    assert_eq!(all.len(), snapshot.raw.len());
    assert_eq!(ids(&all), ids(&snapshot.raw));
    assert!(streamed(&[1]).is_empty(), "nothing on partition 1");

    let campaigns: BTreeSet<(String, String)> = snapshot
        .raw
        .iter()
        .map(|r| (r.event.tenant_id().into(), r.event.campaign_id().into()))
        .collect();
    assert!(campaigns.len() > 1, "the traffic has several campaigns");
    for (tenant, campaign) in &campaigns {
        let got = rt
            .block_on(store.campaign_raw_events(0, tenant, campaign))
            .unwrap();
        let want: Vec<_> = snapshot
            .raw
            .iter()
            .filter(|r| r.event.tenant_id() == tenant && r.event.campaign_id() == campaign)
            .cloned()
            .collect();
        assert_eq!(ids(&got), ids(&want), "campaign {campaign}");
        assert_eq!(got.len(), want.len());
    }
}
