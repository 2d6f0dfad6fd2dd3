//! Reports and journeys as of the latest checkpoint of their partition.
//!
//! A row is visible when its version is at most its partition's
//! checkpointed version; per key the greatest visible version wins. Rows of
//! a snapshot whose checkpoint never landed stay invisible.

use processor::clickhouse::snapshot_rows::{JourneyRow, ReportRow};

use super::ReadError;

/// Committed version per partition, as a subquery to join on.
const COMMITTED: &str =
    "(SELECT partition, max(version) AS committed FROM checkpoints GROUP BY partition)";

/// Visible reports, optionally of one tenant, ordered by (tenant, campaign, job).
pub async fn visible_reports(
    client: &clickhouse::Client,
    tenant: Option<&str>,
) -> Result<Vec<ReportRow>, ReadError> {
    let sql = format!(
        "SELECT ?fields FROM campaign_reports \
         WHERE (tenant_id, campaign_id, job_id, version) IN ( \
           SELECT tenant_id, campaign_id, job_id, max(version) \
           FROM campaign_reports ANY INNER JOIN {COMMITTED} USING partition \
           WHERE version <= committed AND (? = '' OR tenant_id = ?) \
           GROUP BY tenant_id, campaign_id, job_id) \
         ORDER BY tenant_id, campaign_id, job_id \
         LIMIT 1 BY tenant_id, campaign_id, job_id"
    );
    let t = tenant.unwrap_or_default();
    Ok(client.query(&sql).bind(t).bind(t).fetch_all().await?)
}

/// Visible journeys, optionally of one tenant, ordered by (tenant, campaign, job, user).
pub async fn visible_journeys(
    client: &clickhouse::Client,
    tenant: Option<&str>,
) -> Result<Vec<JourneyRow>, ReadError> {
    let sql = format!(
        "SELECT ?fields FROM journeys \
         WHERE (tenant_id, campaign_id, job_id, user_id, version) IN ( \
           SELECT tenant_id, campaign_id, job_id, user_id, max(version) \
           FROM journeys ANY INNER JOIN {COMMITTED} USING partition \
           WHERE version <= committed AND (? = '' OR tenant_id = ?) \
           GROUP BY tenant_id, campaign_id, job_id, user_id) \
         ORDER BY tenant_id, campaign_id, job_id, user_id \
         LIMIT 1 BY tenant_id, campaign_id, job_id, user_id"
    );
    let t = tenant.unwrap_or_default();
    Ok(client.query(&sql).bind(t).bind(t).fetch_all().await?)
}
