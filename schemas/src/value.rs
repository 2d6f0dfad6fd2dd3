//! Mapping between the Rust event types and Avro [`Value`]s of the current
//! reader schemas. Field by field, so a contract violation names its field.

use apache_avro::types::Value;

use crate::error::ContractViolation;
use crate::events::{
    CampaignLifecycle, CampaignStatus, Event, EventKind, LifecycleKind, NotificationSent, Script,
    ScriptEdge, ScriptNode, UserInteraction,
};

type Fields = Vec<(String, Value)>;

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn opt_s(v: &Option<String>) -> Value {
    match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(v) => Value::Union(1, Box::new(s(v))),
    }
}

fn common(event_id: &str, tenant: &str, campaign: &str, job: &str, at: i64) -> Fields {
    vec![
        ("event_id".into(), s(event_id)),
        ("tenant_id".into(), s(tenant)),
        ("campaign_id".into(), s(campaign)),
        ("job_id".into(), s(job)),
        ("occurred_at".into(), Value::TimestampMillis(at)),
    ]
}

/// The Avro value of an event under its current schema.
pub(crate) fn to_value(event: &Event) -> Value {
    match event {
        Event::Lifecycle(e) => {
            let mut f = common(
                &e.event_id,
                &e.tenant_id,
                &e.campaign_id,
                &e.job_id,
                e.occurred_at,
            );
            f.push((
                "kind".into(),
                Value::Enum(e.kind as u32, e.kind.as_str().to_owned()),
            ));
            f.push((
                "status".into(),
                match e.status {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(st) => {
                        Value::Union(1, Box::new(Value::Enum(st as u32, st.as_str().to_owned())))
                    }
                },
            ));
            f.push((
                "audience_size".into(),
                match e.audience_size {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(n) => Value::Union(1, Box::new(Value::Long(n))),
                },
            ));
            f.push((
                "script".into(),
                match &e.script {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(script) => Value::Union(1, Box::new(script_value(script))),
                },
            ));
            Value::Record(f)
        }
        Event::Notification(e) => {
            let mut f = common(
                &e.event_id,
                &e.tenant_id,
                &e.campaign_id,
                &e.job_id,
                e.occurred_at,
            );
            f.push(("user_id".into(), s(&e.user_id)));
            f.push(("node_id".into(), opt_s(&e.node_id)));
            f.push(("first_message".into(), Value::Boolean(e.first_message)));
            f.push(("warning_message".into(), Value::Boolean(e.warning_message)));
            Value::Record(f)
        }
        Event::Interaction(e) => {
            let mut f = common(
                &e.event_id,
                &e.tenant_id,
                &e.campaign_id,
                &e.job_id,
                e.occurred_at,
            );
            f.push(("user_id".into(), s(&e.user_id)));
            f.push(("selected_action".into(), s(&e.selected_action)));
            f.push(("answer_target".into(), s(&e.answer_target)));
            f.push(("answer_title".into(), opt_s(&e.answer_title)));
            f.push(("question".into(), opt_s(&e.question)));
            Value::Record(f)
        }
    }
}

fn script_value(script: &Script) -> Value {
    let nodes = script
        .nodes
        .iter()
        .map(|n| {
            Value::Record(vec![
                ("id".into(), s(&n.id)),
                ("type".into(), s(&n.node_type)),
                ("script_type".into(), s(&n.script_type)),
            ])
        })
        .collect();
    let edges = script
        .edges
        .iter()
        .map(|e| {
            Value::Record(vec![
                ("source".into(), s(&e.source)),
                ("target".into(), s(&e.target)),
                ("label".into(), opt_s(&e.label)),
            ])
        })
        .collect();
    Value::Record(vec![
        ("nodes".into(), Value::Array(nodes)),
        ("edges".into(), Value::Array(edges)),
    ])
}

/// Field access on a decoded record, by name, with typed errors.
struct Record {
    fields: Fields,
}

impl Record {
    fn new(value: Value, field: &'static str) -> Result<Self, ContractViolation> {
        match value {
            Value::Record(fields) => Ok(Record { fields }),
            _ => Err(ContractViolation::MissingField { field }),
        }
    }

    fn take(&mut self, field: &'static str) -> Result<Value, ContractViolation> {
        let pos = self
            .fields
            .iter()
            .position(|(name, _)| name == field)
            .ok_or(ContractViolation::MissingField { field })?;
        Ok(std::mem::replace(&mut self.fields[pos].1, Value::Null))
    }

    fn string(&mut self, field: &'static str) -> Result<String, ContractViolation> {
        match self.take(field)? {
            Value::String(v) => Ok(v),
            _ => Err(ContractViolation::MissingField { field }),
        }
    }

    /// A string that the contract requires to be non-empty.
    fn id(&mut self, field: &'static str) -> Result<String, ContractViolation> {
        let v = self.string(field)?;
        if v.is_empty() {
            return Err(ContractViolation::EmptyField { field });
        }
        Ok(v)
    }

    fn opt_string(&mut self, field: &'static str) -> Result<Option<String>, ContractViolation> {
        match unwrap_union(self.take(field)?) {
            Value::Null => Ok(None),
            Value::String(v) => Ok(Some(v)),
            _ => Err(ContractViolation::MissingField { field }),
        }
    }

    fn boolean(&mut self, field: &'static str) -> Result<bool, ContractViolation> {
        match self.take(field)? {
            Value::Boolean(v) => Ok(v),
            _ => Err(ContractViolation::MissingField { field }),
        }
    }

    fn millis(&mut self, field: &'static str) -> Result<i64, ContractViolation> {
        match self.take(field)? {
            Value::TimestampMillis(v) | Value::Long(v) => Ok(v),
            _ => Err(ContractViolation::MissingField { field }),
        }
    }

    fn opt_long(&mut self, field: &'static str) -> Result<Option<i64>, ContractViolation> {
        match unwrap_union(self.take(field)?) {
            Value::Null => Ok(None),
            Value::Long(v) => Ok(Some(v)),
            Value::Int(v) => Ok(Some(i64::from(v))),
            _ => Err(ContractViolation::MissingField { field }),
        }
    }

    fn symbol(&mut self, field: &'static str) -> Result<Option<String>, ContractViolation> {
        match unwrap_union(self.take(field)?) {
            Value::Null => Ok(None),
            Value::Enum(_, symbol) => Ok(Some(symbol)),
            _ => Err(ContractViolation::MissingField { field }),
        }
    }

    fn array(&mut self, field: &'static str) -> Result<Vec<Value>, ContractViolation> {
        match self.take(field)? {
            Value::Array(items) => Ok(items),
            _ => Err(ContractViolation::MissingField { field }),
        }
    }
}

fn unwrap_union(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => *inner,
        other => other,
    }
}

/// The event of a decoded value, resolved to the current reader schema of `kind`.
pub(crate) fn from_value(kind: EventKind, value: Value) -> Result<Event, ContractViolation> {
    let mut r = Record::new(value, "record")?;
    let event_id = r.id("event_id")?;
    let tenant_id = r.id("tenant_id")?;
    let campaign_id = r.id("campaign_id")?;
    let job_id = r.string("job_id")?;
    let occurred_at = r.millis("occurred_at")?;
    Ok(match kind {
        EventKind::Lifecycle => {
            let symbol = r
                .symbol("kind")?
                .ok_or(ContractViolation::MissingField { field: "kind" })?;
            let kind =
                LifecycleKind::from_symbol(&symbol).ok_or(ContractViolation::UnknownSymbol {
                    field: "kind",
                    symbol,
                })?;
            let status = match r.symbol("status")? {
                None => None,
                Some(symbol) => Some(CampaignStatus::from_symbol(&symbol).ok_or(
                    ContractViolation::UnknownSymbol {
                        field: "status",
                        symbol,
                    },
                )?),
            };
            let audience_size = r.opt_long("audience_size")?;
            let script = match unwrap_union(r.take("script")?) {
                Value::Null => None,
                value => Some(script_from_value(value)?),
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
            user_id: r.id("user_id")?,
            node_id: r.opt_string("node_id")?,
            first_message: r.boolean("first_message")?,
            warning_message: r.boolean("warning_message")?,
        }),
        EventKind::Interaction => Event::Interaction(UserInteraction {
            event_id,
            tenant_id,
            campaign_id,
            job_id,
            occurred_at,
            user_id: r.id("user_id")?,
            selected_action: r.string("selected_action")?,
            answer_target: r.string("answer_target")?,
            answer_title: r.opt_string("answer_title")?,
            question: r.opt_string("question")?,
        }),
    })
}

fn script_from_value(value: Value) -> Result<Script, ContractViolation> {
    let mut r = Record::new(value, "script")?;
    let mut nodes = Vec::new();
    for item in r.array("nodes")? {
        let mut n = Record::new(item, "script.nodes")?;
        nodes.push(ScriptNode {
            id: n.string("id")?,
            node_type: n.string("type")?,
            script_type: n.string("script_type")?,
        });
    }
    let mut edges = Vec::new();
    for item in r.array("edges")? {
        let mut e = Record::new(item, "script.edges")?;
        edges.push(ScriptEdge {
            source: e.string("source")?,
            target: e.string("target")?,
            label: e.opt_string("label")?,
        });
    }
    Ok(Script { nodes, edges })
}
