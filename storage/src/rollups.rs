//! The tenant rollups (`rollup_campaign_{daily,weekly,monthly}`, fed from
//! the raw events by the views of `schemas/clickhouse/0002` and `0006`)
//! and the status changes beside them: their aggregates in one place, for
//! the processor's view repair and for rebuilding a tenant's rollups in
//! another calendar (ARCHITECTURE.md, "Rebuilding a tenant's rollups").
//!
//! Every function here is one or a few statements against ClickHouse; the
//! comparison of figures ([`differences`]) is pure.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::NaiveDate;
use clickhouse::Client;
use serde::Deserialize;

/// The rollup tables and the period a local date falls in for each.
pub const TABLES: [(&str, Period); 3] = [
    ("rollup_campaign_daily", Period::Day),
    ("rollup_campaign_weekly", Period::Week),
    ("rollup_campaign_monthly", Period::Month),
];

/// The table of every announced status, dated by the tenant's calendar.
pub const STATUS_CHANGES: &str = "campaign_status_changes";

/// The distinct-user states of a rollup row, from rows of `events_raw`, in
/// the column order of the rollup tables (`active_users`, `sent_users`,
/// `interacted_users`). Unions: adding the same rows twice changes nothing.
pub const USER_STATES: &str = "uniqExactStateIf(user_id, event_kind != 'lifecycle'), \
     uniqExactStateIf(user_id, event_kind = 'notification' AND first_message = 1), \
     uniqExactStateIf(user_id, event_kind = 'interaction')";

/// The interaction count state of a rollup row (a sum: not idempotent).
pub const INTERACTIONS_STATE: &str = "sumState(toUInt64(event_kind = 'interaction'))";

/// A rollup's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    /// The SQL of the first day of the period holding `date` (an SQL
    /// expression of type Date).
    pub fn start_sql(self, date: &str) -> String {
        match self {
            Period::Day => date.to_string(),
            Period::Week => format!("toMonday({date})"),
            Period::Month => format!("toStartOfMonth({date})"),
        }
    }
}

/// The SQL Date of an event of `events_raw` in `zone` (an IANA name,
/// checked by the caller: it is written into the statement, as ClickHouse
/// takes a zone only as a constant).
pub fn local_date_sql(zone: &str) -> String {
    format!("toDate(occurred_at, '{zone}')")
}

/// The figures of one (period, campaign) rollup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct Figures {
    pub active_users: u64,
    pub sent_users: u64,
    pub interacted_users: u64,
    pub interactions: u64,
}

/// A (period start in days since 1970-01-01, campaign) of a rollup.
pub type Key = (u16, String);

/// A rollup row that is not what the raw events say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub period: Period,
    pub key: Key,
    /// From `events_raw` (zero: no events).
    pub want: Figures,
    /// In the rollup (zero: no row).
    pub got: Figures,
}

/// Rows of `got` that differ from `want`, and rows only one side has.
pub fn differences(
    period: Period,
    want: &BTreeMap<Key, Figures>,
    got: &BTreeMap<Key, Figures>,
) -> Vec<Difference> {
    let keys: std::collections::BTreeSet<&Key> = want.keys().chain(got.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let w = want.get(key).copied().unwrap_or_default();
            let g = got.get(key).copied().unwrap_or_default();
            (w != g).then(|| Difference {
                period,
                key: key.clone(),
                want: w,
                got: g,
            })
        })
        .collect()
}

/// A tenant's rollups against its raw events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Rollup rows the raw events make (days, weeks and months).
    pub rows: usize,
    /// Status changes the raw events make.
    pub status_changes: usize,
    pub differences: Vec<Difference>,
    /// (event id, day, copies wanted, copies there).
    pub status_differences: Vec<(String, u16, usize, usize)>,
}

impl Comparison {
    /// Whether nothing differs.
    pub fn equal(&self) -> bool {
        self.differences.is_empty() && self.status_differences.is_empty()
    }

    /// This comparison's differences that `earlier` had too (the same row,
    /// the same status change). A difference that went away was an insert
    /// in flight (its raw rows landed, its view rows not yet); a real one
    /// (a row counted twice or in another calendar) stays.
    pub fn persisting(mut self, earlier: &Comparison) -> Comparison {
        self.differences.retain(|d| {
            earlier
                .differences
                .iter()
                .any(|e| e.period == d.period && e.key == d.key)
        });
        self.status_differences.retain(|d| {
            earlier
                .status_differences
                .iter()
                .any(|e| e.0 == d.0 && e.1 == d.1)
        });
        self
    }
}

/// Status changes (event id, day) that one side has more often than the
/// other: (event id, day, copies wanted, copies there).
pub fn status_differences(
    want: &[(String, u16)],
    got: &[(String, u16)],
) -> Vec<(String, u16, usize, usize)> {
    let mut counts: BTreeMap<(&str, u16), (usize, usize)> = BTreeMap::new();
    for (id, day) in want {
        counts.entry((id, *day)).or_default().0 += 1;
    }
    for (id, day) in got {
        counts.entry((id, *day)).or_default().1 += 1;
    }
    counts
        .into_iter()
        .filter(|(_, (w, g))| w != g)
        .map(|((id, day), (w, g))| (id.to_string(), day, w, g))
        .collect()
}

/// 1970-01-01, day 0 of a ClickHouse Date.
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// Days since 1970-01-01, as ClickHouse stores a Date.
pub fn days(date: NaiveDate) -> u16 {
    u16::try_from((date - epoch()).num_days()).unwrap_or(0)
}

/// The date of a ClickHouse Date (days since 1970-01-01).
pub fn date_of(days: u16) -> NaiveDate {
    epoch() + chrono::Days::new(u64::from(days))
}

/// The (event id, day) rows of one side of a status comparison.
fn side(rows: &[(u8, String, u16)], which: u8) -> Vec<(String, u16)> {
    rows.iter()
        .filter(|(s, _, _)| *s == which)
        .map(|(_, id, day)| (id.clone(), *day))
        .collect()
}

/// A row of a comparison: side 0 from `events_raw`, 1 from the rollup.
#[derive(Debug, Deserialize, clickhouse::Row)]
struct FigureRow {
    side: u8,
    period: u16,
    campaign_id: String,
    active_users: u64,
    sent_users: u64,
    interacted_users: u64,
    interactions: u64,
}

fn by_key(rows: Vec<FigureRow>) -> BTreeMap<Key, Figures> {
    rows.into_iter()
        .map(|r| {
            (
                (r.period, r.campaign_id),
                Figures {
                    active_users: r.active_users,
                    sent_users: r.sent_users,
                    interacted_users: r.interacted_users,
                    interactions: r.interactions,
                },
            )
        })
        .collect()
}

/// The statements of one tenant's rollups, dated in one zone, from one
/// period on.
#[derive(Debug, Clone)]
pub struct TenantRollups<'a> {
    pub client: &'a Client,
    pub tenant: &'a str,
    /// IANA name (see [`local_date_sql`]).
    pub zone: &'a str,
    /// Only the periods starting on or after this day (`None`: all).
    pub from: Option<NaiveDate>,
}

impl TenantRollups<'_> {
    fn first_day(&self) -> u16 {
        self.from.map_or(0, days)
    }

    /// The events of the tenant in the zone's periods of `period` from
    /// `from` on: the rows of the rollup they make (see the views).
    /// Binds: the tenant, the first day, and the raw rows' insertion
    /// cutoff (unix seconds, exclusive).
    fn raw_select(&self, period: Period, aggregates: &str) -> String {
        let p = period.start_sql(&local_date_sql(self.zone));
        format!(
            "SELECT tenant_id, {p} AS p, campaign_id, {aggregates} FROM events_raw \
             WHERE tenant_id = ? AND {p} >= toDate(?) AND toUInt32(inserted_at) < ? \
             GROUP BY tenant_id, p, campaign_id"
        )
    }

    /// `ALTER TABLE ... DELETE` the tenant's rows of every rollup and its
    /// status changes from `from` on; returns when the mutations are done
    /// (ClickHouse runs them in the background), at most `timeout`.
    ///
    /// A mutation rewrites only the parts there when it starts: view rows
    /// the processors write later stay. Each deletion is therefore started
    /// just after a second boundary (this machine's clock), and that second
    /// is returned per table ([`Cutoffs`]): [`Self::insert`] then takes
    /// only the raw rows inserted before it, so no event is in both the
    /// rows that stayed and the rows inserted again (but for an insert that
    /// straddles the instant, which [`Self::compare`] sees).
    pub async fn delete(&self, timeout: Duration) -> Result<Cutoffs, clickhouse::error::Error> {
        let from = self.first_day();
        let mut cutoffs = [0; 4];
        let tables = TABLES
            .iter()
            .map(|(t, _)| (*t, "period_start"))
            .chain([(STATUS_CHANGES, "local_date")]);
        for (i, (table, column)) in tables.enumerate() {
            cutoffs[i] = at_next_second().await;
            self.client
                .query(&format!(
                    "ALTER TABLE {table} DELETE WHERE tenant_id = ? AND {column} >= toDate(?)"
                ))
                .bind(self.tenant)
                .bind(from)
                .execute()
                .await?;
        }
        wait_for_mutations(self.client, timeout).await?;
        Ok(Cutoffs(cutoffs))
    }

    /// Insert the tenant's rollup rows and status changes from
    /// `events_raw`, dated in the zone: every raw row, or with `cutoffs`
    /// those inserted before their table's deletion began.
    pub async fn insert(&self, cutoffs: Option<&Cutoffs>) -> Result<(), clickhouse::error::Error> {
        let from = self.first_day();
        let before = |i: usize| cutoffs.map_or(u32::MAX, |c| c.0[i]);
        for (i, (table, period)) in TABLES.into_iter().enumerate() {
            let select = self.raw_select(period, &format!("{USER_STATES}, {INTERACTIONS_STATE}"));
            self.client
                .query(&format!("INSERT INTO {table} {select}"))
                .bind(self.tenant)
                .bind(from)
                .bind(before(i))
                .execute()
                .await?;
        }
        let date = local_date_sql(self.zone);
        self.client
            .query(&format!(
                "INSERT INTO {STATUS_CHANGES} \
                 SELECT tenant_id, campaign_id, status, occurred_at_ms, {date}, event_id \
                 FROM events_raw WHERE tenant_id = ? AND event_kind = 'lifecycle' \
                   AND status != '' AND {date} >= toDate(?) \
                   AND toUInt32(inserted_at) < ?"
            ))
            .bind(self.tenant)
            .bind(from)
            .bind(before(TABLES.len()))
            .execute()
            .await
    }

    /// Every rollup row (and status change) of the tenant that differs
    /// from what its raw events, dated in the zone, make.
    pub async fn compare(&self) -> Result<Comparison, clickhouse::error::Error> {
        // Each side in one statement (UNION ALL): both read the parts there
        // when it starts, so rows landing meanwhile (live traffic) do not
        // show up on one side only.
        let from = self.first_day();
        let mut out = Comparison::default();
        for (table, period) in TABLES {
            let rows = self
                .client
                .query(&format!(
                    "SELECT 0 AS side, toUInt16(p) AS period, campaign_id, a AS active_users, \
                       s AS sent_users, i AS interacted_users, n AS interactions FROM ({}) \
                     UNION ALL \
                     SELECT 1 AS side, toUInt16(period_start) AS period, campaign_id, \
                       uniqExactMerge(active_users) AS active_users, \
                       uniqExactMerge(sent_users) AS sent_users, \
                       uniqExactMerge(interacted_users) AS interacted_users, \
                       sumMerge(interactions) AS interactions \
                     FROM {table} WHERE tenant_id = ? AND period_start >= toDate(?) \
                     GROUP BY period_start, campaign_id",
                    self.raw_select(
                        period,
                        "uniqExactIf(user_id, event_kind != 'lifecycle') AS a, \
                         uniqExactIf(user_id, event_kind = 'notification' AND first_message = 1) AS s, \
                         uniqExactIf(user_id, event_kind = 'interaction') AS i, \
                         countIf(event_kind = 'interaction') AS n"
                    )
                ))
                .bind(self.tenant)
                .bind(from)
                .bind(u32::MAX)
                .bind(self.tenant)
                .bind(from)
                .fetch_all::<FigureRow>()
                .await?;
            let (want, got): (Vec<FigureRow>, Vec<FigureRow>) =
                rows.into_iter().partition(|r| r.side == 0);
            out.rows += want.len();
            out.differences
                .extend(differences(period, &by_key(want), &by_key(got)));
        }
        let date = local_date_sql(self.zone);
        let rows: Vec<(u8, String, u16)> = self
            .client
            .query(&format!(
                "SELECT 0 AS side, event_id, toUInt16({date}) AS d FROM events_raw \
                 WHERE tenant_id = ? AND event_kind = 'lifecycle' AND status != '' \
                   AND {date} >= toDate(?) \
                 UNION ALL \
                 SELECT 1 AS side, event_id, toUInt16(local_date) AS d FROM {STATUS_CHANGES} \
                 WHERE tenant_id = ? AND local_date >= toDate(?)"
            ))
            .bind(self.tenant)
            .bind(from)
            .bind(self.tenant)
            .bind(from)
            .fetch_all()
            .await?;
        let (want, got) = (side(&rows, 0), side(&rows, 1));
        out.status_changes = want.len();
        out.status_differences = status_differences(&want, &got);
        Ok(out)
    }

    /// The first day of the tenant's raw events, and of its daily rollup
    /// (`None`: no rows). A rollup older than the raw events means
    /// retention dropped raw months: those periods cannot be rebuilt.
    pub async fn first_days(&self) -> Result<(Option<u16>, Option<u16>), clickhouse::error::Error> {
        let first = |table: &str, column: &str| {
            format!("SELECT toUInt16(min({column})), count() FROM {table} WHERE tenant_id = ?")
        };
        let raw: (u16, u64) = self
            .client
            .query(&first("events_raw", "local_date"))
            .bind(self.tenant)
            .fetch_one()
            .await?;
        let rollup: (u16, u64) = self
            .client
            .query(&first("rollup_campaign_daily", "period_start"))
            .bind(self.tenant)
            .fetch_one()
            .await?;
        let some = |(day, n): (u16, u64)| (n > 0).then_some(day);
        Ok((some(raw), some(rollup)))
    }
}

/// When each table's deletion began (unix seconds): the rollups in
/// [`TABLES`] order, then the status changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs([u32; 4]);

/// Sleep until just after the next second of this machine's clock; that
/// second (unix).
async fn at_next_second() -> u32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let next = now.as_secs() + 1;
    let wait = (Duration::from_secs(next) + Duration::from_millis(20)).saturating_sub(now);
    tokio::time::sleep(wait).await;
    u32::try_from(next).unwrap_or(u32::MAX)
}

/// Wait until no mutation of the current database is left to do.
pub async fn wait_for_mutations(
    client: &Client,
    timeout: Duration,
) -> Result<(), clickhouse::error::Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let pending: u64 = client
            .query(
                "SELECT count() FROM system.mutations \
                 WHERE database = currentDatabase() AND is_done = 0",
            )
            .fetch_one()
            .await?;
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(clickhouse::error::Error::Custom(format!(
                "{pending} mutations still running after {} s (system.mutations)",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(n: u64) -> Figures {
        Figures {
            active_users: n,
            sent_users: n,
            interacted_users: n,
            interactions: n,
        }
    }

    #[test]
    fn differences_are_rows_that_differ_or_that_one_side_lacks() {
        let want = BTreeMap::from([
            ((1, "a".to_string()), figures(3)),
            ((1, "b".to_string()), figures(2)),
            ((2, "a".to_string()), figures(1)),
        ]);
        let mut got = want.clone();
        assert!(differences(Period::Day, &want, &got).is_empty());
        got.insert((1, "b".to_string()), figures(4));
        got.remove(&(2, "a".to_string()));
        got.insert((3, "c".to_string()), figures(1));
        let d = differences(Period::Week, &want, &got);
        let keys: Vec<(&Key, u64, u64)> = d
            .iter()
            .map(|d| (&d.key, d.want.interactions, d.got.interactions))
            .collect();
        assert_eq!(
            keys,
            vec![
                (&(1, "b".to_string()), 2, 4),
                (&(2, "a".to_string()), 1, 0),
                (&(3, "c".to_string()), 0, 1),
            ]
        );
        assert!(d.iter().all(|d| d.period == Period::Week));
    }

    #[test]
    fn only_differences_seen_every_time_persist() {
        let diff = |day: u16, n: u64| Difference {
            period: Period::Day,
            key: (day, "c".to_string()),
            want: figures(n),
            got: figures(n + 1),
        };
        let first = Comparison {
            rows: 3,
            status_changes: 1,
            differences: vec![diff(1, 1), diff(2, 1)],
            status_differences: vec![("e1".into(), 5, 1, 0)],
        };
        // Day 1 differs again (other figures: traffic moved on), day 2 no
        // longer, day 3 for the first time; the status change is gone.
        let second = Comparison {
            rows: 4,
            status_changes: 1,
            differences: vec![diff(1, 7), diff(3, 1)],
            status_differences: vec![],
        };
        let kept = second.persisting(&first);
        assert_eq!(kept.rows, 4);
        assert_eq!(kept.differences, vec![diff(1, 7)]);
        assert!(!kept.equal());
        assert!(kept.clone().persisting(&Comparison::default()).equal());
    }

    #[test]
    fn a_status_change_twice_or_on_another_day_is_a_difference() {
        let want = vec![("e1".to_string(), 10), ("e2".to_string(), 11)];
        assert!(status_differences(&want, &want).is_empty());
        let got = vec![
            ("e1".to_string(), 10),
            ("e1".to_string(), 10),
            ("e2".to_string(), 12),
        ];
        assert_eq!(
            status_differences(&want, &got),
            vec![
                ("e1".to_string(), 10, 1, 2),
                ("e2".to_string(), 11, 1, 0),
                ("e2".to_string(), 12, 0, 1),
            ]
        );
    }

    #[test]
    fn periods_start_on_the_day_the_monday_or_the_first() {
        assert_eq!(Period::Day.start_sql("d"), "d");
        assert_eq!(Period::Week.start_sql("d"), "toMonday(d)");
        assert_eq!(Period::Month.start_sql("d"), "toStartOfMonth(d)");
        assert_eq!(
            local_date_sql("Asia/Tokyo"),
            "toDate(occurred_at, 'Asia/Tokyo')"
        );
        let d = NaiveDate::from_ymd_opt(1970, 1, 11).unwrap_or_default();
        assert_eq!(days(d), 10);
        assert_eq!(date_of(10), d);
        assert_eq!(date_of(days(date_of(20_711))), date_of(20_711));
    }
}
