//! Rust types of the three records on Kafka.
//!
//! Field names and meanings are those of `schemas/avro/*.avsc` and of the
//! event contract in `metrics.md`. Times are milliseconds since the Unix
//! epoch (Avro `timestamp-millis`).

use std::fmt;

/// Which of the three records an event is; also names its default topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Lifecycle,
    Notification,
    Interaction,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [
        EventKind::Lifecycle,
        EventKind::Notification,
        EventKind::Interaction,
    ];

    /// The Avro record name.
    pub fn record_name(self) -> &'static str {
        match self {
            EventKind::Lifecycle => "CampaignLifecycle",
            EventKind::Notification => "NotificationSent",
            EventKind::Interaction => "UserInteraction",
        }
    }

    /// The default topic the record travels on.
    pub fn default_topic(self) -> &'static str {
        match self {
            EventKind::Lifecycle => "campaign-lifecycle",
            EventKind::Notification => "notifications",
            EventKind::Interaction => "interactions",
        }
    }

    /// A short lower-case name, used in logs, metric labels and ClickHouse.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Lifecycle => "lifecycle",
            EventKind::Notification => "notification",
            EventKind::Interaction => "interaction",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `CampaignLifecycle.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleKind {
    Created,
    ScriptUpdated,
    StatusChanged,
    Completed,
}

impl LifecycleKind {
    pub const SYMBOLS: [&'static str; 4] =
        ["CREATED", "SCRIPT_UPDATED", "STATUS_CHANGED", "COMPLETED"];
    pub const ALL: [LifecycleKind; 4] = [
        LifecycleKind::Created,
        LifecycleKind::ScriptUpdated,
        LifecycleKind::StatusChanged,
        LifecycleKind::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        Self::SYMBOLS[self as usize]
    }

    pub fn from_symbol(symbol: &str) -> Option<Self> {
        Self::SYMBOLS
            .iter()
            .position(|s| *s == symbol)
            .map(|i| Self::ALL[i])
    }
}

/// `CampaignLifecycle.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CampaignStatus {
    New,
    Preparing,
    Waiting,
    Running,
    Completed,
    Error,
}

impl CampaignStatus {
    pub const SYMBOLS: [&'static str; 6] = [
        "NEW",
        "PREPARING",
        "WAITING",
        "RUNNING",
        "COMPLETED",
        "ERROR",
    ];
    pub const ALL: [CampaignStatus; 6] = [
        CampaignStatus::New,
        CampaignStatus::Preparing,
        CampaignStatus::Waiting,
        CampaignStatus::Running,
        CampaignStatus::Completed,
        CampaignStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        Self::SYMBOLS[self as usize]
    }

    pub fn from_symbol(symbol: &str) -> Option<Self> {
        Self::SYMBOLS
            .iter()
            .position(|s| *s == symbol)
            .map(|i| Self::ALL[i])
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node of a campaign script: a message with buttons.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScriptNode {
    pub id: String,
    /// Avro field `type`.
    pub node_type: String,
    pub script_type: String,
}

/// An edge of a campaign script: a button leading from `source` to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScriptEdge {
    pub source: String,
    pub target: String,
    pub label: Option<String>,
}

/// The script graph of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Script {
    pub nodes: Vec<ScriptNode>,
    pub edges: Vec<ScriptEdge>,
}

/// Topic `campaign-lifecycle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignLifecycle {
    pub event_id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    /// Empty when the event concerns the whole campaign.
    pub job_id: String,
    pub occurred_at: i64,
    pub kind: LifecycleKind,
    pub status: Option<CampaignStatus>,
    pub audience_size: Option<i64>,
    pub script: Option<Script>,
}

/// Topic `notifications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSent {
    pub event_id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: String,
    pub occurred_at: i64,
    pub user_id: String,
    pub node_id: Option<String>,
    pub first_message: bool,
    pub warning_message: bool,
}

/// Topic `interactions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInteraction {
    pub event_id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: String,
    pub occurred_at: i64,
    pub user_id: String,
    pub selected_action: String,
    pub answer_target: String,
    pub answer_title: Option<String>,
    pub question: Option<String>,
}

/// Any of the three records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Lifecycle(CampaignLifecycle),
    Notification(NotificationSent),
    Interaction(UserInteraction),
}

macro_rules! common_field {
    ($self:ident, $field:ident) => {
        match $self {
            Event::Lifecycle(e) => &e.$field,
            Event::Notification(e) => &e.$field,
            Event::Interaction(e) => &e.$field,
        }
    };
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Lifecycle(_) => EventKind::Lifecycle,
            Event::Notification(_) => EventKind::Notification,
            Event::Interaction(_) => EventKind::Interaction,
        }
    }

    pub fn event_id(&self) -> &str {
        common_field!(self, event_id)
    }

    pub fn tenant_id(&self) -> &str {
        common_field!(self, tenant_id)
    }

    pub fn campaign_id(&self) -> &str {
        common_field!(self, campaign_id)
    }

    pub fn job_id(&self) -> &str {
        common_field!(self, job_id)
    }

    /// Event time, milliseconds since the Unix epoch.
    pub fn occurred_at(&self) -> i64 {
        *common_field!(self, occurred_at)
    }

    /// The user the event concerns; `None` for lifecycle events.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Event::Lifecycle(_) => None,
            Event::Notification(e) => Some(&e.user_id),
            Event::Interaction(e) => Some(&e.user_id),
        }
    }
}

impl From<CampaignLifecycle> for Event {
    fn from(e: CampaignLifecycle) -> Self {
        Event::Lifecycle(e)
    }
}

impl From<NotificationSent> for Event {
    fn from(e: NotificationSent) -> Self {
        Event::Notification(e)
    }
}

impl From<UserInteraction> for Event {
    fn from(e: UserInteraction) -> Self {
        Event::Interaction(e)
    }
}
