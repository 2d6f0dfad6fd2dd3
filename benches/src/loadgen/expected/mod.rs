//! The expected-figures oracle: `metrics.md` (and the decisions in
//! `docs/metrics-decisions.md`) written as directly as possible, from the
//! list of distinct events. It shares no code with the processor on purpose:
//! it is the independent second opinion the end-to-end tests compare with.
//!
//! Plain batch code over maps and sets: every figure is a count of a set
//! built the way its definition reads. Speed is secondary (it still handles
//! millions of events in seconds). Whatever is listed or summed in floating
//! point goes through `BTreeMap`s, so the output is deterministic.
//!
//! - `script`: script analysis (end nodes, start node, flow sequence).
//! - `campaign`: per-campaign reports and per-user journeys.
//! - `rollups`: the tenant overview per day, week and month.

mod campaign;
mod rollups;
mod script;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};

use chrono_tz::Tz;
use schemas::Event;

use super::expected_json::{Journey, Report, Rollups};

pub use script::ScriptAnalysis;

/// Every figure of `metrics.md` for a set of events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    /// Sorted by (tenant, campaign, job), the all-jobs report (`job_id`
    /// `None`) first.
    pub reports: Vec<Report>,
    /// Sorted by (tenant, campaign, job, user).
    pub journeys: Vec<Journey>,
    pub rollups: Rollups,
}

/// The figures of `events`; `tz` maps tenant ids to their time zone (UTC
/// when absent). An `event_id` seen more than once counts once (the first
/// occurrence in `events` wins). The order of `events` does not matter
/// otherwise.
pub fn compute(events: &[Event], tz: &BTreeMap<String, Tz>) -> Expected {
    let distinct = distinct(events);

    let mut by_campaign: BTreeMap<(&str, &str), Vec<&Event>> = BTreeMap::new();
    for event in &distinct {
        by_campaign
            .entry((event.tenant_id(), event.campaign_id()))
            .or_default()
            .push(event);
    }

    // The rollups do not depend on the reports: compute them alongside.
    std::thread::scope(|scope| {
        let rollups = scope.spawn(|| rollups::compute(&distinct, tz));
        let mut expected = Expected::default();
        for ((tenant, campaign), events) in &by_campaign {
            let figures = campaign::compute(tenant, campaign, events);
            expected.reports.extend(figures.reports);
            expected.journeys.extend(figures.journeys);
        }
        expected.reports.sort_by(|a, b| {
            (&a.tenant_id, &a.campaign_id, &a.job_id).cmp(&(
                &b.tenant_id,
                &b.campaign_id,
                &b.job_id,
            ))
        });
        expected.journeys.sort_by(|a, b| {
            (&a.tenant_id, &a.campaign_id, &a.job_id, &a.user_id).cmp(&(
                &b.tenant_id,
                &b.campaign_id,
                &b.job_id,
                &b.user_id,
            ))
        });
        expected.rollups = match rollups.join() {
            Ok(rollups) => rollups,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        expected
    })
}

/// The events with distinct `event_id`s, the first occurrence of each.
fn distinct(events: &[Event]) -> Vec<&Event> {
    let mut seen = HashSet::with_capacity(events.len());
    events
        .iter()
        .filter(|e| seen.insert(e.event_id()))
        .collect()
}

/// `part / whole * 100`, 0 when `whole` is 0.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 / whole as f64 * 100.0
}

/// A set's size as a count.
fn count<T>(set: &HashSet<T>) -> u64 {
    set.len() as u64
}
