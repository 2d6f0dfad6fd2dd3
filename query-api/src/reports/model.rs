//! The JSON of the report routes: what they answer (views of the stored
//! rows) and, for the OpenAPI document, the shapes of what they take (the
//! checks themselves are the `reporting` crate's).

use chrono::{DateTime, Utc};
use metadata::reports::{
    AuditEntry, ReportDelivery, StoredDefinition, StoredFile, StoredRun, StoredSchedule,
    StoredTemplate,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

pub(crate) fn millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A schedule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScheduleView {
    /// A 5-field cron expression (null with a preset).
    #[schema(required = true)]
    pub cron: Option<String>,
    /// `{"type": "daily"|"weekly"|"monthly", ...}` (null with cron).
    #[schema(required = true, value_type = Option<Object>)]
    pub preset: Option<Value>,
    /// IANA time zone the cadence is read in.
    pub timezone: String,
    pub recipients: Vec<String>,
    /// False while paused.
    pub enabled: bool,
    /// `once` (a schedule missed while the system was down runs once) or
    /// `skip`.
    pub missed: String,
    /// E.g. "every Monday at 08:00 (Europe/Berlin)".
    pub description: String,
    /// The next run, UTC; null when paused or never again.
    #[schema(required = true, format = DateTime)]
    pub next_run_at: Option<String>,
    /// The same instant in the schedule's time zone (RFC 3339 with its
    /// offset).
    #[schema(required = true, format = DateTime)]
    pub next_run_at_local: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub last_scheduled_for: Option<String>,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub version: i32,
}

impl ScheduleView {
    /// The view of a stored schedule (`describe`/`zone` from its spec).
    pub fn new(s: &StoredSchedule, description: String, zone: chrono_tz::Tz) -> Self {
        let str_of = |key: &str| s.spec.get(key).and_then(Value::as_str).map(str::to_owned);
        ScheduleView {
            cron: str_of("cron"),
            preset: s.spec.get("preset").filter(|v| !v.is_null()).cloned(),
            timezone: zone.name().to_owned(),
            recipients: s.spec["recipients"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            enabled: s.enabled,
            missed: str_of("missed").unwrap_or_else(|| "once".to_owned()),
            description,
            next_run_at: s.next_run_at.map(millis),
            next_run_at_local: s.next_run_at.map(|t| {
                t.with_timezone(&zone)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
            }),
            last_scheduled_for: s.last_scheduled_for.map(millis),
            updated_at: millis(s.updated_at),
            version: s.version,
        }
    }
}

/// A report definition.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DefinitionView {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// `campaign_reports`, `journeys` or `overview`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub parameters: Value,
    pub formats: Vec<String>,
    #[schema(required = true)]
    pub template_id: Option<String>,
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Grows with every update.
    pub version: i32,
    #[schema(required = true)]
    pub schedule: Option<ScheduleView>,
}

impl DefinitionView {
    pub fn new(d: StoredDefinition, schedule: Option<ScheduleView>) -> Self {
        DefinitionView {
            id: d.id,
            tenant_id: d.tenant_id,
            name: d.body.name,
            description: d.body.description,
            tags: d.body.tags,
            kind: d.body.kind,
            parameters: d.body.parameters,
            formats: d.body.formats,
            template_id: d.template_id,
            created_by: d.created_by,
            created_at: millis(d.created_at),
            updated_at: millis(d.updated_at),
            version: d.version,
            schedule,
        }
    }
}

/// A page of definitions.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DefinitionList {
    pub definitions: Vec<DefinitionView>,
    /// Pass as `cursor` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A report template: system (`system.*` ids, the same for every tenant)
/// or the tenant's own.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    /// `system` or `tenant`.
    pub origin: String,
    pub name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// The definition it makes (parameters may be incomplete).
    #[schema(value_type = Object)]
    pub definition: Value,
    /// Parameters to give when instantiating.
    pub required_parameters: Vec<String>,
    /// A schedule it suggests (cron or preset), if any.
    #[schema(required = true, value_type = Option<Object>)]
    pub suggested_schedule: Option<Value>,
    pub version: i32,
    #[schema(required = true, format = DateTime)]
    pub updated_at: Option<String>,
}

impl From<StoredTemplate> for TemplateView {
    fn from(t: StoredTemplate) -> Self {
        TemplateView {
            id: t.id,
            origin: "tenant".to_owned(),
            name: t.name,
            description: t.description,
            required_parameters: t.body["required_parameters"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            suggested_schedule: t.body.get("schedule").filter(|v| !v.is_null()).cloned(),
            definition: t.body.get("definition").cloned().unwrap_or(Value::Null),
            version: t.version,
            updated_at: Some(millis(t.updated_at)),
        }
    }
}

/// The templates.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TemplateList {
    pub templates: Vec<TemplateView>,
}

/// A file of a run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FileView {
    pub format: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl From<&StoredFile> for FileView {
    fn from(f: &StoredFile) -> Self {
        FileView {
            format: f.format.clone(),
            file_name: f.file_name.clone(),
            content_type: f.content_type.clone(),
            size: f.size,
            expires_at: millis(f.expires_at),
        }
    }
}

/// An attempt to deliver a run to a recipient.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryAttemptView {
    #[schema(format = DateTime)]
    pub at: String,
    /// `ok` or `error`.
    pub outcome: String,
    #[schema(required = true)]
    pub http_status: Option<i32>,
    #[schema(required = true)]
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// The delivery of a run to one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RunDeliveryView {
    pub recipient: String,
    /// `email` or `webhook`.
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub attempts: Vec<DeliveryAttemptView>,
}

impl From<ReportDelivery> for RunDeliveryView {
    fn from(d: ReportDelivery) -> Self {
        RunDeliveryView {
            recipient: d.recipient,
            kind: d.kind,
            state: d.state,
            next_attempt_at: d.next_attempt_at.map(millis),
            attempts: d
                .attempts
                .into_iter()
                .map(|a| DeliveryAttemptView {
                    at: millis(a.at),
                    outcome: a.outcome,
                    http_status: a.http_status,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

/// A run of a definition.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub tenant_id: String,
    pub definition_id: String,
    pub definition_version: i32,
    /// The definition as it was when the run was created.
    #[schema(value_type = Object)]
    pub definition: Value,
    /// `schedule`, `manual` or `api`.
    pub trigger: String,
    #[schema(required = true, format = DateTime)]
    pub scheduled_for: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// 0 to 100.
    pub progress: i32,
    #[schema(required = true)]
    pub error: Option<String>,
    /// Attempts started (a run is tried at most `max_attempts` times).
    pub attempts: i32,
    pub max_attempts: i32,
    /// The snapshot the figures were read as of (null for the overview,
    /// read from the rollups at generation time).
    #[schema(required = true, format = DateTime)]
    pub as_of: Option<String>,
    /// Data rows written (over all tables).
    pub rows: i64,
    pub recipients: Vec<String>,
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true, format = DateTime)]
    pub started_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub finished_at: Option<String>,
    pub files: Vec<FileView>,
    /// One per recipient once the run succeeded (only on
    /// `GET /v1/report-runs/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<RunDeliveryView>>,
}

impl From<StoredRun> for RunView {
    fn from(r: StoredRun) -> Self {
        RunView {
            files: r.files.iter().map(FileView::from).collect(),
            id: r.id,
            tenant_id: r.tenant_id,
            definition_id: r.definition_id,
            definition_version: r.definition_version,
            definition: r.definition,
            trigger: r.trigger,
            scheduled_for: r.scheduled_for.map(millis),
            state: r.state,
            progress: r.progress,
            error: r.error,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            as_of: r.as_of.map(millis),
            rows: r.rows_written,
            recipients: r
                .recipients
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            created_by: r.created_by,
            created_at: millis(r.created_at),
            started_at: r.started_at.map(millis),
            finished_at: r.finished_at.map(millis),
            deliveries: None,
        }
    }
}

/// A page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The schedules of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScheduleEntry {
    pub definition_id: String,
    pub definition_name: String,
    pub schedule: ScheduleView,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleEntry>,
}

/// A signed download link.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DownloadLink {
    /// Works without a key until `expires_at`.
    pub download_url: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub filename: String,
    /// Bytes.
    pub size: i64,
}

/// An audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub principal: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    #[schema(format = DateTime)]
    pub at: String,
    #[schema(required = true, value_type = Option<Object>)]
    pub detail: Option<Value>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            principal: e.principal,
            action: e.action,
            entity: e.entity,
            entity_id: e.entity_id,
            at: millis(e.at),
            detail: e.detail,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The body of `POST`/`PUT /v1/report-definitions` (unknown fields are
/// refused).
#[derive(Debug, Clone, ToSchema)]
pub struct DefinitionInputDoc {
    /// 1 to 200 characters.
    pub name: String,
    pub description: Option<String>,
    /// At most 20, each 1 to 50 characters.
    pub tags: Option<Vec<String>>,
    /// `campaign_reports`, `journeys` or `overview`.
    pub kind: String,
    /// `campaign_ids` (list; `campaign_id` for one), `status`, `job_id`,
    /// `completed`, `granularity` (day/week/month), `range`
    /// (`{"type": "last_n_days", "n": 7}`, `previous_week`,
    /// `previous_month`, `month_to_date`, or
    /// `{"type": "between", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}`),
    /// by kind.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Any of `csv`, `json`, `xlsx`, `pdf`, `html` (at least one).
    pub formats: Vec<String>,
}

/// The body of `PUT /v1/report-definitions/{id}/schedule`.
#[derive(Debug, Clone, ToSchema)]
pub struct ScheduleInputDoc {
    /// A 5-field cron expression (minute hour day-of-month month
    /// day-of-week), or give `preset`.
    pub cron: Option<String>,
    /// `{"type": "daily", "time": "08:00"}`, `{"type": "weekly",
    /// "weekday": "monday", "time": "08:00"}` or `{"type": "monthly",
    /// "day": 31, "time": "08:00"}` (a day past the month's end is its
    /// last day).
    #[schema(value_type = Option<Object>)]
    pub preset: Option<Value>,
    /// IANA time zone; default the tenant's.
    pub timezone: Option<String>,
    /// E-mail addresses and http(s) webhook URLs.
    pub recipients: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
    /// `once` (default) or `skip`: what a schedule missed while the system
    /// was down does.
    pub missed: Option<String>,
}

/// The body of `POST /v1/report-templates/{id}/instantiate`: the new
/// definition's fields over the template's (parameters merged key by key).
#[derive(Debug, Clone, ToSchema)]
pub struct InstantiateDoc {
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    pub formats: Option<Vec<String>>,
}

/// The body of `POST`/`PUT /v1/report-templates`.
#[derive(Debug, Clone, ToSchema)]
pub struct TemplateInputDoc {
    pub name: String,
    pub description: Option<String>,
    /// A definition body (as for `POST /v1/report-definitions`; its
    /// parameters may leave out those listed in `required_parameters`).
    #[schema(value_type = Object)]
    pub definition: Value,
    pub required_parameters: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<Value>,
}
