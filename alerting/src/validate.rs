//! Client input and its validation: what `POST`/`PUT /v1/alert-rules` send
//! ([`RuleInput`]), checked into a [`ValidRule`] with errors that name the
//! field and what it allows (the API answers them with a 400).
//!
//! The condition is held as raw JSON and checked by hand, because serde's
//! errors on a tagged enum ("unknown variant", no field name) would not
//! tell a user which field is wrong.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::rule::{Condition, Metric, Op, Rule, Scope, Severity, STATUSES};

/// At most this many characters in a rule's name.
pub const MAX_NAME_CHARS: usize = 200;
/// At most this many characters in a message template.
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// At most this many delivery channels per rule.
pub const MAX_CHANNELS: usize = 20;
/// `for_seconds` is at most 30 days.
pub const MAX_FOR_SECONDS: u64 = 30 * 24 * 3600;

/// Why a rule was rejected: `<field>: <what is wrong; what is allowed>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError(message.into())
}

/// A rule as a client sends it (`POST`, and `PUT`, which replaces).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Required, 1 to 200 characters after trimming.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `info`, `warning` (the default) or `critical`.
    #[serde(default)]
    pub severity: Severity,
    /// Default true.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Default: the all-jobs report of every campaign of the tenant.
    #[serde(default)]
    pub scope: Scope,
    /// A [`Condition`] as JSON; checked by [`RuleInput::validate`].
    pub condition: Value,
    /// Default 0, at most 30 days.
    #[serde(default)]
    pub for_seconds: u64,
    /// Default 0.
    #[serde(default)]
    pub min_sent_users: u64,
    /// Channel ids, at most 20.
    #[serde(default)]
    pub channels: Vec<String>,
    /// A template of at most 2000 characters; empty means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// At least 1 when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval_seconds: Option<u64>,
}

fn enabled_by_default() -> bool {
    true
}

/// A checked [`RuleInput`], waiting for its id, tenant and revision.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRule {
    name: String,
    description: Option<String>,
    severity: Severity,
    enabled: bool,
    scope: Scope,
    condition: Condition,
    for_seconds: u64,
    min_sent_users: u64,
    channels: Vec<String>,
    message: Option<String>,
    repeat_interval_seconds: Option<u64>,
}

impl RuleInput {
    /// Parses a request body; a malformed body (bad JSON, an unknown or
    /// missing top-level field, a wrong type) is a [`ValidationError`]
    /// carrying serde's description.
    pub fn from_json(body: &str) -> Result<RuleInput, ValidationError> {
        serde_json::from_str(body).map_err(|e| invalid(format!("invalid rule: {e}")))
    }

    /// Checks every field; the first problem found is the error.
    pub fn validate(self) -> Result<ValidRule, ValidationError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(invalid("name: must not be empty"));
        }
        let name_chars = name.chars().count();
        if name_chars > MAX_NAME_CHARS {
            return Err(invalid(format!(
                "name: at most {MAX_NAME_CHARS} characters, got {name_chars}"
            )));
        }
        validate_scope(&self.scope)?;
        let condition = parse_condition(&self.condition)?;
        validate_condition(&condition)?;
        if self.for_seconds > MAX_FOR_SECONDS {
            return Err(invalid(format!(
                "for_seconds: at most {MAX_FOR_SECONDS} (30 days), got {}",
                self.for_seconds
            )));
        }
        if self.channels.len() > MAX_CHANNELS {
            return Err(invalid(format!(
                "channels: at most {MAX_CHANNELS}, got {}",
                self.channels.len()
            )));
        }
        if self.channels.iter().any(|c| c.trim().is_empty()) {
            return Err(invalid("channels: a channel id must not be empty"));
        }
        let message = self.message.filter(|m| !m.trim().is_empty());
        if let Some(message) = &message {
            let chars = message.chars().count();
            if chars > MAX_MESSAGE_CHARS {
                return Err(invalid(format!(
                    "message: at most {MAX_MESSAGE_CHARS} characters, got {chars}"
                )));
            }
        }
        if self.repeat_interval_seconds == Some(0) {
            return Err(invalid(
                "repeat_interval_seconds: must be at least 1 when set",
            ));
        }
        Ok(ValidRule {
            name: name.to_owned(),
            description: self.description.filter(|d| !d.trim().is_empty()),
            severity: self.severity,
            enabled: self.enabled,
            scope: self.scope,
            condition,
            for_seconds: self.for_seconds,
            min_sent_users: self.min_sent_users,
            channels: self.channels,
            message,
            repeat_interval_seconds: self.repeat_interval_seconds,
        })
    }
}

impl ValidRule {
    /// The stored rule, with its server-assigned `id`, its tenant and its
    /// `revision`.
    pub fn into_rule(self, id: String, tenant_id: String, revision: u64) -> Rule {
        Rule {
            id,
            tenant_id,
            name: self.name,
            description: self.description,
            severity: self.severity,
            enabled: self.enabled,
            scope: self.scope,
            condition: self.condition,
            for_seconds: self.for_seconds,
            min_sent_users: self.min_sent_users,
            channels: self.channels,
            message: self.message,
            repeat_interval_seconds: self.repeat_interval_seconds,
            revision,
        }
    }

    /// The trimmed name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checked condition.
    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    /// The checked scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The delivery channel ids (the API checks that they exist).
    pub fn channels(&self) -> &[String] {
        &self.channels
    }
}

fn validate_scope(scope: &Scope) -> Result<(), ValidationError> {
    if scope.campaign_id.as_deref().is_some_and(str::is_empty) {
        return Err(invalid(
            "scope.campaign_id: must not be empty (omit it for every campaign)",
        ));
    }
    if scope.job_id.as_deref().is_some_and(str::is_empty) {
        return Err(invalid(
            "scope.job_id: must not be empty (omit it for the all-jobs report)",
        ));
    }
    if scope.job_id.is_some() && scope.campaign_id.is_none() {
        return Err(invalid("scope.job_id: needs scope.campaign_id"));
    }
    Ok(())
}

/// The semantic checks of a condition, whether it came from JSON or was
/// built in code: finite values, a known status, a non-empty node id,
/// `seconds` at least 1.
pub fn validate_condition(condition: &Condition) -> Result<(), ValidationError> {
    match condition {
        Condition::MetricThreshold { value, .. } => finite(*value),
        Condition::FunnelConversion { node_id, value, .. } => {
            if node_id.is_empty() {
                return Err(invalid("condition.node_id: must not be empty"));
            }
            finite(*value)
        }
        Condition::Status { status } => {
            if STATUSES.contains(&status.as_str()) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "condition.status: unknown status '{status}'; one of {}",
                    STATUSES.join(", ")
                )))
            }
        }
        Condition::Inactivity { seconds } => {
            if *seconds >= 1 {
                Ok(())
            } else {
                Err(invalid("condition.seconds: must be at least 1"))
            }
        }
    }
}

fn finite(value: f64) -> Result<(), ValidationError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(invalid(format!(
            "condition.value: must be a finite number, got {value}"
        )))
    }
}

/// The fields each kind takes besides `kind`.
fn fields_of(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "metric_threshold" => Some(&["metric", "op", "value"]),
        "funnel_conversion" => Some(&["node_id", "op", "value"]),
        "status" => Some(&["status"]),
        "inactivity" => Some(&["seconds"]),
        _ => None,
    }
}

/// Reads the shape of a condition: an object with a known `kind` and
/// exactly that kind's fields, of the right types.
fn parse_condition(value: &Value) -> Result<Condition, ValidationError> {
    let kinds = Condition::KINDS.join(", ");
    let Some(object) = value.as_object() else {
        return Err(invalid(format!(
            "condition: must be an object with a 'kind' (one of {kinds})"
        )));
    };
    let kind = match object.get("kind") {
        None => return Err(invalid(format!("condition.kind: missing; one of {kinds}"))),
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(invalid(format!(
                "condition.kind: must be a string; one of {kinds}"
            )))
        }
    };
    let Some(fields) = fields_of(kind) else {
        return Err(invalid(format!(
            "condition.kind: unknown kind '{kind}'; one of {kinds}"
        )));
    };
    if let Some(extra) = object
        .keys()
        .find(|k| *k != "kind" && !fields.contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "condition.{extra}: unknown field for kind '{kind}'; allowed: {}",
            fields.join(", ")
        )));
    }
    Ok(match kind {
        "metric_threshold" => Condition::MetricThreshold {
            metric: metric_field(object)?,
            op: op_field(object)?,
            value: number_field(object, "value")?,
        },
        "funnel_conversion" => Condition::FunnelConversion {
            node_id: string_field(object, "node_id")?.to_owned(),
            op: op_field(object)?,
            value: number_field(object, "value")?,
        },
        "status" => Condition::Status {
            status: string_field(object, "status")?.to_owned(),
        },
        _ => Condition::Inactivity {
            seconds: seconds_field(object)?,
        },
    })
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ValidationError> {
    object
        .get(name)
        .ok_or_else(|| invalid(format!("condition.{name}: missing")))
}

fn string_field<'a>(
    object: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a str, ValidationError> {
    field(object, name)?
        .as_str()
        .ok_or_else(|| invalid(format!("condition.{name}: must be a string")))
}

fn number_field(object: &Map<String, Value>, name: &str) -> Result<f64, ValidationError> {
    field(object, name)?
        .as_f64()
        .ok_or_else(|| invalid(format!("condition.{name}: must be a finite number")))
}

fn seconds_field(object: &Map<String, Value>) -> Result<u64, ValidationError> {
    field(object, "seconds")?
        .as_u64()
        .ok_or_else(|| invalid("condition.seconds: must be a whole number of seconds, at least 1"))
}

fn metric_field(object: &Map<String, Value>) -> Result<Metric, ValidationError> {
    let name = string_field(object, "metric")?;
    Metric::from_name(name).ok_or_else(|| {
        let all: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
        invalid(format!(
            "condition.metric: unknown metric '{name}'; one of {}",
            all.join(", ")
        ))
    })
}

fn op_field(object: &Map<String, Value>) -> Result<Op, ValidationError> {
    let name = string_field(object, "op")?;
    Op::from_name(name).ok_or_else(|| {
        let all: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
        invalid(format!(
            "condition.op: unknown op '{name}'; one of {}",
            all.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn input(condition: Value) -> RuleInput {
        RuleInput {
            name: "Low interaction".into(),
            description: None,
            severity: Severity::Warning,
            enabled: true,
            scope: Scope::default(),
            condition,
            for_seconds: 0,
            min_sent_users: 0,
            channels: Vec::new(),
            message: None,
            repeat_interval_seconds: None,
        }
    }

    fn threshold() -> Value {
        json!({"kind": "metric_threshold", "metric": "interaction_rate", "op": "<", "value": 5})
    }

    fn error_of(input: RuleInput) -> String {
        match input.validate() {
            Ok(rule) => panic!("expected an error, got {rule:?}"),
            Err(ValidationError(message)) => message,
        }
    }

    #[test]
    fn a_full_body_parses_with_defaults() {
        let body = r#"{"name": "  ERROR  ", "condition": {"kind": "status", "status": "ERROR"}}"#;
        let rule = RuleInput::from_json(body)
            .and_then(RuleInput::validate)
            .expect("valid")
            .into_rule("r-1".into(), "t-1".into(), 1);
        assert_eq!(rule.name, "ERROR");
        assert_eq!(rule.severity, Severity::Warning);
        assert!(rule.enabled);
        assert_eq!(rule.scope, Scope::default());
        assert_eq!(
            rule.condition,
            Condition::Status {
                status: "ERROR".into()
            }
        );
        assert_eq!(
            (rule.for_seconds, rule.min_sent_users, rule.revision),
            (0, 0, 1)
        );
        assert_eq!((rule.id.as_str(), rule.tenant_id.as_str()), ("r-1", "t-1"));
    }

    #[test]
    fn every_kind_validates() {
        for condition in [
            threshold(),
            json!({"kind": "funnel_conversion", "node_id": "n2", "op": ">=", "value": 40.5}),
            json!({"kind": "status", "status": "RUNNING"}),
            json!({"kind": "inactivity", "seconds": 600}),
        ] {
            input(condition.clone()).validate().expect("valid");
            // What validation accepts is what the rule model reads.
            let typed: Condition = serde_json::from_value(condition).expect("typed");
            validate_condition(&typed).expect("valid");
        }
    }

    #[test]
    fn unknown_metric() {
        let message = error_of(input(
            json!({"kind": "metric_threshold", "metric": "foo", "op": "<", "value": 1}),
        ));
        assert!(
            message.starts_with(
                "condition.metric: unknown metric 'foo'; one of interaction_rate, completion_rate,"
            ),
            "{message}"
        );
        assert!(message.contains("target_users"), "{message}");
    }

    #[test]
    fn unknown_op() {
        let message = error_of(input(
            json!({"kind": "metric_threshold", "metric": "sent_users", "op": "lt", "value": 1}),
        ));
        assert_eq!(
            message,
            "condition.op: unknown op 'lt'; one of <, <=, >, >="
        );
        let message = error_of(input(
            json!({"kind": "funnel_conversion", "node_id": "n1", "op": "==", "value": 1}),
        ));
        assert!(
            message.starts_with("condition.op: unknown op '=='"),
            "{message}"
        );
    }

    #[test]
    fn unknown_status() {
        let message = error_of(input(json!({"kind": "status", "status": "error"})));
        assert_eq!(
            message,
            "condition.status: unknown status 'error'; one of NEW, PREPARING, WAITING, RUNNING, COMPLETED, ERROR"
        );
    }

    #[test]
    fn unknown_kind_and_missing_fields() {
        let message = error_of(input(json!({"kind": "threshold", "value": 1})));
        assert_eq!(
            message,
            "condition.kind: unknown kind 'threshold'; one of metric_threshold, funnel_conversion, status, inactivity"
        );
        assert!(
            error_of(input(json!({"metric": "sent_users"}))).starts_with("condition.kind: missing")
        );
        assert!(error_of(input(json!("status"))).starts_with("condition: must be an object"));
        assert_eq!(
            error_of(input(
                json!({"kind": "metric_threshold", "metric": "sent_users", "value": 1})
            )),
            "condition.op: missing"
        );
        assert_eq!(
            error_of(input(
                json!({"kind": "status", "status": "ERROR", "value": 1})
            )),
            "condition.value: unknown field for kind 'status'; allowed: status"
        );
        assert_eq!(
            error_of(input(
                json!({"kind": "metric_threshold", "metric": "sent_users", "op": "<", "value": "5"})
            )),
            "condition.value: must be a finite number"
        );
    }

    #[test]
    fn non_finite_value() {
        // JSON has no NaN or infinity: a number too large for f64 fails to
        // parse, and a string is not a number.
        let body = r#"{"name": "n", "condition": {"kind": "metric_threshold", "metric": "sent_users", "op": "<", "value": 1e999}}"#;
        let from_text = RuleInput::from_json(body).and_then(RuleInput::validate);
        assert!(from_text.is_err(), "{from_text:?}");
        assert_eq!(
            error_of(input(
                json!({"kind": "metric_threshold", "metric": "sent_users", "op": "<", "value": "NaN"})
            )),
            "condition.value: must be a finite number"
        );
        // A condition built in code.
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let condition = Condition::MetricThreshold {
                metric: Metric::SentUsers,
                op: Op::Lt,
                value,
            };
            let message = validate_condition(&condition).expect_err("non-finite").0;
            assert!(
                message.starts_with("condition.value: must be a finite number"),
                "{message}"
            );
            let funnel = Condition::FunnelConversion {
                node_id: "n".into(),
                op: Op::Lt,
                value,
            };
            assert!(validate_condition(&funnel).is_err());
        }
    }

    #[test]
    fn job_without_campaign() {
        let mut rule = input(threshold());
        rule.scope = Scope {
            campaign_id: None,
            job_id: Some("j-1".into()),
        };
        assert_eq!(error_of(rule), "scope.job_id: needs scope.campaign_id");
        let body = r#"{"name": "n", "scope": {"campaign": "c-1"}, "condition": {"kind": "inactivity", "seconds": 5}}"#;
        assert!(
            RuleInput::from_json(body).is_err(),
            "a misspelt scope field must not mean every campaign"
        );
    }

    #[test]
    fn names() {
        let mut rule = input(threshold());
        rule.name = "   ".into();
        assert_eq!(error_of(rule), "name: must not be empty");
        let mut rule = input(threshold());
        rule.name = "é".repeat(201);
        assert_eq!(error_of(rule), "name: at most 200 characters, got 201");
        let mut rule = input(threshold());
        rule.name = "é".repeat(200);
        assert!(rule.validate().is_ok());
    }

    #[test]
    fn other_limits() {
        let mut rule = input(json!({"kind": "inactivity", "seconds": 0}));
        assert_eq!(
            error_of(rule.clone()),
            "condition.seconds: must be at least 1"
        );
        rule.condition = json!({"kind": "inactivity", "seconds": -5});
        assert!(error_of(rule).starts_with("condition.seconds: must be a whole number"));

        let funnel =
            input(json!({"kind": "funnel_conversion", "node_id": "", "op": "<", "value": 1}));
        assert_eq!(error_of(funnel), "condition.node_id: must not be empty");

        let mut rule = input(threshold());
        rule.channels = (0..21).map(|i| format!("ch-{i}")).collect();
        assert_eq!(error_of(rule), "channels: at most 20, got 21");

        let mut rule = input(threshold());
        rule.message = Some("x".repeat(2001));
        assert_eq!(error_of(rule), "message: at most 2000 characters, got 2001");

        let mut rule = input(threshold());
        rule.for_seconds = MAX_FOR_SECONDS + 1;
        assert!(error_of(rule).starts_with("for_seconds: at most 2592000"));

        let mut rule = input(threshold());
        rule.repeat_interval_seconds = Some(0);
        assert!(error_of(rule).starts_with("repeat_interval_seconds"));

        let body =
            r#"{"name": "n", "condition": {"kind": "status", "status": "ERROR"}, "colour": "red"}"#;
        assert!(RuleInput::from_json(body).is_err());
    }
}
