//! [`Store`] over ClickHouse: raw events, versioned reports and journeys,
//! and checkpoints (the commit point), written in that order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use clickhouse::Client;
use storage::rollups;

use super::convert::{
    self, CheckpointRow, HeaderStateRow, IntentRow, RawRow, ReportRow, UserStateRead, UserStateRow,
    RAW_COLUMNS, USER_STATE_READ_COLUMNS,
};
use crate::state::{Report, UserRecord};
use crate::store::{
    Checkpoint, EvictedView, PartitionRows, RawEvent, RawSink, Snapshot, Store, StoreError,
    StoredCampaign,
};

/// Rows per INSERT statement at most.
const INSERT_CHUNK: usize = 100_000;

/// Raw events per batch read back (restore, reload).
const RESTORE_BATCH: usize = 4096;

/// Every raw event of these partitions (integers: formatted, not bound, as
/// an `IN` list).
fn raw_events_query(partitions: &[i32]) -> String {
    let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
    format!(
        "SELECT {RAW_COLUMNS} FROM events_raw WHERE kafka_partition IN ({})",
        list.join(", ")
    )
}

/// A 128-bit key of two strings (a collision among a partition's keys is
/// as unlikely as one of event ids).
fn pair_key(a: &str, b: &str) -> u128 {
    crate::state::key128((a, b))
}

/// The processor's tables in one ClickHouse database.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    /// Set when a write failed: the next write first checks which raw
    /// events already landed, so a retry never inserts one twice.
    suspect: std::sync::Arc<AtomicBool>,
    /// Time of each step of a write, by step (`None`: not measured).
    steps: Option<prometheus::HistogramVec>,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore").finish_non_exhaustive()
    }
}

fn err(operation: &'static str) -> impl Fn(clickhouse::error::Error) -> StoreError {
    move |e| StoreError {
        operation,
        message: e.to_string(),
    }
}

async fn insert_all<T>(
    client: &Client,
    table: &str,
    rows: &[T],
) -> Result<(), clickhouse::error::Error>
where
    T: clickhouse::Row + clickhouse::RowWrite + for<'a> clickhouse::Row<Value<'a> = T>,
{
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut insert = client.insert::<T>(table).await?;
        for row in chunk {
            insert.write(row).await?;
        }
        insert.end().await?;
    }
    Ok(())
}

impl ClickHouseStore {
    pub fn new(client: Client) -> Self {
        ClickHouseStore {
            client,
            suspect: std::sync::Arc::new(AtomicBool::new(false)),
            steps: None,
        }
    }

    /// Observe each step of a snapshot write in `steps` (label `step`).
    pub fn with_step_metrics(mut self, steps: prometheus::HistogramVec) -> Self {
        self.steps = Some(steps);
        self
    }

    /// Run one step of a write, observing its time.
    async fn step<T>(&self, name: &str, work: impl std::future::Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = work.await;
        if let Some(steps) = &self.steps {
            steps
                .with_label_values(&[name])
                .observe(started.elapsed().as_secs_f64());
        }
        out
    }

    async fn insert_reports(&self, reports: &[ReportRow]) -> Result<(), StoreError> {
        insert_all(&self.client, "campaign_reports_incoming", reports)
            .await
            .map_err(err("insert campaign_reports"))
    }

    /// Treat the next write as a retry after a failure (tests, and callers
    /// that know a write was interrupted).
    pub fn mark_suspect(&self) {
        self.suspect.store(true, Ordering::SeqCst);
    }

    /// Event ids among `rows` that the table already holds.
    async fn landed(&self, rows: &[RawRow]) -> Result<HashSet<String>, StoreError> {
        let mut ranges: BTreeMap<(&str, i32), (i64, i64)> = BTreeMap::new();
        for r in rows {
            let e = ranges
                .entry((r.kafka_topic.as_str(), r.kafka_partition))
                .or_insert((r.kafka_offset, r.kafka_offset));
            e.0 = e.0.min(r.kafka_offset);
            e.1 = e.1.max(r.kafka_offset);
        }
        let mut out = HashSet::new();
        for ((topic, partition), (lo, hi)) in ranges {
            let ids: Vec<String> = self
                .client
                .query(
                    "SELECT event_id FROM events_raw WHERE kafka_topic = ? AND kafka_partition = ? \
                     AND kafka_offset >= ? AND kafka_offset <= ?",
                )
                .bind(topic)
                .bind(partition)
                .bind(lo)
                .bind(hi)
                .fetch_all()
                .await
                .map_err(err("check landed raw events"))?;
            out.extend(ids);
        }
        Ok(out)
    }

    /// Raw rows that landed before a failure may lack their materialized
    /// view rows: ClickHouse writes the source table's part first and the
    /// views' parts after it, so an insert cut off in between (the server
    /// stopped) leaves the rollups short. Bring the views of these rows'
    /// campaigns back in line with `events_raw`: distinct users are unions
    /// (adding the rows again changes nothing if they were there),
    /// interaction counts get what they miss, status changes the rows that
    /// are missing. Runs only on the retry path.
    async fn repair_views(&self, rows: &[&RawRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
        let tenants: Vec<&str> = rows.iter().map(|r| r.tenant_id.as_str()).collect();
        let campaigns: Vec<&str> = rows.iter().map(|r| r.campaign_id.as_str()).collect();
        for (table, period) in rollups::TABLES {
            let period = period.start_sql("local_date");
            let users = rollups::USER_STATES;
            self.client
                .query(&format!(
                    "INSERT INTO {table} \
                     SELECT tenant_id, {period} AS p, campaign_id, {users}, sumState(toUInt64(0)) \
                     FROM events_raw WHERE has(?, event_id) \
                     GROUP BY tenant_id, p, campaign_id"
                ))
                .bind(&ids)
                .execute()
                .await
                .map_err(err("repair rollup users"))?;
            let want: Vec<(String, u16, String, u64)> = self
                .client
                .query(&format!(
                    "SELECT tenant_id, toUInt16({period}) AS p, campaign_id, \
                       countIf(event_kind = 'interaction') \
                     FROM events_raw WHERE has(?, tenant_id) AND has(?, campaign_id) \
                     GROUP BY tenant_id, p, campaign_id"
                ))
                .bind(&tenants)
                .bind(&campaigns)
                .fetch_all()
                .await
                .map_err(err("repair rollup counts"))?;
            let have: Vec<(String, u16, String, u64)> = self
                .client
                .query(&format!(
                    "SELECT tenant_id, toUInt16(period_start) AS p, campaign_id, \
                       sumMerge(interactions) \
                     FROM {table} WHERE has(?, tenant_id) AND has(?, campaign_id) \
                     GROUP BY tenant_id, p, campaign_id"
                ))
                .bind(&tenants)
                .bind(&campaigns)
                .fetch_all()
                .await
                .map_err(err("repair rollup counts"))?;
            let have: std::collections::HashMap<(String, u16, String), u64> = have
                .into_iter()
                .map(|(t, p, c, n)| ((t, p, c), n))
                .collect();
            for (t, p, c, n) in want {
                let missing =
                    n.saturating_sub(have.get(&(t.clone(), p, c.clone())).copied().unwrap_or(0));
                if missing == 0 {
                    continue;
                }
                tracing::warn!(table, tenant = %t, campaign = %c, missing, "rollup interactions repaired");
                self.client
                    .query(&format!(
                        "INSERT INTO {table} \
                         SELECT ?, toDate(toUInt16(?)), ?, uniqExactStateIf('', 0), \
                           uniqExactStateIf('', 0), uniqExactStateIf('', 0), sumState(toUInt64(?))"
                    ))
                    .bind(&t)
                    .bind(p)
                    .bind(&c)
                    .bind(missing)
                    .execute()
                    .await
                    .map_err(err("repair rollup counts"))?;
            }
        }
        self.client
            .query(
                "INSERT INTO campaign_status_changes \
                 SELECT tenant_id, campaign_id, status, occurred_at_ms, local_date, event_id \
                 FROM events_raw \
                 WHERE has(?, event_id) AND event_kind = 'lifecycle' AND status != '' \
                   AND event_id NOT IN \
                     (SELECT event_id FROM campaign_status_changes WHERE has(?, event_id))",
            )
            .bind(&ids)
            .bind(&ids)
            .execute()
            .await
            .map_err(err("repair status changes"))?;
        Ok(())
    }

    async fn write_inner(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let now = chrono::Utc::now().timestamp_millis();
        let mut raw: Vec<RawRow> = snapshot
            .raw
            .iter()
            .map(|r| RawRow {
                epoch: snapshot.epochs.get(&r.partition).copied().unwrap_or(0),
                ..RawRow::from(r)
            })
            .collect();
        if self.suspect.load(Ordering::SeqCst) && !raw.is_empty() {
            let landed = self.landed(&raw).await?;
            if !landed.is_empty() {
                tracing::info!(
                    rows = landed.len(),
                    "raw events landed before the failure; not inserting them again"
                );
                let landed_rows: Vec<&RawRow> = raw
                    .iter()
                    .filter(|r| landed.contains(&r.event_id))
                    .collect();
                self.repair_views(&landed_rows).await?;
                raw.retain(|r| !landed.contains(&r.event_id));
            }
        }
        let intents: Vec<IntentRow> = snapshot.intents.iter().map(IntentRow::from).collect();
        let reports: Vec<ReportRow> = snapshot
            .reports
            .iter()
            .map(|(p, v, r)| convert::report_row(*p, *v, r, now))
            .collect();
        let journeys: Vec<UserStateRow> = snapshot
            .journeys
            .iter()
            .map(|(p, v, j)| convert::user_state_row(*p, *v, j, now))
            .collect();
        let headers = snapshot
            .headers
            .iter()
            .map(convert::header_state_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError {
                operation: "encode campaign_state",
                message: e.to_string(),
            })?;
        // In order, each after the one before has landed (ARCHITECTURE.md,
        // "What a snapshot writes"): a user row or header never reflects an
        // event whose raw row is missing, and nothing is checkpointed
        // before everything it covers is written. The reports go with the
        // raw events: no restore reads them, and every event they count is
        // past the checkpoint until it is written, so a restart reproduces
        // them. Into the *_incoming tables: the server moves a row on only
        // if its partition's epoch is still ours ("Fencing").
        self.step(
            "intent",
            insert_all(&self.client, "snapshot_intents_incoming", &intents),
        )
        .await
        .map_err(err("insert snapshot_intents"))?;
        self.step("raw_and_reports", async {
            tokio::try_join!(
                async {
                    insert_all(&self.client, "events_incoming", &raw)
                        .await
                        .map_err(err("insert events_raw"))
                },
                self.insert_reports(&reports),
            )
        })
        .await?;
        self.step(
            "journeys",
            insert_all(&self.client, "journeys_incoming", &journeys),
        )
        .await
        .map_err(err("insert journeys"))?;
        self.step(
            "headers",
            insert_all(&self.client, "campaign_state_incoming", &headers),
        )
        .await
        .map_err(err("insert campaign_state"))?;
        let checkpoints: Vec<CheckpointRow> = snapshot
            .checkpoints
            .iter()
            .map(CheckpointRow::from)
            .collect();
        let rows_written = started.elapsed();
        self.step(
            "checkpoint",
            insert_all(&self.client, "checkpoints_incoming", &checkpoints),
        )
        .await
        .map_err(err("insert checkpoints"))?;
        tracing::debug!(
            raw = raw.len(),
            reports = reports.len(),
            journeys = journeys.len(),
            headers = headers.len(),
            rows_seconds = rows_written.as_secs_f64(),
            seconds = started.elapsed().as_secs_f64(),
            "snapshot written"
        );
        Ok(())
    }
}

impl Store for ClickHouseStore {
    async fn claim(&self, partition: i32, owner: &str) -> Result<u64, StoreError> {
        let last: u64 = self
            .client
            .query("SELECT max(epoch) FROM partition_epochs WHERE partition = ?")
            .bind(partition)
            .fetch_one()
            .await
            .map_err(err("read partition epoch"))?;
        let epoch = last + 1;
        self.client
            .query("INSERT INTO partition_epochs (partition, epoch, owner) VALUES (?, ?, ?)")
            .bind(partition)
            .bind(epoch)
            .bind(owner)
            .execute()
            .await
            .map_err(err("claim partition epoch"))?;
        Ok(epoch)
    }

    async fn current_epochs(&self, partitions: &[i32]) -> Result<BTreeMap<i32, u64>, StoreError> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let rows: Vec<(i32, u64)> = self
            .client
            .query(
                "SELECT partition, max(epoch) FROM partition_epochs \
                 WHERE has(?, partition) GROUP BY partition",
            )
            .bind(partitions)
            .fetch_all()
            .await
            .map_err(err("read partition epochs"))?;
        Ok(rows.into_iter().collect())
    }

    async fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        let row: Option<CheckpointRow> = self
            .client
            .query(
                "SELECT partition, version, lifecycle_offset, notifications_offset, \
                 interactions_offset, state_format, retained_from_ms, rules_offset \
                 FROM checkpoints WHERE partition = ? ORDER BY version DESC LIMIT 1",
            )
            .bind(partition)
            .fetch_optional()
            .await
            .map_err(err("read checkpoint"))?;
        Ok(row.map(Checkpoint::from))
    }

    async fn version_floor(&self, partition: i32) -> Result<u64, StoreError> {
        let intent: u64 = self
            .client
            .query("SELECT max(version) FROM snapshot_intents WHERE partition = ?")
            .bind(partition)
            .fetch_one()
            .await
            .map_err(err("read version floor"))?;
        if intent > 0 {
            return Ok(intent);
        }
        // A database written before intents existed: once, the tables.
        let mut max = 0u64;
        for table in ["campaign_reports", "journeys"] {
            let v: u64 = self
                .client
                .query(&format!(
                    "SELECT max(version) FROM {table} WHERE partition = ?"
                ))
                .bind(partition)
                .fetch_one()
                .await
                .map_err(err("read max version"))?;
            max = max.max(v);
        }
        Ok(max)
    }

    async fn raw_events(&self, partitions: &[i32], out: RawSink) -> Result<(), StoreError> {
        if partitions.is_empty() {
            return Ok(());
        }
        // One scan for all partitions: `kafka_partition` is not in the
        // table's key, so every query reads the whole table.
        let query = self.client.query(&raw_events_query(partitions));
        self.stream_raw(query, partitions, out).await
    }

    async fn partition_rows(&self, partitions: &[i32]) -> Result<PartitionRows, StoreError> {
        // Partitions in groups read and decoded concurrently, one task per
        // core (decoding a million user rows is most of a restore).
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(partitions.len())
            .max(1);
        let mut groups: Vec<Vec<i32>> = vec![Vec::new(); workers];
        for (i, p) in partitions.iter().enumerate() {
            groups[i % workers].push(*p);
        }
        let tasks: Vec<_> = groups
            .into_iter()
            .map(|group| tokio::spawn(read_partition_rows(self.client.clone(), group)))
            .collect();
        let mut out = PartitionRows::default();
        for task in tasks {
            let rows = task.await.map_err(|e| StoreError {
                operation: "read state rows",
                message: e.to_string(),
            })??;
            out.live.extend(rows.live);
            out.evicted.extend(rows.evicted);
        }
        Ok(out)
    }

    async fn campaign(
        &self,
        partition: i32,
        tenant_id: &str,
        campaign_id: &str,
    ) -> Result<Option<StoredCampaign>, StoreError> {
        let header: Option<HeaderStateRow> = self
            .client
            .query(
                "SELECT ?fields FROM campaign_state \
                 WHERE partition = ? AND tenant_id = ? AND campaign_id = ? \
                 ORDER BY version DESC LIMIT 1",
            )
            .bind(partition)
            .bind(tenant_id)
            .bind(campaign_id)
            .fetch_optional()
            .await
            .map_err(err("read campaign_state"))?;
        let Some(header) = header else {
            return Ok(None);
        };
        let query = self
            .client
            .query(&format!(
                "SELECT {USER_STATE_READ_COLUMNS} FROM journeys \
                 WHERE tenant_id = ? AND campaign_id = ?"
            ))
            .bind(tenant_id)
            .bind(campaign_id);
        Ok(assemble(vec![header], query).await?.pop())
    }

    async fn evicted_views(
        &self,
        partitions: &[i32],
        tenants: &[String],
    ) -> Result<Vec<EvictedView>, StoreError> {
        if partitions.is_empty() || tenants.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
        let list = list.join(", ");
        let headers: Vec<HeaderStateRow> = self
            .client
            .query(&format!(
                "SELECT ?fields FROM campaign_state \
                 WHERE partition IN ({list}) AND has(?, tenant_id) \
                   AND (partition, tenant_id, campaign_id, version) IN \
                       (SELECT partition, tenant_id, campaign_id, max(version) \
                        FROM campaign_state WHERE partition IN ({list}) AND has(?, tenant_id) \
                        GROUP BY partition, tenant_id, campaign_id) \
                   AND evicted = 1"
            ))
            .bind(tenants)
            .bind(tenants)
            .fetch_all()
            .await
            .map_err(err("read campaign_state"))?;
        if headers.is_empty() {
            return Ok(Vec::new());
        }
        let mut reports: HashMap<(String, String), Vec<Report>> = HashMap::new();
        let mut cursor = self
            .client
            .query(&format!(
                "SELECT ?fields FROM campaign_reports \
                 WHERE partition IN ({list}) AND has(?, tenant_id) \
                 ORDER BY tenant_id, campaign_id, job_id, version DESC \
                 LIMIT 1 BY tenant_id, campaign_id, job_id"
            ))
            .bind(tenants)
            .fetch::<ReportRow>()
            .map_err(err("read campaign_reports"))?;
        let evicted: HashSet<(&str, &str)> = headers
            .iter()
            .map(|h| (h.tenant_id.as_str(), h.campaign_id.as_str()))
            .collect();
        while let Some(row) = cursor.next().await.map_err(err("read campaign_reports"))? {
            if evicted.contains(&(row.tenant_id.as_str(), row.campaign_id.as_str())) {
                reports
                    .entry((row.tenant_id.clone(), row.campaign_id.clone()))
                    .or_default()
                    .push(convert::report_of(&row));
            }
        }
        headers
            .iter()
            .map(|row| {
                let header = convert::header_of(row).map_err(|e| StoreError {
                    operation: "decode campaign_state",
                    message: format!(
                        "the header of campaign {}/{} (partition {}): {e}",
                        row.tenant_id, row.campaign_id, row.partition
                    ),
                })?;
                Ok(EvictedView {
                    partition: row.partition,
                    reports: reports
                        .remove(&(row.tenant_id.clone(), row.campaign_id.clone()))
                        .unwrap_or_default(),
                    tenant_id: header.tenant_id,
                    campaign_id: header.campaign_id,
                    book: header
                        .alerts
                        .map(|a| a.book.as_ref().clone())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn tail(
        &self,
        partition: i32,
        checkpoint: Option<&Checkpoint>,
        topics: &[String; 3],
    ) -> Result<Vec<RawEvent>, StoreError> {
        let committed = checkpoint.map_or(0, |c| c.version);
        let offsets = checkpoint.map_or([None; 3], |c| c.offsets);
        let mut beyond = Vec::new();
        for offset in offsets {
            match offset {
                Some(_) => beyond.push("(kafka_topic = ? AND kafka_offset >= ?)"),
                None => beyond.push("kafka_topic = ?"),
            }
        }
        let mut query = self
            .client
            .query(&format!(
                "SELECT {RAW_COLUMNS} FROM events_raw \
                 WHERE (tenant_id, campaign_id) IN ( \
                     SELECT t, c FROM snapshot_intents \
                     ARRAY JOIN tenant_ids AS t, campaign_ids AS c \
                     WHERE partition = ? AND version > ?) \
                   AND kafka_partition = ? AND ({})",
                beyond.join(" OR ")
            ))
            .bind(partition)
            .bind(committed)
            .bind(partition);
        for (topic, offset) in topics.iter().zip(offsets) {
            query = query.bind(topic.as_str());
            if let Some(o) = offset {
                query = query.bind(o);
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let collect = async {
            let mut events = Vec::new();
            while let Some(batch) = rx.recv().await {
                events.extend(batch);
            }
            events
        };
        let partitions = [partition];
        let (read, events) = tokio::join!(self.stream_raw(query, &partitions, tx), collect);
        read.map(|()| events)
    }

    async fn repair_rollups(&self, raw: &[RawEvent]) -> Result<(), StoreError> {
        let rows: Vec<RawRow> = raw.iter().map(RawRow::from).collect();
        let refs: Vec<&RawRow> = rows.iter().collect();
        self.repair_views(&refs).await
    }

    async fn write_reports(&self, reports: &[(i32, u64, Report)]) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let rows: Vec<ReportRow> = reports
            .iter()
            .map(|(p, v, r)| convert::report_row(*p, *v, r, now))
            .collect();
        self.step("reports_ahead", self.insert_reports(&rows)).await
    }

    async fn write(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let result = self.write_inner(snapshot).await;
        self.suspect.store(result.is_err(), Ordering::SeqCst);
        result
    }
}

impl ClickHouseStore {
    /// Raw rows of a query (of `partitions`), as events, sent to `out` in
    /// batches. Stops early, without error, when `out` is closed. A row
    /// that is not an event the processor could have written is an error
    /// (never skipped: folding without it would give wrong figures).
    async fn stream_raw(
        &self,
        query: clickhouse::query::Query,
        partitions: &[i32],
        out: RawSink,
    ) -> Result<(), StoreError> {
        let mut cursor = query.fetch::<RawRow>().map_err(err("read raw events"))?;
        let mut batch = Vec::with_capacity(RESTORE_BATCH);
        while let Some(row) = cursor.next().await.map_err(err("read raw events"))? {
            let id = (row.event_id.clone(), row.kafka_partition, row.kafka_offset);
            match convert::raw_event(row) {
                Some(e) => batch.push(e),
                None => {
                    return Err(StoreError {
                        operation: "read raw events",
                        message: format!(
                            "the raw row of event {} (partition {}, offset {}) is not an event \
                             this processor can read back (restoring partitions {partitions:?}); \
                             it was written by another program or edited. Restore it from the \
                             source topic, or delete it if the event is not wanted",
                            id.0, id.1, id.2
                        ),
                    })
                }
            }
            if batch.len() == RESTORE_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(RESTORE_BATCH));
                if out.send(full).await.is_err() {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() {
            let _ = out.send(batch).await;
        }
        Ok(())
    }
}

/// The state rows of `partitions` (one task of [`Store::partition_rows`]).
async fn read_partition_rows(
    client: Client,
    partitions: Vec<i32>,
) -> Result<PartitionRows, StoreError> {
    if partitions.is_empty() {
        return Ok(PartitionRows::default());
    }
    let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
    let list = list.join(", ");
    // The latest header of every campaign of the partitions (a scan of
    // their keys and versions), the state of the live ones only.
    let latest = format!(
        "SELECT partition, tenant_id, campaign_id, max(version) FROM campaign_state \
         WHERE partition IN ({list}) GROUP BY partition, tenant_id, campaign_id"
    );
    let headers: Vec<HeaderStateRow> = client
        .query(&format!(
            "SELECT ?fields FROM campaign_state \
             PREWHERE partition IN ({list}) \
               AND (partition, tenant_id, campaign_id, version) IN ({latest}) \
               AND evicted = 0"
        ))
        .fetch_all()
        .await
        .map_err(err("read campaign_state"))?;
    let evicted: Vec<(i32, String, String)> = client
        .query(&format!(
            "SELECT partition, tenant_id, campaign_id FROM campaign_state \
             WHERE partition IN ({list}) GROUP BY partition, tenant_id, campaign_id \
             HAVING argMax(evicted, version) = 1"
        ))
        .fetch_all()
        .await
        .map_err(err("read campaign_state"))?;
    let live = format!(
        "SELECT tenant_id, campaign_id FROM campaign_state \
         WHERE partition IN ({list}) GROUP BY tenant_id, campaign_id \
         HAVING argMax(evicted, version) = 0"
    );
    let query = client.query(&format!(
        "SELECT {USER_STATE_READ_COLUMNS} FROM journeys \
         WHERE (tenant_id, campaign_id) IN ({live})"
    ));
    Ok(PartitionRows {
        live: assemble(headers, query).await?,
        evicted,
    })
}

/// Campaigns from their headers and the user rows a query reads (the
/// greatest version of each user; the rows come in any order).
async fn assemble(
    headers: Vec<HeaderStateRow>,
    query: clickhouse::query::Query,
) -> Result<Vec<StoredCampaign>, StoreError> {
    // Keyed by 128-bit hashes of (tenant, campaign) and (job, user): a
    // row's strings are borrowed from the response and copied once, into
    // the record a newer version of the user has not replaced yet.
    let mut users: HashMap<u128, HashMap<u128, (u64, UserRecord)>> = HashMap::new();
    let mut cursor = query
        .fetch::<UserStateRead<'_>>()
        .map_err(err("read journeys"))?;
    while let Some(row) = cursor.next().await.map_err(err("read journeys"))? {
        let per = users
            .entry(pair_key(row.tenant_id, row.campaign_id))
            .or_default();
        match per.entry(pair_key(row.job_id, row.user_id)) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                if e.get().0 < row.version {
                    e.insert((row.version, convert::user_record(row)));
                }
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((row.version, convert::user_record(row)));
            }
        }
    }
    let mut out = Vec::with_capacity(headers.len());
    for h in headers {
        let header = convert::header_of(&h).map_err(|e| StoreError {
            operation: "decode campaign_state",
            message: format!(
                "the state of campaign {}/{} (partition {}, version {}) is not readable: {e}; \
                 this binary is older than the one that wrote it, or the row was edited",
                h.tenant_id, h.campaign_id, h.partition, h.version
            ),
        })?;
        let rows = users
            .remove(&pair_key(&h.tenant_id, &h.campaign_id))
            .unwrap_or_default();
        out.push(StoredCampaign {
            partition: h.partition,
            header,
            users: rows.into_values().map(|(_, r)| r).collect(),
        });
    }
    Ok(out)
}
