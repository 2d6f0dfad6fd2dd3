//! Events as JSON: the form HTTP ingestion accepts (`ingestion.md`, "HTTP
//! ingestion"), and the inverse, for tools that write events.
//!
//! An event is the Avro record as a JSON object, field for field with the
//! names of `schemas/avro/*.avsc`, plus `"type"`: `campaign_lifecycle`,
//! `notification_sent` or `user_interaction`. `occurred_at` is an RFC 3339
//! date-time string (digits below the millisecond are dropped) or an
//! integer of milliseconds since the Unix epoch. A nullable field may be
//! absent or `null`; a union is written as its plain value (not Avro's
//! JSON encoding `{"string": ...}`), an enum as its symbol. Unknown fields
//! are rejected: a misspelt optional field would otherwise be dropped
//! without a word.
//!
//! The checks are those the processor applies to a decoded record
//! (`metrics.md`, "Bad input"), with the same [`ContractViolation`]s:
//! required fields, non-empty `event_id`, `tenant_id`, `campaign_id` and
//! `user_id`, enum symbols. The clock-skew check needs a clock and is
//! [`crate::check_not_in_future`]. The first problem found is reported, and
//! names its field (`script.nodes[2].id` inside the script).
//!
//! [`event_from_slice`] and [`batch_from_slice`] read request bodies
//! straight from their bytes (no intermediate JSON tree per event): a body
//! that is not JSON, or not of the shape, is an error of its own, while an
//! event that breaks the contract is an `Err` in its place, so the others
//! of a batch still count.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::ContractViolation;
use crate::events::{
    CampaignLifecycle, CampaignStatus, Event, EventKind, LifecycleKind, NotificationSent, Script,
    ScriptEdge, ScriptNode, UserInteraction,
};

/// The member of an event object that names its record.
pub const TYPE_FIELD: &str = "type";

/// The `type` of each record, in [`EventKind::ALL`] order.
pub const TYPES: [&str; 3] = [
    "campaign_lifecycle",
    "notification_sent",
    "user_interaction",
];

/// The `type` of a record.
pub fn type_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Lifecycle => TYPES[0],
        EventKind::Notification => TYPES[1],
        EventKind::Interaction => TYPES[2],
    }
}

/// The record a `type` names.
pub fn kind_of_type(name: &str) -> Option<EventKind> {
    TYPES
        .iter()
        .position(|t| *t == name)
        .map(|i| EventKind::ALL[i])
}

/// Why a JSON value is not an event of the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonEventError {
    #[error("an event must be a JSON object, not {found}")]
    NotAnObject { found: &'static str },
    #[error("`type` is {found}; it must be \"campaign_lifecycle\", \"notification_sent\" or \"user_interaction\"")]
    UnknownType { found: String },
    #[error("field `{field}` must be {expected}, not {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("field `{field}` is not a time: {reason}")]
    BadTimestamp { field: &'static str, reason: String },
    #[error("unknown field `{field}`: a {record} has no such field")]
    UnknownField { field: String, record: &'static str },
    /// A problem inside the script; `path` is where (`script.nodes[2]`).
    #[error("{path}: {inner}")]
    Nested {
        path: String,
        inner: Box<JsonEventError>,
    },
    #[error("{0}")]
    Contract(#[from] ContractViolation),
}

impl JsonEventError {
    /// A short stable code, the processor's where the check is the same
    /// (`missing_field`, `empty_field`, `unknown_symbol`).
    pub fn code(&self) -> &'static str {
        match self {
            JsonEventError::NotAnObject { .. } => "not_an_object",
            JsonEventError::UnknownType { .. } => "unknown_type",
            JsonEventError::WrongType { .. } => "wrong_type",
            JsonEventError::BadTimestamp { .. } => "bad_timestamp",
            JsonEventError::UnknownField { .. } => "unknown_field",
            JsonEventError::Nested { inner, .. } => inner.code(),
            JsonEventError::Contract(c) => c.code(),
        }
    }

    fn at(self, path: String) -> Self {
        JsonEventError::Nested {
            path,
            inner: Box::new(self),
        }
    }
}

/// How a JSON value's type is named in messages.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a fractional number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every member name of an event object and of its script, nodes and
/// edges: the slots of [`Object`].
const NAMES: [&str; 25] = [
    TYPE_FIELD,
    "event_id",
    "tenant_id",
    "campaign_id",
    "job_id",
    "occurred_at",
    "kind",
    "status",
    "audience_size",
    "script",
    "user_id",
    "node_id",
    "first_message",
    "warning_message",
    "selected_action",
    "answer_target",
    "answer_title",
    "question",
    "nodes",
    "edges",
    "id",
    "script_type",
    "source",
    "target",
    "label",
];

fn slot(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

/// The members of one JSON object, taken field by field; what is left at
/// the end is unknown.
struct Object {
    slots: [Option<Value>; NAMES.len()],
    /// The first member whose name no record has.
    unknown: Option<String>,
    record: &'static str,
}

impl Object {
    fn empty(record: &'static str) -> Self {
        Object {
            slots: Default::default(),
            unknown: None,
            record,
        }
    }

    /// Keep a member (a later one of the same name replaces it).
    fn put(&mut self, name: &str, value: Value) {
        match slot(name) {
            Some(i) => self.slots[i] = Some(value),
            None => {
                self.unknown.get_or_insert_with(|| name.to_owned());
            }
        }
    }

    fn new(value: Value, record: &'static str) -> Result<Self, JsonEventError> {
        match value {
            Value::Object(map) => {
                let mut o = Object::empty(record);
                for (name, value) in map {
                    o.put(&name, value);
                }
                Ok(o)
            }
            other => Err(JsonEventError::NotAnObject {
                found: json_type(&other),
            }),
        }
    }

    /// The value of a field; absent and `null` are both `None`.
    fn take(&mut self, field: &'static str) -> Option<Value> {
        slot(field)
            .and_then(|i| self.slots[i].take())
            .filter(|v| !v.is_null())
    }

    fn required(&mut self, field: &'static str) -> Result<Value, JsonEventError> {
        self.take(field)
            .ok_or(ContractViolation::MissingField { field }.into())
    }

    fn string(&mut self, field: &'static str) -> Result<String, JsonEventError> {
        as_string(field, self.required(field)?)
    }

    /// A string the contract requires to be non-empty.
    fn id(&mut self, field: &'static str) -> Result<String, JsonEventError> {
        let v = self.string(field)?;
        if v.is_empty() {
            return Err(ContractViolation::EmptyField { field }.into());
        }
        Ok(v)
    }

    fn opt_string(&mut self, field: &'static str) -> Result<Option<String>, JsonEventError> {
        self.take(field).map(|v| as_string(field, v)).transpose()
    }

    fn boolean(&mut self, field: &'static str) -> Result<bool, JsonEventError> {
        match self.required(field)? {
            Value::Bool(b) => Ok(b),
            other => Err(wrong(field, "a boolean", &other)),
        }
    }

    fn opt_long(&mut self, field: &'static str) -> Result<Option<i64>, JsonEventError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong_number(field, "a 64-bit signed integer", &n)),
            Some(other) => Err(wrong(field, "a 64-bit signed integer", &other)),
        }
    }

    fn millis(&mut self, field: &'static str) -> Result<i64, JsonEventError> {
        const EXPECTED: &str =
            "an RFC 3339 date-time string or an integer of milliseconds since the Unix epoch";
        match self.required(field)? {
            Value::Number(n) => n.as_i64().ok_or_else(|| wrong_number(field, EXPECTED, &n)),
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| t.timestamp_millis())
                .map_err(|e| JsonEventError::BadTimestamp {
                    field,
                    reason: format!(
                        "{text:?} is not an RFC 3339 date-time such as \"2026-09-01T10:00:00.123Z\" ({e})"
                    ),
                }),
            other => Err(wrong(field, EXPECTED, &other)),
        }
    }

    /// An enum symbol, or `None` when the field is absent or null.
    fn opt_symbol<T>(
        &mut self,
        field: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, JsonEventError> {
        let Some(value) = self.take(field) else {
            return Ok(None);
        };
        let symbol = as_string(field, value)?;
        parse(&symbol)
            .map(Some)
            .ok_or_else(|| ContractViolation::UnknownSymbol { field, symbol }.into())
    }

    fn array(&mut self, field: &'static str) -> Result<Vec<Value>, JsonEventError> {
        match self.required(field)? {
            Value::Array(items) => Ok(items),
            other => Err(wrong(field, "an array", &other)),
        }
    }

    /// Fails on the first member no field took.
    fn finish(self) -> Result<(), JsonEventError> {
        let left = self.unknown.or_else(|| {
            NAMES
                .iter()
                .zip(&self.slots)
                .find(|(_, v)| v.is_some())
                .map(|(name, _)| (*name).to_owned())
        });
        match left {
            None => Ok(()),
            Some(field) => Err(JsonEventError::UnknownField {
                field,
                record: self.record,
            }),
        }
    }
}

fn wrong(field: &'static str, expected: &'static str, found: &Value) -> JsonEventError {
    JsonEventError::WrongType {
        field,
        expected,
        found: json_type(found).to_owned(),
    }
}

fn wrong_number(field: &'static str, expected: &'static str, n: &Number) -> JsonEventError {
    JsonEventError::WrongType {
        field,
        expected,
        found: format!("the number {n}"),
    }
}

fn as_string(field: &'static str, value: Value) -> Result<String, JsonEventError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(wrong(field, "a string", &other)),
    }
}

/// The event a JSON value stands for, checked against the contract (all
/// but the clock skew).
pub fn event_from_json(value: Value) -> Result<Event, JsonEventError> {
    event_from_object(Object::new(value, "event")?)
}

fn event_from_object(mut o: Object) -> Result<Event, JsonEventError> {
    let kind = match slot(TYPE_FIELD).and_then(|i| o.slots[i].take()) {
        Some(Value::String(name)) => kind_of_type(&name).ok_or(JsonEventError::UnknownType {
            found: format!("{name:?}"),
        })?,
        None | Some(Value::Null) => {
            return Err(JsonEventError::UnknownType {
                found: "missing".into(),
            })
        }
        Some(other) => {
            return Err(JsonEventError::UnknownType {
                found: json_type(&other).into(),
            })
        }
    };
    o.record = kind.record_name();
    let event_id = o.id("event_id")?;
    let tenant_id = o.id("tenant_id")?;
    let campaign_id = o.id("campaign_id")?;
    let job_id = o.string("job_id")?;
    let occurred_at = o.millis("occurred_at")?;
    let event = match kind {
        EventKind::Lifecycle => {
            let kind = o
                .opt_symbol("kind", LifecycleKind::from_symbol)?
                .ok_or(ContractViolation::MissingField { field: "kind" })?;
            let status = o.opt_symbol("status", CampaignStatus::from_symbol)?;
            let audience_size = o.opt_long("audience_size")?;
            let script = match o.take("script") {
                None => None,
                Some(v) => Some(script_from_json(v).map_err(|e| match e {
                    // The script itself is not an object: name the field.
                    JsonEventError::NotAnObject { found } => JsonEventError::WrongType {
                        field: "script",
                        expected: "an object (or null)",
                        found: found.to_owned(),
                    },
                    e => e,
                })?),
            };
            Event::Lifecycle(CampaignLifecycle {
                event_id,
                tenant_id,
                campaign_id,
                job_id,
                occurred_at,
                kind,
                status,
                audience_size,
                script,
            })
        }
        EventKind::Notification => Event::Notification(NotificationSent {
            event_id,
            tenant_id,
            campaign_id,
            job_id,
            occurred_at,
            user_id: o.id("user_id")?,
            node_id: o.opt_string("node_id")?,
            first_message: o.boolean("first_message")?,
            warning_message: o.boolean("warning_message")?,
        }),
        EventKind::Interaction => Event::Interaction(UserInteraction {
            event_id,
            tenant_id,
            campaign_id,
            job_id,
            occurred_at,
            user_id: o.id("user_id")?,
            selected_action: o.string("selected_action")?,
            answer_target: o.string("answer_target")?,
            answer_title: o.opt_string("answer_title")?,
            question: o.opt_string("question")?,
        }),
    };
    o.finish()?;
    Ok(event)
}

fn script_from_json(value: Value) -> Result<Script, JsonEventError> {
    let mut o = Object::new(value, "Script")?;
    let in_script = |e: JsonEventError| e.at("script".into());
    let nodes = o.array("nodes").map_err(in_script)?;
    let edges = o.array("edges").map_err(in_script)?;
    o.finish().map_err(in_script)?;
    let nodes = nodes
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let node = || -> Result<ScriptNode, JsonEventError> {
                let mut n = Object::new(v, "ScriptNode")?;
                let node = ScriptNode {
                    id: n.string("id")?,
                    node_type: n.string("type")?,
                    script_type: n.string("script_type")?,
                };
                n.finish()?;
                Ok(node)
            };
            node().map_err(|e| e.at(format!("script.nodes[{i}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let edges = edges
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let edge = || -> Result<ScriptEdge, JsonEventError> {
                let mut e = Object::new(v, "ScriptEdge")?;
                let edge = ScriptEdge {
                    source: e.string("source")?,
                    target: e.string("target")?,
                    label: e.opt_string("label")?,
                };
                e.finish()?;
                Ok(edge)
            };
            edge().map_err(|e| e.at(format!("script.edges[{i}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Script { nodes, edges })
}

/// A request body that is not JSON, or not of the route's shape.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{events} events in one batch; at most {max}")]
    TooMany { events: usize, max: usize },
}

/// One event (`POST /v1/events`) from a body: `Err` when the body is not
/// JSON; `Ok(Err(_))` when it is, but not an event of the contract.
pub fn event_from_slice(body: &[u8]) -> Result<Result<Event, JsonEventError>, BodyError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let event = EventSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(event)
}

/// The events of a batch body `{"events": [...]}` (nothing else), each
/// checked on its own; more than `max` events is [`BodyError::TooMany`].
pub fn batch_from_slice(
    body: &[u8],
    max: usize,
) -> Result<Vec<Result<Event, JsonEventError>>, BodyError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let (events, total) = de::Deserializer::deserialize_map(&mut de, BatchVisitor { max })?;
    de.end()?;
    if total > max {
        return Err(BodyError::TooMany { events: total, max });
    }
    Ok(events)
}

/// Reads one event in place: its members go to the slots of an [`Object`].
struct EventSeed;

impl<'de> DeserializeSeed<'de> for EventSeed {
    type Value = Result<Event, JsonEventError>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(EventVisitor)
    }
}

struct EventVisitor;

fn not_an_object(found: &'static str) -> Result<Event, JsonEventError> {
    Err(JsonEventError::NotAnObject { found })
}

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Result<Event, JsonEventError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut o = Object::empty("event");
        while let Some(name) = map.next_key::<Name>()? {
            match name {
                Name::Known(i) => o.slots[i] = Some(map.next_value()?),
                Name::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    o.unknown.get_or_insert(name);
                }
            }
        }
        Ok(event_from_object(o))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(not_an_object("an array"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(not_an_object("null"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(not_an_object("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(not_an_object("an integer"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(not_an_object("an integer"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(not_an_object("a fractional number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(not_an_object("a string"))
    }
}

/// A member name: the index of its slot, or the name when no record has it.
enum Name {
    Known(usize),
    Unknown(String),
}

impl<'de> de::Deserialize<'de> for Name {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = Name;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Name, E> {
                Ok(slot(name).map_or_else(|| Name::Unknown(name.to_owned()), Name::Known))
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

/// `{"events": [...]}`: the events (at most `max` read) and how many there were.
struct BatchVisitor {
    max: usize,
}

type Events = Vec<Result<Event, JsonEventError>>;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = (Events, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a batch {\"events\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut batch = None;
        while let Some(name) = map.next_key::<String>()? {
            if name != "events" {
                return Err(de::Error::custom(format!(
                    "unknown member {name:?}: a batch is {{\"events\": [...]}} and nothing else"
                )));
            }
            batch = Some(map.next_value_seed(EventsSeed { max: self.max })?);
        }
        batch.ok_or_else(|| de::Error::missing_field("events"))
    }
}

struct EventsSeed {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for EventsSeed {
    type Value = (Events, usize);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed {
    type Value = (Events, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        let mut total = 0;
        loop {
            if total < self.max {
                match seq.next_element_seed(EventSeed)? {
                    Some(event) => events.push(event),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            total += 1;
        }
        Ok((events, total))
    }
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// The JSON form of an event (`occurred_at` as epoch milliseconds, nullable
/// fields as `null`); [`event_from_json`] reads it back unchanged.
pub fn event_to_json(event: &Event) -> Value {
    let mut m = Map::new();
    m.insert(TYPE_FIELD.into(), type_name(event.kind()).into());
    m.insert("event_id".into(), event.event_id().into());
    m.insert("tenant_id".into(), event.tenant_id().into());
    m.insert("campaign_id".into(), event.campaign_id().into());
    m.insert("job_id".into(), event.job_id().into());
    m.insert("occurred_at".into(), event.occurred_at().into());
    match event {
        Event::Lifecycle(e) => {
            m.insert("kind".into(), e.kind.as_str().into());
            m.insert(
                "status".into(),
                e.status.map_or(Value::Null, |s| s.as_str().into()),
            );
            m.insert(
                "audience_size".into(),
                e.audience_size.map_or(Value::Null, Value::from),
            );
            m.insert(
                "script".into(),
                e.script.as_ref().map_or(Value::Null, script_to_json),
            );
        }
        Event::Notification(e) => {
            m.insert("user_id".into(), e.user_id.as_str().into());
            m.insert("node_id".into(), opt(&e.node_id));
            m.insert("first_message".into(), e.first_message.into());
            m.insert("warning_message".into(), e.warning_message.into());
        }
        Event::Interaction(e) => {
            m.insert("user_id".into(), e.user_id.as_str().into());
            m.insert("selected_action".into(), e.selected_action.as_str().into());
            m.insert("answer_target".into(), e.answer_target.as_str().into());
            m.insert("answer_title".into(), opt(&e.answer_title));
            m.insert("question".into(), opt(&e.question));
        }
    }
    Value::Object(m)
}

fn script_to_json(script: &Script) -> Value {
    let nodes: Vec<Value> = script
        .nodes
        .iter()
        .map(|n| serde_json::json!({"id": n.id, "type": n.node_type, "script_type": n.script_type}))
        .collect();
    let edges: Vec<Value> = script
        .edges
        .iter()
        .map(
            |e| serde_json::json!({"source": e.source, "target": e.target, "label": opt(&e.label)}),
        )
        .collect();
    serde_json::json!({"nodes": nodes, "edges": edges})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lifecycle() -> Event {
        Event::Lifecycle(CampaignLifecycle {
            event_id: "e1".into(),
            tenant_id: "acme".into(),
            campaign_id: "c1".into(),
            job_id: String::new(),
            occurred_at: 1_788_220_800_123,
            kind: LifecycleKind::ScriptUpdated,
            status: Some(CampaignStatus::Running),
            audience_size: Some(250),
            script: Some(Script {
                nodes: vec![
                    ScriptNode {
                        id: "start".into(),
                        node_type: "message".into(),
                        script_type: "bot".into(),
                    },
                    ScriptNode {
                        id: "end".into(),
                        node_type: "message".into(),
                        script_type: "bot".into(),
                    },
                ],
                edges: vec![ScriptEdge {
                    source: "start".into(),
                    target: "end".into(),
                    label: Some("yes".into()),
                }],
            }),
        })
    }

    fn notification() -> Event {
        Event::Notification(NotificationSent {
            event_id: "e2".into(),
            tenant_id: "acme".into(),
            campaign_id: "c1".into(),
            job_id: "j1".into(),
            occurred_at: 1_788_220_860_000,
            user_id: "u1".into(),
            node_id: None,
            first_message: true,
            warning_message: false,
        })
    }

    fn interaction() -> Event {
        Event::Interaction(UserInteraction {
            event_id: "e3".into(),
            tenant_id: "acme".into(),
            campaign_id: "c1".into(),
            job_id: "j1".into(),
            occurred_at: -5,
            user_id: "u1".into(),
            selected_action: String::new(),
            answer_target: "end".into(),
            answer_title: Some("Yes".into()),
            question: None,
        })
    }

    fn err(v: Value) -> JsonEventError {
        event_from_json(v).unwrap_err()
    }

    /// A valid notification as JSON, with `f` applied.
    fn notification_with(f: impl FnOnce(&mut Map<String, Value>)) -> Value {
        let mut v = event_to_json(&notification());
        if let Value::Object(m) = &mut v {
            f(m);
        }
        v
    }

    #[test]
    fn every_record_round_trips() {
        for event in [lifecycle(), notification(), interaction()] {
            let v = event_to_json(&event);
            assert_eq!(v[TYPE_FIELD], type_name(event.kind()));
            assert_eq!(event_from_json(v).unwrap(), event);
        }
        let mut bare = lifecycle();
        if let Event::Lifecycle(e) = &mut bare {
            e.status = None;
            e.audience_size = None;
            e.script = None;
        }
        assert_eq!(event_from_json(event_to_json(&bare)).unwrap(), bare);
    }

    #[test]
    fn what_the_api_accepts_the_processor_decodes_unchanged() {
        let codec = crate::Codec::new().unwrap();
        for event in [lifecycle(), notification(), interaction()] {
            let parsed = event_from_json(event_to_json(&event)).unwrap();
            let bytes = codec.encode(&parsed).unwrap();
            assert_eq!(codec.decode(&bytes).unwrap(), event);
        }
    }

    #[test]
    fn empty_ids_are_rejected_as_the_processor_rejects_them() {
        let codec = crate::Codec::new().unwrap();
        for field in ["event_id", "tenant_id", "campaign_id", "user_id"] {
            let json = notification_with(|m| {
                m.insert(field.into(), "".into());
            });
            let ours = err(json.clone());
            assert_eq!(ours, ContractViolation::EmptyField { field }.into());
            // The same event encoded as is: the processor's decoder says the same.
            let mut blank = notification();
            if let Event::Notification(e) = &mut blank {
                match field {
                    "event_id" => e.event_id.clear(),
                    "tenant_id" => e.tenant_id.clear(),
                    "campaign_id" => e.campaign_id.clear(),
                    _ => e.user_id.clear(),
                }
            }
            let theirs = codec.decode(&codec.encode(&blank).unwrap()).unwrap_err();
            assert_eq!(ours.code(), theirs.code(), "{field}");
        }
        // job_id may be empty, selected_action too (as in Avro).
        assert!(event_from_json(notification_with(|m| {
            m.insert("job_id".into(), "".into());
        }))
        .is_ok());
    }

    #[test]
    fn nullable_fields_may_be_absent_or_null() {
        let absent = notification_with(|m| {
            m.remove("node_id");
        });
        let null = notification_with(|m| {
            m.insert("node_id".into(), Value::Null);
        });
        assert_eq!(event_from_json(absent).unwrap(), notification());
        assert_eq!(event_from_json(null).unwrap(), notification());
        let v = json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "CREATED"});
        let Event::Lifecycle(e) = event_from_json(v).unwrap() else {
            panic!("not a lifecycle event")
        };
        assert_eq!((e.status, e.audience_size, e.script), (None, None, None));
    }

    #[test]
    fn occurred_at_is_rfc3339_or_epoch_millis() {
        for (given, want) in [
            (json!("2026-09-01T00:00:00Z"), 1_788_220_800_000),
            (json!("2026-09-01T02:00:00.123+02:00"), 1_788_220_800_123),
            (json!("2026-09-01T00:00:00.123999Z"), 1_788_220_800_123),
            (json!(1_788_220_800_123_i64), 1_788_220_800_123),
        ] {
            let v = notification_with(|m| {
                m.insert("occurred_at".into(), given.clone());
            });
            assert_eq!(event_from_json(v).unwrap().occurred_at(), want, "{given}");
        }
        for (given, code) in [
            (json!("yesterday"), "bad_timestamp"),
            (json!("2026-09-01 00:00:00"), "bad_timestamp"),
            (json!(1.5e12), "wrong_type"),
            (json!(u64::MAX), "wrong_type"),
            (json!(true), "wrong_type"),
            (Value::Null, "missing_field"),
        ] {
            let v = notification_with(|m| {
                m.insert("occurred_at".into(), given.clone());
            });
            let e = err(v);
            assert_eq!(e.code(), code, "{given}: {e}");
            assert!(e.to_string().contains("occurred_at"), "{e}");
        }
    }

    #[test]
    fn each_problem_has_its_code_and_names_its_field() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!([1]), "not_an_object", "an array"),
            (json!("x"), "not_an_object", "a string"),
            (
                notification_with(|m| {
                    m.remove("type");
                }),
                "unknown_type",
                "missing",
            ),
            (
                notification_with(|m| {
                    m.insert("type".into(), "NotificationSent".into());
                }),
                "unknown_type",
                "NotificationSent",
            ),
            (
                notification_with(|m| {
                    m.insert("type".into(), 3.into());
                }),
                "unknown_type",
                "an integer",
            ),
            (
                notification_with(|m| {
                    m.remove("first_message");
                }),
                "missing_field",
                "first_message",
            ),
            (
                notification_with(|m| {
                    m.insert("first_message".into(), "yes".into());
                }),
                "wrong_type",
                "first_message",
            ),
            (
                notification_with(|m| {
                    m.insert("user_id".into(), 7.into());
                }),
                "wrong_type",
                "user_id",
            ),
            (
                notification_with(|m| {
                    m.insert("node".into(), "n1".into());
                }),
                "unknown_field",
                "node",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "STARTED"}),
                "unknown_symbol",
                "kind",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0}),
                "missing_field",
                "kind",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "CREATED",
                       "status": "running"}),
                "unknown_symbol",
                "status",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "CREATED",
                       "audience_size": 1.5}),
                "wrong_type",
                "audience_size",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "CREATED",
                       "script": []}),
                "wrong_type",
                "script",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "CREATED",
                       "script": {"nodes": []}}),
                "missing_field",
                "script: required field `edges`",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "CREATED",
                       "script": {"nodes": [{"id": "a", "type": "m", "script_type": "s"},
                                            {"id": "b", "type": "m"}], "edges": []}}),
                "missing_field",
                "script.nodes[1]: required field `script_type`",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "CREATED",
                       "script": {"nodes": [], "edges": [{"source": "a", "target": "b",
                                                           "lable": "x"}]}}),
                "unknown_field",
                "script.edges[0]: unknown field `lable`",
            ),
            (
                json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                       "campaign_id": "c", "job_id": "", "occurred_at": 0, "kind": "CREATED",
                       "script": {"nodes": [7], "edges": []}}),
                "not_an_object",
                "script.nodes[0]",
            ),
        ];
        for (value, code, mentions) in cases {
            let e = err(value.clone());
            assert_eq!(e.code(), code, "{value}: {e}");
            assert!(
                e.to_string().contains(mentions),
                "{value}: {e:?} does not mention {mentions}"
            );
        }
    }

    #[test]
    fn bodies_read_in_place_give_what_the_json_tree_gives() {
        let items = vec![
            event_to_json(&lifecycle()),
            event_to_json(&notification()),
            json!(42),
            json!(null),
            json!([{"type": "x"}]),
            json!("event"),
            notification_with(|m| {
                m.insert("user_id".into(), "".into());
            }),
            notification_with(|m| {
                m.insert("extra".into(), json!({"deep": [1, 2, {"x": null}]}));
            }),
            notification_with(|m| {
                m.insert("kind".into(), "CREATED".into());
            }),
            json!({"type": "campaign_lifecycle", "event_id": "e", "tenant_id": "t",
                   "campaign_id": "c", "job_id": "", "occurred_at": "2026-09-01T00:00:00Z",
                   "kind": "CREATED", "script": {"nodes": [{"id": "a", "type": "m"}], "edges": []}}),
            event_to_json(&interaction()),
        ];
        let body = serde_json::to_vec(&json!({ "events": items })).unwrap();
        let got = batch_from_slice(&body, 1000).unwrap();
        let want: Vec<_> = items.iter().cloned().map(event_from_json).collect();
        assert_eq!(got, want);
        let codes: Vec<&str> = got
            .iter()
            .map(|r| r.as_ref().map_or_else(JsonEventError::code, |_| "ok"))
            .collect();
        assert_eq!(
            codes,
            [
                "ok",
                "ok",
                "not_an_object",
                "not_an_object",
                "not_an_object",
                "not_an_object",
                "empty_field",
                "unknown_field",
                "unknown_field",
                "missing_field",
                "ok"
            ]
        );
        for item in items {
            let one = event_from_slice(&serde_json::to_vec(&item).unwrap()).unwrap();
            assert_eq!(one, event_from_json(item));
        }
    }

    #[test]
    fn bodies_that_are_not_json_or_not_a_batch_are_body_errors() {
        for body in [
            &b""[..],
            b"{",
            b"not json",
            b"{\"type\": 1} trailing",
            b"{\"a\": 1}{\"b\": 2}",
        ] {
            assert!(
                matches!(event_from_slice(body), Err(BodyError::Json(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        for body in [
            &b""[..],
            b"[]",
            b"[{\"events\": []}]",
            b"{}",
            b"{\"events\": {}}",
            b"{\"events\": null}",
            b"{\"events\": [], \"more\": 1}",
            b"{\"events\": [1,]}",
            b"{\"events\": []} x",
        ] {
            let e = batch_from_slice(body, 1000).unwrap_err();
            assert!(
                matches!(e, BodyError::Json(_)),
                "{}: {e}",
                String::from_utf8_lossy(body)
            );
        }
        let msg = batch_from_slice(b"{\"events\": [], \"more\": 1}", 10)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown member \"more\""), "{msg}");
        assert_eq!(batch_from_slice(b" {\"events\": []} ", 10).unwrap(), vec![]);
    }

    #[test]
    fn a_batch_over_the_maximum_is_counted_not_read() {
        let body = serde_json::to_vec(&json!({"events": vec![json!(1); 7]})).unwrap();
        assert!(matches!(
            batch_from_slice(&body, 6),
            Err(BodyError::TooMany { events: 7, max: 6 })
        ));
        assert_eq!(batch_from_slice(&body, 7).unwrap().len(), 7);
    }

    #[test]
    fn types_name_the_records() {
        for kind in EventKind::ALL {
            assert_eq!(kind_of_type(type_name(kind)), Some(kind));
        }
        assert_eq!(kind_of_type("lifecycle"), None);
    }
}
