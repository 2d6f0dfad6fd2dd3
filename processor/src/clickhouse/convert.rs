//! Conversions between the engine's types and the storage rows of
//! [`storage::rows`] (the tables of `schemas/clickhouse/`).

use chrono::NaiveDate;
use serde_json::{json, Value as Json};

use schemas::{
    CampaignLifecycle, CampaignStatus, Event, EventKind, LifecycleKind, NotificationSent, Script,
    ScriptEdge, ScriptNode, UserInteraction,
};

use crate::state::{
    CampaignHeader, FunnelStep, Journey, JourneyStep, NodeStats, Report, UserRecord,
};
use crate::store::{Checkpoint, HeaderRow, Intent, RawEvent};
pub use storage::rows::*;

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

/// The event a raw row stores; `None` if the row is not one the processor
/// could have written.
pub fn raw_event(row: RawRow) -> Option<RawEvent> {
    let local_date = epoch() + chrono::Duration::days(i64::from(row.local_date));
    let event = match row.event_kind {
        1 => Event::Lifecycle(CampaignLifecycle {
            kind: LifecycleKind::from_symbol(&row.lifecycle_kind)?,
            status: CampaignStatus::from_symbol(&row.status),
            audience_size: row.audience_size,
            script: if row.script_json.is_empty() {
                None
            } else {
                Some(script_from_json(&row.script_json)?)
            },
            event_id: row.event_id,
            tenant_id: row.tenant_id,
            campaign_id: row.campaign_id,
            job_id: row.job_id,
            occurred_at: row.occurred_at_ms,
        }),
        2 => Event::Notification(NotificationSent {
            node_id: (!row.node_id.is_empty()).then_some(row.node_id),
            first_message: row.first_message != 0,
            warning_message: row.warning_message != 0,
            user_id: row.user_id,
            event_id: row.event_id,
            tenant_id: row.tenant_id,
            campaign_id: row.campaign_id,
            job_id: row.job_id,
            occurred_at: row.occurred_at_ms,
        }),
        3 => Event::Interaction(UserInteraction {
            selected_action: row.choice,
            answer_target: row.node_id,
            answer_title: row.answer_title,
            question: row.question,
            user_id: row.user_id,
            event_id: row.event_id,
            tenant_id: row.tenant_id,
            campaign_id: row.campaign_id,
            job_id: row.job_id,
            occurred_at: row.occurred_at_ms,
        }),
        _ => return None,
    };
    Some(RawEvent {
        event,
        topic: row.kafka_topic,
        partition: row.kafka_partition,
        offset: row.kafka_offset,
        local_date,
    })
}

pub fn report_row(partition: i32, version: u64, r: &Report, snapshot_at_ms: i64) -> ReportRow {
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
pub fn report_of(row: &ReportRow) -> Report {
    Report {
        tenant_id: row.tenant_id.clone(),
        campaign_id: row.campaign_id.clone(),
        job_id: (!row.job_id.is_empty()).then(|| row.job_id.clone()),
        status: (!row.status.is_empty()).then(|| row.status.clone()),
        target_users: row.target_users,
        sent_users: row.sent_users,
        interacted_users: row.interacted_users,
        completed_users: row.completed_users,
        interaction_rate: row.interaction_rate,
        completion_rate: row.completion_rate,
        total_interactions: row.total_interactions,
        messages_sent: row.messages_sent,
        warnings_sent: row.warnings_sent,
        avg_completion_seconds: row.avg_completion_seconds,
        nodes: serde_json::from_str::<Vec<NodeStats>>(&row.nodes_json).unwrap_or_default(),
        funnel: serde_json::from_str::<Vec<FunnelStep>>(&row.funnel_json).unwrap_or_default(),
        first_event_at: row.first_event_at_ms,
        last_event_at: row.last_event_at_ms,
    }
}

pub fn journey_row(partition: i32, version: u64, j: &Journey, snapshot_at_ms: i64) -> JourneyRow {
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

pub fn journey_of(row: &JourneyRow) -> Journey {
    let steps = row
        .step_node_ids
        .iter()
        .zip(&row.step_choices)
        .zip(&row.step_occurred_at_ms)
        .zip(&row.step_event_ids)
        .map(|(((node, choice), at), id)| JourneyStep {
            node_id: node.clone(),
            choice: choice.clone(),
            occurred_at: *at,
            event_id: id.clone(),
        })
        .collect();
    Journey {
        tenant_id: row.tenant_id.clone(),
        campaign_id: row.campaign_id.clone(),
        job_id: row.job_id.clone(),
        user_id: row.user_id.clone(),
        steps,
        total_interactions: row.total_interactions,
        completed: row.completed != 0,
        exit_node: (!row.exit_node.is_empty()).then(|| row.exit_node.clone()),
        completion_seconds: row.completion_seconds,
        first_message_at: None,
        message_keys: Vec::new(),
        warning_keys: Vec::new(),
    }
}

fn keys_to_bytes(keys: &[u128]) -> Vec<[u8; 16]> {
    keys.iter().map(|k| k.to_be_bytes()).collect()
}

pub fn user_state_row(
    partition: i32,
    version: u64,
    j: &Journey,
    snapshot_at_ms: i64,
) -> UserStateRow {
    let r = journey_row(partition, version, j, snapshot_at_ms);
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

/// The user's state this row holds (its strings copied out of the
/// response buffer, once each).
pub fn user_record(row: UserStateRead<'_>) -> UserRecord {
    let steps = row
        .step_node_ids
        .iter()
        .zip(&row.step_choices)
        .zip(&row.step_occurred_at_ms)
        .zip(&row.step_event_ids)
        .map(|(((node_id, choice), occurred_at), event_id)| JourneyStep {
            node_id: (*node_id).to_owned(),
            choice: (*choice).to_owned(),
            occurred_at: *occurred_at,
            event_id: (*event_id).to_owned(),
        })
        .collect();
    UserRecord {
        job_id: row.job_id.to_owned(),
        user_id: row.user_id.to_owned(),
        first_message_at: row.first_message_at_ms,
        message_keys: row.message_keys,
        warning_keys: row.warning_keys,
        steps,
    }
}

pub fn header_state_row(h: &HeaderRow) -> Result<HeaderStateRow, serde_json::Error> {
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
pub fn header_of(row: &HeaderStateRow) -> Result<CampaignHeader, serde_json::Error> {
    serde_json::from_str(&row.state_json)
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
            retained_from_ms: c.retained_from_ms,
            rules_offset: c.rules_offset,
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
            retained_from_ms: r.retained_from_ms,
            rules_offset: r.rules_offset,
        }
    }
}
