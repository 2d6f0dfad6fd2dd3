//! The tenant overview (metrics.md, "Tenant overview rollups") from the
//! rollup tables: per period, distinct users per campaign (uniqExact states
//! merged, so a week is a union of its days), summed over campaigns; and the
//! status of every campaign at the end of the period.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::ReadError;

/// Days, weeks (starting Monday) or months of the tenant's calendar.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
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
    // The status of each campaign before the range (its latest change
    // dated before `from`: one row per campaign, counted as of the day
    // before), then the changes dated in the range.
    let sql = format!(
        "SELECT tenant_id, campaign_id, status, occurred_at_ms, event_id, \
                toUInt16(local_date) AS day \
         FROM campaign_status_changes \
         WHERE {filter} AND local_date < toDate(?) \
         ORDER BY tenant_id, campaign_id, occurred_at_ms DESC, event_id DESC \
         LIMIT 1 BY tenant_id, campaign_id"
    );
    let mut query = client.query(&sql);
    if let Some(t) = tenant {
        query = query.bind(t);
    }
    let mut changes: Vec<StatusRow> = query.bind(from.to_string()).fetch_all().await?;
    let sql = format!(
        "SELECT tenant_id, campaign_id, status, occurred_at_ms, event_id, \
                toUInt16(local_date) AS day \
         FROM campaign_status_changes \
         WHERE {filter} AND local_date >= toDate(?) AND local_date <= toDate(?)"
    );
    let mut query = client.query(&sql);
    if let Some(t) = tenant {
        query = query.bind(t);
    }
    changes.extend(
        query
            .bind(from.to_string())
            .bind(last_day.to_string())
            .fetch_all::<StatusRow>()
            .await?,
    );
    let mut by_tenant: BTreeMap<&str, Vec<&StatusRow>> = BTreeMap::new();
    for c in &changes {
        by_tenant.entry(c.tenant_id.as_str()).or_default().push(c);
    }
    let mut sweeps: BTreeMap<&str, StatusSweep<'_>> = by_tenant
        .iter_mut()
        .map(|(t, changes)| {
            changes.sort_by_key(|c| c.day);
            (*t, StatusSweep::new(changes))
        })
        .collect();
    let none = StatusSweep::new(&[]);
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let start = date(r.start_day);
        let end = days(granularity.end_of(start));
        // Latest status per campaign among changes dated up to the end.
        let statuses = match sweeps.get_mut(r.tenant_id.as_str()) {
            Some(sweep) => {
                sweep.advance_to(end);
                &*sweep
            }
            None => &none,
        };
        let count = |s: &str| statuses.count(s);
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

/// The latest status of every campaign among a tenant's status changes
/// dated up to a day, kept up to date while the day grows (periods come in
/// order): one pass over the changes for all periods instead of one per
/// period (a 90-day overview of 2 500 campaigns walked 12 000 changes 90
/// times, about 45 ms of CPU per request).
struct StatusSweep<'a> {
    /// Ordered by day.
    changes: &'a [&'a StatusRow],
    /// Changes before this index are applied.
    next: usize,
    /// The day applied up to.
    until: Option<u16>,
    /// Campaign → (occurred_at_ms, event_id, status) of its latest change.
    latest: HashMap<&'a str, (i64, &'a str, &'a str)>,
    /// Status → campaigns whose latest change has it.
    counts: HashMap<&'a str, u64>,
}

impl<'a> StatusSweep<'a> {
    fn new(changes: &'a [&'a StatusRow]) -> Self {
        StatusSweep {
            changes,
            next: 0,
            until: None,
            latest: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    /// Apply the changes dated up to `day` (starting over for an earlier day).
    fn advance_to(&mut self, day: u16) {
        if self.until.is_some_and(|u| day < u) {
            *self = StatusSweep::new(self.changes);
        }
        while let Some(c) = self.changes.get(self.next).filter(|c| c.day <= day) {
            self.apply(c);
            self.next += 1;
        }
        self.until = Some(day);
    }

    /// The latest change of a campaign is the greatest (occurred_at_ms, event_id).
    fn apply(&mut self, c: &'a StatusRow) {
        let new = (c.occurred_at_ms, c.event_id.as_str(), c.status.as_str());
        let old = self.latest.insert(c.campaign_id.as_str(), new);
        let replaced = match old {
            Some(old) if (old.0, old.1) >= (new.0, new.1) => {
                self.latest.insert(c.campaign_id.as_str(), old);
                return;
            }
            Some(old) => Some(old.2),
            None => None,
        };
        if let Some(status) = replaced {
            if let Some(n) = self.counts.get_mut(status) {
                *n = n.saturating_sub(1);
            }
        }
        *self.counts.entry(new.2).or_default() += 1;
    }

    fn count(&self, status: &str) -> u64 {
        self.counts.get(status).copied().unwrap_or(0)
    }
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

    fn change(campaign: &str, status: &str, at: i64, event: &str, day: u16) -> StatusRow {
        StatusRow {
            tenant_id: "t".into(),
            campaign_id: campaign.into(),
            status: status.into(),
            occurred_at_ms: at,
            event_id: event.into(),
            day,
        }
    }

    #[test]
    fn the_sweep_counts_each_campaigns_latest_status_up_to_a_day() {
        let rows = [
            change("a", "RUNNING", 10, "e1", 1),
            change("b", "RUNNING", 20, "e2", 1),
            // Dated later but occurred earlier than a's RUNNING: not latest.
            change("a", "ERROR", 5, "e3", 2),
            change("a", "COMPLETED", 30, "e4", 3),
            // Same time as a's COMPLETED, greater event id: wins.
            change("a", "ERROR", 30, "e5", 3),
            change("b", "COMPLETED", 40, "e6", 5),
        ];
        let changes: Vec<&StatusRow> = rows.iter().collect();
        let mut sweep = StatusSweep::new(&changes);
        let counts =
            |s: &StatusSweep<'_>| ["RUNNING", "COMPLETED", "ERROR"].map(|status| s.count(status));
        sweep.advance_to(0);
        assert_eq!(counts(&sweep), [0, 0, 0]);
        sweep.advance_to(2);
        assert_eq!(counts(&sweep), [2, 0, 0]);
        sweep.advance_to(3);
        assert_eq!(counts(&sweep), [1, 0, 1]);
        sweep.advance_to(9);
        assert_eq!(counts(&sweep), [0, 1, 1]);
        // An earlier day starts over.
        sweep.advance_to(1);
        assert_eq!(counts(&sweep), [2, 0, 0]);
    }

    #[test]
    fn dates_round_trip_as_days() {
        assert_eq!(date(days(d("2026-09-01"))), d("2026-09-01"));
    }
}
