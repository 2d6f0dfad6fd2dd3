//! The rule model: what a stored alert rule is (`alerts.md`, "Rules").
//!
//! A [`Rule`] is what the API stores and the processor evaluates. Clients
//! never build one directly: they send a [`crate::RuleInput`], which
//! [`crate::RuleInput::validate`] turns into a [`crate::ValidRule`], which
//! the API completes with a server-assigned id, the tenant and a revision.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The lifecycle statuses a [`Condition::Status`] may name (`metrics.md`,
/// `CampaignLifecycle.status`).
pub const STATUSES: [&str; 6] = [
    "NEW",
    "PREPARING",
    "WAITING",
    "RUNNING",
    "COMPLETED",
    "ERROR",
];

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Someone should look (the default).
    #[default]
    Warning,
    /// Someone should look now.
    Critical,
}

impl Severity {
    /// Every severity, least urgent first.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// The wire name: `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A numeric field of a report (`metrics.md`) that a
/// [`Condition::MetricThreshold`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `interacted_users / sent_users * 100`.
    InteractionRate,
    /// `completed_users / sent_users * 100`.
    CompletionRate,
    /// Distinct users who received the first message.
    SentUsers,
    /// Distinct users with at least one interaction.
    InteractedUsers,
    /// Distinct users whose journey reached an end node.
    CompletedUsers,
    /// Interactions, once per distinct event id.
    TotalInteractions,
    /// Notifications that are not warnings.
    MessagesSent,
    /// Warning notifications.
    WarningsSent,
    /// Mean completion time of completed users (null when none).
    AvgCompletionSeconds,
    /// Targeted users.
    TargetUsers,
}

impl Metric {
    /// Every metric, in the order of `alerts.md`.
    pub const ALL: [Metric; 10] = [
        Metric::InteractionRate,
        Metric::CompletionRate,
        Metric::SentUsers,
        Metric::InteractedUsers,
        Metric::CompletedUsers,
        Metric::TotalInteractions,
        Metric::MessagesSent,
        Metric::WarningsSent,
        Metric::AvgCompletionSeconds,
        Metric::TargetUsers,
    ];

    /// The report field name, e.g. `interaction_rate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::InteractionRate => "interaction_rate",
            Metric::CompletionRate => "completion_rate",
            Metric::SentUsers => "sent_users",
            Metric::InteractedUsers => "interacted_users",
            Metric::CompletedUsers => "completed_users",
            Metric::TotalInteractions => "total_interactions",
            Metric::MessagesSent => "messages_sent",
            Metric::WarningsSent => "warnings_sent",
            Metric::AvgCompletionSeconds => "avg_completion_seconds",
            Metric::TargetUsers => "target_users",
        }
    }

    /// The metric with this report field name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison between a report's number (left) and the rule's value
/// (right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// Every operator.
    pub const ALL: [Op; 4] = [Op::Lt, Op::Le, Op::Gt, Op::Ge];

    /// Whether `left <op> right` holds; never true when either is NaN.
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
        }
    }

    /// The wire form: `<`, `<=`, `>` or `>=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// The operator with this wire form.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What must be true of a report for the rule's alert to fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// The report's `metric` compared with `value` holds; a null metric is
    /// never true.
    MetricThreshold {
        /// The report field.
        metric: Metric,
        /// The comparison.
        op: Op,
        /// The threshold.
        value: f64,
    },
    /// The funnel step `node_id`'s `conversion_from_previous` compared with
    /// `value` holds; a node that is not (yet) in the funnel is never true.
    FunnelConversion {
        /// The script node of the funnel step.
        node_id: String,
        /// The comparison.
        op: Op,
        /// The threshold, in percent.
        value: f64,
    },
    /// The report's status equals `status` (one of [`STATUSES`]).
    Status {
        /// The lifecycle status.
        status: String,
    },
    /// The campaign is RUNNING and no event of it was applied for `seconds`
    /// of processing time.
    Inactivity {
        /// The idle time, at least 1.
        seconds: u64,
    },
}

impl Condition {
    /// The wire names of the kinds, as in `"kind": "metric_threshold"`.
    pub const KINDS: [&str; 4] = [
        "metric_threshold",
        "funnel_conversion",
        "status",
        "inactivity",
    ];

    /// This condition's kind, e.g. `metric_threshold`.
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::MetricThreshold { .. } => "metric_threshold",
            Condition::FunnelConversion { .. } => "funnel_conversion",
            Condition::Status { .. } => "status",
            Condition::Inactivity { .. } => "inactivity",
        }
    }

    /// The rule's value that an alert reports as its `threshold`: the value
    /// of the two numeric kinds, `None` for `status` and `inactivity`.
    pub fn threshold(&self) -> Option<f64> {
        match self {
            Condition::MetricThreshold { value, .. }
            | Condition::FunnelConversion { value, .. } => Some(*value),
            Condition::Status { .. } | Condition::Inactivity { .. } => None,
        }
    }
}

/// Which reports of the tenant a rule looks at.
///
/// - no `campaign_id`: the all-jobs report of every campaign;
/// - `campaign_id` only: that campaign's all-jobs report;
/// - `campaign_id` and `job_id`: that job's report.
///
/// Per-job reports are only looked at when a rule names the job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scope {
    /// The campaign, or every campaign of the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// The job of `campaign_id`, or its all-jobs report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

impl Scope {
    /// Whether the report of (`campaign_id`, `job_id`) is in this scope
    /// (`job_id` is `None` for the all-jobs report). A scope with a job but
    /// no campaign, which validation rejects, matches nothing.
    pub fn matches(&self, campaign_id: &str, job_id: Option<&str>) -> bool {
        match (self.campaign_id.as_deref(), self.job_id.as_deref()) {
            (None, None) => job_id.is_none(),
            (None, Some(_)) => false,
            (Some(campaign), None) => campaign == campaign_id && job_id.is_none(),
            (Some(campaign), Some(job)) => campaign == campaign_id && job_id == Some(job),
        }
    }
}

/// A stored alert rule of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Server-assigned, stable, never reused.
    pub id: String,
    /// The owner.
    pub tenant_id: String,
    /// Free text, 1 to 200 characters.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// How urgent its alerts are.
    pub severity: Severity,
    /// A disabled rule is not evaluated, and resolves its firing alerts.
    pub enabled: bool,
    /// Which reports it looks at.
    #[serde(default)]
    pub scope: Scope,
    /// When it fires.
    pub condition: Condition,
    /// How long (processing time) the condition must hold before firing.
    #[serde(default)]
    pub for_seconds: u64,
    /// Reports with fewer `sent_users` are not evaluated at all.
    #[serde(default)]
    pub min_sent_users: u64,
    /// Delivery channel ids; may be empty.
    #[serde(default)]
    pub channels: Vec<String>,
    /// The message template; `None` for the default sentence.
    #[serde(default)]
    pub message: Option<String>,
    /// Re-send a still-firing alert this often.
    #[serde(default)]
    pub repeat_interval_seconds: Option<u64>,
    /// Incremented by every change of the rule.
    pub revision: u64,
}

impl Rule {
    /// Whether the processor must evaluate this rule on a timer even when
    /// no report changes: an `inactivity` condition becomes true precisely
    /// because nothing happens.
    pub fn needs_timer(&self) -> bool {
        matches!(self.condition, Condition::Inactivity { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_boundaries() {
        assert!(Op::Lt.holds(4.9, 5.0));
        assert!(!Op::Lt.holds(5.0, 5.0));
        assert!(Op::Le.holds(5.0, 5.0));
        assert!(!Op::Le.holds(5.1, 5.0));
        assert!(Op::Gt.holds(5.1, 5.0));
        assert!(!Op::Gt.holds(5.0, 5.0));
        assert!(Op::Ge.holds(5.0, 5.0));
        assert!(!Op::Ge.holds(4.9, 5.0));
        for op in Op::ALL {
            assert!(!op.holds(f64::NAN, 5.0), "{op} with NaN");
        }
    }

    #[test]
    fn wire_names_round_trip() {
        for m in Metric::ALL {
            let json = serde_json::to_string(&m).expect("serialize");
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(Metric::from_name(m.as_str()), Some(m));
        }
        for op in Op::ALL {
            let json = serde_json::to_string(&op).expect("serialize");
            assert_eq!(json, format!("\"{}\"", op.as_str()));
            assert_eq!(serde_json::from_str::<Op>(&json).expect("parse"), op);
        }
        for s in Severity::ALL {
            assert_eq!(
                serde_json::to_string(&s).expect("serialize"),
                format!("\"{s}\"")
            );
        }
    }

    #[test]
    fn condition_wire_form() {
        let c = Condition::MetricThreshold {
            metric: Metric::InteractionRate,
            op: Op::Lt,
            value: 5.0,
        };
        let json = serde_json::to_value(&c).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"kind": "metric_threshold", "metric": "interaction_rate", "op": "<", "value": 5.0})
        );
        let back: Condition =
            serde_json::from_str(r#"{"kind":"inactivity","seconds":600}"#).expect("parse");
        assert_eq!(back, Condition::Inactivity { seconds: 600 });
        assert_eq!(c.threshold(), Some(5.0));
        assert_eq!(back.threshold(), None);
        assert_eq!(
            Condition::Status {
                status: "ERROR".into()
            }
            .threshold(),
            None
        );
    }

    #[test]
    fn scope_matching() {
        let all = Scope::default();
        assert!(all.matches("c-1", None));
        assert!(all.matches("c-2", None));
        assert!(!all.matches("c-1", Some("j-1")));

        let campaign = Scope {
            campaign_id: Some("c-1".into()),
            job_id: None,
        };
        assert!(campaign.matches("c-1", None));
        assert!(!campaign.matches("c-2", None));
        assert!(!campaign.matches("c-1", Some("j-1")));

        let job = Scope {
            campaign_id: Some("c-1".into()),
            job_id: Some("j-1".into()),
        };
        assert!(job.matches("c-1", Some("j-1")));
        assert!(!job.matches("c-1", Some("j-2")));
        assert!(!job.matches("c-1", None));
        assert!(!job.matches("c-2", Some("j-1")));

        let invalid = Scope {
            campaign_id: None,
            job_id: Some("j-1".into()),
        };
        assert!(!invalid.matches("c-1", Some("j-1")));
        assert!(!invalid.matches("c-1", None));
    }
}
