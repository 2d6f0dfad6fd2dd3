//! [`Reader`] over rows held in memory, for router tests: the rows given
//! are the visible ones. [`MemoryReader::set_down`] simulates ClickHouse
//! being unreachable (every read fails), [`MemoryReader::set_delay`] a
//! slow one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::NaiveDate;
use futures_util::stream::{self, StreamExt};
use storage::rows::{JourneyRow, ReportRow};

use super::reader::{
    CampaignQuery, JourneyQuery, Reader, ReportScope, ReportSet, RowStream, VersionRange,
};
use super::{Granularity, Period, ReadError};

#[derive(Debug, Default)]
struct Data {
    reports: Vec<ReportRow>,
    checkpoints: std::collections::BTreeMap<i32, u64>,
    journeys: Vec<JourneyRow>,
    periods: Vec<(Granularity, Period)>,
}

/// Cheap to clone: clones share the rows and the down switch.
#[derive(Debug, Clone, Default)]
pub struct MemoryReader {
    data: Arc<RwLock<Data>>,
    down: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
}

impl MemoryReader {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_report(&self, row: ReportRow) {
        if let Ok(mut d) = self.data.write() {
            d.reports.push(row);
        }
    }

    /// Replace the report of the row's key (tenant, campaign, job), or add
    /// it: a snapshot's newer version.
    pub fn put_report(&self, row: ReportRow) {
        if let Ok(mut d) = self.data.write() {
            d.reports.retain(|r| {
                (&r.tenant_id, &r.campaign_id, &r.job_id)
                    != (&row.tenant_id, &row.campaign_id, &row.job_id)
            });
            d.reports.push(row);
        }
    }

    /// A partition's checkpoint reaches `version`.
    pub fn set_checkpoint(&self, partition: i32, version: u64) {
        if let Ok(mut d) = self.data.write() {
            d.checkpoints.insert(partition, version);
        }
    }

    pub fn add_journey(&self, row: JourneyRow) {
        if let Ok(mut d) = self.data.write() {
            d.journeys.push(row);
        }
    }

    pub fn add_period(&self, granularity: Granularity, period: Period) {
        if let Ok(mut d) = self.data.write() {
            d.periods.push((granularity, period));
        }
    }

    /// While `down`, every read fails as an unreachable ClickHouse would.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every read first waits this long.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    async fn gate(&self) -> Result<(), ReadError> {
        let ms = self.delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        self.check()
    }

    fn check(&self) -> Result<(), ReadError> {
        if self.down.load(Ordering::SeqCst) {
            Err(ReadError::Unavailable("simulated outage".into()))
        } else {
            Ok(())
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Data) -> T) -> Result<T, ReadError> {
        self.check()?;
        let data = self
            .data
            .read()
            .map_err(|_| ReadError::Unavailable("poisoned".into()))?;
        Ok(f(&data))
    }
}

fn after(key: &str, after: &Option<Vec<u8>>) -> bool {
    after.as_deref().is_none_or(|a| key.as_bytes() > a)
}

fn take<T>(mut rows: Vec<T>, limit: Option<u64>) -> Vec<T> {
    if let Some(limit) = limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    rows
}

impl Reader for MemoryReader {
    async fn ping(&self) -> Result<(), ReadError> {
        self.gate().await
    }

    async fn report(
        &self,
        tenant: &str,
        campaign: &str,
        job: Option<&str>,
    ) -> Result<Option<ReportRow>, ReadError> {
        self.gate().await?;
        let job = job.unwrap_or_default();
        self.read(|d| {
            d.reports
                .iter()
                .find(|r| r.tenant_id == tenant && r.campaign_id == campaign && r.job_id == job)
                .cloned()
        })
    }

    async fn jobs(&self, tenant: &str, campaign: &str) -> Result<Vec<ReportRow>, ReadError> {
        self.gate().await?;
        self.read(|d| {
            let mut rows: Vec<ReportRow> = d
                .reports
                .iter()
                .filter(|r| {
                    r.tenant_id == tenant && r.campaign_id == campaign && !r.job_id.is_empty()
                })
                .cloned()
                .collect();
            rows.sort_by(|a, b| a.job_id.cmp(&b.job_id));
            rows
        })
    }

    async fn campaigns(&self, q: CampaignQuery) -> Result<RowStream<ReportRow>, ReadError> {
        self.gate().await?;
        let rows = self.read(|d| {
            let mut rows: Vec<ReportRow> = d
                .reports
                .iter()
                .filter(|r| {
                    r.tenant_id == q.tenant
                        && r.job_id.is_empty()
                        && after(&r.campaign_id, &q.after)
                        && q.status.as_ref().is_none_or(|s| &r.status == s)
                        && q.updated_since.is_none_or(|t| r.snapshot_at >= t)
                })
                .cloned()
                .collect();
            rows.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
            take(rows, q.limit)
        })?;
        Ok(stream::iter(rows.into_iter().map(Ok)).boxed())
    }

    async fn journeys(&self, q: JourneyQuery) -> Result<RowStream<JourneyRow>, ReadError> {
        self.gate().await?;
        let rows = self.read(|d| {
            let mut rows: Vec<JourneyRow> = d
                .journeys
                .iter()
                .filter(|j| {
                    j.tenant_id == q.tenant
                        && j.campaign_id == q.campaign
                        && j.job_id == q.job
                        && after(&j.user_id, &q.after)
                        && q.completed.is_none_or(|c| (j.completed != 0) == c)
                })
                .cloned()
                .collect();
            rows.sort_by(|a, b| a.user_id.cmp(&b.user_id));
            take(rows, q.limit)
        })?;
        Ok(stream::iter(rows.into_iter().map(Ok)).boxed())
    }

    async fn journey(
        &self,
        tenant: &str,
        campaign: &str,
        job: &str,
        user: &str,
    ) -> Result<Option<JourneyRow>, ReadError> {
        self.gate().await?;
        self.read(|d| {
            d.journeys
                .iter()
                .find(|j| {
                    j.tenant_id == tenant
                        && j.campaign_id == campaign
                        && j.job_id == job
                        && j.user_id == user
                })
                .cloned()
        })
    }

    async fn checkpoints(&self) -> Result<Vec<(i32, u64)>, ReadError> {
        self.gate().await?;
        self.read(|d| d.checkpoints.iter().map(|(p, v)| (*p, *v)).collect())
    }

    async fn report_set(&self, set: &ReportSet) -> Result<Vec<ReportRow>, ReadError> {
        self.gate().await?;
        self.read(|d| {
            let mut rows: Vec<ReportRow> = d
                .reports
                .iter()
                .filter(|r| {
                    r.tenant_id == set.tenant
                        && ((set.all_campaigns && r.job_id.is_empty())
                            || set
                                .keys
                                .iter()
                                .any(|(c, j)| *c == r.campaign_id && *j == r.job_id))
                })
                .cloned()
                .collect();
            rows.sort_by(|a, b| (&a.campaign_id, &a.job_id).cmp(&(&b.campaign_id, &b.job_id)));
            rows
        })
    }

    async fn reports_between(
        &self,
        scope: &ReportScope,
        ranges: &[VersionRange],
    ) -> Result<Vec<ReportRow>, ReadError> {
        self.gate().await?;
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        self.read(|d| {
            let mut rows: Vec<ReportRow> = d
                .reports
                .iter()
                .filter(|r| {
                    is(&scope.tenant, &r.tenant_id)
                        && is(&scope.campaign, &r.campaign_id)
                        && is(&scope.job, &r.job_id)
                        && ranges.iter().any(|g| {
                            g.partition == r.partition && r.version > g.after && r.version <= g.upto
                        })
                })
                .cloned()
                .collect();
            rows.sort_by(|a, b| {
                (&a.tenant_id, &a.campaign_id, &a.job_id).cmp(&(
                    &b.tenant_id,
                    &b.campaign_id,
                    &b.job_id,
                ))
            });
            rows
        })
    }

    async fn overview(
        &self,
        tenant: &str,
        granularity: Granularity,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Period>, ReadError> {
        self.gate().await?;
        self.read(|d| {
            let mut periods: Vec<Period> = d
                .periods
                .iter()
                .filter(|(g, p)| {
                    *g == granularity
                        && p.tenant_id == tenant
                        && p.period_start >= from
                        && p.period_start <= to
                })
                .map(|(_, p)| p.clone())
                .collect();
            periods.sort_by_key(|p| p.period_start);
            periods
        })
    }
}
