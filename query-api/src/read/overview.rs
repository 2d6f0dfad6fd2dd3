//! The tenant overview (metrics.md, "Tenant overview rollups") from the
//! rollup tables: per period, distinct users per campaign (uniqExact states
//! merged, so a week is a union of its days), summed over campaigns; and the
//! status of every campaign at the end of the period.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::ReadError;

/// Days, weeks (starting Monday) or months of the tenant's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    /// The lowercase name used in the API (`day`, `week`, `month`).
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }

    /// Parses the API name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "day" => Some(Granularity::Day),
            "week" => Some(Granularity::Week),
            "month" => Some(Granularity::Month),
            _ => None,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Granularity::Day => "rollup_campaign_daily",
            Granularity::Week => "rollup_campaign_weekly",
            Granularity::Month => "rollup_campaign_monthly",
        }
    }

    /// The first day of the period that holds `day`.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => day,
            Granularity::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Granularity::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The last day of the period starting at `start`.
    pub fn end_of(self, start: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => start,
            Granularity::Week => start + Days::new(6),
            Granularity::Month => (start + Months::new(1)).pred_opt().unwrap_or(start),
        }
    }
}

/// One period of the overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub tenant_id: String,
    pub period_start: NaiveDate,
    pub campaigns: u64,
    pub target_users: u64,
    pub sent_users: u64,
    pub interacted_users: u64,
    pub interactions: u64,
    pub interaction_rate: f64,
    pub campaigns_completed: u64,
    pub campaigns_running: u64,
    pub campaigns_error: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct PeriodRow {
    tenant_id: String,
    /// Days since 1970-01-01 (aliases must not shadow the column in 18.16).
    start_day: u16,
    campaigns: u64,
    target_users: u64,
    sent_users: u64,
    interacted_users: u64,
    interactions: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct StatusRow {
    tenant_id: String,
    campaign_id: String,
    status: String,
    occurred_at_ms: i64,
    event_id: String,
    day: u16,
}

fn date(days: u16) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + Days::new(u64::from(days))
}

fn days(d: NaiveDate) -> u16 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    u16::try_from((d - epoch).num_days()).unwrap_or(0)
}

/// The first and the last day a ClickHouse 18.16 `Date` holds; ranges are
/// clamped to them before they reach SQL.
fn date_bounds() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2105, 12, 31).unwrap_or_default(),
    )
}

/// Periods with any event of the tenant (all tenants when `None`) whose
/// start lies in `[from, to]`, ordered by tenant and period.
pub async fn overview(
    client: &clickhouse::Client,
    tenant: Option<&str>,
    granularity: Granularity,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Period>, ReadError> {
    let (first, last) = date_bounds();
    let (from, to) = (from.max(first), to.min(last));
    if from > to {
        return Ok(Vec::new());
    }
    // A key-prefix condition when one tenant is asked for (the rollups and
    // the status changes are ordered by tenant first).
    let filter = if tenant.is_some() {
        "tenant_id = ?"
    } else {
        "1"
    };
    let sql = format!(
        "SELECT tenant_id, toUInt16(period_start) AS start_day, count() AS campaigns, \
                sum(t) AS target_users, sum(s) AS sent_users, sum(i) AS interacted_users, \
                sum(n) AS interactions \
         FROM ( \
           SELECT tenant_id, period_start, campaign_id, \
                  uniqExactMerge(active_users) AS t, uniqExactMerge(sent_users) AS s, \
                  uniqExactMerge(interacted_users) AS i, sumMerge(interactions) AS n \
           FROM {} \
           WHERE {filter} AND period_start >= toDate(?) AND period_start <= toDate(?) \
           GROUP BY tenant_id, period_start, campaign_id) \
         GROUP BY tenant_id, period_start \
         ORDER BY tenant_id, period_start",
        granularity.table()
    );
    let mut query = client.query(&sql);
    if let Some(t) = tenant {
        query = query.bind(t);
    }
    let rows: Vec<PeriodRow> = query
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all()
        .await?;
    let last_day = granularity.end_of(granularity.start_of(to)).min(last);
    let sql = format!(
        "SELECT tenant_id, campaign_id, status, occurred_at_ms, event_id, \
                toUInt16(local_date) AS day \
         FROM campaign_status_changes \
         WHERE {filter} AND local_date <= toDate(?) \
         ORDER BY tenant_id, local_date"
    );
    let mut query = client.query(&sql);
    if let Some(t) = tenant {
        query = query.bind(t);
    }
    let changes: Vec<StatusRow> = query.bind(last_day.to_string()).fetch_all().await?;
    let mut by_tenant: BTreeMap<&str, Vec<&StatusRow>> = BTreeMap::new();
    for c in &changes {
        by_tenant.entry(c.tenant_id.as_str()).or_default().push(c);
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let start = date(r.start_day);
        let end = days(granularity.end_of(start));
        // Latest status per campaign among changes dated up to the end.
        let mut latest: BTreeMap<&str, (i64, &str, &str)> = BTreeMap::new();
        for c in by_tenant.get(r.tenant_id.as_str()).into_iter().flatten() {
            if c.day > end {
                continue;
            }
            let key = (c.occurred_at_ms, c.event_id.as_str());
            let entry = latest.entry(c.campaign_id.as_str()).or_insert((
                c.occurred_at_ms,
                c.event_id.as_str(),
                c.status.as_str(),
            ));
            if key > (entry.0, entry.1) {
                *entry = (c.occurred_at_ms, c.event_id.as_str(), c.status.as_str());
            }
        }
        let count = |s: &str| latest.values().filter(|v| v.2 == s).count() as u64;
        out.push(Period {
            period_start: start,
            campaigns: r.campaigns,
            target_users: r.target_users,
            sent_users: r.sent_users,
            interacted_users: r.interacted_users,
            interactions: r.interactions,
            interaction_rate: if r.sent_users == 0 {
                0.0
            } else {
                r.interacted_users as f64 / r.sent_users as f64 * 100.0
            },
            campaigns_completed: count("COMPLETED"),
            campaigns_running: count("RUNNING"),
            campaigns_error: count("ERROR"),
            tenant_id: r.tenant_id,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_start_on_mondays_and_first_days() {
        assert_eq!(Granularity::Week.start_of(d("2026-11-22")), d("2026-11-16"));
        assert_eq!(Granularity::Week.start_of(d("2026-11-16")), d("2026-11-16"));
        assert_eq!(Granularity::Week.end_of(d("2026-11-16")), d("2026-11-22"));
        assert_eq!(
            Granularity::Month.start_of(d("2026-02-17")),
            d("2026-02-01")
        );
        assert_eq!(Granularity::Month.end_of(d("2026-02-01")), d("2026-02-28"));
        assert_eq!(Granularity::Month.end_of(d("2026-12-01")), d("2026-12-31"));
        assert_eq!(Granularity::Day.end_of(d("2026-12-01")), d("2026-12-01"));
    }

    #[test]
    fn dates_round_trip_as_days() {
        assert_eq!(date(days(d("2026-09-01"))), d("2026-09-01"));
    }
}
