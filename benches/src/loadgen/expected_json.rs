//! The expected-figures file that `loadgen --expected PATH` writes, as serde
//! types, so tests anywhere can read it back (`serde_json::from_reader`).
//!
//! The oracle ([`super::expected::compute`]) produces [`Report`]s,
//! [`Journey`]s and [`Period`]s directly; times are `i64` milliseconds since
//! the epoch in Rust and RFC 3339 UTC strings with milliseconds in the file
//! (`2026-09-01T10:00:00.123Z`). Every list is sorted and every map is a
//! `BTreeMap`, so the same seed and configuration give the same bytes.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedFile {
    pub seed: u64,
    pub config: RunConfig,
    /// Tenant id -> its settings.
    pub tenants: BTreeMap<String, TenantInfo>,
    pub counts: Counts,
    /// Every poison record, in production order.
    pub poison: Vec<PoisonInfo>,
    /// Sorted by (tenant, campaign, job), the all-jobs report (job `null`)
    /// first.
    pub reports: Vec<Report>,
    /// Sorted by (tenant, campaign, job, user); absent with `--no-journeys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journeys: Option<Vec<Journey>>,
    pub rollups: Rollups,
}

/// The generation options the figures depend on (the seed is at the top).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub tenants: u32,
    pub campaigns: u32,
    pub jobs: u32,
    pub users: u32,
    pub days: u32,
    #[serde(with = "rfc3339_millis")]
    pub start: i64,
    pub duplicate_ratio: f64,
    pub poison: u32,
    pub topics: TopicNames,
}

/// The topic each kind of record went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicNames {
    pub lifecycle: String,
    pub notifications: String,
    pub interactions: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantInfo {
    /// IANA time zone name of the tenant's day boundaries.
    pub timezone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Every record produced: distinct events, duplicates and poison.
    pub records: u64,
    pub distinct_events: u64,
    /// Re-deliveries of an event already produced (same `event_id`, same bytes).
    pub duplicates: u64,
    pub poison: u64,
    /// Topic name -> its records.
    pub per_topic: BTreeMap<String, TopicCounts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicCounts {
    /// Every record produced to the topic, poison and duplicates included.
    pub records: u64,
    pub poison: u64,
}

/// A record the processor must send to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoisonInfo {
    pub topic: String,
    /// The record key (a real campaign id).
    pub key: String,
    /// What is wrong with it: `random_bytes`, `bad_marker`,
    /// `unknown_schema_id`, `unknown_fingerprint`, `truncated_body`, `empty_tenant_id`,
    /// `empty_user_id` or `far_future`.
    pub reason: String,
}

/// A per-(campaign, job) report, or with `job_id` `None` the report over all
/// jobs of the campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: Option<String>,
    /// Lifecycle status symbol (`RUNNING`, ...), `None` when no lifecycle
    /// event with a status was seen.
    pub status: Option<String>,
    pub target_users: u64,
    pub sent_users: u64,
    pub interacted_users: u64,
    pub completed_users: u64,
    pub interaction_rate: f64,
    pub completion_rate: f64,
    pub total_interactions: u64,
    pub messages_sent: u64,
    pub warnings_sent: u64,
    pub avg_completion_seconds: Option<f64>,
    /// Sorted by `node_id`.
    pub nodes: Vec<NodeStats>,
    /// In flow-sequence order.
    pub funnel: Vec<FunnelStep>,
    #[serde(with = "rfc3339_millis")]
    pub first_event_at: i64,
    #[serde(with = "rfc3339_millis")]
    pub last_event_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    pub node_id: String,
    pub reached_users: u64,
    /// `selected_action` -> distinct interactions.
    pub choices: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelStep {
    pub node_id: String,
    pub users: u64,
    pub conversion_from_previous: f64,
    pub drop_off: u64,
}

/// One user's path through one job of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: String,
    pub user_id: String,
    /// Ordered by (`occurred_at`, `event_id`).
    pub steps: Vec<Step>,
    pub total_interactions: u64,
    pub completed: bool,
    pub exit_node: Option<String>,
    pub completion_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub node_id: String,
    pub choice: String,
    #[serde(with = "rfc3339_millis")]
    pub occurred_at: i64,
    pub event_id: String,
}

/// Overview rollups per granularity, each sorted by (tenant, period start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollups {
    pub day: Vec<Period>,
    pub week: Vec<Period>,
    pub month: Vec<Period>,
}

/// One tenant's overview for one day, week (starting Monday) or month, in
/// the tenant's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub tenant_id: String,
    /// First local day of the period, `YYYY-MM-DD`.
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

/// Milliseconds since the epoch as RFC 3339 UTC text with milliseconds.
pub fn format_millis(ms: i64) -> Option<String> {
    let at = chrono::DateTime::from_timestamp_millis(ms)?;
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// RFC 3339 text as milliseconds since the epoch.
pub fn parse_millis(text: &str) -> Option<i64> {
    let at = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(at.timestamp_millis())
}

/// `#[serde(with = ...)]` for `i64` milliseconds written as RFC 3339 text.
pub mod rfc3339_millis {
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        let text = super::format_millis(*ms)
            .ok_or_else(|| S::Error::custom(format!("{ms} ms is out of the date range")))?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_millis(&text)
            .ok_or_else(|| D::Error::custom(format!("{text:?} is not an RFC 3339 time")))
    }
}
