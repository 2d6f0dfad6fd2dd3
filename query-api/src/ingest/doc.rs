//! The OpenAPI description of the ingestion request bodies: the event
//! forms of `schemas/avro/*.avsc` as JSON plus `type`. Documentation only:
//! `schemas::json` parses and checks the bodies (and names the field of
//! each problem), so these types are never deserialized.

use serde::Serialize;
use utoipa::ToSchema;

use crate::params::CampaignStatus;

/// Event time: an RFC 3339 date-time (digits below the millisecond are
/// dropped) or milliseconds since the Unix epoch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OccurredAt {
    Rfc3339(chrono::DateTime<chrono::Utc>),
    EpochMillis(i64),
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignLifecycleType {
    CampaignLifecycle,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationSentType {
    NotificationSent,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserInteractionType {
    UserInteraction,
}

/// `CampaignLifecycle.kind`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleKind {
    Created,
    ScriptUpdated,
    StatusChanged,
    Completed,
}

/// A node of a campaign script.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptNode {
    pub id: String,
    pub r#type: String,
    pub script_type: String,
}

/// An edge of a campaign script: a button from `source` to `target`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptEdge {
    pub source: String,
    pub target: String,
    pub label: Option<String>,
}

/// The script graph of a campaign.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub nodes: Vec<ScriptNode>,
    pub edges: Vec<ScriptEdge>,
}

/// A campaign was created, its script changed, its status changed, or it
/// completed (topic campaign-lifecycle).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignLifecycle {
    pub r#type: CampaignLifecycleType,
    /// Unique per event; re-sending the same event_id is harmless.
    #[schema(min_length = 1)]
    pub event_id: String,
    /// The producer key's tenant.
    #[schema(min_length = 1)]
    pub tenant_id: String,
    #[schema(min_length = 1)]
    pub campaign_id: String,
    /// Empty when the event concerns the whole campaign.
    pub job_id: String,
    pub occurred_at: OccurredAt,
    pub kind: LifecycleKind,
    pub status: Option<CampaignStatus>,
    /// Users the job targets, when the sender knows it.
    pub audience_size: Option<i64>,
    pub script: Option<Script>,
}

/// A message was sent to a user (topic notifications).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSent {
    pub r#type: NotificationSentType,
    /// Unique per event; re-sending the same event_id is harmless.
    #[schema(min_length = 1)]
    pub event_id: String,
    /// The producer key's tenant.
    #[schema(min_length = 1)]
    pub tenant_id: String,
    #[schema(min_length = 1)]
    pub campaign_id: String,
    pub job_id: String,
    pub occurred_at: OccurredAt,
    #[schema(min_length = 1)]
    pub user_id: String,
    /// The script node the message shows.
    pub node_id: Option<String>,
    /// The opening message of the job for this user.
    pub first_message: bool,
    /// A reminder/warning, not a script step.
    pub warning_message: bool,
}

/// A user clicked a button or answered (topic interactions).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInteraction {
    pub r#type: UserInteractionType,
    /// Unique per event; re-sending the same event_id is harmless.
    #[schema(min_length = 1)]
    pub event_id: String,
    /// The producer key's tenant.
    #[schema(min_length = 1)]
    pub tenant_id: String,
    #[schema(min_length = 1)]
    pub campaign_id: String,
    pub job_id: String,
    pub occurred_at: OccurredAt,
    #[schema(min_length = 1)]
    pub user_id: String,
    /// The button/choice label or id.
    pub selected_action: String,
    /// The node the choice leads to.
    pub answer_target: String,
    pub answer_title: Option<String>,
    pub question: Option<String>,
}

/// One event: the Avro record as JSON plus `type`. Nullable fields may be
/// absent or null; unknown fields are rejected.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(example = json!({
    "type": "user_interaction",
    "event_id": "3f1c2a4e-7f0b-4c1e-9d59-0c1f2b3a4d5e",
    "tenant_id": "acme",
    "campaign_id": "spring-sale",
    "job_id": "run-1",
    "occurred_at": "2026-09-01T10:00:00.123Z",
    "user_id": "u-1001",
    "selected_action": "yes",
    "answer_target": "offer",
    "answer_title": "Yes, please",
    "question": null
}))]
pub enum Event {
    CampaignLifecycle(CampaignLifecycle),
    NotificationSent(NotificationSent),
    UserInteraction(UserInteraction),
}

/// Up to 1000 events (and 1 MiB).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    #[schema(max_items = 1000)]
    pub events: Vec<Event>,
}
