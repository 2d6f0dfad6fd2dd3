//! Report definitions, their schedules and manual runs
//! (`scheduled-reports.md`), and the audit log. Reading needs any reading
//! key; creating, changing, scheduling and running need an editor key;
//! the audit log an admin key. Every change is audited.
//!
//! A body that is not a valid definition is a 400 `bad_definition`, a bad
//! schedule a 400 `bad_schedule`, both naming the field. Another tenant's
//! definition, or an id no definition has, is a 404 on every route.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use metadata::reports::{
    AuditFilter, DefinitionBody, DefinitionFilter, DefinitionSort, StoredDefinition, StoredSchedule,
};
use reporting::{DefinitionInput, ScheduleInput, ValidDefinition};
use serde::Deserialize;
use utoipa::IntoParams;

use super::alerts::{body_bytes, AlertParams};
use super::{cut_page, rows_for_page, Ids, Params};
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::params::parse_limit;
use crate::read::Reader;
use crate::reports::model::{
    AuditList, AuditView, DefinitionInputDoc, DefinitionList, DefinitionView, RunView,
    ScheduleEntry, ScheduleInputDoc, ScheduleList, ScheduleView,
};
use crate::reports::scheduler::parse_spec;
use crate::reports::Reports;

/// The reports of the server, or 503 when it runs without a metadata
/// database.
pub(crate) fn reports_of<R>(s: &AppState<R>) -> Result<&Arc<Reports>, ApiError> {
    s.reports.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "reports are off on this server: set DATABASE_URL (or --database-url) to the \
             metadata database (PostgreSQL) and restart it",
        )
    })
}

fn bad_definition(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::BadDefinition, message)
}

fn bad_schedule(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::BadSchedule, message)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("report definition {id:?} not found"))
}

/// The checked definition of a request body.
pub(crate) fn definition_of_body(body: &[u8]) -> Result<ValidDefinition, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| bad_definition("the body is not UTF-8"))?;
    DefinitionInput::from_json(text)
        .and_then(|input| input.validate())
        .map_err(|e| bad_definition(e.to_string()))
}

/// What the metadata database keeps of a checked definition.
pub(crate) fn body_of(valid: &ValidDefinition) -> Result<DefinitionBody, ApiError> {
    let parameters = serde_json::to_value(valid.parameters())
        .map_err(|e| bad_definition(format!("parameters: {e}")))?;
    Ok(DefinitionBody {
        name: valid.name().to_owned(),
        description: valid.description().map(str::to_owned),
        tags: valid.tags().to_vec(),
        kind: valid.kind().as_str().to_owned(),
        parameters,
        formats: valid
            .formats()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect(),
    })
}

/// The view of a stored schedule.
pub(crate) fn schedule_view(s: &StoredSchedule) -> ScheduleView {
    match parse_spec(&s.spec) {
        Ok(valid) => ScheduleView::new(s, valid.describe(), valid.timezone()),
        Err(e) => ScheduleView::new(s, format!("unreadable schedule: {e}"), chrono_tz::UTC),
    }
}

pub(crate) fn definition_view(d: StoredDefinition) -> DefinitionView {
    let schedule = d.schedule.as_ref().map(schedule_view);
    DefinitionView::new(d, schedule)
}

/// Parameters of `GET /v1/report-definitions`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DefinitionListParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// `campaign_reports`, `journeys` or `overview`.
    #[param(value_type = Option<String>, pattern = "^(campaign_reports|journeys|overview)$")]
    pub kind: Option<String>,
    /// Only definitions with this tag.
    #[param(value_type = Option<String>)]
    pub tag: Option<String>,
    /// Case-insensitive text in the name or the description.
    #[param(value_type = Option<String>)]
    pub search: Option<String>,
    /// `name`, `created_at` (default) or `updated_at`; `-` before it for
    /// descending order (e.g. `-updated_at`).
    #[param(value_type = Option<String>, pattern = "^-?(name|created_at|updated_at)$")]
    pub sort: Option<String>,
    /// 1 to 1000, default 100.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page (with the same sort): 32 hex
    /// digits.
    #[param(value_type = Option<String>, min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

fn parse_sort(sort: Option<&str>) -> Result<(DefinitionSort, bool), ApiError> {
    let Some(sort) = sort else {
        return Ok((DefinitionSort::CreatedAt, false));
    };
    let (descending, name) = match sort.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, sort),
    };
    let by = match name {
        "name" => DefinitionSort::Name,
        "created_at" => DefinitionSort::CreatedAt,
        "updated_at" => DefinitionSort::UpdatedAt,
        _ => {
            return Err(ApiError::bad_request(
                ErrorCode::BadQuery,
                format!(
                    "sort: name, created_at or updated_at (- before it: descending), not {sort:?}"
                ),
            ))
        }
    };
    Ok((by, descending))
}

/// The tenant's definitions.
#[utoipa::path(
    get,
    path = "/v1/report-definitions",
    tag = "reports",
    operation_id = "list_report_definitions",
    params(DefinitionListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of definitions.", body = DefinitionList))
)]
pub async fn list_definitions<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(p): Params<DefinitionListParams>,
) -> Result<Json<DefinitionList>, ApiError> {
    let reports = reports_of(&s)?;
    if let Some(kind) = &p.kind {
        if reporting::Kind::from_name(kind).is_none() {
            return Err(ApiError::bad_request(
                ErrorCode::BadQuery,
                format!("kind: campaign_reports, journeys or overview, not {kind:?}"),
            ));
        }
    }
    let (sort, descending) = parse_sort(p.sort.as_deref())?;
    let limit = parse_limit(p.limit.as_deref())?.unwrap_or(100);
    let after = p.cursor.as_deref().map(id_cursor).transpose()?;
    let filter = DefinitionFilter {
        kind: p.kind,
        tag: p.tag,
        search: p.search.filter(|s| !s.is_empty()),
        sort,
        descending,
        after,
        limit: rows_for_page(limit),
    };
    let rows = reports
        .metadata
        .list_definitions(&scope.tenant, &filter)
        .await?;
    let (rows, next_cursor) = cut_page(rows, limit, |d| id_cursor_of(&d.id));
    Ok(Json(DefinitionList {
        definitions: rows.into_iter().map(definition_view).collect(),
        next_cursor,
    }))
}

/// The cursor of a row: its id, 32 hex digits (any such string is a
/// position: the page starts after that row, or is empty when no row of
/// the tenant has it).
pub(crate) fn id_cursor_of(id: &str) -> String {
    id.replace('-', "")
}

/// The row id of a cursor.
pub(crate) fn id_cursor(cursor: &str) -> Result<String, ApiError> {
    match uuid::Uuid::parse_str(cursor) {
        Ok(id) if cursor.len() == 32 => Ok(id.to_string()),
        _ => Err(ApiError::bad_request(
            ErrorCode::BadCursor,
            "cursor: 32 hex digits, the next_cursor of a previous page",
        )),
    }
}

/// Create a definition. Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/report-definitions",
    tag = "reports",
    operation_id = "create_report_definition",
    params(AlertParams),
    request_body(content = DefinitionInputDoc, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 201, description = "The definition, with its id.", body = DefinitionView))
)]
pub async fn create_definition<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    let valid = definition_of_body(&body_bytes(body)?)?;
    let created = reports
        .metadata
        .create_definition(&scope.tenant, &scope.principal, &body_of(&valid)?, None)
        .await?;
    Ok((StatusCode::CREATED, Json(definition_view(created))).into_response())
}

/// One definition with its schedule.
#[utoipa::path(
    get,
    path = "/v1/report-definitions/{id}",
    tag = "reports",
    operation_id = "report_definition",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The definition.", body = DefinitionView))
)]
pub async fn definition<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<DefinitionView>, ApiError> {
    let reports = reports_of(&s)?;
    let d = reports
        .metadata
        .definition(&scope.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(definition_view(d)))
}

/// Replace a definition (its version grows). Needs an editor key.
#[utoipa::path(
    put,
    path = "/v1/report-definitions/{id}",
    tag = "reports",
    operation_id = "update_report_definition",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    request_body(content = DefinitionInputDoc, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 200, description = "The definition.", body = DefinitionView))
)]
pub async fn update_definition<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DefinitionView>, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    let valid = definition_of_body(&body_bytes(body)?)?;
    let updated = reports
        .metadata
        .update_definition(&scope.tenant, &scope.principal, &id, &body_of(&valid)?)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(definition_view(updated)))
}

/// Delete a definition (kept for its runs; its schedule is cancelled).
/// Needs an editor key.
#[utoipa::path(
    delete,
    path = "/v1/report-definitions/{id}",
    tag = "reports",
    operation_id = "delete_report_definition",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted."))
)]
pub async fn delete_definition<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<StatusCode, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    if reports
        .metadata
        .delete_definition(&scope.tenant, &scope.principal, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// A copy of a definition, named "<name> (copy)", without its schedule.
/// Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/report-definitions/{id}/duplicate",
    tag = "reports",
    operation_id = "duplicate_report_definition",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 201, description = "The copy.", body = DefinitionView))
)]
pub async fn duplicate_definition<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Response, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    let original = reports
        .metadata
        .definition(&scope.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut body = original.body.clone();
    let name: String = format!("{} (copy)", body.name)
        .chars()
        .take(reporting::definition::MAX_NAME_CHARS)
        .collect();
    body.name = name;
    let copy = reports
        .metadata
        .create_definition(
            &scope.tenant,
            &scope.principal,
            &body,
            original.template_id.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(definition_view(copy))).into_response())
}

/// Set (create or replace) the definition's schedule. Needs an editor key.
#[utoipa::path(
    put,
    path = "/v1/report-definitions/{id}/schedule",
    tag = "reports",
    operation_id = "put_report_schedule",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    request_body(content = ScheduleInputDoc, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 200, description = "The schedule, with its next run.", body = ScheduleView))
)]
pub async fn put_schedule<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ScheduleView>, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    let body = body_bytes(body)?;
    let text = std::str::from_utf8(&body).map_err(|_| bad_schedule("the body is not UTF-8"))?;
    let zone = s.zones.zone(&scope.tenant);
    let valid = ScheduleInput::from_json(text)
        .and_then(|input| input.validate(zone.name()))
        .map_err(|e| bad_schedule(e.to_string()))?;
    let spec = serde_json::to_value(&valid).map_err(|e| bad_schedule(e.to_string()))?;
    let next = if valid.enabled() {
        valid.next_after(Utc::now())
    } else {
        None
    };
    let stored = reports
        .metadata
        .put_schedule(
            &scope.tenant,
            &scope.principal,
            &id,
            &spec,
            valid.enabled(),
            next,
        )
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(schedule_view(&stored)))
}

/// Cancel (remove) the definition's schedule; its runs stay. Needs an
/// editor key.
#[utoipa::path(
    delete,
    path = "/v1/report-definitions/{id}/schedule",
    tag = "reports",
    operation_id = "delete_report_schedule",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 204, description = "Cancelled."))
)]
pub async fn delete_schedule<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<StatusCode, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    if reports
        .metadata
        .delete_schedule(&scope.tenant, &scope.principal, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "report definition {id:?} has no schedule"
        )))
    }
}

async fn set_enabled<R: Reader>(
    s: &AppState<R>,
    scope: &Scope,
    id: &str,
    enabled: bool,
) -> Result<Json<ScheduleView>, ApiError> {
    let reports = reports_of(s)?;
    scope.require_editor()?;
    let no_schedule = || ApiError::not_found(format!("report definition {id:?} has no schedule"));
    let current = reports
        .metadata
        .schedule(&scope.tenant, id)
        .await?
        .ok_or_else(no_schedule)?;
    let next = if enabled {
        parse_spec(&current.spec)
            .map_err(|e| bad_schedule(e.to_string()))?
            .next_after(Utc::now())
    } else {
        None
    };
    let stored = reports
        .metadata
        .set_schedule_enabled(&scope.tenant, &scope.principal, id, enabled, next)
        .await?
        .ok_or_else(no_schedule)?;
    Ok(Json(schedule_view(&stored)))
}

/// Pause the schedule (no runs until resumed). Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/report-definitions/{id}/schedule/pause",
    tag = "reports",
    operation_id = "pause_report_schedule",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The schedule, paused.", body = ScheduleView))
)]
pub async fn pause_schedule<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<ScheduleView>, ApiError> {
    set_enabled(&s, &scope, &id, false).await
}

/// Resume a paused schedule from now on (times missed while paused do
/// not run). Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/report-definitions/{id}/schedule/resume",
    tag = "reports",
    operation_id = "resume_report_schedule",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The schedule, with its next run.", body = ScheduleView))
)]
pub async fn resume_schedule<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<ScheduleView>, ApiError> {
    set_enabled(&s, &scope, &id, true).await
}

/// Run the definition now (202; the run is queued for a worker). Needs
/// an editor key.
#[utoipa::path(
    post,
    path = "/v1/report-definitions/{id}/run",
    tag = "reports",
    operation_id = "run_report_definition",
    params(("id" = String, Path, description = "Definition id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 202, description = "The run, queued.", body = RunView))
)]
pub async fn run_definition<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Response, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    let run = reports
        .metadata
        .create_run(&scope.tenant, &scope.principal, &id, "manual")
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok((StatusCode::ACCEPTED, Json(RunView::from(run))).into_response())
}

/// The tenant's schedules, by next run.
#[utoipa::path(
    get,
    path = "/v1/schedules",
    tag = "reports",
    operation_id = "list_schedules",
    params(AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The schedules.", body = ScheduleList))
)]
pub async fn list_schedules<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
) -> Result<Json<ScheduleList>, ApiError> {
    let reports = reports_of(&s)?;
    let schedules = reports.metadata.list_schedules(&scope.tenant).await?;
    Ok(Json(ScheduleList {
        schedules: schedules
            .into_iter()
            .map(|(schedule, name)| ScheduleEntry {
                definition_id: schedule.definition_id.clone(),
                definition_name: name,
                schedule: schedule_view(&schedule),
            })
            .collect(),
    }))
}

/// Parameters of `GET /v1/audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// E.g. `report_definition`, `report_schedule`, `report_run`,
    /// `report_template`, `alert_rule`, `channel`, `silence`.
    #[param(value_type = Option<String>)]
    pub entity: Option<String>,
    #[param(value_type = Option<String>)]
    pub entity_id: Option<String>,
    /// E.g. `create`, `update`, `delete`, `run`, `download`.
    #[param(value_type = Option<String>)]
    pub action: Option<String>,
    #[param(value_type = Option<String>)]
    pub principal: Option<String>,
    /// 1 to 1000, default 100.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page: an entry id.
    #[param(value_type = Option<String>, pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// The tenant's audit log, newest first. Needs an admin key.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "reports",
    operation_id = "audit_log",
    params(AuditParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of entries.", body = AuditList))
)]
pub async fn audit<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(p): Params<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_admin()?;
    let limit = parse_limit(p.limit.as_deref())?.unwrap_or(100);
    let before_id = match p.cursor.as_deref() {
        Some(c) => Some(c.parse::<i64>().ok().filter(|id| *id >= 0).ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::BadCursor,
                "cursor: a non-negative integer, the next_cursor of a previous page",
            )
        })?),
        None => None,
    };
    let filter = AuditFilter {
        entity: p.entity,
        entity_id: p.entity_id,
        action: p.action,
        principal: p.principal,
        before_id,
        limit: rows_for_page(limit),
    };
    let entries = reports.metadata.list_audit(&scope.tenant, &filter).await?;
    let (entries, next_cursor) = cut_page(entries, limit, |e| e.id.to_string());
    Ok(Json(AuditList {
        entries: entries.into_iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}
