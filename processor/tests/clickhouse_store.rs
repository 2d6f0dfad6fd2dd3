//! The engine over the real ClickHouse server: what it writes reads back
//! exactly, a crash loses nothing and inserts no raw event twice, and a
//! retried write after a partial failure does not duplicate raw events.
//! Needs the server the Makefile starts (CLICKHOUSE_URL).

use std::collections::BTreeSet;
use std::sync::Arc;

use processor::clickhouse::convert::{self, JourneyRow, ReportRow};
use processor::clickhouse::ClickHouseStore;
use processor::engine::Engine;
use processor::kafka::source::SourceControl;
use processor::store::{MemoryStore, Snapshot, Store};
use schemas::Codec;

mod common;
use common::{distinct_events, records, reference, replay, test_engine, traffic, Collect};

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
    storage::migrate::migrate_client(&client, schemas::migrations::MIGRATIONS)
        .await
        .unwrap();
    // Partition 0's first owner: the scratch engines that record snapshots
    // claim epoch 1 of their memory store, so their rows are taken here.
    client
        .query("INSERT INTO partition_epochs (partition, epoch, owner) VALUES (0, 1, 'test')")
        .execute()
        .await
        .unwrap();
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

/// Visible rows: per key the greatest version (the query API's rule).
async fn read_back(client: &clickhouse::Client) -> (Vec<ReportRow>, Vec<JourneyRow>, u64) {
    let reports: Vec<ReportRow> = client
        .query(
            "SELECT ?fields FROM campaign_reports AS r \
             WHERE (r.tenant_id, r.campaign_id, r.job_id, r.version) IN ( \
               SELECT tenant_id, campaign_id, job_id, max(version) FROM campaign_reports \
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
    let got: Vec<_> = reports.iter().map(convert::report_of).collect();
    assert_eq!(got, expected.reports);
    let got: Vec<_> = journeys.iter().map(convert::journey_of).collect();
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
    replay(&mut second, &recs, |_| offsets);
    second.flush();
    assert_matches(&rt.block_on(read_back(&client)), &traffic);
}

/// The snapshots an engine over a scratch store takes of `recs` (partition
/// 0, its first epoch) when it writes after the first `cuts[0]` records,
/// then after the first `cuts[1]`, and so on.
fn recorded(
    rt: &tokio::runtime::Runtime,
    recs: &[processor::kafka::source::SourceRecord],
    cuts: &[usize],
) -> Vec<Snapshot> {
    let scratch = Arc::new(MemoryStore::default());
    let mut recorder = test_engine(
        rt,
        scratch.clone(),
        1_000_000,
        None,
        Arc::new(Collect::default()),
        Arc::new(SourceControl::default()),
    );
    recorder.assign(&BTreeSet::from([0]));
    let mut done = 0;
    for &cut in cuts {
        for r in recs.iter().take(cut).skip(done).cloned() {
            recorder.on_record(r);
        }
        recorder.flush();
        done = cut;
    }
    let log = scratch.with(|s| s.log.clone());
    assert_eq!(log.len(), cuts.len(), "one snapshot per cut");
    log
}

/// The raw events of `traffic` as one snapshot, built by an engine over a
/// scratch store.
fn raw_snapshot(rt: &tokio::runtime::Runtime, traffic: &[(usize, schemas::Event)]) -> Snapshot {
    let recs = records(&Codec::new().unwrap(), traffic);
    let first = recorded(rt, &recs, &[recs.len()]).remove(0);
    Snapshot {
        epochs: first.epochs,
        raw: first.raw,
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
        epochs: snapshot.epochs.clone(),
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
        epochs: snapshot.epochs.clone(),
        raw: snapshot.raw[..snapshot.raw.len() / 2].to_vec(),
        ..Snapshot::default()
    };
    let views = [
        "rollup_campaign_daily_fenced_mv",
        "rollup_campaign_weekly_fenced_mv",
        "rollup_campaign_monthly_fenced_mv",
        "campaign_status_changes_fenced_mv",
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
fn raw_events_read_back_by_partition() {
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
}

#[test]
fn merges_between_a_snapshots_rows_and_its_checkpoint_hide_nothing() {
    // Snapshot 1 in full; snapshot 2's rows without its checkpoint (a
    // crash right before it); then ClickHouse merges everything
    // (`OPTIMIZE ... FINAL` keeps one row per key, the greatest version).
    // What readers see is snapshot 2's state, every key of it; a restart
    // restores from those rows, replays from snapshot 1's checkpoint, and
    // ends exact with one raw row per event.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(database("merges"));
    let store = Arc::new(ClickHouseStore::new(client.clone()));
    let codec = Codec::new().unwrap();
    let traffic = traffic(40);
    let recs = records(&codec, &traffic);
    let cut = recs.len() / 2;

    // The two snapshots, as an engine over a scratch store takes them.
    let log = recorded(&rt, &recs, &[cut, cut + cut / 2]);
    let mut second = log[1].clone();
    second.checkpoints.clear();
    rt.block_on(async {
        store.write(&log[0]).await.unwrap();
        store.write(&second).await.unwrap();
        for table in [
            "campaign_reports",
            "journeys",
            "campaign_state",
            "checkpoints",
        ] {
            client
                .query(&format!("OPTIMIZE TABLE {table} FINAL"))
                .execute()
                .await
                .unwrap();
        }
    });
    // Readers: snapshot 2's rows, every key (merged into one part).
    let (reports, journeys, _) = rt.block_on(read_back(&client));
    // The state snapshot 2 was taken of: the fold of its records.
    let mut want = reference(&traffic[..cut + cut / 2]).all();
    want.reports
        .sort_by(|a, b| (&a.campaign_id, &a.job_id).cmp(&(&b.campaign_id, &b.job_id)));
    let got: Vec<_> = reports.iter().map(convert::report_of).collect();
    assert_eq!(
        got, want.reports,
        "every report of the uncheckpointed snapshot"
    );
    assert_eq!(journeys.len(), want.journeys.len(), "every journey");

    // A restart: from the merged rows and snapshot 1's checkpoint.
    let mut engine = engine(&rt, store.clone());
    let offsets = engine.assign(&BTreeSet::from([0]))[&0];
    assert_eq!(offsets, log[0].checkpoints[0].offsets);
    replay(&mut engine, &recs, |_| offsets);
    engine.flush();
    rt.block_on(async {
        client
            .query("OPTIMIZE TABLE journeys FINAL")
            .execute()
            .await
            .unwrap();
    });
    assert_matches(&rt.block_on(read_back(&client)), &traffic);
}

#[test]
fn a_crash_between_raw_parts_and_their_view_parts_is_repaired_by_the_restart() {
    // Snapshot 1 in full. Snapshot 2's intent and raw events land without
    // their view parts (views detached while they are inserted: the server
    // stopped between the table's part and the views'), then the process
    // dies. The restart finds them beyond the checkpoint, repairs their
    // views, and every rollup ends equal to what events_raw says.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(database("viewcrash"));
    let store = Arc::new(ClickHouseStore::new(client.clone()));
    let codec = Codec::new().unwrap();
    let traffic = traffic(12);
    let recs = records(&codec, &traffic);
    let log = recorded(&rt, &recs, &[recs.len() / 2, recs.len()]);
    let cut_off = Snapshot {
        epochs: log[1].epochs.clone(),
        intents: log[1].intents.clone(),
        raw: log[1].raw.clone(),
        ..Snapshot::default()
    };
    assert!(!cut_off.raw.is_empty());
    let views = [
        "rollup_campaign_daily_fenced_mv",
        "rollup_campaign_weekly_fenced_mv",
        "rollup_campaign_monthly_fenced_mv",
        "campaign_status_changes_fenced_mv",
    ];
    rt.block_on(async {
        store.write(&log[0]).await.unwrap();
        for v in views {
            client
                .query(&format!("DETACH TABLE {v}"))
                .execute()
                .await
                .unwrap();
        }
        store.write(&cut_off).await.unwrap();
        for v in views {
            client
                .query(&format!("ATTACH TABLE {v}"))
                .execute()
                .await
                .unwrap();
        }
    });
    let (short, truth) = rt.block_on(views_and_truth(&client));
    assert_ne!(short, truth, "the views miss snapshot 2's raw events");

    let mut engine = engine(&rt, store.clone());
    let offsets = engine.assign(&BTreeSet::from([0]))[&0];
    let (views_now, truth) = rt.block_on(views_and_truth(&client));
    assert_eq!(views_now, truth, "repaired when the partition was restored");
    replay(&mut engine, &recs, |_| offsets);
    engine.flush();
    let (views, truth) = rt.block_on(views_and_truth(&client));
    assert_eq!(views, truth, "and stay exact after the replay");
    assert_matches(&rt.block_on(read_back(&client)), &traffic);
}

#[test]
fn a_database_of_the_release_before_state_rows_upgrades_in_place() {
    // Migrations 1-4 and rows as the previous release wrote them (raw
    // events, reports and journeys without the state columns, checkpoints
    // without a format), then this release's migrations: the partition is
    // restored once from its raw events, rewritten in the new format, and
    // a later restart reads the new rows; every figure stays exact.
    use processor::clickhouse::convert::RawRow;
    use storage::migrate::migrate_client;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = clickhouse::Client::default()
        .with_url(url())
        .with_validation(false);
    let name = format!(
        "test_store_upgrade_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    rt.block_on(root.query(&format!("CREATE DATABASE {name}")).execute())
        .unwrap();
    let client = root.with_database(&name);
    let before_state_rows = &schemas::migrations::MIGRATIONS[..4];
    assert_eq!(before_state_rows[3].file_name, "0004_topology.sql");
    rt.block_on(migrate_client(&client, before_state_rows))
        .unwrap();

    let codec = Codec::new().unwrap();
    let traffic = traffic(30);
    let recs = records(&codec, &traffic);
    let snapshot = recorded(&rt, &recs, &[recs.len() / 2]).remove(0);
    rt.block_on(async {
        // events_raw had no epoch column then.
        let mut insert = client.insert::<V4RawRow>("events_raw").await.unwrap();
        for r in &snapshot.raw {
            insert
                .write(&V4RawRow::from(RawRow::from(r)))
                .await
                .unwrap();
        }
        insert.end().await.unwrap();
        let mut insert = client
            .insert::<ReportRow>("campaign_reports")
            .await
            .unwrap();
        for (p, v, r) in &snapshot.reports {
            insert
                .write(&convert::report_row(*p, *v, r, 0))
                .await
                .unwrap();
        }
        insert.end().await.unwrap();
        let mut insert = client.insert::<JourneyRow>("journeys").await.unwrap();
        for (p, v, j) in &snapshot.journeys {
            insert
                .write(&convert::journey_row(*p, *v, j, 0))
                .await
                .unwrap();
        }
        insert.end().await.unwrap();
        let c = &snapshot.checkpoints[0];
        client
            .query(
                "INSERT INTO checkpoints (partition, version, lifecycle_offset, \
                 notifications_offset, interactions_offset) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(c.partition)
            .bind(c.version)
            .bind(c.offsets[0].unwrap_or(-1))
            .bind(c.offsets[1].unwrap_or(-1))
            .bind(c.offsets[2].unwrap_or(-1))
            .execute()
            .await
            .unwrap();
        migrate_client(&client, schemas::migrations::MIGRATIONS)
            .await
            .unwrap();
    });

    let store = Arc::new(ClickHouseStore::new(client.clone()));
    let mut upgraded = engine(&rt, store.clone());
    let offsets = upgraded.assign(&BTreeSet::from([0]))[&0];
    assert_eq!(offsets, snapshot.checkpoints[0].offsets);
    upgraded.flush();
    drop(upgraded);
    let (format, headers): (u8, u64) = rt
        .block_on(
            client
                .query(
                    "SELECT (SELECT argMax(state_format, version) FROM checkpoints), \
                            (SELECT count() FROM campaign_state)",
                )
                .fetch_one(),
        )
        .unwrap();
    assert_eq!((format, headers), (processor::store::STATE_FORMAT, 3));

    let mut restarted = engine(&rt, store);
    let offsets = restarted.assign(&BTreeSet::from([0]))[&0];
    assert_eq!(
        restarted.campaigns_in_memory(),
        3,
        "restored from the new rows"
    );
    replay(&mut restarted, &recs, |_| offsets);
    restarted.flush();
    assert_matches(&rt.block_on(read_back(&client)), &traffic);
}

/// `events_raw` as migrations 1-4 made it (no `epoch`).
#[derive(Debug, Clone, clickhouse::Row, serde::Serialize)]
struct V4RawRow {
    tenant_id: String,
    campaign_id: String,
    job_id: String,
    user_id: String,
    event_id: String,
    event_kind: i8,
    node_id: String,
    choice: String,
    first_message: u8,
    warning_message: u8,
    lifecycle_kind: String,
    status: String,
    audience_size: Option<i64>,
    script_json: String,
    answer_title: Option<String>,
    question: Option<String>,
    occurred_at: u32,
    occurred_at_ms: i64,
    local_date: u16,
    kafka_topic: String,
    kafka_partition: i32,
    kafka_offset: i64,
}

impl From<processor::clickhouse::convert::RawRow> for V4RawRow {
    fn from(r: processor::clickhouse::convert::RawRow) -> Self {
        V4RawRow {
            tenant_id: r.tenant_id,
            campaign_id: r.campaign_id,
            job_id: r.job_id,
            user_id: r.user_id,
            event_id: r.event_id,
            event_kind: r.event_kind,
            node_id: r.node_id,
            choice: r.choice,
            first_message: r.first_message,
            warning_message: r.warning_message,
            lifecycle_kind: r.lifecycle_kind,
            status: r.status,
            audience_size: r.audience_size,
            script_json: r.script_json,
            answer_title: r.answer_title,
            question: r.question,
            occurred_at: r.occurred_at,
            occurred_at_ms: r.occurred_at_ms,
            local_date: r.local_date,
            kafka_topic: r.kafka_topic,
            kafka_partition: r.kafka_partition,
            kafka_offset: r.kafka_offset,
        }
    }
}
