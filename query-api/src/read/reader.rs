//! The seam between HTTP and storage: what the API asks, never how.
//!
//! Every method is scoped to one tenant; the HTTP layer has already
//! decided which tenant a request may read. Lists are keyset-paginated:
//! `after` is the last key of the previous page (raw bytes, as a cursor may
//! carry any), `limit` the most rows wanted (`None`: every matching row,
//! which the exports stream).

use std::future::Future;

use chrono::NaiveDate;
use futures_util::stream::BoxStream;
use storage::rows::{JourneyRow, ReportRow};

use super::{Granularity, Period, ReadError};

/// Rows as they arrive from the store.
pub type RowStream<T> = BoxStream<'static, Result<T, ReadError>>;

/// The campaign list: all-jobs reports of one tenant, by campaign id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignQuery {
    pub tenant: String,
    /// Only campaigns with this status.
    pub status: Option<String>,
    /// Only reports whose snapshot is at or after this many seconds since
    /// the epoch.
    pub updated_since: Option<u32>,
    /// Campaign ids greater than this (bytewise).
    pub after: Option<Vec<u8>>,
    pub limit: Option<u64>,
}

/// The journeys of one job, by user id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JourneyQuery {
    pub tenant: String,
    pub campaign: String,
    pub job: String,
    /// Only completed (`true`) or not completed (`false`) journeys.
    pub completed: Option<bool>,
    /// User ids greater than this (bytewise).
    pub after: Option<Vec<u8>>,
    pub limit: Option<u64>,
}

/// The reports written by the snapshots of one partition whose versions
/// lie in `(after, upto]`: what its checkpoints committed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    pub partition: i32,
    pub after: u64,
    pub upto: u64,
}

/// Which reports a [`Reader::reports_between`] read keeps: `None` is any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReportScope {
    pub tenant: Option<String>,
    pub campaign: Option<String>,
    /// `Some("")`: the all-jobs reports only.
    pub job: Option<String>,
}

/// Several reports of one tenant read together (a saved dashboard's):
/// every all-jobs report of the tenant when `all_campaigns`, and the
/// reports of `keys` (campaign, job; `""` for all jobs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportSet {
    pub tenant: String,
    pub all_campaigns: bool,
    pub keys: Vec<(String, String)>,
}

/// What the HTTP layer reads. Implementations: [`super::ClickHouseReader`]
/// and, for tests, [`super::MemoryReader`].
pub trait Reader: Clone + Send + Sync + 'static {
    /// Whether the store answers (readiness).
    fn ping(&self) -> impl Future<Output = Result<(), ReadError>> + Send;

    /// The visible report of a campaign over all jobs (`job` `None`) or of
    /// one job.
    fn report(
        &self,
        tenant: &str,
        campaign: &str,
        job: Option<&str>,
    ) -> impl Future<Output = Result<Option<ReportRow>, ReadError>> + Send;

    /// The visible per-job reports of a campaign, ordered by job id.
    fn jobs(
        &self,
        tenant: &str,
        campaign: &str,
    ) -> impl Future<Output = Result<Vec<ReportRow>, ReadError>> + Send;

    /// Visible all-jobs reports, ordered by campaign id.
    fn campaigns(
        &self,
        query: CampaignQuery,
    ) -> impl Future<Output = Result<RowStream<ReportRow>, ReadError>> + Send;

    /// Visible journeys of one job, ordered by user id.
    fn journeys(
        &self,
        query: JourneyQuery,
    ) -> impl Future<Output = Result<RowStream<JourneyRow>, ReadError>> + Send;

    /// One visible journey.
    fn journey(
        &self,
        tenant: &str,
        campaign: &str,
        job: &str,
        user: &str,
    ) -> impl Future<Output = Result<Option<JourneyRow>, ReadError>> + Send;

    /// The visible reports of `set`, ordered by (campaign, job), all read
    /// by one query: one read of the table, so that they are as of one
    /// moment (a snapshot's reports land in one insert, so no snapshot is
    /// seen in part).
    fn report_set(
        &self,
        set: &ReportSet,
    ) -> impl Future<Output = Result<Vec<ReportRow>, ReadError>> + Send;

    /// The latest checkpointed version of every partition that has one,
    /// by partition.
    fn checkpoints(&self) -> impl Future<Output = Result<Vec<(i32, u64)>, ReadError>> + Send;

    /// Of the reports in `scope` whose (partition, version) lies in one of
    /// `ranges`, the greatest version of each key (tenant, campaign, job).
    /// No ranges: no rows.
    fn reports_between(
        &self,
        scope: &ReportScope,
        ranges: &[VersionRange],
    ) -> impl Future<Output = Result<Vec<ReportRow>, ReadError>> + Send;

    /// The tenant's overview periods starting in `[from, to]` that had
    /// events, ordered by period.
    fn overview(
        &self,
        tenant: &str,
        granularity: Granularity,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Future<Output = Result<Vec<Period>, ReadError>> + Send;
}
