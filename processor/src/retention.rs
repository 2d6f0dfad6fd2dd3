//! Retention: which whole months of raw events and snapshot rows may be
//! dropped (pure; the ClickHouse side is [`crate::clickhouse::retention`]).
//!
//! A month of a table is dropped when it ended before the horizon and, for
//! the snapshot tables, before every partition's `retained_from` (no row a
//! processor still holds in memory lies in it) and before the newest
//! campaign evicted by a release without full eviction writes (their rows
//! may span months). Raw events wait while a partition has a stale tail
//! (raw rows beyond its checkpoint that its next restore needs).
//! ARCHITECTURE.md, "Retention".

use std::fmt;

use chrono::{Datelike, NaiveDate};

/// Tables partitioned by the month of their events' local date.
pub const RAW_TABLES: [&str; 1] = ["events_raw"];
/// Tables partitioned by the month of their versions' wall clock.
pub const SNAPSHOT_TABLES: [&str; 3] = ["campaign_reports", "journeys", "campaign_state"];

/// What the retention job knows about the database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    pub now_ms: i64,
    pub horizon_ms: i64,
    /// (table, partition id `YYYYMM`) of every active part's partition.
    pub partitions: Vec<(String, String)>,
    /// The latest checkpoint's `retained_from_ms` of every partition that
    /// has one (0: unknown).
    pub retained_from: Vec<(i32, i64)>,
    /// Version wall clock (ms) of the newest header of a campaign evicted
    /// without a full write (a release before retention), if any.
    pub newest_legacy_eviction_ms: Option<i64>,
    /// Kafka partitions whose newest intent is beyond their checkpoint and
    /// older than a snapshot takes: a crashed owner's tail awaits restore.
    pub stale_tails: Vec<i32>,
}

/// One month of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drop {
    pub table: String,
    pub partition: String,
}

/// Months kept although past the horizon, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub table: String,
    pub partition: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub drops: Vec<Drop>,
    pub held: Vec<Held>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.drops.is_empty() && self.held.is_empty() {
            return writeln!(f, "nothing is past the retention horizon");
        }
        for d in &self.drops {
            writeln!(f, "drop  {} {}", d.table, d.partition)?;
        }
        for h in &self.held {
            writeln!(f, "keep  {} {}: {}", h.table, h.partition, h.reason)?;
        }
        Ok(())
    }
}

/// The first millisecond after month `YYYYMM` (UTC); `None` if the id is
/// not a month.
pub fn month_end_ms(partition: &str) -> Option<i64> {
    if partition.len() != 6 {
        return None;
    }
    let n: i32 = partition.parse().ok()?;
    let (year, month) = (n / 100, u32::try_from(n % 100).ok()?);
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some(next.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// What to drop now.
pub fn plan(i: &Inputs) -> Plan {
    let cutoff = i.now_ms.saturating_sub(i.horizon_ms);
    let floor = i.retained_from.iter().map(|(_, r)| *r).min();
    let mut out = Plan::default();
    let mut sorted = i.partitions.clone();
    sorted.sort();
    sorted.dedup();
    for (table, partition) in sorted {
        let raw = RAW_TABLES.contains(&table.as_str());
        if !raw && !SNAPSHOT_TABLES.contains(&table.as_str()) {
            continue;
        }
        let Some(end) = month_end_ms(&partition) else {
            continue;
        };
        if end > cutoff {
            continue;
        }
        let hold = |reason: String| Held {
            table: table.clone(),
            partition: partition.clone(),
            reason,
        };
        if raw {
            if let Some(p) = i.stale_tails.first() {
                out.held.push(hold(format!(
                    "partition {p} has raw events beyond its checkpoint that its next restore \
                     reads (is a processor down?)"
                )));
                continue;
            }
        } else {
            match floor {
                Some(f) if f < end => {
                    out.held.push(hold(
                        "a processor still holds campaigns with rows in it (written in full \
                         again within a quarter of the horizon; 0 until processors run with \
                         --retention-days)"
                            .into(),
                    ));
                    continue;
                }
                _ => {}
            }
            if let Some(newest) = i.newest_legacy_eviction_ms {
                if newest >= cutoff {
                    out.held.push(hold(
                        "campaigns evicted by an earlier release may have rows in it; kept until \
                         they are all past the horizon"
                            .into(),
                    ));
                    continue;
                }
            }
        }
        out.drops.push(Drop { table, partition });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn ms(y: i32, m: u32, d: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    fn parts(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(t, p)| (t.to_string(), p.to_string()))
            .collect()
    }

    fn names(p: &Plan) -> Vec<String> {
        p.drops
            .iter()
            .map(|d| format!("{} {}", d.table, d.partition))
            .collect()
    }

    #[test]
    fn month_ends() {
        assert_eq!(month_end_ms("202611"), Some(ms(2026, 12, 1)));
        assert_eq!(month_end_ms("202612"), Some(ms(2027, 1, 1)));
        assert_eq!(month_end_ms("tuple()"), None);
        assert_eq!(month_end_ms("202613"), None);
    }

    #[test]
    fn drops_whole_months_past_the_horizon_only() {
        let i = Inputs {
            now_ms: ms(2026, 11, 29),
            horizon_ms: 60 * DAY,
            partitions: parts(&[
                ("events_raw", "202608"),
                ("events_raw", "202609"),
                ("events_raw", "202610"),
                ("journeys", "202609"),
                ("journeys", "202611"),
                ("rollup_tenant_daily", "202601"),
            ]),
            retained_from: vec![(0, ms(2026, 11, 20)), (1, ms(2026, 11, 25))],
            ..Inputs::default()
        };
        // The horizon is 2026-09-30: September ends on 10-01, after it.
        assert_eq!(names(&plan(&i)), vec!["events_raw 202608"]);
        let later = Inputs {
            now_ms: ms(2026, 12, 1),
            ..i
        };
        assert_eq!(
            names(&plan(&later)),
            vec!["events_raw 202608", "events_raw 202609", "journeys 202609"]
        );
    }

    #[test]
    fn snapshot_months_wait_for_every_partition_and_for_old_evictions() {
        let i = Inputs {
            now_ms: ms(2026, 11, 29),
            horizon_ms: 30 * DAY,
            partitions: parts(&[("campaign_state", "202608"), ("events_raw", "202608")]),
            retained_from: vec![(0, ms(2026, 11, 20)), (1, 0)],
            ..Inputs::default()
        };
        let p = plan(&i);
        assert_eq!(names(&p), vec!["events_raw 202608"]);
        assert_eq!(p.held.len(), 1);
        let legacy = Inputs {
            retained_from: vec![(0, ms(2026, 11, 20))],
            newest_legacy_eviction_ms: Some(ms(2026, 11, 1)),
            ..i.clone()
        };
        assert_eq!(names(&plan(&legacy)), vec!["events_raw 202608"]);
        let legacy_past = Inputs {
            newest_legacy_eviction_ms: Some(ms(2026, 10, 1)),
            ..legacy
        };
        assert_eq!(
            names(&plan(&legacy_past)),
            vec!["campaign_state 202608", "events_raw 202608"]
        );
    }

    #[test]
    fn raw_months_wait_for_a_stale_tail() {
        let i = Inputs {
            now_ms: ms(2026, 11, 29),
            horizon_ms: 30 * DAY,
            partitions: parts(&[("events_raw", "202608")]),
            stale_tails: vec![3],
            ..Inputs::default()
        };
        let p = plan(&i);
        assert!(p.drops.is_empty());
        assert!(p.held[0].reason.contains("partition 3"));
    }
}
