//! Alert rules (`alerts.md`, "Rules"): the list, one rule, create, replace,
//! delete (editor keys; each change audited and published to the
//! processors through the outbox), and the preview of a rule against the
//! current reports (any reading key).
//!
//! A rule body that is not a valid rule is a 400 `bad_rule` whose message
//! names the field (unknown metric, `op` or status, `job_id` without
//! `campaign_id`, an unknown field, a channel id that is not one of the
//! tenant's channels...). Another tenant's rule, or an id
//! that no rule has, is a 404 on every route.

use alerting::{RuleInput, ValidRule};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use metadata::MetadataError;

use super::alerts::{body_bytes, enabled, AlertParams};
use super::{check_ids, Ids, Params};
use crate::alerts::model::{doc, Preview, RuleList, RuleView};
use crate::alerts::preview::preview as evaluate;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::read::Reader;

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("alert rule {id:?} not found"))
}

/// A rule body, checked (its channel ids in their canonical UUID form).
fn valid_rule(body: Result<Bytes, BytesRejection>) -> Result<ValidRule, ApiError> {
    let bytes = body_bytes(body)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::bad_body("the request body is not UTF-8 JSON"))?;
    let bad_rule = |e: alerting::ValidationError| ApiError::bad_request(ErrorCode::BadRule, e.0);
    let mut input = RuleInput::from_json(text).map_err(bad_rule)?;
    for id in &mut input.channels {
        if let Ok(uuid) = uuid::Uuid::parse_str(id.trim()) {
            *id = uuid.to_string();
        }
    }
    input.validate().map_err(bad_rule)
}

/// Every channel of the rule must be a live channel of the tenant: checked
/// by the metadata database in the rule's transaction (a channel cannot be
/// deleted under it).
fn unknown_channels(e: MetadataError) -> ApiError {
    match e {
        MetadataError::UnknownChannels(ids) => ApiError::bad_request(
            ErrorCode::BadRule,
            format!(
                "channels: {:?} is not a channel of this tenant (see GET /v1/channels; \
                 create one with POST /v1/channels)",
                ids.first().map(String::as_str).unwrap_or_default()
            ),
        ),
        e => e.into(),
    }
}

/// The tenant's rules, oldest first.
#[utoipa::path(
    get,
    path = "/v1/alert-rules",
    tag = "alerts",
    operation_id = "list_alert_rules",
    params(AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rules.", body = doc::RuleList),
    )
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
) -> Result<Json<RuleList>, ApiError> {
    let alerts = enabled(&s)?;
    let rules = alerts.metadata.list_rules(&scope.tenant).await?;
    Ok(Json(RuleList {
        rules: rules.into_iter().map(RuleView::from).collect(),
    }))
}

/// Create a rule. Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/alert-rules",
    tag = "alerts",
    operation_id = "create_alert_rule",
    params(AlertParams),
    request_body(content = doc::RuleInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The rule, with its id.", body = doc::Rule),
    )
)]
pub async fn create<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    let rule = valid_rule(body)?;
    let stored = alerts
        .metadata
        .create_rule(&scope.tenant, &scope.principal, rule)
        .await
        .map_err(unknown_channels)?;
    alerts.rules_changed();
    Ok((StatusCode::CREATED, Json(RuleView::from(stored))).into_response())
}

/// One rule.
#[utoipa::path(
    get,
    path = "/v1/alert-rules/{id}",
    tag = "alerts",
    operation_id = "get_alert_rule",
    params(("id" = String, Path, description = "Rule id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rule.", body = doc::Rule),
    )
)]
pub async fn one<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<RuleView>, ApiError> {
    check_ids(&[("rule", &id)])?;
    let alerts = enabled(&s)?;
    let rule = alerts
        .metadata
        .rule(&scope.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(rule.into()))
}

/// Replace a rule (a new revision; its alerts keep their ids). Needs an
/// editor key.
#[utoipa::path(
    put,
    path = "/v1/alert-rules/{id}",
    tag = "alerts",
    operation_id = "replace_alert_rule",
    params(("id" = String, Path, description = "Rule id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    request_body(content = doc::RuleInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rule as replaced.", body = doc::Rule),
    )
)]
pub async fn replace<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RuleView>, ApiError> {
    check_ids(&[("rule", &id)])?;
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    let rule = valid_rule(body)?;
    let stored = alerts
        .metadata
        .replace_rule(&scope.tenant, &scope.principal, &id, rule)
        .await
        .map_err(unknown_channels)?
        .ok_or_else(|| not_found(&id))?;
    alerts.rules_changed();
    Ok(Json(stored.into()))
}

/// Delete a rule (the processors resolve its firing alerts). Needs an
/// editor key.
#[utoipa::path(
    delete,
    path = "/v1/alert-rules/{id}",
    tag = "alerts",
    operation_id = "delete_alert_rule",
    params(("id" = String, Path, description = "Rule id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
    )
)]
pub async fn delete<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<StatusCode, ApiError> {
    check_ids(&[("rule", &id)])?;
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    if !alerts
        .metadata
        .delete_rule(&scope.tenant, &scope.principal, &id)
        .await?
    {
        return Err(not_found(&id));
    }
    alerts.rules_changed();
    Ok(StatusCode::NO_CONTENT)
}

/// Which reports of the rule's scope it would be firing on now: the
/// condition evaluated on the current reports (whatever `enabled` and
/// `for_seconds` say; `inactivity` counts from each report's last event).
#[utoipa::path(
    post,
    path = "/v1/alert-rules/{id}/preview",
    tag = "alerts",
    operation_id = "preview_alert_rule",
    params(("id" = String, Path, description = "Rule id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The reports whose condition holds now.", body = Preview),
    )
)]
pub async fn preview<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<Preview>, ApiError> {
    check_ids(&[("rule", &id)])?;
    let alerts = enabled(&s)?;
    let stored = alerts
        .metadata
        .rule(&scope.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let now_ms = s
        .settings
        .now
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_millis();
    Ok(Json(evaluate(&s.reader, &stored.rule, now_ms).await?))
}
