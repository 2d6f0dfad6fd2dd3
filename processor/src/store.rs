//! The storage seam: what the engine needs from durable storage, whatever
//! it is. [`crate::clickhouse::ClickHouseStore`] is the real one;
//! [`MemoryStore`] serves the engine's unit tests (with fault injection).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use schemas::Event;

use crate::state::{CampaignHeader, Journey, Report, UserRecord};

/// Next offset per input topic (lifecycle, notifications, interactions);
/// `None`: from the beginning.
pub type Offsets = [Option<i64>; 3];

pub use storage::version::{epoch_of, next_version, EPOCH_SHIFT};

/// The state rows of a checkpoint are complete in this format (headers and
/// user records; ARCHITECTURE.md, "Persisted state").
pub const STATE_FORMAT: u8 = 1;

/// The commit point of a partition: state version `version` reflects every
/// record before `offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub partition: i32,
    pub version: u64,
    pub offsets: Offsets,
    /// [`STATE_FORMAT`], or 0: written by a release without state rows
    /// (the partition is restored once from its raw events).
    pub format: u8,
    /// Wall time (ms): no row of a campaign the partition holds in memory
    /// is older (ARCHITECTURE.md, "Retention"); 0: unknown.
    pub retained_from_ms: i64,
    /// The rules-topic offset up to which every rule change has reached
    /// the partition's evicted campaigns (ARCHITECTURE.md, "Rules and
    /// evicted campaigns"); -1: unknown, every tenant with rules is swept.
    pub rules_offset: i64,
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

/// Written first by a snapshot: its version and the campaigns whose raw
/// events it writes (a restore finds an interrupted snapshot's raw events
/// through it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub partition: i32,
    pub version: u64,
    /// (tenant, campaign).
    pub campaigns: Vec<(String, String)>,
}

/// A campaign header as written by a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderRow {
    pub partition: i32,
    pub version: u64,
    /// Dropped from memory: not restored with its partition.
    pub evicted: bool,
    pub header: CampaignHeader,
}

/// A campaign as its latest state rows hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCampaign {
    pub partition: i32,
    pub header: CampaignHeader,
    /// The greatest version of each user record of the campaign.
    pub users: Vec<UserRecord>,
}

/// An evicted campaign as a rule change sees it: the alert book of its
/// latest header and its latest reports (ARCHITECTURE.md, "Rules and
/// evicted campaigns").
#[derive(Debug, Clone, PartialEq)]
pub struct EvictedView {
    pub partition: i32,
    pub tenant_id: String,
    pub campaign_id: String,
    pub book: alerting::AlertBook,
    /// The all-jobs report and each job's.
    pub reports: Vec<Report>,
}

/// What the state rows of some partitions hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionRows {
    /// Every live (not evicted) campaign.
    pub live: Vec<StoredCampaign>,
    /// (partition, tenant, campaign) of every evicted one: a late event
    /// reloads it.
    pub evicted: Vec<(i32, String, String)>,
}

/// Everything one snapshot writes, in this order: the intents, raw events
/// and reports, journeys (the user records), headers, then checkpoints.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The epoch each partition is written in (raw events carry it; the
    /// other rows carry it in their versions).
    pub epochs: BTreeMap<i32, u64>,
    pub intents: Vec<Intent>,
    pub raw: Vec<RawEvent>,
    pub reports: Vec<(i32, u64, Report)>,
    pub journeys: Vec<(i32, u64, Journey)>,
    pub headers: Vec<HeaderRow>,
    pub checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub message: String,
}

/// Durable storage of raw events, state rows, reports and checkpoints.
pub trait Store: Send + Sync + 'static {
    /// Claim a partition for a new owner: a new epoch, greater than every
    /// earlier one. From then on, rows of earlier epochs are not taken.
    fn claim(
        &self,
        partition: i32,
        owner: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// The current epoch of each of these partitions (its latest claim);
    /// a partition never claimed is absent. A snapshot reads it after its
    /// checkpoint, before its alert transitions leave: a partition claimed
    /// meanwhile may have refused the checkpoint (ARCHITECTURE.md,
    /// "Alerts").
    fn current_epochs(
        &self,
        partitions: &[i32],
    ) -> impl Future<Output = Result<BTreeMap<i32, u64>, StoreError>> + Send;
    /// The latest complete checkpoint of a partition.
    fn checkpoint(
        &self,
        partition: i32,
    ) -> impl Future<Output = Result<Option<Checkpoint>, StoreError>> + Send;
    /// The highest version any row of the partition may have (committed or
    /// not), so new versions can be made strictly greater.
    fn version_floor(&self, partition: i32)
        -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Every live (not evicted) campaign of these partitions, from the
    /// latest version of its header and of each of its user records, and
    /// the keys of the evicted ones.
    fn partition_rows(
        &self,
        partitions: &[i32],
    ) -> impl Future<Output = Result<PartitionRows, StoreError>> + Send;
    /// One campaign of a partition, evicted or not (to reload it).
    fn campaign(
        &self,
        partition: i32,
        tenant_id: &str,
        campaign_id: &str,
    ) -> impl Future<Output = Result<Option<StoredCampaign>, StoreError>> + Send;
    /// The evicted campaigns of `tenants` in `partitions`, each with the
    /// alert book of its latest header and its latest reports.
    fn evicted_views(
        &self,
        partitions: &[i32],
        tenants: &[String],
    ) -> impl Future<Output = Result<Vec<EvictedView>, StoreError>> + Send;
    /// The raw events of the partition at or beyond the checkpoint's offsets
    /// (every one without a checkpoint) of the campaigns named by intents
    /// newer than the checkpoint: what an interrupted snapshot wrote.
    fn tail(
        &self,
        partition: i32,
        checkpoint: Option<&Checkpoint>,
        topics: &[String; 3],
    ) -> impl Future<Output = Result<Vec<RawEvent>, StoreError>> + Send;
    /// Bring the rollup views of these raw events (which landed) back in
    /// line with `events_raw`, in case their insert was cut off between the
    /// table's part and the views' parts. Idempotent.
    fn repair_rollups(
        &self,
        raw: &[RawEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every raw event of these partitions, sent to `out` in batches in no
    /// particular order (the one-time restore of a partition checkpointed
    /// before state rows existed). Stops early, without error, when `out`
    /// is closed.
    fn raw_events(
        &self,
        partitions: &[i32],
        out: RawSink,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Write reports ahead of their snapshot (partition, version, report):
    /// while a snapshot is being written, the next one's reports go at
    /// once (ARCHITECTURE.md, "Reports ahead"). They need no order with
    /// any other write: no restore reads them.
    fn write_reports(
        &self,
        reports: &[(i32, u64, Report)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Write one snapshot, in the order of [`Snapshot`]. Must be safe to
    /// call again with the same snapshot after an error: raw events that
    /// already landed are not written twice.
    fn write(&self, snapshot: &Snapshot) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How far an injected write failure lets a snapshot get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAfter {
    /// Nothing is written.
    Nothing,
    /// Intents, raw events and reports land.
    Raw,
    /// Intents, raw events, reports and the first half of the user records
    /// land.
    HalfJourneys,
    /// Everything but the checkpoints lands.
    Rows,
}

/// An in-memory [`Store`] whose writes can be made to fail.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

/// (tenant, campaign, job, user).
pub type UserKey = (String, String, String, String);

#[derive(Debug, Default)]
pub struct MemoryInner {
    pub raw: Vec<RawEvent>,
    pub reports: BTreeMap<(String, String, String), (u64, Report)>,
    /// Latest user record per (tenant, campaign, job, user): version,
    /// partition, journey.
    pub journeys: BTreeMap<UserKey, (u64, i32, Journey)>,
    /// Latest header per (tenant, campaign).
    pub headers: BTreeMap<(String, String), HeaderRow>,
    pub intents: BTreeMap<i32, Vec<Intent>>,
    pub checkpoints: BTreeMap<i32, Checkpoint>,
    pub max_versions: BTreeMap<i32, u64>,
    /// Fail this many writes before succeeding.
    pub fail_writes: u32,
    /// How far a failing write gets.
    pub fail_after: Option<FailAfter>,
    pub writes: u32,
    /// How long each snapshot write takes (a slow store).
    pub write_delay: std::time::Duration,
    /// Reports written ahead of their snapshots, in order: (version,
    /// reports).
    pub reports_ahead: Vec<(u64, usize)>,
    /// Every snapshot written in full, in order (tests replay them, or
    /// parts of them, into another store).
    pub log: Vec<Snapshot>,
    /// The current epoch of each claimed partition.
    pub epochs: BTreeMap<i32, u64>,
    /// Rows refused because their partition's epoch had moved on.
    pub fenced: usize,
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

impl MemoryInner {
    fn stored(&self, key: &(String, String)) -> Option<StoredCampaign> {
        let h = self.headers.get(key)?;
        let users = self
            .journeys
            .iter()
            .filter(|((t, c, _, _), _)| (t, c) == (&key.0, &key.1))
            .map(|(_, (_, _, j))| j.to_user_record())
            .collect();
        Some(StoredCampaign {
            partition: h.partition,
            header: h.header.clone(),
            users,
        })
    }

    fn bump(&mut self, p: i32, v: u64) {
        let m = self.max_versions.entry(p).or_default();
        *m = (*m).max(v);
    }

    /// What a write of `snapshot` cut off after `stage` leaves behind (a
    /// crash in the middle of a snapshot).
    pub fn write_partially(&mut self, snapshot: &Snapshot, stage: FailAfter) {
        match stage {
            FailAfter::Nothing => {}
            FailAfter::Raw => {
                self.write_raw(snapshot);
                self.write_reports(snapshot);
            }
            FailAfter::HalfJourneys => {
                self.write_raw(snapshot);
                self.write_reports(snapshot);
                let half = snapshot.journeys.len() / 2;
                self.write_journeys(&snapshot.journeys[..half]);
            }
            FailAfter::Rows => {
                self.write_raw(snapshot);
                self.write_reports(snapshot);
                self.write_journeys(&snapshot.journeys);
                self.write_headers(snapshot);
            }
        }
    }

    /// Whether a row of this partition and version is its current owner's.
    fn current(&mut self, partition: i32, version: u64) -> bool {
        let ok = self.epochs.get(&partition) == Some(&epoch_of(version));
        if !ok {
            self.fenced += 1;
        }
        ok
    }

    fn write_raw(&mut self, snapshot: &Snapshot) {
        for i in &snapshot.intents {
            if !self.current(i.partition, i.version) {
                continue;
            }
            self.bump(i.partition, i.version);
            self.intents.entry(i.partition).or_default().push(i.clone());
        }
        for r in &snapshot.raw {
            let epoch = snapshot.epochs.get(&r.partition).copied();
            if epoch.is_none() || self.epochs.get(&r.partition).copied() != epoch {
                self.fenced += 1;
                continue;
            }
            if !self
                .raw
                .iter()
                .any(|x| x.event.event_id() == r.event.event_id())
            {
                self.raw.push(r.clone());
            }
        }
    }

    fn write_journeys(&mut self, journeys: &[(i32, u64, Journey)]) {
        for (p, v, j) in journeys {
            if !self.current(*p, *v) {
                continue;
            }
            let key = (
                j.tenant_id.clone(),
                j.campaign_id.clone(),
                j.job_id.clone(),
                j.user_id.clone(),
            );
            if self.journeys.get(&key).is_none_or(|(old, _, _)| old <= v) {
                self.journeys.insert(key, (*v, *p, j.clone()));
            }
            self.bump(*p, *v);
        }
    }

    fn write_headers(&mut self, snapshot: &Snapshot) {
        for h in &snapshot.headers {
            if !self.current(h.partition, h.version) {
                continue;
            }
            let key = (h.header.tenant_id.clone(), h.header.campaign_id.clone());
            if self
                .headers
                .get(&key)
                .is_none_or(|old| old.version <= h.version)
            {
                self.headers.insert(key, h.clone());
            }
        }
    }

    /// The reports land with the raw events (ARCHITECTURE.md, "What a
    /// snapshot writes").
    fn write_reports(&mut self, snapshot: &Snapshot) {
        for (p, v, r) in &snapshot.reports {
            if !self.current(*p, *v) {
                continue;
            }
            let key = (
                r.tenant_id.clone(),
                r.campaign_id.clone(),
                r.job_id.clone().unwrap_or_default(),
            );
            // The greatest version wins, as in ClickHouse (reports written
            // ahead may land after their snapshot's).
            if self.reports.get(&key).is_none_or(|(old, _)| old <= v) {
                self.reports.insert(key, (*v, r.clone()));
            }
            self.bump(*p, *v);
        }
    }
}

impl Store for MemoryStore {
    async fn claim(&self, partition: i32, _owner: &str) -> Result<u64, StoreError> {
        Ok(self.with(|s| {
            let e = s.epochs.entry(partition).or_default();
            *e += 1;
            *e
        }))
    }

    async fn current_epochs(&self, partitions: &[i32]) -> Result<BTreeMap<i32, u64>, StoreError> {
        Ok(self.with(|s| {
            partitions
                .iter()
                .filter_map(|p| s.epochs.get(p).map(|e| (*p, *e)))
                .collect()
        }))
    }

    async fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.with(|s| s.checkpoints.get(&partition).cloned()))
    }

    async fn version_floor(&self, partition: i32) -> Result<u64, StoreError> {
        Ok(self.with(|s| s.max_versions.get(&partition).copied().unwrap_or(0)))
    }

    async fn partition_rows(&self, partitions: &[i32]) -> Result<PartitionRows, StoreError> {
        Ok(self.with(|s| {
            let mut out = PartitionRows::default();
            for (k, h) in &s.headers {
                if !partitions.contains(&h.partition) {
                    continue;
                }
                if h.evicted {
                    out.evicted.push((h.partition, k.0.clone(), k.1.clone()));
                } else if let Some(c) = s.stored(k) {
                    out.live.push(c);
                }
            }
            out
        }))
    }

    async fn campaign(
        &self,
        partition: i32,
        tenant_id: &str,
        campaign_id: &str,
    ) -> Result<Option<StoredCampaign>, StoreError> {
        Ok(self.with(|s| {
            s.stored(&(tenant_id.to_string(), campaign_id.to_string()))
                .filter(|c| c.partition == partition)
        }))
    }

    async fn evicted_views(
        &self,
        partitions: &[i32],
        tenants: &[String],
    ) -> Result<Vec<EvictedView>, StoreError> {
        Ok(self.with(|s| {
            s.headers
                .iter()
                .filter(|((t, _), h)| {
                    h.evicted && partitions.contains(&h.partition) && tenants.contains(t)
                })
                .map(|((t, c), h)| EvictedView {
                    partition: h.partition,
                    tenant_id: t.clone(),
                    campaign_id: c.clone(),
                    book: h
                        .header
                        .alerts
                        .as_ref()
                        .map(|a| a.book.as_ref().clone())
                        .unwrap_or_default(),
                    reports: s
                        .reports
                        .iter()
                        .filter(|((rt, rc, _), _)| (rt, rc) == (t, c))
                        .map(|(_, (_, r))| r.clone())
                        .collect(),
                })
                .collect()
        }))
    }

    async fn tail(
        &self,
        partition: i32,
        checkpoint: Option<&Checkpoint>,
        topics: &[String; 3],
    ) -> Result<Vec<RawEvent>, StoreError> {
        let committed = checkpoint.map_or(0, |c| c.version);
        let offsets = checkpoint.map_or([None; 3], |c| c.offsets);
        Ok(self.with(|s| {
            let named: Vec<(String, String)> = s
                .intents
                .get(&partition)
                .into_iter()
                .flatten()
                .filter(|i| i.version > committed)
                .flat_map(|i| i.campaigns.iter().cloned())
                .collect();
            s.raw
                .iter()
                .filter(|r| {
                    r.partition == partition
                        && named
                            .iter()
                            .any(|(t, c)| t == r.event.tenant_id() && c == r.event.campaign_id())
                        && topics
                            .iter()
                            .position(|t| *t == r.topic)
                            .and_then(|i| offsets[i])
                            .is_none_or(|o| r.offset >= o)
                })
                .cloned()
                .collect()
        }))
    }

    async fn repair_rollups(&self, _raw: &[RawEvent]) -> Result<(), StoreError> {
        // No views in memory.
        Ok(())
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

    async fn write_reports(&self, reports: &[(i32, u64, Report)]) -> Result<(), StoreError> {
        self.with(|s| {
            let ahead = Snapshot {
                reports: reports.to_vec(),
                ..Snapshot::default()
            };
            s.write_reports(&ahead);
            let version = reports.iter().map(|(_, v, _)| *v).max().unwrap_or(0);
            s.reports_ahead.push((version, reports.len()));
        });
        Ok(())
    }

    async fn write(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let delay = self.with(|s| s.write_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.with(|s| {
            s.writes += 1;
            if s.fail_writes > 0 {
                s.fail_writes -= 1;
                s.write_partially(snapshot, s.fail_after.unwrap_or(FailAfter::Nothing));
                return Err(StoreError {
                    operation: "write",
                    message: "injected failure".into(),
                });
            }
            s.write_partially(snapshot, FailAfter::Rows);
            for c in &snapshot.checkpoints {
                if s.current(c.partition, c.version) {
                    s.checkpoints.insert(c.partition, c.clone());
                }
            }
            s.log.push(snapshot.clone());
            Ok(())
        })
    }
}
