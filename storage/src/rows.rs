//! The rows of the tables the processor writes and the API and restores
//! read, column for column the tables of `schemas/clickhouse/`. Only the
//! storage shape lives here; conversions to and from the engine's types
//! are the processor's (`processor::clickhouse::convert`).

use serde::{Deserialize, Serialize};

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

/// `campaign_reports`.
#[derive(Debug, Clone, Default, PartialEq, clickhouse::Row, Serialize, Deserialize)]
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

/// A `journeys` row as a restore reads it: the user's persisted state and
/// nothing else, the strings borrowed from the response buffer (a million
/// rows restore in seconds; each allocation per row counts), the 128-bit
/// keys decoded as they arrive.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub struct UserStateRead<'a> {
    #[serde(borrow)]
    pub tenant_id: &'a str,
    #[serde(borrow)]
    pub campaign_id: &'a str,
    #[serde(borrow)]
    pub job_id: &'a str,
    #[serde(borrow)]
    pub user_id: &'a str,
    pub version: u64,
    #[serde(borrow)]
    pub step_node_ids: Vec<&'a str>,
    #[serde(borrow)]
    pub step_choices: Vec<&'a str>,
    pub step_occurred_at_ms: Vec<i64>,
    #[serde(borrow)]
    pub step_event_ids: Vec<&'a str>,
    pub first_message_at_ms: Option<i64>,
    #[serde(deserialize_with = "keys128")]
    pub message_keys: Vec<u128>,
    #[serde(deserialize_with = "keys128")]
    pub warning_keys: Vec<u128>,
}

/// Columns of [`UserStateRead`].
pub const USER_STATE_READ_COLUMNS: &str = "tenant_id, campaign_id, job_id, user_id, version, \
    step_node_ids, step_choices, step_occurred_at_ms, step_event_ids, first_message_at_ms, \
    message_keys, warning_keys";

/// An `Array(FixedString(16))` of big-endian 128-bit keys, as numbers.
fn keys128<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u128>, D::Error> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<u128>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of 16-byte keys")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut keys = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(k) = seq.next_element::<[u8; 16]>()? {
                keys.push(u128::from_be_bytes(k));
            }
            Ok(keys)
        }
    }
    d.deserialize_seq(Keys)
}

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

/// `snapshot_intents`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct IntentRow {
    pub partition: i32,
    pub version: u64,
    pub tenant_ids: Vec<String>,
    pub campaign_ids: Vec<String>,
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
    pub retained_from_ms: i64,
    /// Rules-topic offset up to which rule changes reached the
    /// partition's evicted campaigns; -1: unknown.
    pub rules_offset: i64,
}
