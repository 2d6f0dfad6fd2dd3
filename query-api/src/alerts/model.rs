//! The JSON of the alert routes. Alerts, their pages, stats and stream
//! events are built from the metadata store's rows; rules are the
//! `alerting::Rule` JSON (what the processors receive) plus their times, and
//! are described for the OpenAPI document by the `*Doc` types here, which
//! are never built.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use metadata::{
    Alert, AlertStats, Attempt, Channel, ChannelConfig, Delivery, Silence, StoredEvent, StoredRule,
};
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

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AttemptView {
    #[schema(format = DateTime)]
    pub at: String,
    /// `ok`, `error` or `suppressed` (a silence matched; nothing was sent).
    #[schema(example = "error")]
    pub outcome: String,
    /// The receiver's HTTP status (webhook, Slack), when it answered.
    #[schema(required = true)]
    pub http_status: Option<i32>,
    /// What went wrong (for `suppressed`: which silence).
    #[schema(required = true)]
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            at: time(a.at),
            outcome: a.outcome,
            http_status: a.http_status,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// The delivery of one transition of the alert to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryView {
    pub channel_id: String,
    /// The channel's name (also after it was deleted).
    pub channel_name: String,
    /// The channel's kind: `webhook`, `slack` or `email`.
    #[schema(example = "webhook")]
    pub kind: String,
    /// The transition delivered: `fired`, `resolved` or `repeated`.
    #[schema(example = "fired")]
    pub event_kind: String,
    /// The `Idempotency-Key` of every attempt.
    pub idempotency_key: String,
    /// `pending`, `delivered`, `suppressed` or `failed`.
    #[schema(example = "delivered")]
    pub state: String,
    /// When the next attempt is due (pending deliveries only).
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            channel_id: d.channel_id,
            channel_name: d.channel_name,
            kind: d.channel_kind,
            event_kind: d.event_kind,
            idempotency_key: d.idempotency_key,
            state: d.state,
            next_attempt_at: d.next_attempt_at.map(time),
            created_at: time(d.created_at),
            attempts: d.attempts.into_iter().map(AttemptView::from).collect(),
        }
    }
}

/// One alert with its deliveries (`GET /v1/alerts/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertView,
    /// Its deliveries to the rule's channels, in transition order.
    pub deliveries: Vec<DeliveryView>,
}

/// A delivery channel. Secrets are never returned.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChannelView {
    pub id: String,
    pub name: String,
    /// `webhook`, `slack` or `email`.
    #[schema(example = "webhook")]
    pub kind: String,
    /// Webhook: the URL. Slack: only its origin (an incoming-webhook URL
    /// is a credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// E-mail: the recipients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
    /// Whether the webhook signs its bodies (the secret is never shown).
    pub secret_set: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// `scheme://host[:port]/...` of a URL.
fn origin_only(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}/...", u.origin().ascii_serialization()),
        Err(_) => "...".to_owned(),
    }
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        let kind = c.config.kind().to_owned();
        let (url, recipients, secret_set) = match c.config {
            ChannelConfig::Webhook { url, secret } => (Some(url), None, secret.is_some()),
            ChannelConfig::Slack { url } => (Some(origin_only(&url)), None, false),
            ChannelConfig::Email { recipients } => (None, Some(recipients), false),
        };
        ChannelView {
            id: c.id,
            name: c.name,
            kind,
            url,
            recipients,
            secret_set,
            created_at: time(c.created_at),
        }
    }
}

/// The channels of the tenant, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<ChannelView>,
}

/// The answer of `POST /v1/channels/{id}/test`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChannelTest {
    /// Whether the test message went through.
    pub ok: bool,
    /// The receiver's HTTP status (webhook, Slack), when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a silence matches: every given field must equal the alert's.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MatchersView {
    #[schema(required = true)]
    pub rule_id: Option<String>,
    #[schema(required = true)]
    pub campaign_id: Option<String>,
    /// `info`, `warning` or `critical`.
    #[schema(required = true)]
    pub severity: Option<String>,
}

/// A silence: the notifications of matching alerts are suppressed from
/// `starts_at` (inclusive) to `ends_at` (exclusive).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SilenceView {
    pub id: String,
    pub matchers: MatchersView,
    #[schema(format = DateTime)]
    pub starts_at: String,
    #[schema(format = DateTime)]
    pub ends_at: String,
    #[schema(required = true)]
    pub comment: Option<String>,
    /// The principal that created it.
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Whether it is in force now.
    pub active: bool,
}

impl From<Silence> for SilenceView {
    fn from(s: Silence) -> Self {
        SilenceView {
            id: s.id,
            matchers: MatchersView {
                rule_id: s.matchers.rule_id,
                campaign_id: s.matchers.campaign_id,
                severity: s.matchers.severity,
            },
            starts_at: time(s.starts_at),
            ends_at: time(s.ends_at),
            comment: s.comment,
            created_by: s.created_by,
            created_at: time(s.created_at),
            active: s.active,
        }
    }
}

/// The silences of the tenant, by start.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SilenceList {
    pub silences: Vec<SilenceView>,
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

/// Doc-only types: the OpenAPI description of the rule bodies and of the
/// events of the SSE stream.
pub mod doc {
    use std::borrow::Cow;

    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;
    use utoipa::{PartialSchema, ToSchema};

    /// One event of `GET /v1/alerts/stream` as Server-Sent Events frame it
    /// (the fields of the `text/event-stream` schema are the event's
    /// fields: OpenAPI before 3.2 describes each event so): `id` is the
    /// transition's `seq`, `event` its kind, `data` the JSON of an
    /// [`super::AlertEvent`] (`contentMediaType` and `contentSchema` say
    /// so).
    #[derive(Debug)]
    #[allow(dead_code)]
    pub struct StreamEvent;

    /// The transition kinds, the SSE `event` names.
    pub const EVENT_KINDS: [&str; 3] = ["fired", "resolved", "repeated"];

    impl PartialSchema for StreamEvent {
        fn schema() -> RefOr<Schema> {
            let content_schema: Extensions = [(
                "contentSchema",
                serde_json::json!({ "$ref": "#/components/schemas/AlertEvent" }),
            )]
            .into_iter()
            .collect();
            ObjectBuilder::new()
                .description(Some(
                    "One Server-Sent Event of the alert stream: `id` is the transition's \
                     `seq` (resume after it with `Last-Event-ID`), `event` its kind, \
                     `data` the JSON of an AlertEvent.",
                ))
                .property(
                    "id",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[0-9]+$"))
                        .description(Some("The transition's `seq`, in decimal.")),
                )
                .required("id")
                .property(
                    "event",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(EVENT_KINDS))
                        .description(Some("The transition's kind (the AlertEvent's `kind`).")),
                )
                .required("event")
                .property(
                    "data",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .content_media_type("application/json")
                        .extensions(Some(content_schema))
                        .description(Some("An AlertEvent, as JSON.")),
                )
                .required("data")
                .into()
        }
    }

    impl ToSchema for StreamEvent {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("AlertStreamEvent")
        }

        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((
                super::AlertEvent::name().into_owned(),
                super::AlertEvent::schema(),
            ));
            <super::AlertEvent as ToSchema>::schemas(schemas);
        }
    }

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

    /// A comparison of a rule's condition.
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertConditionOp)]
    #[allow(dead_code)]
    pub enum Op {
        #[schema(rename = "<")]
        Lt,
        #[schema(rename = "<=")]
        Le,
        #[schema(rename = ">")]
        Gt,
        #[schema(rename = ">=")]
        Ge,
    }

    /// A report metric a `metric_threshold` condition compares
    /// (metrics.md).
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertMetric)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    pub enum Metric {
        InteractionRate,
        CompletionRate,
        SentUsers,
        InteractedUsers,
        CompletedUsers,
        TotalInteractions,
        MessagesSent,
        WarningsSent,
        AvgCompletionSeconds,
        TargetUsers,
    }

    /// A campaign status a `status` condition waits for.
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertCampaignStatus)]
    #[allow(dead_code)]
    pub enum Status {
        #[schema(rename = "NEW")]
        New,
        #[schema(rename = "PREPARING")]
        Preparing,
        #[schema(rename = "WAITING")]
        Waiting,
        #[schema(rename = "RUNNING")]
        Running,
        #[schema(rename = "COMPLETED")]
        Completed,
        #[schema(rename = "ERROR")]
        Error,
    }

    /// When the rule fires, one shape per `kind`: `metric_threshold` (the
    /// report's `metric` compared with `value` holds; a null metric never
    /// does), `funnel_conversion` (that funnel step's
    /// `conversion_from_previous` compared with `value` holds), `status`
    /// (the campaign has `status`), `inactivity` (the campaign is RUNNING
    /// and no event of it was applied for `seconds`, in processing time).
    #[derive(Debug, ToSchema)]
    #[schema(as = AlertCondition)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    #[allow(dead_code)]
    pub enum Condition {
        MetricThreshold {
            metric: Metric,
            op: Op,
            /// The threshold.
            value: f64,
        },
        FunnelConversion {
            /// The script node of the funnel step.
            #[schema(min_length = 1)]
            node_id: String,
            op: Op,
            /// The threshold.
            value: f64,
        },
        Status {
            status: Status,
        },
        Inactivity {
            /// Idle seconds, at least 1.
            #[schema(minimum = 1)]
            seconds: u64,
        },
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
