//! The JSON of the alert routes. Alerts, their pages, stats and stream
//! events are built from the metadata store's rows; rules are the
//! `alerting::Rule` JSON (what the processors receive) plus their times, and
//! are described for the OpenAPI document by the `*Doc` types here, which
//! are never built.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use metadata::{Alert, AlertStats, StoredEvent, StoredRule};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::rfc3339_millis;

fn time(at: DateTime<Utc>) -> String {
    rfc3339_millis(at.timestamp_millis())
}

/// An alert as the calling principal sees it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertView {
    pub id: String,
    pub tenant_id: String,
    /// Null for a manual alert.
    #[schema(required = true)]
    pub rule_id: Option<String>,
    /// The rule's name when it fired, or a manual alert's title.
    #[schema(required = true)]
    pub rule_name: Option<String>,
    /// `info`, `warning` or `critical`.
    #[schema(example = "critical")]
    pub severity: String,
    /// The report it is about (null for a manual alert without one).
    #[schema(required = true)]
    pub campaign_id: Option<String>,
    /// Null for the all-jobs report.
    #[schema(required = true)]
    pub job_id: Option<String>,
    /// `firing` or `resolved`.
    #[schema(example = "firing")]
    pub status: String,
    /// The compared number when it fired (null for `status` and
    /// `inactivity` rules).
    #[schema(required = true)]
    pub value: Option<f64>,
    /// The rule's value (null for `status` and `inactivity` rules).
    #[schema(required = true)]
    pub threshold: Option<f64>,
    /// The rendered template, or a default sentence.
    pub message: String,
    #[schema(format = DateTime)]
    pub fired_at: String,
    /// Null while firing.
    #[schema(required = true, format = DateTime)]
    pub resolved_at: Option<String>,
    /// Whether the calling principal (the key's `user`, else its name)
    /// marked it read.
    pub read: bool,
    /// Dismissed alerts are left out of lists unless `include_dismissed=true`.
    pub dismissed: bool,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> Self {
        AlertView {
            id: a.id,
            tenant_id: a.tenant_id,
            rule_id: a.rule_id,
            rule_name: a.rule_name,
            severity: a.severity,
            campaign_id: a.campaign_id,
            job_id: a.job_id,
            status: a.status,
            value: a.value.filter(|v| v.is_finite()),
            threshold: a.threshold.filter(|v| v.is_finite()),
            message: a.message,
            fired_at: time(a.fired_at),
            resolved_at: a.resolved_at.map(time),
            read: a.read,
            dismissed: a.dismissed,
        }
    }
}

/// A page of alerts, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertPageView {
    pub alerts: Vec<AlertView>,
    /// Alerts matching the filters (all pages).
    pub total: i64,
    /// Of those, unread by the calling principal.
    pub unread_count: i64,
    /// Whether a next page exists.
    pub has_more: bool,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Alerts without a page (the unread ones), newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

/// The alert counts of the tenant as the calling principal sees them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertStatsView {
    /// Not dismissed and not read by the calling principal.
    pub total_unread: i64,
    /// Firing now.
    pub firing: i64,
    /// Firing now, per severity.
    pub by_severity: BTreeMap<String, i64>,
    /// Firing now, per rule id (manual alerts under `manual`).
    pub by_rule: BTreeMap<String, i64>,
}

impl From<AlertStats> for AlertStatsView {
    fn from(s: AlertStats) -> Self {
        AlertStatsView {
            total_unread: s.total_unread,
            firing: s.firing,
            by_severity: s.by_severity,
            by_rule: s.by_rule,
        }
    }
}

/// The answer of `POST /v1/alerts/mark-all-read`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Marked {
    /// Alerts that were unread by the calling principal and now are read.
    pub marked: u64,
}

/// One stored transition, as the live stream sends it (SSE `data`, or one
/// WebSocket text message).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertEvent {
    /// Its number: the SSE `id`, to resume after with `Last-Event-ID`.
    pub seq: i64,
    /// `fired`, `resolved` or `repeated` (also the SSE `event`).
    #[schema(example = "fired")]
    pub kind: String,
    /// When the transition happened (processing time).
    #[schema(format = DateTime)]
    pub at: String,
    /// The alert as it is now.
    pub alert: AlertView,
}

impl From<StoredEvent> for AlertEvent {
    fn from(e: StoredEvent) -> Self {
        AlertEvent {
            seq: e.seq,
            kind: e.kind,
            at: time(e.at),
            alert: e.alert.into(),
        }
    }
}

/// The body of `POST /v1/alerts`: a manual alert, firing until resolved
/// through `POST /v1/alerts/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualAlertInput {
    /// `info`, `warning` or `critical`.
    #[schema(example = "warning")]
    pub severity: String,
    /// 1 to 2000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub message: String,
    /// A title (shown as the alert's `rule_name`), at most 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub title: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// Needs `campaign_id`.
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub threshold: Option<f64>,
}

/// A rule as the API shows it: the `alerting::Rule` JSON that the
/// processors receive, plus its times.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    #[serde(flatten)]
    pub rule: alerting::Rule,
    pub created_at: String,
    pub updated_at: String,
}

impl From<StoredRule> for RuleView {
    fn from(s: StoredRule) -> Self {
        RuleView {
            rule: s.rule,
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

/// The rules of the tenant, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct RuleList {
    pub rules: Vec<RuleView>,
}

/// One report that the previewed rule would fire on now.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PreviewHit {
    pub campaign_id: String,
    /// Null for the all-jobs report.
    #[schema(required = true)]
    pub job_id: Option<String>,
    /// The compared number (null for `status` and `inactivity` rules).
    #[schema(required = true)]
    pub value: Option<f64>,
}

/// The answer of `POST /v1/alert-rules/{id}/preview`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Preview {
    /// The reports whose condition holds now.
    pub firing: Vec<PreviewHit>,
    /// Reports of the rule's scope that were evaluated (reports with fewer
    /// `sent_users` than `min_sent_users` are not).
    pub evaluated: u64,
}

/// Doc-only types: the OpenAPI description of the rule bodies.
pub mod doc {
    use utoipa::ToSchema;

    /// Which reports a rule looks at: none (every campaign's all-jobs
    /// report), `campaign_id` (that campaign's all-jobs report), or both
    /// (that job's report). `job_id` needs `campaign_id`.
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertRuleScope)]
    #[allow(dead_code)]
    pub struct Scope {
        pub campaign_id: Option<String>,
        pub job_id: Option<String>,
    }

    /// When the rule fires, by `kind`: `metric_threshold` (`metric`, `op`,
    /// `value`), `funnel_conversion` (`node_id`, `op`, `value`), `status`
    /// (`status`), `inactivity` (`seconds`).
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertCondition)]
    #[allow(dead_code)]
    pub struct Condition {
        /// `metric_threshold`, `funnel_conversion`, `status` or `inactivity`.
        #[schema(example = "metric_threshold")]
        pub kind: String,
        /// `metric_threshold`: `interaction_rate`, `completion_rate`,
        /// `sent_users`, `interacted_users`, `completed_users`,
        /// `total_interactions`, `messages_sent`, `warnings_sent`,
        /// `avg_completion_seconds` or `target_users`.
        pub metric: Option<String>,
        /// `metric_threshold`, `funnel_conversion`: `<`, `<=`, `>` or `>=`.
        pub op: Option<String>,
        /// `metric_threshold`, `funnel_conversion`: the threshold.
        pub value: Option<f64>,
        /// `funnel_conversion`: the script node of the funnel step.
        pub node_id: Option<String>,
        /// `status`: NEW, PREPARING, WAITING, RUNNING, COMPLETED or ERROR.
        pub status: Option<String>,
        /// `inactivity`: idle seconds, at least 1.
        pub seconds: Option<u64>,
    }

    /// The body of `POST` and `PUT /v1/alert-rules` (unknown fields are
    /// refused).
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertRuleInput)]
    #[allow(dead_code)]
    pub struct RuleInput {
        /// 1 to 200 characters.
        #[schema(min_length = 1, max_length = 200)]
        pub name: String,
        pub description: Option<String>,
        /// `info`, `warning` (default) or `critical`.
        pub severity: Option<String>,
        /// Default true.
        pub enabled: Option<bool>,
        pub scope: Option<Scope>,
        pub condition: Condition,
        /// Seconds the condition must hold before firing (default 0, at
        /// most 30 days).
        pub for_seconds: Option<u64>,
        /// Reports with fewer sent users are not evaluated (default 0).
        pub min_sent_users: Option<u64>,
        /// Delivery channel ids, at most 20.
        pub channels: Option<Vec<String>>,
        /// Template (at most 2000 characters): `{{rule}}`, `{{campaign_id}}`,
        /// `{{job_id}}`, `{{metric}}`, `{{value}}`, `{{threshold}}`,
        /// `{{status}}`, `{{node_id}}`.
        pub message: Option<String>,
        /// Re-send a still-firing alert this often (at least 1).
        pub repeat_interval_seconds: Option<u64>,
    }

    /// A stored rule.
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertRule)]
    #[allow(dead_code)]
    pub struct Rule {
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub description: Option<String>,
        /// `info`, `warning` or `critical`.
        pub severity: String,
        pub enabled: bool,
        pub scope: Scope,
        pub condition: Condition,
        pub for_seconds: u64,
        pub min_sent_users: u64,
        pub channels: Vec<String>,
        pub message: Option<String>,
        pub repeat_interval_seconds: Option<u64>,
        /// Incremented by every change.
        pub revision: u64,
        #[schema(format = DateTime)]
        pub created_at: String,
        #[schema(format = DateTime)]
        pub updated_at: String,
    }

    /// The rules of the tenant, oldest first.
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertRuleList)]
    #[allow(dead_code)]
    pub struct RuleList {
        pub rules: Vec<Rule>,
    }
}
