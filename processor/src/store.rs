//! The storage seam: what the engine needs from durable storage, whatever
//! it is. [`crate::clickhouse::ClickHouseStore`] is the real one;
//! [`MemoryStore`] serves the engine's unit tests (with fault injection).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use schemas::Event;

use crate::state::{Journey, Report};

/// Next offset per input topic (lifecycle, notifications, interactions);
/// `None`: from the beginning.
pub type Offsets = [Option<i64>; 3];

/// The commit point of a partition: state version `version` reflects every
/// record before `offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub partition: i32,
    pub version: u64,
    pub offsets: Offsets,
}

/// Where [`Store::raw_events`] sends its batches.
pub type RawSink = tokio::sync::mpsc::Sender<Vec<RawEvent>>;

/// One distinct event as stored in the raw events table.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub event: Event,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub local_date: NaiveDate,
}

/// Everything one snapshot writes. Raw events first, then reports and
/// journeys (versioned, invisible until the checkpoint), then checkpoints.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub raw: Vec<RawEvent>,
    pub reports: Vec<(i32, u64, Report)>,
    pub journeys: Vec<(i32, u64, Journey)>,
    pub checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub message: String,
}

/// Durable storage of raw events, snapshots and checkpoints.
pub trait Store: Send + Sync + 'static {
    /// The latest complete checkpoint of a partition.
    fn checkpoint(
        &self,
        partition: i32,
    ) -> impl Future<Output = Result<Option<Checkpoint>, StoreError>> + Send;
    /// The highest version any report or journey row of the partition has
    /// (committed or not), so new versions can be made strictly greater.
    fn max_version(&self, partition: i32) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Every raw event of these partitions, sent to `out` in batches in no
    /// particular order (restore folds them, and the fold does not depend
    /// on order). Stops early, without error, when `out` is closed.
    fn raw_events(
        &self,
        partitions: &[i32],
        out: RawSink,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The raw events of one campaign of the partition (to reload an
    /// evicted campaign).
    fn campaign_raw_events(
        &self,
        partition: i32,
        tenant_id: &str,
        campaign_id: &str,
    ) -> impl Future<Output = Result<Vec<RawEvent>, StoreError>> + Send;
    /// Write one snapshot. Must be safe to call again with the same snapshot
    /// after an error: raw events that already landed are not written twice.
    fn write(&self, snapshot: &Snapshot) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// An in-memory [`Store`] whose writes can be made to fail.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
pub struct MemoryInner {
    pub raw: Vec<RawEvent>,
    pub reports: BTreeMap<(String, String, String), (u64, Report)>,
    pub journeys: BTreeMap<(String, String, String, String), (u64, Journey)>,
    pub checkpoints: BTreeMap<i32, Checkpoint>,
    pub max_versions: BTreeMap<i32, u64>,
    /// Fail this many writes before succeeding.
    pub fail_writes: u32,
    pub writes: u32,
}

impl MemoryStore {
    pub fn with<R>(&self, f: impl FnOnce(&mut MemoryInner) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}

impl Store for MemoryStore {
    async fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.with(|s| s.checkpoints.get(&partition).cloned()))
    }

    async fn max_version(&self, partition: i32) -> Result<u64, StoreError> {
        Ok(self.with(|s| s.max_versions.get(&partition).copied().unwrap_or(0)))
    }

    async fn raw_events(&self, partitions: &[i32], out: RawSink) -> Result<(), StoreError> {
        let rows: Vec<RawEvent> = self.with(|s| {
            s.raw
                .iter()
                .filter(|r| partitions.contains(&r.partition))
                .cloned()
                .collect()
        });
        // Small batches, so a test sees several.
        for batch in rows.chunks(3) {
            if out.send(batch.to_vec()).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    async fn campaign_raw_events(
        &self,
        partition: i32,
        tenant_id: &str,
        campaign_id: &str,
    ) -> Result<Vec<RawEvent>, StoreError> {
        Ok(self.with(|s| {
            s.raw
                .iter()
                .filter(|r| {
                    r.partition == partition
                        && r.event.tenant_id() == tenant_id
                        && r.event.campaign_id() == campaign_id
                })
                .cloned()
                .collect()
        }))
    }

    async fn write(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.with(|s| {
            s.writes += 1;
            if s.fail_writes > 0 {
                s.fail_writes -= 1;
                return Err(StoreError {
                    operation: "write",
                    message: "injected failure".into(),
                });
            }
            for r in &snapshot.raw {
                if !s
                    .raw
                    .iter()
                    .any(|x| x.event.event_id() == r.event.event_id())
                {
                    s.raw.push(r.clone());
                }
            }
            for (p, v, r) in &snapshot.reports {
                let key = (
                    r.tenant_id.clone(),
                    r.campaign_id.clone(),
                    r.job_id.clone().unwrap_or_default(),
                );
                s.reports.insert(key, (*v, r.clone()));
                let m = s.max_versions.entry(*p).or_default();
                *m = (*m).max(*v);
            }
            for (p, v, j) in &snapshot.journeys {
                let key = (
                    j.tenant_id.clone(),
                    j.campaign_id.clone(),
                    j.job_id.clone(),
                    j.user_id.clone(),
                );
                s.journeys.insert(key, (*v, j.clone()));
                let m = s.max_versions.entry(*p).or_default();
                *m = (*m).max(*v);
            }
            for c in &snapshot.checkpoints {
                s.checkpoints.insert(c.partition, c.clone());
            }
            Ok(())
        })
    }
}
