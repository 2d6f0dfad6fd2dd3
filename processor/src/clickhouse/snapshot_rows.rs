//! Rows of the tables the processor writes, and their conversions from and
//! to the engine's types. Column for column the tables of
//! `schemas/clickhouse/0001_raw_events.sql` and `0003_snapshots.sql`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use schemas::{
    CampaignLifecycle, CampaignStatus, Event, EventKind, LifecycleKind, NotificationSent, Script,
    ScriptEdge, ScriptNode, UserInteraction,
};

use crate::state::{
    CampaignHeader, FunnelStep, Journey, JourneyStep, NodeStats, Report, UserRecord,
};
use crate::store::{Checkpoint, HeaderRow, Intent, RawEvent};

/// `events_raw`: one distinct event.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct RawRow {
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: String,
    pub user_id: String,
    pub event_id: String,
    /// Enum8: 1 lifecycle, 2 notification, 3 interaction.
    pub event_kind: i8,
    pub node_id: String,
    pub choice: String,
    pub first_message: u8,
    pub warning_message: u8,
    pub lifecycle_kind: String,
    pub status: String,
    pub audience_size: Option<i64>,
    pub script_json: String,
    pub answer_title: Option<String>,
    pub question: Option<String>,
    /// DateTime('UTC'): seconds.
    pub occurred_at: u32,
    pub occurred_at_ms: i64,
    /// Date: days since 1970-01-01.
    pub local_date: u16,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    /// The epoch of the partition's owner that wrote it (fencing).
    pub epoch: u64,
}

/// Columns of [`RawRow`], for SELECTs.
pub const RAW_COLUMNS: &str = "tenant_id, campaign_id, job_id, user_id, event_id, \
    toInt8(event_kind) AS event_kind, node_id, choice, first_message, warning_message, \
    lifecycle_kind, status, audience_size, script_json, answer_title, question, \
    toUInt32(occurred_at) AS occurred_at, occurred_at_ms, toUInt16(local_date) AS local_date, \
    kafka_topic, kafka_partition, kafka_offset, epoch";

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn days_since_epoch(d: NaiveDate) -> u16 {
    u16::try_from((d - epoch()).num_days()).unwrap_or(0)
}

fn seconds(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(1000)).unwrap_or(0)
}

fn kind_code(kind: EventKind) -> i8 {
    match kind {
        EventKind::Lifecycle => 1,
        EventKind::Notification => 2,
        EventKind::Interaction => 3,
    }
}

pub fn script_to_json(script: &Script) -> String {
    json!({
        "nodes": script.nodes.iter().map(|n| json!({
            "id": n.id, "type": n.node_type, "script_type": n.script_type,
        })).collect::<Vec<_>>(),
        "edges": script.edges.iter().map(|e| json!({
            "source": e.source, "target": e.target, "label": e.label,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

fn str_field(v: &Json, name: &str) -> String {
    v.get(name)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn script_from_json(text: &str) -> Option<Script> {
    let v: Json = serde_json::from_str(text).ok()?;
    let nodes = v
        .get("nodes")?
        .as_array()?
        .iter()
        .map(|n| ScriptNode {
            id: str_field(n, "id"),
            node_type: str_field(n, "type"),
            script_type: str_field(n, "script_type"),
        })
        .collect();
    let edges = v
        .get("edges")?
        .as_array()?
        .iter()
        .map(|e| ScriptEdge {
            source: str_field(e, "source"),
            target: str_field(e, "target"),
            label: e.get("label").and_then(Json::as_str).map(str::to_string),
        })
        .collect();
    Some(Script { nodes, edges })
}

impl From<&RawEvent> for RawRow {
    fn from(r: &RawEvent) -> Self {
        let e = &r.event;
        let mut row = RawRow {
            tenant_id: e.tenant_id().to_string(),
            campaign_id: e.campaign_id().to_string(),
            job_id: e.job_id().to_string(),
            user_id: e.user_id().unwrap_or_default().to_string(),
            event_id: e.event_id().to_string(),
            event_kind: kind_code(e.kind()),
            node_id: String::new(),
            choice: String::new(),
            first_message: 0,
            warning_message: 0,
            lifecycle_kind: String::new(),
            status: String::new(),
            audience_size: None,
            script_json: String::new(),
            answer_title: None,
            question: None,
            occurred_at: seconds(e.occurred_at()),
            occurred_at_ms: e.occurred_at(),
            local_date: days_since_epoch(r.local_date),
            kafka_topic: r.topic.clone(),
            kafka_partition: r.partition,
            kafka_offset: r.offset,
            epoch: 0,
        };
        match e {
            Event::Lifecycle(l) => {
                row.lifecycle_kind = l.kind.as_str().to_string();
                row.status = l.status.map(|s| s.as_str().to_string()).unwrap_or_default();
                row.audience_size = l.audience_size;
                row.script_json = l.script.as_ref().map(script_to_json).unwrap_or_default();
            }
            Event::Notification(n) => {
                row.node_id = n.node_id.clone().unwrap_or_default();
                row.first_message = u8::from(n.first_message);
                row.warning_message = u8::from(n.warning_message);
            }
            Event::Interaction(i) => {
                row.node_id = i.answer_target.clone();
                row.choice = i.selected_action.clone();
                row.answer_title = i.answer_title.clone();
                row.question = i.question.clone();
            }
        }
        row
    }
}

impl RawRow {
    /// The event this row stores; `None` if the row is not one the
    /// processor could have written.
    pub fn to_raw_event(self) -> Option<RawEvent> {
        let local_date = epoch() + chrono::Duration::days(i64::from(self.local_date));
        let event = match self.event_kind {
            1 => Event::Lifecycle(CampaignLifecycle {
                kind: LifecycleKind::from_symbol(&self.lifecycle_kind)?,
                status: CampaignStatus::from_symbol(&self.status),
                audience_size: self.audience_size,
                script: if self.script_json.is_empty() {
                    None
                } else {
                    Some(script_from_json(&self.script_json)?)
                },
                event_id: self.event_id,
                tenant_id: self.tenant_id,
                campaign_id: self.campaign_id,
                job_id: self.job_id,
                occurred_at: self.occurred_at_ms,
            }),
            2 => Event::Notification(NotificationSent {
                node_id: (!self.node_id.is_empty()).then_some(self.node_id),
                first_message: self.first_message != 0,
                warning_message: self.warning_message != 0,
                user_id: self.user_id,
                event_id: self.event_id,
                tenant_id: self.tenant_id,
                campaign_id: self.campaign_id,
                job_id: self.job_id,
                occurred_at: self.occurred_at_ms,
            }),
            3 => Event::Interaction(UserInteraction {
                selected_action: self.choice,
                answer_target: self.node_id,
                answer_title: self.answer_title,
                question: self.question,
                user_id: self.user_id,
                event_id: self.event_id,
                tenant_id: self.tenant_id,
                campaign_id: self.campaign_id,
                job_id: self.job_id,
                occurred_at: self.occurred_at_ms,
            }),
            _ => return None,
        };
        Some(RawEvent {
            event,
            topic: self.kafka_topic,
            partition: self.kafka_partition,
            offset: self.kafka_offset,
            local_date,
        })
    }
}

/// `campaign_reports`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct ReportRow {
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: String,
    pub partition: i32,
    pub version: u64,
    pub status: String,
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
    pub nodes_json: String,
    pub funnel_json: String,
    pub first_event_at_ms: i64,
    pub last_event_at_ms: i64,
    pub snapshot_at: u32,
}

impl ReportRow {
    pub fn new(partition: i32, version: u64, r: &Report, snapshot_at_ms: i64) -> Self {
        ReportRow {
            tenant_id: r.tenant_id.clone(),
            campaign_id: r.campaign_id.clone(),
            job_id: r.job_id.clone().unwrap_or_default(),
            partition,
            version,
            status: r.status.clone().unwrap_or_default(),
            target_users: r.target_users,
            sent_users: r.sent_users,
            interacted_users: r.interacted_users,
            completed_users: r.completed_users,
            interaction_rate: r.interaction_rate,
            completion_rate: r.completion_rate,
            total_interactions: r.total_interactions,
            messages_sent: r.messages_sent,
            warnings_sent: r.warnings_sent,
            avg_completion_seconds: r.avg_completion_seconds,
            nodes_json: serde_json::to_string(&r.nodes).unwrap_or_default(),
            funnel_json: serde_json::to_string(&r.funnel).unwrap_or_default(),
            first_event_at_ms: r.first_event_at,
            last_event_at_ms: r.last_event_at,
            snapshot_at: seconds(snapshot_at_ms),
        }
    }

    /// The report this row stores.
    pub fn to_report(&self) -> Report {
        Report {
            tenant_id: self.tenant_id.clone(),
            campaign_id: self.campaign_id.clone(),
            job_id: (!self.job_id.is_empty()).then(|| self.job_id.clone()),
            status: (!self.status.is_empty()).then(|| self.status.clone()),
            target_users: self.target_users,
            sent_users: self.sent_users,
            interacted_users: self.interacted_users,
            completed_users: self.completed_users,
            interaction_rate: self.interaction_rate,
            completion_rate: self.completion_rate,
            total_interactions: self.total_interactions,
            messages_sent: self.messages_sent,
            warnings_sent: self.warnings_sent,
            avg_completion_seconds: self.avg_completion_seconds,
            nodes: serde_json::from_str::<Vec<NodeStats>>(&self.nodes_json).unwrap_or_default(),
            funnel: serde_json::from_str::<Vec<FunnelStep>>(&self.funnel_json).unwrap_or_default(),
            first_event_at: self.first_event_at_ms,
            last_event_at: self.last_event_at_ms,
        }
    }
}

/// `journeys`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct JourneyRow {
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: String,
    pub user_id: String,
    pub partition: i32,
    pub version: u64,
    pub step_node_ids: Vec<String>,
    pub step_choices: Vec<String>,
    pub step_occurred_at_ms: Vec<i64>,
    pub step_event_ids: Vec<String>,
    pub total_interactions: u64,
    pub completed: u8,
    pub exit_node: String,
    pub completion_seconds: Option<f64>,
    pub snapshot_at: u32,
}

impl JourneyRow {
    pub fn new(partition: i32, version: u64, j: &Journey, snapshot_at_ms: i64) -> Self {
        JourneyRow {
            tenant_id: j.tenant_id.clone(),
            campaign_id: j.campaign_id.clone(),
            job_id: j.job_id.clone(),
            user_id: j.user_id.clone(),
            partition,
            version,
            step_node_ids: j.steps.iter().map(|s| s.node_id.clone()).collect(),
            step_choices: j.steps.iter().map(|s| s.choice.clone()).collect(),
            step_occurred_at_ms: j.steps.iter().map(|s| s.occurred_at).collect(),
            step_event_ids: j.steps.iter().map(|s| s.event_id.clone()).collect(),
            total_interactions: j.total_interactions,
            completed: u8::from(j.completed),
            exit_node: j.exit_node.clone().unwrap_or_default(),
            completion_seconds: j.completion_seconds,
            snapshot_at: seconds(snapshot_at_ms),
        }
    }

    pub fn to_journey(&self) -> Journey {
        let steps = self
            .step_node_ids
            .iter()
            .zip(&self.step_choices)
            .zip(&self.step_occurred_at_ms)
            .zip(&self.step_event_ids)
            .map(|(((node, choice), at), id)| JourneyStep {
                node_id: node.clone(),
                choice: choice.clone(),
                occurred_at: *at,
                event_id: id.clone(),
            })
            .collect();
        Journey {
            tenant_id: self.tenant_id.clone(),
            campaign_id: self.campaign_id.clone(),
            job_id: self.job_id.clone(),
            user_id: self.user_id.clone(),
            steps,
            total_interactions: self.total_interactions,
            completed: self.completed != 0,
            exit_node: (!self.exit_node.is_empty()).then(|| self.exit_node.clone()),
            completion_seconds: self.completion_seconds,
            first_message_at: None,
            message_keys: Vec::new(),
            warning_keys: Vec::new(),
        }
    }
}

/// `journeys` with the user's whole persisted state: written by the
/// processor and read back when a partition is restored. (The API reads
/// [`JourneyRow`], the columns it shows.)
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct UserStateRow {
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: String,
    pub user_id: String,
    pub partition: i32,
    pub version: u64,
    pub step_node_ids: Vec<String>,
    pub step_choices: Vec<String>,
    pub step_occurred_at_ms: Vec<i64>,
    pub step_event_ids: Vec<String>,
    pub total_interactions: u64,
    pub completed: u8,
    pub exit_node: String,
    pub completion_seconds: Option<f64>,
    pub snapshot_at: u32,
    pub first_message_at_ms: Option<i64>,
    /// FixedString(16): big-endian 128-bit keys.
    pub message_keys: Vec<[u8; 16]>,
    pub warning_keys: Vec<[u8; 16]>,
}

fn keys_to_bytes(keys: &[u128]) -> Vec<[u8; 16]> {
    keys.iter().map(|k| k.to_be_bytes()).collect()
}

fn keys_from_bytes(keys: &[[u8; 16]]) -> Vec<u128> {
    keys.iter().map(|k| u128::from_be_bytes(*k)).collect()
}

impl UserStateRow {
    pub fn new(partition: i32, version: u64, j: &Journey, snapshot_at_ms: i64) -> Self {
        let r = JourneyRow::new(partition, version, j, snapshot_at_ms);
        UserStateRow {
            tenant_id: r.tenant_id,
            campaign_id: r.campaign_id,
            job_id: r.job_id,
            user_id: r.user_id,
            partition,
            version,
            step_node_ids: r.step_node_ids,
            step_choices: r.step_choices,
            step_occurred_at_ms: r.step_occurred_at_ms,
            step_event_ids: r.step_event_ids,
            total_interactions: r.total_interactions,
            completed: r.completed,
            exit_node: r.exit_node,
            completion_seconds: r.completion_seconds,
            snapshot_at: r.snapshot_at,
            first_message_at_ms: j.first_message_at,
            message_keys: keys_to_bytes(&j.message_keys),
            warning_keys: keys_to_bytes(&j.warning_keys),
        }
    }

    /// The user's state this row holds.
    pub fn to_user_record(self) -> UserRecord {
        let steps = self
            .step_node_ids
            .into_iter()
            .zip(self.step_choices)
            .zip(self.step_occurred_at_ms)
            .zip(self.step_event_ids)
            .map(|(((node_id, choice), occurred_at), event_id)| JourneyStep {
                node_id,
                choice,
                occurred_at,
                event_id,
            })
            .collect();
        UserRecord {
            job_id: self.job_id,
            user_id: self.user_id,
            first_message_at: self.first_message_at_ms,
            message_keys: keys_from_bytes(&self.message_keys),
            warning_keys: keys_from_bytes(&self.warning_keys),
            steps,
        }
    }
}

/// Columns of [`UserStateRow`] read back (the snapshot time is not needed).
pub const USER_STATE_COLUMNS: &str = "tenant_id, campaign_id, job_id, user_id, partition, \
    version, step_node_ids, step_choices, step_occurred_at_ms, step_event_ids, \
    total_interactions, completed, exit_node, completion_seconds, snapshot_at, \
    first_message_at_ms, message_keys, warning_keys";

/// `campaign_state`: a campaign's header, as JSON.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct HeaderStateRow {
    pub partition: i32,
    pub tenant_id: String,
    pub campaign_id: String,
    pub version: u64,
    pub evicted: u8,
    pub state_json: String,
}

impl HeaderStateRow {
    pub fn new(h: &HeaderRow) -> Result<Self, serde_json::Error> {
        Ok(HeaderStateRow {
            partition: h.partition,
            tenant_id: h.header.tenant_id.clone(),
            campaign_id: h.header.campaign_id.clone(),
            version: h.version,
            evicted: u8::from(h.evicted),
            state_json: serde_json::to_string(&h.header)?,
        })
    }

    /// The header this row holds.
    pub fn header(&self) -> Result<CampaignHeader, serde_json::Error> {
        serde_json::from_str(&self.state_json)
    }
}

/// `snapshot_intents`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct IntentRow {
    pub partition: i32,
    pub version: u64,
    pub tenant_ids: Vec<String>,
    pub campaign_ids: Vec<String>,
}

impl From<&Intent> for IntentRow {
    fn from(i: &Intent) -> Self {
        IntentRow {
            partition: i.partition,
            version: i.version,
            tenant_ids: i.campaigns.iter().map(|(t, _)| t.clone()).collect(),
            campaign_ids: i.campaigns.iter().map(|(_, c)| c.clone()).collect(),
        }
    }
}

/// `checkpoints`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct CheckpointRow {
    pub partition: i32,
    pub version: u64,
    pub lifecycle_offset: i64,
    pub notifications_offset: i64,
    pub interactions_offset: i64,
    pub state_format: u8,
}

impl From<&Checkpoint> for CheckpointRow {
    fn from(c: &Checkpoint) -> Self {
        let o = |i: usize| c.offsets[i].unwrap_or(-1);
        CheckpointRow {
            partition: c.partition,
            version: c.version,
            lifecycle_offset: o(0),
            notifications_offset: o(1),
            interactions_offset: o(2),
            state_format: c.format,
        }
    }
}

impl From<CheckpointRow> for Checkpoint {
    fn from(r: CheckpointRow) -> Self {
        let o = |v: i64| (v >= 0).then_some(v);
        Checkpoint {
            partition: r.partition,
            version: r.version,
            offsets: [
                o(r.lifecycle_offset),
                o(r.notifications_offset),
                o(r.interactions_offset),
            ],
            format: r.state_format,
        }
    }
}
