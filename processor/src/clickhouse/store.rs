//! [`Store`] over ClickHouse: raw events, versioned reports and journeys,
//! and checkpoints (the commit point), written in that order.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use clickhouse::Client;

use super::snapshot_rows::{CheckpointRow, JourneyRow, RawRow, ReportRow, RAW_COLUMNS};
use crate::store::{Checkpoint, RawEvent, Snapshot, Store, StoreError};

/// Rows per INSERT statement at most.
const INSERT_CHUNK: usize = 100_000;

/// The processor's tables in one ClickHouse database.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    /// Set when a write failed: the next write first checks which raw
    /// events already landed, so a retry never inserts one twice.
    suspect: std::sync::Arc<AtomicBool>,
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
        }
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

    async fn write_inner(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut raw: Vec<RawRow> = snapshot.raw.iter().map(RawRow::from).collect();
        if self.suspect.load(Ordering::SeqCst) && !raw.is_empty() {
            let landed = self.landed(&raw).await?;
            if !landed.is_empty() {
                tracing::info!(
                    rows = landed.len(),
                    "raw events landed before the failure; not inserting them again"
                );
                raw.retain(|r| !landed.contains(&r.event_id));
            }
        }
        insert_all(&self.client, "events_raw", &raw)
            .await
            .map_err(err("insert events_raw"))?;
        let reports: Vec<ReportRow> = snapshot
            .reports
            .iter()
            .map(|(p, v, r)| ReportRow::new(*p, *v, r, now))
            .collect();
        insert_all(&self.client, "campaign_reports", &reports)
            .await
            .map_err(err("insert campaign_reports"))?;
        let journeys: Vec<JourneyRow> = snapshot
            .journeys
            .iter()
            .map(|(p, v, j)| JourneyRow::new(*p, *v, j, now))
            .collect();
        insert_all(&self.client, "journeys", &journeys)
            .await
            .map_err(err("insert journeys"))?;
        let checkpoints: Vec<CheckpointRow> = snapshot
            .checkpoints
            .iter()
            .map(CheckpointRow::from)
            .collect();
        insert_all(&self.client, "checkpoints", &checkpoints)
            .await
            .map_err(err("insert checkpoints"))?;
        Ok(())
    }
}

impl Store for ClickHouseStore {
    async fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        let row: Option<CheckpointRow> = self
            .client
            .query(
                "SELECT partition, version, lifecycle_offset, notifications_offset, interactions_offset \
                 FROM checkpoints WHERE partition = ? ORDER BY version DESC LIMIT 1",
            )
            .bind(partition)
            .fetch_optional()
            .await
            .map_err(err("read checkpoint"))?;
        Ok(row.map(Checkpoint::from))
    }

    async fn max_version(&self, partition: i32) -> Result<u64, StoreError> {
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

    async fn raw_events(&self, partition: i32) -> Result<Vec<RawEvent>, StoreError> {
        let query = self
            .client
            .query(&format!(
                "SELECT {RAW_COLUMNS} FROM events_raw WHERE kafka_partition = ?"
            ))
            .bind(partition);
        self.read_raw(query, partition).await
    }

    async fn campaign_raw_events(
        &self,
        partition: i32,
        tenant_id: &str,
        campaign_id: &str,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let query = self
            .client
            .query(&format!(
                "SELECT {RAW_COLUMNS} FROM events_raw \
                 WHERE tenant_id = ? AND campaign_id = ? AND kafka_partition = ?"
            ))
            .bind(tenant_id)
            .bind(campaign_id)
            .bind(partition);
        self.read_raw(query, partition).await
    }

    async fn write(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let result = self.write_inner(snapshot).await;
        self.suspect.store(result.is_err(), Ordering::SeqCst);
        result
    }
}

impl ClickHouseStore {
    /// Raw rows of a query, as events.
    async fn read_raw(
        &self,
        query: clickhouse::query::Query,
        partition: i32,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let mut cursor = query.fetch::<RawRow>().map_err(err("read raw events"))?;
        let mut out = Vec::new();
        let mut skipped = 0usize;
        while let Some(row) = cursor.next().await.map_err(err("read raw events"))? {
            match row.to_raw_event() {
                Some(e) => out.push(e),
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::warn!(
                partition,
                skipped,
                "raw rows the processor cannot read back were skipped"
            );
        }
        Ok(out)
    }
}
