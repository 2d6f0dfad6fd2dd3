//! `query-api tenant rebuild-rollups`: a tenant's rollups and status
//! changes, rebuilt from `events_raw` in its current calendar, while the
//! processors run (ARCHITECTURE.md, "Rebuilding a tenant's rollups").
//!
//! 1. The tenant's zone history is rebased on its latest zone (which then
//!    applies from the beginning of time) and published to the tenants
//!    topic; the processors date every event they write from then on in
//!    that zone, late ones included.
//! 2. After a settling wait, the tenant's rows are deleted from the rollups
//!    and the status changes (mutations, waited for), and inserted again
//!    from its raw events, dated in the zone.
//! 3. The rollups are compared with what the raw events make. A row written
//!    meanwhile by a processor that had not applied the new calendar yet,
//!    or counted twice (an insert of the views that overlapped the
//!    deletion), is a difference at every one of three looks (one that
//!    goes away was an insert in flight): steps 2 and 3 run again, up to
//!    `--attempts` times. Done only when no difference stays.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::Args;
use metadata::Metadata;
use rdkafka::producer::FutureProducer;
use storage::rollups::{date_of, days, Difference, TenantRollups};

use super::TenantOutbox;
use crate::outbox::publish_pending;

/// Options of `query-api tenant rebuild-rollups`.
#[derive(Debug, Clone, Args)]
pub struct RebuildOptions {
    /// The tenant whose rollups to rebuild (its id in the registry).
    #[arg(long = "tenant", value_name = "ID")]
    pub tenant: String,

    /// Rebuild only the periods starting on or after this day (days from
    /// it, weeks from their Monday, months from their first), leaving the
    /// earlier ones as they are. Needed once retention dropped the
    /// tenant's oldest raw events: the error says from which day on the
    /// raw events are complete.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,

    /// How long to wait after publishing the rebased calendar before
    /// rewriting the rollups, for every processor to apply it.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub settle_seconds: u64,

    /// How many times to rewrite and compare before giving up.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,

    /// The longest wait for ClickHouse's deletions (mutations).
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub mutation_timeout_seconds: u64,
}

/// Comparisons per attempt at most, and the wait between two.
const LOOKS: u32 = 3;
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub zone: String,
    /// The history had other zones, now superseded.
    pub rebased: bool,
    pub from: Option<NaiveDate>,
    pub attempts: u32,
    /// Rollup rows (day, week and month) and status changes compared equal.
    pub rows: usize,
    pub status_changes: usize,
}

/// Days two calendars' dates of one instant can be apart at most (zones
/// are at most 26 hours apart).
const ZONE_SLACK: chrono::Days = chrono::Days::new(2);

/// The first period to rebuild: `from`, checked against the raw events
/// still there. `raw_first`/`rollup_first`: the first day of the tenant's
/// raw events (in the calendar they were written with) and of its daily
/// rollup (in the calendar of the last rebuild, if any); `None`: none. A
/// rollup that starts more than [`ZONE_SLACK`] earlier means retention
/// dropped raw months: the rebuild must then start where the raw events
/// are complete in any zone.
pub fn first_period(
    raw_first: Option<NaiveDate>,
    rollup_first: Option<NaiveDate>,
    from: Option<NaiveDate>,
) -> Result<Option<NaiveDate>, String> {
    let (Some(raw), Some(rollup)) = (raw_first, rollup_first) else {
        return Ok(from);
    };
    if rollup + ZONE_SLACK >= raw {
        return Ok(from);
    }
    let safe = raw + ZONE_SLACK;
    match from {
        Some(from) if from >= safe => Ok(Some(from)),
        Some(from) => Err(format!(
            "--from {from} is too early: the tenant's raw events start on {raw} (retention \
             dropped older months), so periods before {safe} cannot be rebuilt exactly; pass \
             --from {safe} or later"
        )),
        None => Err(format!(
            "the tenant's rollups start on {rollup} but its raw events only on {raw} (retention \
             dropped older months): the earlier periods cannot be rebuilt. Pass --from {safe} \
             (or later) to rebuild from there; earlier periods keep the calendar they were \
             written with"
        )),
    }
}

/// The first differences, for people.
fn describe(differences: &[Difference], status: &[(String, u16, usize, usize)]) -> String {
    let mut lines: Vec<String> = differences
        .iter()
        .take(5)
        .map(|d| {
            format!(
                "{:?} {} campaign {}: rollup {:?}, raw events {:?}",
                d.period,
                date_of(d.key.0),
                d.key.1,
                d.got,
                d.want
            )
        })
        .collect();
    lines.extend(status.iter().take(5).map(|(id, day, want, got)| {
        format!(
            "status change {id} on {}: {got} rows, {want} expected",
            date_of(*day)
        )
    }));
    lines.join("\n  ")
}

/// Rebuild `options.tenant`'s rollups (see the module). `producer`: where
/// to publish the rebased calendar (`None`: no brokers configured, an
/// error if there is something to publish). `progress` gets a line per step.
pub async fn rebuild(
    metadata: &Metadata,
    clickhouse: &clickhouse::Client,
    producer: Option<(&FutureProducer, &str)>,
    principal: &str,
    options: &RebuildOptions,
    progress: &mut dyn FnMut(String),
) -> anyhow::Result<Rebuilt> {
    let tenant = options.tenant.as_str();
    let (record, rebased) = metadata
        .rebase_tenant_calendar(principal, tenant)
        .await
        .context("rebasing the tenant's calendar in the metadata database")?
        .with_context(|| {
            format!("no live tenant {tenant:?} in the registry (GET /v1/tenants lists them)")
        })?;
    let zone = record
        .zones
        .last()
        .map(|z| z.timezone.clone())
        .context("the tenant has no zone")?;
    // Checked: the zone is written into the statements.
    runtime::tenants::zone(&zone).with_context(|| format!("the tenant's zone {zone:?}"))?;
    if rebased {
        progress(format!(
            "rebased {tenant}'s calendar on {zone} (revision {}): it applies to all of its events",
            record.revision
        ));
    } else {
        progress(format!("{tenant}'s calendar is one zone already: {zone}"));
    }
    let outbox = TenantOutbox::standalone(metadata.clone());
    let unpublished = |records: &[runtime::tenant_directory::TenantRecord]| {
        records.iter().any(|r| r.id == tenant)
    };
    // Published by this command, or already by a running API's publisher:
    // either way the processors need the settling wait after a rebase.
    let pending = unpublished(&metadata.unpublished_tenants(i64::MAX).await?);
    if pending {
        let Some((producer, topic)) = producer else {
            bail!(
                "the rebased calendar must reach the processors through the tenants topic: set \
                 KAFKA_BROKERS (--kafka-brokers) as for `query-api serve`"
            );
        };
        publish_pending(&outbox, producer, topic)
            .await
            .with_context(|| format!("publishing the tenant to the {topic} topic"))?;
        if unpublished(&metadata.unpublished_tenants(i64::MAX).await?) {
            bail!("the tenant's record was not published to {topic}; run the command again");
        }
        progress(format!("published to the {topic} topic"));
    }
    let settle = Duration::from_secs(options.settle_seconds);
    if pending || rebased {
        progress(format!(
            "waiting {} s for the processors to apply the calendar",
            options.settle_seconds
        ));
        tokio::time::sleep(settle).await;
    }

    let mut rollups = TenantRollups {
        client: clickhouse,
        tenant,
        zone: &zone,
        from: None,
    };
    let (raw_first, rollup_first) = rollups
        .first_days()
        .await
        .context("reading the tenant's first days in ClickHouse")?;
    rollups.from = first_period(
        raw_first.map(date_of),
        rollup_first.map(date_of),
        options.from,
    )
    .map_err(anyhow::Error::msg)?;
    let timeout = Duration::from_secs(options.mutation_timeout_seconds);
    for attempt in 1..=options.attempts {
        if attempt > 1 {
            // A processor behind on the calendar: give it time.
            tokio::time::sleep(settle).await;
        }
        let started = Instant::now();
        progress(format!(
            "attempt {attempt}: deleting {tenant}'s rollup rows and status changes{}",
            rollups
                .from
                .map_or(String::new(), |f| format!(" from {f} (day {}) on", days(f)))
        ));
        let cutoffs = rollups
            .delete(timeout)
            .await
            .context("deleting the tenant's rollup rows (ALTER TABLE ... DELETE)")?;
        progress(format!(
            "attempt {attempt}: inserting them again from events_raw, dated in {zone}"
        ));
        rollups
            .insert(Some(&cutoffs))
            .await
            .context("inserting the tenant's rollup rows from events_raw")?;
        // A difference may be an insert in flight (its raw rows landed,
        // its view rows not yet): only one seen at every look is real.
        let compare = || async {
            rollups
                .compare()
                .await
                .context("comparing the rollups with events_raw")
        };
        let mut c = compare().await?;
        for _ in 1..LOOKS {
            if c.equal() {
                break;
            }
            tokio::time::sleep(LOOK_EVERY).await;
            c = compare().await?.persisting(&c);
        }
        if c.equal() {
            progress(format!(
                "attempt {attempt}: {} rollup rows and {} status changes equal what events_raw \
                 makes in {zone} ({:.1} s)",
                c.rows,
                c.status_changes,
                started.elapsed().as_secs_f64()
            ));
            return Ok(Rebuilt {
                zone: zone.clone(),
                rebased,
                from: rollups.from,
                attempts: attempt,
                rows: c.rows,
                status_changes: c.status_changes,
            });
        }
        progress(format!(
            "attempt {attempt}: {} rollup rows and {} status changes differ from events_raw \
             (a processor writing in the old calendar, or a write overlapping the deletion); \
             the first:\n  {}",
            c.differences.len(),
            c.status_differences.len(),
            describe(&c.differences, &c.status_differences)
        ));
    }
    bail!(
        "{tenant}'s rollups still differ from its raw events after {} attempts: is a processor \
         not following the tenants topic (TENANT_REGISTRY=true, TOPIC_TENANTS)? Run the command \
         again once every processor follows it",
        options.attempts
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn everything_is_rebuilt_while_the_raw_events_are_complete() {
        assert_eq!(first_period(None, None, None), Ok(None));
        assert_eq!(
            first_period(Some(d("2026-01-01")), Some(d("2026-01-01")), None),
            Ok(None)
        );
        // Another calendar dates the first events a day apart from the
        // raw rows' days: still complete.
        assert_eq!(
            first_period(Some(d("2026-01-02")), Some(d("2026-01-03")), None),
            Ok(None)
        );
        assert_eq!(
            first_period(Some(d("2026-01-03")), Some(d("2026-01-02")), None),
            Ok(None)
        );
        assert_eq!(
            first_period(Some(d("2026-01-01")), None, Some(d("2025-12-01"))),
            Ok(Some(d("2025-12-01")))
        );
    }

    #[test]
    fn after_retention_the_rebuild_starts_where_raw_events_are_complete() {
        let raw = Some(d("2026-03-01"));
        let rollup = Some(d("2025-01-06"));
        let e = first_period(raw, rollup, None).expect_err("needs --from");
        assert!(e.contains("--from 2026-03-03"), "{e}");
        let e = first_period(raw, rollup, Some(d("2026-03-02"))).expect_err("too early");
        assert!(e.contains("too early") && e.contains("2026-03-03"), "{e}");
        assert_eq!(
            first_period(raw, rollup, Some(d("2026-03-03"))),
            Ok(Some(d("2026-03-03")))
        );
    }
}
