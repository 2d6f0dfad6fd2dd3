//! Report templates (`scheduled-reports.md`, "Definitions and
//! templates"): the system templates (ids `system.*`, the same for every
//! tenant, read-only) and the tenant's own (versioned on update), listed
//! together; a definition is made from either with `instantiate`.
//! Reading needs any reading key, changing and instantiating an editor
//! key.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use reporting::{DefinitionInput, ScheduleInput, Template};
use serde::Deserialize;
use serde_json::{json, Value};

use super::alerts::{body_bytes, AlertParams};
use super::reports::{body_of, definition_view, reports_of};
use super::{Ids, Params};
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::read::Reader;
use crate::reports::model::{
    DefinitionView, InstantiateDoc, TemplateInputDoc, TemplateList, TemplateView,
};

/// Parameters a tenant template may leave for instantiation, with the
/// stand-in its definition is checked with.
const OPEN_PARAMETERS: [(&str, &str); 4] = [
    ("campaign_id", r#""c""#),
    ("campaign_ids", r#"["c"]"#),
    ("job_id", r#""j""#),
    ("status", r#""RUNNING""#),
];

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::BadDefinition, message)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("report template {id:?} not found"))
}

fn system_view(t: Template) -> TemplateView {
    TemplateView {
        id: t.id.to_owned(),
        origin: "system".to_owned(),
        name: t.definition.name.clone(),
        description: t.definition.description.clone(),
        required_parameters: t
            .required_at_instantiation
            .iter()
            .map(|p| (*p).to_owned())
            .collect(),
        suggested_schedule: t
            .suggested_schedule
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok()),
        definition: serde_json::to_value(&t.definition).unwrap_or(Value::Null),
        version: 1,
        updated_at: None,
    }
}

/// The body of a tenant template.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateInput {
    name: String,
    #[serde(default)]
    description: Option<String>,
    definition: Value,
    #[serde(default)]
    required_parameters: Vec<String>,
    #[serde(default)]
    schedule: Option<Value>,
}

/// Check a template body; returns (name, description, stored body).
fn checked_template(body: &[u8]) -> Result<(String, Option<String>, Value), ApiError> {
    let input: TemplateInput =
        serde_json::from_slice(body).map_err(|e| bad(format!("invalid template: {e}")))?;
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > reporting::definition::MAX_NAME_CHARS {
        return Err(bad("name: 1 to 200 characters"));
    }
    let definition: DefinitionInput = serde_json::from_value(input.definition.clone())
        .map_err(|e| bad(format!("definition: {e}")))?;
    // The definition must be valid once the open parameters are given.
    let mut stand_ins = serde_json::Map::new();
    for p in &input.required_parameters {
        let Some((_, value)) = OPEN_PARAMETERS.iter().find(|(name, _)| name == p) else {
            return Err(bad(format!(
                "required_parameters: {p:?} cannot be left open; use campaign_id, \
                 campaign_ids, job_id or status"
            )));
        };
        let value: Value = serde_json::from_str(value).unwrap_or(Value::Null);
        stand_ins.insert(p.clone(), value);
    }
    let required: Vec<&str> = input
        .required_parameters
        .iter()
        .map(String::as_str)
        .collect();
    reporting::instantiate(&definition, &required, &json!({ "parameters": stand_ins }))
        .and_then(|d| d.validate())
        .map_err(|e| bad(format!("definition: {e}")))?;
    if let Some(schedule) = &input.schedule {
        let parsed: ScheduleInput =
            serde_json::from_value(schedule.clone()).map_err(|e| bad(format!("schedule: {e}")))?;
        parsed
            .validate("UTC")
            .map_err(|e| bad(format!("schedule: {e}")))?;
    }
    let stored = json!({
        "definition": input.definition,
        "required_parameters": input.required_parameters,
        "schedule": input.schedule,
    });
    Ok((name, input.description, stored))
}

/// The system templates, then the tenant's.
#[utoipa::path(
    get,
    path = "/v1/report-templates",
    tag = "reports",
    operation_id = "list_report_templates",
    params(AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The templates.", body = TemplateList))
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
) -> Result<Json<TemplateList>, ApiError> {
    let reports = reports_of(&s)?;
    let mut templates: Vec<TemplateView> = reporting::system_templates()
        .into_iter()
        .map(system_view)
        .collect();
    let own = reports.metadata.list_templates(&scope.tenant).await?;
    templates.extend(own.into_iter().map(TemplateView::from));
    Ok(Json(TemplateList { templates }))
}

/// Create a tenant template. Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/report-templates",
    tag = "reports",
    operation_id = "create_report_template",
    params(AlertParams),
    request_body(content = TemplateInputDoc, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 201, description = "The template.", body = TemplateView))
)]
pub async fn create<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    let (name, description, stored) = checked_template(&body_bytes(body)?)?;
    let created = reports
        .metadata
        .create_template(
            &scope.tenant,
            &scope.principal,
            &name,
            description.as_deref(),
            &stored,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(TemplateView::from(created))).into_response())
}

/// A system or tenant template.
#[utoipa::path(
    get,
    path = "/v1/report-templates/{id}",
    tag = "reports",
    operation_id = "report_template",
    params(("id" = String, Path, description = "Template id: `system.<name>` or a UUID."), AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The template.", body = TemplateView))
)]
pub async fn one<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<TemplateView>, ApiError> {
    let reports = reports_of(&s)?;
    if let Some(t) = reporting::system_template(&id) {
        return Ok(Json(system_view(t)));
    }
    let t = reports
        .metadata
        .template(&scope.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(TemplateView::from(t)))
}

fn read_only(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        format!("{id:?} is a system template: it cannot be changed (instantiate it, or create a template of your own)"),
    )
}

/// Replace a tenant template (its version grows). Needs an editor key.
#[utoipa::path(
    put,
    path = "/v1/report-templates/{id}",
    tag = "reports",
    operation_id = "update_report_template",
    params(("id" = String, Path, description = "Template id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    request_body(content = TemplateInputDoc, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 200, description = "The template.", body = TemplateView))
)]
pub async fn update<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TemplateView>, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    if reporting::system_template(&id).is_some() {
        return Err(read_only(&id));
    }
    let (name, description, stored) = checked_template(&body_bytes(body)?)?;
    let updated = reports
        .metadata
        .update_template(
            &scope.tenant,
            &scope.principal,
            &id,
            &name,
            description.as_deref(),
            &stored,
        )
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(TemplateView::from(updated)))
}

/// Delete a tenant template. Needs an editor key.
#[utoipa::path(
    delete,
    path = "/v1/report-templates/{id}",
    tag = "reports",
    operation_id = "delete_report_template",
    params(("id" = String, Path, description = "Template id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted."))
)]
pub async fn delete<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<StatusCode, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    if reporting::system_template(&id).is_some() {
        return Err(read_only(&id));
    }
    if reports
        .metadata
        .delete_template(&scope.tenant, &scope.principal, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// A new definition from a template: the body's fields over the
/// template's (parameters merged key by key). Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/report-templates/{id}/instantiate",
    tag = "reports",
    operation_id = "instantiate_report_template",
    params(("id" = String, Path, description = "Template id: `system.<name>` or a UUID."), AlertParams),
    request_body(content = InstantiateDoc, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 201, description = "The new definition.", body = DefinitionView))
)]
pub async fn instantiate<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    let body = body_bytes(body)?;
    let overrides: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid body: {e}")))?
    };
    let input = match reporting::system_template(&id) {
        Some(t) => t.instantiate(&overrides),
        None => {
            let t = reports
                .metadata
                .template(&scope.tenant, &id)
                .await?
                .ok_or_else(|| not_found(&id))?;
            let definition: DefinitionInput = serde_json::from_value(t.body["definition"].clone())
                .map_err(|e| bad(format!("the stored template: {e}")))?;
            let required: Vec<String> =
                serde_json::from_value(t.body["required_parameters"].clone()).unwrap_or_default();
            let required: Vec<&str> = required.iter().map(String::as_str).collect();
            reporting::instantiate(&definition, &required, &overrides)
        }
    };
    let valid = input
        .and_then(|d| d.validate())
        .map_err(|e| bad(e.to_string()))?;
    let created = reports
        .metadata
        .create_definition(
            &scope.tenant,
            &scope.principal,
            &body_of(&valid)?,
            Some(&id),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(definition_view(created))).into_response())
}
