//! Reports and journeys: per key, the row of the greatest version.
//!
//! Every row the processor writes is durable when it lands (it reflects
//! only events whose raw rows landed before it, and a restart restores at
//! least that state: ARCHITECTURE.md, "Persisted state"), so the greatest
//! version is the one to show, checkpointed or not. A background merge of
//! the `ReplacingMergeTree` keeps exactly that row: nothing a reader sees
//! can vanish.
//!
//! The bulk reads ([`visible_reports`], [`visible_journeys`]) serve the
//! end-to-end tests. The API's reads filter by a prefix of the tables'
//! primary key (tenant, campaign[, job][, user]) before the join, so a
//! request reads a few granules whatever the table size: one key (a report,
//! a journey) is its greatest visible version (key, partition and version
//! columns only), then the row of that version; a list keeps the rows
//! whose (key, version) is in the set of (key, greatest visible version),
//! both levels filtered by the prefix. The outer level filters in
//! `PREWHERE`: ClickHouse then reads the wide columns (report nodes and
//! funnel, journey steps) only of granules that hold a wanted row. (Its
//! automatic move to PREWHERE took the cheapest-looking condition alone,
//! e.g. `job_id = ''`, which every granule passes: a report request read
//! all columns of 4 granules, 84 MB, in about 100 ms of ClickHouse CPU on
//! the 10 000-campaign benchmark.) Every value comes from a `?` bind; the
//! SQL text is made of constants only.

use storage::rows::{JourneyRow, ReportRow};

use super::reader::{CampaignQuery, JourneyQuery, ReportScope, ReportSet, VersionRange};
use super::ReadError;

/// Visible reports, optionally of one tenant, ordered by (tenant, campaign, job).
pub async fn visible_reports(
    client: &clickhouse::Client,
    tenant: Option<&str>,
) -> Result<Vec<ReportRow>, ReadError> {
    let sql = "SELECT ?fields FROM campaign_reports \
         WHERE (tenant_id, campaign_id, job_id, version) IN ( \
           SELECT tenant_id, campaign_id, job_id, max(version) \
           FROM campaign_reports \
           WHERE (? = '' OR tenant_id = ?) \
           GROUP BY tenant_id, campaign_id, job_id) \
         ORDER BY tenant_id, campaign_id, job_id \
         LIMIT 1 BY tenant_id, campaign_id, job_id";
    let t = tenant.unwrap_or_default();
    Ok(client.query(sql).bind(t).bind(t).fetch_all().await?)
}

/// Visible journeys, optionally of one tenant, ordered by (tenant, campaign, job, user).
pub async fn visible_journeys(
    client: &clickhouse::Client,
    tenant: Option<&str>,
) -> Result<Vec<JourneyRow>, ReadError> {
    let sql = "SELECT ?fields FROM journeys \
         WHERE (tenant_id, campaign_id, job_id, user_id, version) IN ( \
           SELECT tenant_id, campaign_id, job_id, user_id, max(version) \
           FROM journeys \
           WHERE (? = '' OR tenant_id = ?) \
           GROUP BY tenant_id, campaign_id, job_id, user_id) \
         ORDER BY tenant_id, campaign_id, job_id, user_id \
         LIMIT 1 BY tenant_id, campaign_id, job_id, user_id";
    let t = tenant.unwrap_or_default();
    Ok(client.query(sql).bind(t).bind(t).fetch_all().await?)
}

/// The key-prefix filter of a per-request read; its `?` binds are the
/// same in the outer query and in the inner subquery.
#[derive(Debug, Clone, Copy)]
enum Prefix {
    /// One report: tenant, campaign, job (`''` for all jobs).
    Report,
    /// The per-job reports of a campaign.
    Jobs,
    /// The all-jobs reports of a tenant after a campaign id (hex bind).
    Campaigns,
    /// One journey: tenant, campaign, job, user.
    Journey,
    /// The journeys of a job after a user id (hex bind).
    Journeys,
}

impl Prefix {
    fn table(self) -> &'static str {
        match self {
            Prefix::Report | Prefix::Jobs | Prefix::Campaigns => "campaign_reports",
            Prefix::Journey | Prefix::Journeys => "journeys",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Prefix::Report | Prefix::Jobs | Prefix::Campaigns => "tenant_id, campaign_id, job_id",
            Prefix::Journey | Prefix::Journeys => "tenant_id, campaign_id, job_id, user_id",
        }
    }

    fn filter(self) -> &'static str {
        match self {
            Prefix::Report => "tenant_id = ? AND campaign_id = ? AND job_id = ?",
            Prefix::Jobs => "tenant_id = ? AND campaign_id = ? AND job_id != ''",
            Prefix::Campaigns => "tenant_id = ? AND job_id = '' AND campaign_id > unhex(?)",
            Prefix::Journey => "tenant_id = ? AND campaign_id = ? AND job_id = ? AND user_id = ?",
            Prefix::Journeys => {
                "tenant_id = ? AND campaign_id = ? AND job_id = ? AND user_id > unhex(?)"
            }
        }
    }
}

/// `SELECT ?fields` of the visible rows of the prefix, with `extra` (more
/// conditions on the visible row, starting with ` AND`), `inner_tail`
/// (ORDER BY/LIMIT of the inner subquery) and `tail` (ORDER BY/LIMIT BY/
/// LIMIT) appended. Binds: the prefix's, the prefix's again, then those of
/// `inner_tail`, `extra` and `tail` in that order.
fn visible_sql(prefix: Prefix, inner_tail: &str, extra: &str, tail: &str) -> String {
    let (table, key, filter) = (prefix.table(), prefix.key(), prefix.filter());
    format!(
        "SELECT ?fields FROM {table} \
         PREWHERE {filter} \
           AND ({key}, version) IN ( \
             SELECT {key}, max(version) \
             FROM {table} WHERE {filter} \
             GROUP BY {key}{inner_tail}){extra} \
         {tail}"
    )
}

/// `SELECT ?fields` of the one visible row of a single key (the prefix
/// names the whole key): the greatest version of the key's rows (a scalar
/// subquery reading the key and version columns; 0, matching no row, when
/// there is none), then the row of that version. Binds: the prefix's,
/// twice.
fn one_sql(prefix: Prefix) -> String {
    let (table, filter) = (prefix.table(), prefix.filter());
    format!(
        "SELECT ?fields FROM {table} \
         PREWHERE {filter} \
           AND version = (SELECT max(version) FROM {table} WHERE {filter}) \
         LIMIT 1"
    )
}

/// The visible report of (tenant, campaign, job); `job` `""` is the
/// all-jobs report.
pub async fn report(
    client: &clickhouse::Client,
    tenant: &str,
    campaign: &str,
    job: &str,
) -> Result<Option<ReportRow>, ReadError> {
    let sql = one_sql(Prefix::Report);
    let mut q = client.query(&sql);
    for _ in 0..2 {
        q = q.bind(tenant).bind(campaign).bind(job);
    }
    Ok(q.fetch_optional().await?)
}

/// The visible per-job reports of a campaign, ordered by job id.
pub async fn jobs(
    client: &clickhouse::Client,
    tenant: &str,
    campaign: &str,
) -> Result<Vec<ReportRow>, ReadError> {
    let sql = visible_sql(Prefix::Jobs, "", "", "ORDER BY job_id LIMIT 1 BY job_id");
    let mut q = client.query(&sql);
    for _ in 0..2 {
        q = q.bind(tenant).bind(campaign);
    }
    Ok(q.fetch_all().await?)
}

/// The conditions of a campaign list's filters on the visible row (`extra`
/// of [`visible_sql`]), bound by [`bind_campaign_filters`].
fn campaign_filters(query: &CampaignQuery) -> String {
    let mut extra = String::new();
    if query.status.is_some() {
        extra.push_str(" AND status = ?");
    }
    if query.updated_since.is_some() {
        extra.push_str(" AND snapshot_at >= toDateTime(?)");
    }
    extra
}

fn bind_campaign_filters(
    mut q: clickhouse::query::Query,
    query: &CampaignQuery,
) -> clickhouse::query::Query {
    if let Some(status) = &query.status {
        q = q.bind(status.as_str());
    }
    if let Some(since) = query.updated_since {
        q = q.bind(since);
    }
    q
}

/// The condition of a journey list's `completed` filter, bound by
/// [`bind_journey_filter`].
fn journey_filter(query: &JourneyQuery) -> &'static str {
    if query.completed.is_some() {
        " AND completed = ?"
    } else {
        ""
    }
}

fn bind_journey_filter(
    q: clickhouse::query::Query,
    query: &JourneyQuery,
) -> clickhouse::query::Query {
    match query.completed {
        Some(c) => q.bind(u8::from(c)),
        None => q,
    }
}

/// The query of a page (or, without a limit, all) of a tenant's visible
/// all-jobs reports, ordered by campaign id. Without a status or
/// `updated_since` filter the page limit also bounds the inner subquery
/// (each campaign there has exactly one visible all-jobs row), so the
/// outer level reads the wide columns of the page's granules only, not of
/// every campaign after the cursor. (A filtered page goes through
/// [`campaigns_page`] instead.)
pub fn campaigns(
    client: &clickhouse::Client,
    query: &CampaignQuery,
) -> Result<clickhouse::query::RowCursor<ReportRow>, ReadError> {
    let after = hex::encode(query.after.as_deref().unwrap_or_default());
    let extra = campaign_filters(query);
    let tail = match query.limit {
        Some(_) => "ORDER BY campaign_id LIMIT 1 BY campaign_id LIMIT ?",
        None => "ORDER BY campaign_id LIMIT 1 BY campaign_id",
    };
    let inner_limit = query
        .limit
        .filter(|_| query.status.is_none() && query.updated_since.is_none());
    let inner_tail = if inner_limit.is_some() {
        " ORDER BY campaign_id LIMIT ?"
    } else {
        ""
    };
    let sql = visible_sql(Prefix::Campaigns, inner_tail, &extra, tail);
    let mut q = client.query(&sql);
    for _ in 0..2 {
        q = q.bind(query.tenant.as_str()).bind(after.as_str());
    }
    if let Some(limit) = inner_limit {
        q = q.bind(limit);
    }
    q = bind_campaign_filters(q, query);
    if let Some(limit) = query.limit {
        q = q.bind(limit);
    }
    Ok(q.fetch()?)
}

/// Keys a filtered page reads per round (key columns only) before it reads
/// the matching rows.
pub const FILTER_CHUNK: u64 = 10_000;

/// `hex(key)` of the key `offset` places after the cursor (0: the first),
/// among the list's keys (any version): where a round of a filtered page
/// ends. Binds: the prefix's, then the offset.
fn chunk_end_sql(prefix: Prefix, key: &str) -> String {
    format!(
        "SELECT hex({key}) FROM {} WHERE {} GROUP BY {key} ORDER BY {key} LIMIT ?, 1",
        prefix.table(),
        prefix.filter()
    )
}

/// A page of a filtered list in rounds of `chunk` keys: each round finds
/// where its keys end (key columns only), then reads the visible rows of
/// those keys that pass the filter; rounds go on until the page is full or
/// the keys run out. A page costs the keys it passes over plus the rows it
/// returns, not every key after the cursor. `binds` adds the prefix's
/// binds (without the cursor), `filters` those of `extra`.
#[allow(clippy::too_many_arguments)]
async fn filtered_page<T>(
    client: &clickhouse::Client,
    prefix: Prefix,
    key: &str,
    after: &str,
    extra: &str,
    limit: u64,
    chunk: u64,
    binds: impl Fn(clickhouse::query::Query) -> clickhouse::query::Query,
    filters: impl Fn(clickhouse::query::Query) -> clickhouse::query::Query,
) -> Result<Vec<T>, ReadError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    let chunk = chunk.max(1);
    let mut after = after.to_string();
    let mut out: Vec<T> = Vec::new();
    while (out.len() as u64) < limit {
        let end: Option<String> = binds(client.query(&chunk_end_sql(prefix, key)))
            .bind(after.as_str())
            .bind(chunk - 1)
            .fetch_optional()
            .await?;
        let having = format!(" HAVING {key} <= unhex(?)");
        let inner_tail = if end.is_some() { having.as_str() } else { "" };
        let tail = format!("ORDER BY {key} LIMIT 1 BY {key} LIMIT ?");
        let sql = visible_sql(prefix, inner_tail, extra, &tail);
        let mut q = client.query(&sql);
        for _ in 0..2 {
            q = binds(q).bind(after.as_str());
        }
        if let Some(end) = &end {
            q = q.bind(end.as_str());
        }
        q = filters(q).bind(limit - out.len() as u64);
        out.extend(q.fetch_all::<T>().await?);
        match end {
            Some(end) => after = end,
            None => break,
        }
    }
    Ok(out)
}

/// A page of a tenant's all-jobs reports with a status or `updated_since`
/// filter (see [`filtered_page`]).
pub async fn campaigns_page(
    client: &clickhouse::Client,
    query: &CampaignQuery,
    limit: u64,
    chunk: u64,
) -> Result<Vec<ReportRow>, ReadError> {
    let after = hex::encode(query.after.as_deref().unwrap_or_default());
    filtered_page(
        client,
        Prefix::Campaigns,
        "campaign_id",
        &after,
        &campaign_filters(query),
        limit,
        chunk,
        |q| q.bind(query.tenant.as_str()),
        |q| bind_campaign_filters(q, query),
    )
    .await
}

/// A page of a job's journeys with a `completed` filter (see
/// [`filtered_page`]).
pub async fn journeys_page(
    client: &clickhouse::Client,
    query: &JourneyQuery,
    limit: u64,
    chunk: u64,
) -> Result<Vec<JourneyRow>, ReadError> {
    let after = hex::encode(query.after.as_deref().unwrap_or_default());
    filtered_page(
        client,
        Prefix::Journeys,
        "user_id",
        &after,
        journey_filter(query),
        limit,
        chunk,
        |q| {
            q.bind(query.tenant.as_str())
                .bind(query.campaign.as_str())
                .bind(query.job.as_str())
        },
        |q| bind_journey_filter(q, query),
    )
    .await
}

/// The query of a page (or all) of a job's visible journeys, ordered by
/// user id. Without a `completed` filter the page limit also bounds the
/// inner subquery (each user there has exactly one visible row).
pub fn journeys(
    client: &clickhouse::Client,
    query: &JourneyQuery,
) -> Result<clickhouse::query::RowCursor<JourneyRow>, ReadError> {
    let after = hex::encode(query.after.as_deref().unwrap_or_default());
    let inner_limit = query.limit.filter(|_| query.completed.is_none());
    let inner_tail = if inner_limit.is_some() {
        " ORDER BY user_id LIMIT ?"
    } else {
        ""
    };
    let extra = journey_filter(query);
    let tail = match query.limit {
        Some(_) => "ORDER BY user_id LIMIT 1 BY user_id LIMIT ?",
        None => "ORDER BY user_id LIMIT 1 BY user_id",
    };
    let sql = visible_sql(Prefix::Journeys, inner_tail, extra, tail);
    let mut q = client.query(&sql);
    for _ in 0..2 {
        q = q
            .bind(query.tenant.as_str())
            .bind(query.campaign.as_str())
            .bind(query.job.as_str())
            .bind(after.as_str());
    }
    if let Some(limit) = inner_limit {
        q = q.bind(limit);
    }
    q = bind_journey_filter(q, query);
    if let Some(limit) = query.limit {
        q = q.bind(limit);
    }
    Ok(q.fetch()?)
}

/// One visible journey.
pub async fn journey(
    client: &clickhouse::Client,
    tenant: &str,
    campaign: &str,
    job: &str,
    user: &str,
) -> Result<Option<JourneyRow>, ReadError> {
    let sql = one_sql(Prefix::Journey);
    let mut q = client.query(&sql);
    for _ in 0..2 {
        q = q.bind(tenant).bind(campaign).bind(job).bind(user);
    }
    Ok(q.fetch_optional().await?)
}

/// The latest checkpointed version of every partition.
pub async fn checkpoints(client: &clickhouse::Client) -> Result<Vec<(i32, u64)>, ReadError> {
    Ok(client
        .query(
            "SELECT partition, max(version) FROM checkpoints GROUP BY partition ORDER BY partition",
        )
        .fetch_all()
        .await?)
}

/// Of the reports in `scope` with (partition, version) in one of `ranges`,
/// the greatest version per key. The ranges filter in `PREWHERE` (the
/// partition key is the version's month, so ClickHouse skips the parts
/// whose versions all lie outside), as do the scope's key columns (a
/// prefix of the primary key); the wide columns are read of matching
/// granules only. The SQL text is made of constants; every value is bound.
pub async fn reports_between(
    client: &clickhouse::Client,
    scope: &ReportScope,
    ranges: &[VersionRange],
) -> Result<Vec<ReportRow>, ReadError> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = String::from("SELECT ?fields FROM campaign_reports PREWHERE (");
    for i in 0..ranges.len() {
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str("(partition = ? AND version > ? AND version <= ?)");
    }
    sql.push(')');
    for (column, value) in scope_columns(scope) {
        if value.is_some() {
            sql.push_str(" AND ");
            sql.push_str(column);
            sql.push_str(" = ?");
        }
    }
    sql.push_str(
        " ORDER BY tenant_id, campaign_id, job_id, version DESC \
         LIMIT 1 BY tenant_id, campaign_id, job_id",
    );
    let mut q = client.query(&sql);
    for r in ranges {
        q = q.bind(r.partition).bind(r.after).bind(r.upto);
    }
    for (_, value) in scope_columns(scope) {
        if let Some(v) = value {
            q = q.bind(v);
        }
    }
    Ok(q.fetch_all().await?)
}

/// The visible reports of `set` in one query: the rows of the tenant's
/// wanted keys, the greatest version of each.
pub async fn report_set(
    client: &clickhouse::Client,
    set: &ReportSet,
) -> Result<Vec<ReportRow>, ReadError> {
    if !set.all_campaigns && set.keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = String::from(
        "SELECT ?fields FROM campaign_reports PREWHERE tenant_id = ? AND ((? = 1 AND job_id = '')",
    );
    for _ in &set.keys {
        sql.push_str(" OR (campaign_id = ? AND job_id = ?)");
    }
    sql.push_str(") ORDER BY campaign_id, job_id, version DESC LIMIT 1 BY campaign_id, job_id");
    let mut q = client
        .query(&sql)
        .bind(&set.tenant)
        .bind(u8::from(set.all_campaigns));
    for (campaign, job) in &set.keys {
        q = q.bind(campaign).bind(job);
    }
    Ok(q.fetch_all().await?)
}

fn scope_columns(scope: &ReportScope) -> [(&'static str, Option<&str>); 3] {
    [
        ("tenant_id", scope.tenant.as_deref()),
        ("campaign_id", scope.campaign.as_deref()),
        ("job_id", scope.job.as_deref()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_a_bind_and_the_prefix_filters_both_levels() {
        for prefix in [
            Prefix::Report,
            Prefix::Jobs,
            Prefix::Campaigns,
            Prefix::Journey,
            Prefix::Journeys,
        ] {
            let sql = visible_sql(
                prefix,
                " ORDER BY x LIMIT ?",
                " AND completed = ?",
                "LIMIT ?",
            );
            let binds = prefix.filter().matches('?').count();
            // ?fields, the prefix twice, the inner limit, the extra, the limit.
            assert_eq!(sql.matches('?').count(), 1 + 2 * binds + 3, "{sql}");
            assert_eq!(sql.matches(prefix.filter()).count(), 2, "{sql}");
            assert!(
                sql.contains(&format!("PREWHERE {}", prefix.filter())),
                "{sql}"
            );
            assert!(!sql.contains('\''.to_string().as_str()) || prefix.filter().contains("''"));
        }
        for prefix in [Prefix::Report, Prefix::Journey] {
            let sql = one_sql(prefix);
            assert_eq!(
                sql.matches('?').count(),
                1 + 2 * prefix.filter().matches('?').count()
            );
            assert_eq!(sql.matches(prefix.filter()).count(), 2, "{sql}");
            assert!(sql.contains("max(version)"), "{sql}");
            assert!(
                sql.contains(&format!("PREWHERE {}", prefix.filter())),
                "{sql}"
            );
        }
    }
}
