//! The JSON the API returns, built from the rows the reader returns, and
//! the answer of the event ingestion routes.
//! Times are RFC 3339 UTC with milliseconds (`2026-11-01T10:00:00.123Z`);
//! rates are percentages in [0, 100].

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use storage::rows::{JourneyRow, ReportRow};
use utoipa::ToSchema;

use crate::read::{Granularity, Period};

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds
/// (the epoch when out of the range of four-digit years).
pub fn rfc3339_millis(ms: i64) -> String {
    const MAX_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let at = chrono::DateTime::from_timestamp_millis(ms.clamp(0, MAX_MS)).unwrap_or_default();
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A finite number (JSON has no NaN or infinity).
pub(crate) fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Users reaching one script node and the choices made there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeStats {
    pub node_id: String,
    /// Distinct users whose choice led to this node.
    pub reached_users: u64,
    /// Choice (selected action) -> interactions.
    pub choices: BTreeMap<String, u64>,
}

/// One step of the funnel (the script's flow sequence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunnelStep {
    pub node_id: String,
    /// Users reaching the node (the start node counts `sent_users`).
    pub users: u64,
    /// Percent of the previous step's users.
    pub conversion_from_previous: f64,
    /// Users of the previous step who did not reach this one.
    pub drop_off: u64,
}

/// A campaign report (over all jobs, `job_id` null) or a job report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Report {
    pub tenant_id: String,
    pub campaign_id: String,
    /// Null for the report over all jobs of the campaign.
    #[schema(required = true)]
    pub job_id: Option<String>,
    /// Latest lifecycle status by event time (NEW, PREPARING, WAITING,
    /// RUNNING, COMPLETED or ERROR); null when none was announced.
    #[schema(required = true)]
    pub status: Option<String>,
    pub target_users: u64,
    pub sent_users: u64,
    pub interacted_users: u64,
    pub completed_users: u64,
    /// `interacted_users / sent_users * 100` (0 when nobody was sent to).
    pub interaction_rate: f64,
    /// `completed_users / sent_users * 100` (0 when nobody was sent to).
    pub completion_rate: f64,
    pub total_interactions: u64,
    pub messages_sent: u64,
    pub warnings_sent: u64,
    /// Mean completion time of completed users; null when none completed.
    #[schema(required = true)]
    pub avg_completion_seconds: Option<f64>,
    pub nodes: Vec<NodeStats>,
    pub funnel: Vec<FunnelStep>,
    #[schema(format = DateTime)]
    pub first_event_at: String,
    #[schema(format = DateTime)]
    pub last_event_at: String,
    /// Time of the snapshot this report was read from.
    #[schema(format = DateTime)]
    pub as_of: String,
}

impl Report {
    pub fn from_row(r: &ReportRow) -> Self {
        let nodes = serde_json::from_str(&r.nodes_json).unwrap_or_else(|e| {
            tracing::warn!(campaign = %r.campaign_id, error = %e, "unreadable nodes_json");
            Vec::new()
        });
        let funnel: Vec<FunnelStep> = serde_json::from_str(&r.funnel_json).unwrap_or_else(|e| {
            tracing::warn!(campaign = %r.campaign_id, error = %e, "unreadable funnel_json");
            Vec::new()
        });
        Report {
            tenant_id: r.tenant_id.clone(),
            campaign_id: r.campaign_id.clone(),
            job_id: (!r.job_id.is_empty()).then(|| r.job_id.clone()),
            status: (!r.status.is_empty()).then(|| r.status.clone()),
            target_users: r.target_users,
            sent_users: r.sent_users,
            interacted_users: r.interacted_users,
            completed_users: r.completed_users,
            interaction_rate: finite(r.interaction_rate),
            completion_rate: finite(r.completion_rate),
            total_interactions: r.total_interactions,
            messages_sent: r.messages_sent,
            warnings_sent: r.warnings_sent,
            avg_completion_seconds: r.avg_completion_seconds.filter(|x| x.is_finite()),
            nodes,
            funnel: funnel
                .into_iter()
                .map(|f| FunnelStep {
                    conversion_from_previous: finite(f.conversion_from_previous),
                    ..f
                })
                .collect(),
            first_event_at: rfc3339_millis(r.first_event_at_ms),
            last_event_at: rfc3339_millis(r.last_event_at_ms),
            as_of: rfc3339_millis(i64::from(r.snapshot_at) * 1000),
        }
    }
}

/// One interaction of a journey.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Step {
    /// The node the choice led to.
    pub node_id: String,
    /// The selected action.
    pub choice: String,
    #[schema(format = DateTime)]
    pub occurred_at: String,
    pub event_id: String,
}

/// One user's path through one job of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Journey {
    pub user_id: String,
    /// Ordered by `occurred_at`, then `event_id`.
    pub steps: Vec<Step>,
    pub total_interactions: u64,
    /// A step reached an end node.
    pub completed: bool,
    /// The first end node reached; null when not completed.
    #[schema(required = true)]
    pub exit_node: Option<String>,
    /// From the first message (or first step) to the first end node; null
    /// when not completed.
    #[schema(required = true)]
    pub completion_seconds: Option<f64>,
}

impl Journey {
    pub fn from_row(j: &JourneyRow) -> Self {
        let steps = j
            .step_node_ids
            .iter()
            .zip(&j.step_choices)
            .zip(&j.step_occurred_at_ms)
            .zip(&j.step_event_ids)
            .map(|(((node, choice), at), id)| Step {
                node_id: node.clone(),
                choice: choice.clone(),
                occurred_at: rfc3339_millis(*at),
                event_id: id.clone(),
            })
            .collect();
        Journey {
            user_id: j.user_id.clone(),
            steps,
            total_interactions: j.total_interactions,
            completed: j.completed != 0,
            exit_node: (!j.exit_node.is_empty()).then(|| j.exit_node.clone()),
            completion_seconds: j.completion_seconds.filter(|x| x.is_finite()),
        }
    }
}

/// One day, week (starting Monday) or month of the tenant's calendar.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OverviewPeriod {
    /// First local day of the period.
    pub period_start: NaiveDate,
    /// Campaigns with any event in the period.
    pub campaigns: u64,
    pub target_users: u64,
    pub sent_users: u64,
    pub interacted_users: u64,
    pub interactions: u64,
    /// `interacted_users / sent_users * 100` of the period.
    pub interaction_rate: f64,
    /// Campaigns whose latest status at the end of the period is COMPLETED.
    pub campaigns_completed: u64,
    pub campaigns_running: u64,
    pub campaigns_error: u64,
}

impl From<&Period> for OverviewPeriod {
    fn from(p: &Period) -> Self {
        OverviewPeriod {
            period_start: p.period_start,
            campaigns: p.campaigns,
            target_users: p.target_users,
            sent_users: p.sent_users,
            interacted_users: p.interacted_users,
            interactions: p.interactions,
            interaction_rate: finite(p.interaction_rate),
            campaigns_completed: p.campaigns_completed,
            campaigns_running: p.campaigns_running,
            campaigns_error: p.campaigns_error,
        }
    }
}

/// A page of the campaign list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignPage {
    /// All-jobs reports, ordered by campaign id.
    pub campaigns: Vec<Report>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The job reports of a campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobList {
    /// Ordered by job id.
    pub jobs: Vec<Report>,
}

/// A page of the journeys of a job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JourneyPage {
    /// Ordered by user id.
    pub journeys: Vec<Journey>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The tenant overview.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Overview {
    pub tenant_id: String,
    pub granularity: Granularity,
    /// The tenant's IANA time zone, whose calendar the periods follow.
    pub timezone: String,
    /// Periods that had events, ordered by start.
    pub periods: Vec<OverviewPeriod>,
}

/// `/healthz` and `/readyz` when all is well.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (alive) or `ready` (ClickHouse reachable).
    pub status: String,
}

/// The answer of the event ingestion routes (202): the broker acknowledged
/// every accepted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IngestResult {
    /// Events the broker acknowledged.
    pub accepted: u64,
    /// Events that were not accepted, in request order, with why.
    pub rejected: Vec<RejectedEvent>,
}

/// An event that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectedEvent {
    /// Position of the event in `events` (0 for `POST /v1/events`).
    pub index: usize,
    /// Why, as a stable code: `not_an_object`, `unknown_type`,
    /// `missing_field`, `empty_field`, `wrong_type`, `bad_timestamp`,
    /// `unknown_symbol`, `unknown_field`, `in_future` (more than the allowed
    /// clock skew ahead), `tenant_mismatch` (not the producer key's tenant).
    #[schema(example = "missing_field")]
    pub code: String,
    /// For people: what is wrong, naming the field.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_z() {
        assert_eq!(
            rfc3339_millis(1_793_527_200_123),
            "2026-11-01T10:00:00.123Z"
        );
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
    }
}
