//! [`Reader`] over the processor's ClickHouse database.

use chrono::NaiveDate;
use futures_util::{StreamExt, TryStreamExt};
use storage::rows::{JourneyRow, ReportRow};

use super::reader::{
    CampaignQuery, JourneyQuery, Reader, ReportScope, ReportSet, RowStream, VersionRange,
};
use super::{overview, snapshots, Granularity, Period, ReadError};

/// Reads through one client (cheap to clone: it shares the connection pool).
#[derive(Clone)]
pub struct ClickHouseReader {
    client: clickhouse::Client,
}

impl std::fmt::Debug for ClickHouseReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseReader").finish_non_exhaustive()
    }
}

impl ClickHouseReader {
    /// A reader of the database the client is bound to (for 18.16 the
    /// client needs `with_validation(false)`, as
    /// `storage::ClickHouseConfig::client` sets).
    pub fn new(client: clickhouse::Client) -> Self {
        ClickHouseReader { client }
    }
}

impl Reader for ClickHouseReader {
    async fn ping(&self) -> Result<(), ReadError> {
        self.client
            .query("SELECT 1 FROM checkpoints LIMIT 1")
            .fetch_all::<u8>()
            .await?;
        Ok(())
    }

    async fn report(
        &self,
        tenant: &str,
        campaign: &str,
        job: Option<&str>,
    ) -> Result<Option<ReportRow>, ReadError> {
        snapshots::report(&self.client, tenant, campaign, job.unwrap_or_default()).await
    }

    async fn jobs(&self, tenant: &str, campaign: &str) -> Result<Vec<ReportRow>, ReadError> {
        snapshots::jobs(&self.client, tenant, campaign).await
    }

    async fn campaigns(&self, query: CampaignQuery) -> Result<RowStream<ReportRow>, ReadError> {
        let filtered = query.status.is_some() || query.updated_since.is_some();
        if let (true, Some(limit)) = (filtered, query.limit) {
            let rows =
                snapshots::campaigns_page(&self.client, &query, limit, snapshots::FILTER_CHUNK)
                    .await?;
            return Ok(futures_util::stream::iter(rows.into_iter().map(Ok)).boxed());
        }
        let cursor = snapshots::campaigns(&self.client, &query)?;
        Ok(cursor.map_err(ReadError::from).boxed())
    }

    async fn journeys(&self, query: JourneyQuery) -> Result<RowStream<JourneyRow>, ReadError> {
        if let (true, Some(limit)) = (query.completed.is_some(), query.limit) {
            let rows =
                snapshots::journeys_page(&self.client, &query, limit, snapshots::FILTER_CHUNK)
                    .await?;
            return Ok(futures_util::stream::iter(rows.into_iter().map(Ok)).boxed());
        }
        let cursor = snapshots::journeys(&self.client, &query)?;
        Ok(cursor.map_err(ReadError::from).boxed())
    }

    async fn journey(
        &self,
        tenant: &str,
        campaign: &str,
        job: &str,
        user: &str,
    ) -> Result<Option<JourneyRow>, ReadError> {
        snapshots::journey(&self.client, tenant, campaign, job, user).await
    }

    async fn checkpoints(&self) -> Result<Vec<(i32, u64)>, ReadError> {
        snapshots::checkpoints(&self.client).await
    }

    async fn report_set(&self, set: &ReportSet) -> Result<Vec<ReportRow>, ReadError> {
        snapshots::report_set(&self.client, set).await
    }

    async fn reports_between(
        &self,
        scope: &ReportScope,
        ranges: &[VersionRange],
    ) -> Result<Vec<ReportRow>, ReadError> {
        snapshots::reports_between(&self.client, scope, ranges).await
    }

    async fn overview(
        &self,
        tenant: &str,
        granularity: Granularity,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Period>, ReadError> {
        overview::overview(&self.client, Some(tenant), granularity, from, to).await
    }
}
