//! Tenant overview rollups per local day, week (starting Monday) and month
//! (`metrics.md`, "Tenant overview rollups").

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, Days, Months, NaiveDate};
use chrono_tz::Tz;
use schemas::{CampaignStatus, Event};

use super::{count, percent};
use crate::loadgen::expected_json::{Period, Rollups};

pub(super) fn compute(events: &[&Event], tz: &BTreeMap<String, Tz>) -> Rollups {
    Rollups {
        day: periods(events, tz, Granularity::Day),
        week: periods(events, tz, Granularity::Week),
        month: periods(events, tz, Granularity::Month),
    }
}

#[derive(Debug, Clone, Copy)]
enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    /// The first day of the period that contains `day`.
    fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => day,
            Granularity::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Granularity::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The last day of the period that starts on `start`.
    fn last_day(self, start: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => start,
            Granularity::Week => start + Days::new(6),
            Granularity::Month => start + Months::new(1) - Days::new(1),
        }
    }
}

/// The calendar day of `ms` in `tz`.
pub(super) fn local_day(ms: i64, tz: Tz) -> NaiveDate {
    let utc = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    utc.with_timezone(&tz).date_naive()
}

/// A status change of a campaign, with its local day.
struct StatusChange<'a> {
    occurred_at: i64,
    event_id: &'a str,
    day: NaiveDate,
    status: CampaignStatus,
}

#[derive(Default)]
struct CampaignInPeriod<'a> {
    target: HashSet<&'a str>,
    sent: HashSet<&'a str>,
    interacted: HashSet<&'a str>,
}

#[derive(Default)]
struct PeriodAcc<'a> {
    /// Campaigns with any event in the period.
    campaigns: BTreeMap<&'a str, CampaignInPeriod<'a>>,
    interactions: HashSet<&'a str>,
}

fn periods(events: &[&Event], tz: &BTreeMap<String, Tz>, g: Granularity) -> Vec<Period> {
    let mut acc: BTreeMap<(&str, NaiveDate), PeriodAcc<'_>> = BTreeMap::new();
    // tenant -> campaign -> its status changes
    let mut statuses: BTreeMap<&str, BTreeMap<&str, Vec<StatusChange<'_>>>> = BTreeMap::new();

    for event in events {
        let tenant = event.tenant_id();
        let zone = tz.get(tenant).copied().unwrap_or(Tz::UTC);
        let day = local_day(event.occurred_at(), zone);
        let period = acc.entry((tenant, g.start(day))).or_default();
        let campaign = period.campaigns.entry(event.campaign_id()).or_default();
        let changes = statuses
            .entry(tenant)
            .or_default()
            .entry(event.campaign_id())
            .or_default();
        match event {
            Event::Lifecycle(e) => {
                if let Some(status) = e.status {
                    changes.push(StatusChange {
                        occurred_at: e.occurred_at,
                        event_id: &e.event_id,
                        day,
                        status,
                    });
                }
            }
            Event::Notification(n) => {
                campaign.target.insert(&n.user_id);
                if n.first_message {
                    campaign.sent.insert(&n.user_id);
                }
            }
            Event::Interaction(i) => {
                campaign.target.insert(&i.user_id);
                campaign.interacted.insert(&i.user_id);
                period.interactions.insert(&i.event_id);
            }
        }
    }

    let mut out = Vec::new();
    for ((tenant, start), period) in acc {
        let last_day = g.last_day(start);
        let mut completed = 0;
        let mut running = 0;
        let mut error = 0;
        for changes in statuses.get(tenant).into_iter().flat_map(|c| c.values()) {
            let latest = changes
                .iter()
                .filter(|c| c.day <= last_day)
                .max_by(|a, b| (a.occurred_at, a.event_id).cmp(&(b.occurred_at, b.event_id)));
            match latest.map(|c| c.status) {
                Some(CampaignStatus::Completed) => completed += 1,
                Some(CampaignStatus::Running) => running += 1,
                Some(CampaignStatus::Error) => error += 1,
                _ => {}
            }
        }
        let sum =
            |f: fn(&CampaignInPeriod<'_>) -> u64| -> u64 { period.campaigns.values().map(f).sum() };
        let sent_users = sum(|c| count(&c.sent));
        let interacted_users = sum(|c| count(&c.interacted));
        out.push(Period {
            tenant_id: tenant.to_owned(),
            period_start: start,
            campaigns: period.campaigns.len() as u64,
            target_users: sum(|c| count(&c.target)),
            sent_users,
            interacted_users,
            interactions: count(&period.interactions),
            interaction_rate: percent(interacted_users, sent_users),
            campaigns_completed: completed,
            campaigns_running: running,
            campaigns_error: error,
        });
    }
    out
}
