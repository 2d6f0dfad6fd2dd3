//! Alerts (`alerts.md`, "HTTP API"): the list, stats, unread ones, one
//! alert, manual alerts, read state, dismissal, deletion, and the live
//! stream (SSE and WebSocket).
//!
//! Every route needs the metadata database (503 `unavailable` without
//! `DATABASE_URL`). Any reading key of the tenant reads alerts and keeps
//! its own read state (per principal: the key's `user`, else its name)
//! and dismisses them; creating and resolving manual alerts and deleting
//! alerts need an editor key. Another tenant's alert, or an id that no
//! alert has, is a 404 on every route.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use metadata::{Alert, AlertFilter, ManualAlert, StoredEvent};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{check_ids, Ids, Params};
use crate::alerts::model::{
    doc, AlertDetail, AlertEvent, AlertList, AlertPageView, AlertStatsView, AlertView,
    DeliveryView, ManualAlertInput, Marked,
};
use crate::alerts::stream::EventFeed;
use crate::alerts::Alerts;
use crate::app::AppState;
use crate::auth::Scope;
use crate::cursor;
use crate::error::{ApiError, ErrorCode};
use crate::params::{parse_bool, parse_limit, parse_time, validate_id};
use crate::read::Reader;

/// Page size of the alert lists when `limit` is not given.
pub const DEFAULT_ALERT_LIMIT: u64 = 100;
/// Longest manual alert message and title, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;
pub const MAX_TITLE_CHARS: usize = 200;
/// SSE comments (and WebSocket pings) at least this often.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The alerts of the server, or 503 when it runs without a metadata
/// database.
pub(crate) fn enabled<R>(s: &AppState<R>) -> Result<&Arc<Alerts>, ApiError> {
    s.alerts.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "alerts are off on this server: set DATABASE_URL (or --database-url) to the \
             metadata database (PostgreSQL) and restart it",
        )
    })
}

/// `?tenant_id=` only.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
}

/// Parameters of `GET /v1/alerts`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertListParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Only alerts fired at or after this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Only alerts of this severity: `info`, `warning` or `critical`.
    #[param(value_type = Option<String>, pattern = "^(info|warning|critical)$")]
    pub severity: Option<String>,
    /// Only `firing` or only `resolved` alerts.
    #[param(value_type = Option<String>, pattern = "^(firing|resolved)$")]
    pub status: Option<String>,
    /// Only alerts the calling principal has not read (`true`/`false`).
    #[param(value_type = Option<bool>)]
    pub unread_only: Option<String>,
    /// Only alerts about this campaign (at most 64 characters).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub campaign_id: Option<String>,
    /// Only alerts of this rule (at most 64 characters; a rule id is a
    /// UUID).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub rule_id: Option<String>,
    /// Also dismissed alerts (`true`/`false`, default false).
    #[param(value_type = Option<bool>)]
    pub include_dismissed: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page: 32 characters of base64url.
    /// Any such string is a position in the list (pages after it follow).
    #[param(value_type = Option<String>, min_length = 32, max_length = 32, pattern = "^[A-Za-z0-9_-]{32}$")]
    pub cursor: Option<String>,
}

/// Parameters of `GET /v1/alerts/unread`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnreadParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Most alerts returned, 1 to 1000 (default 100), newest first.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// Parameters of the live stream routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Resume after this event (`seq`, 0 to 2^63 - 1); the `Last-Event-ID`
    /// header wins over it (both are checked). Without either, the stream
    /// starts with the next transition.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub last_event_id: Option<String>,
}

fn parse_severity(text: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    alerting::Severity::from_name(text)
        .map(|s| Some(s.as_str().to_owned()))
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::BadSeverity,
                format!("severity must be info, warning or critical, not {text:?}"),
            )
        })
}

fn parse_alert_status(text: Option<&str>) -> Result<Option<String>, ApiError> {
    match text {
        None => Ok(None),
        Some(s @ ("firing" | "resolved")) => Ok(Some(s.to_owned())),
        Some(other) => Err(ApiError::bad_request(
            ErrorCode::BadStatus,
            format!("status must be firing or resolved, not {other:?}"),
        )),
    }
}

fn checked_id(what: &str, id: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(id) = &id {
        validate_id(what, id)?;
    }
    Ok(id)
}

/// Longest id a list filter (`campaign_id`, `rule_id`) takes, in
/// characters: what the OpenAPI document says of every id.
pub const MAX_FILTER_ID_CHARS: usize = 64;

/// An id filter of the list: an id ([`validate_id`]) of at most
/// [`MAX_FILTER_ID_CHARS`] characters, else 400 `bad_id` (a filter that
/// matches nothing is a 200 with an empty page, so the longer ids the
/// schema refuses are refused here too).
fn checked_filter_id(what: &str, id: Option<String>) -> Result<Option<String>, ApiError> {
    let id = checked_id(what, id)?;
    if let Some(id) = &id {
        let chars = id.chars().count();
        if chars > MAX_FILTER_ID_CHARS {
            return Err(ApiError::bad_request(
                ErrorCode::BadId,
                format!(
                    "{what} id is {chars} characters long; at most {MAX_FILTER_ID_CHARS} are \
                     allowed in a filter"
                ),
            ));
        }
    }
    Ok(id)
}

/// The bytes of an alert cursor: the alert's `fired_at` in microseconds
/// (a big-endian i64), then its id (a UUID, 16 bytes).
const ALERT_CURSOR_BYTES: usize = 24;
/// Their base64url: every string of 32 characters of the alphabet is one,
/// as the OpenAPI pattern of `cursor` says.
pub const ALERT_CURSOR_CHARS: usize = 32;
/// The times a cursor can name, clamped to what RFC 3339 and PostgreSQL
/// hold: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.
const MIN_CURSOR_MICROS: i64 = -62_135_596_800_000_000;
const MAX_CURSOR_MICROS: i64 = 253_402_300_799_999_999;

/// The cursor after an alert: its (fired_at, id) in the list's order.
pub fn alert_cursor(alert: &Alert) -> String {
    // Alert ids are UUIDs (the column's type).
    let id = uuid::Uuid::parse_str(&alert.id).unwrap_or_default();
    let mut key = [0u8; ALERT_CURSOR_BYTES];
    key[..8].copy_from_slice(&alert.fired_at.timestamp_micros().to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    cursor::encode(key)
}

/// The (fired_at, id) an alert cursor continues after. Any 32 characters
/// of base64url are a position in the list (a time out of the years 1 to
/// 9999 is clamped to them); anything else is a 400 `bad_cursor`.
pub fn parse_alert_cursor(text: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            ErrorCode::BadCursor,
            "malformed cursor: pass the next_cursor of a previous page unchanged",
        )
    };
    if text.len() != ALERT_CURSOR_CHARS {
        return Err(bad());
    }
    let key: [u8; ALERT_CURSOR_BYTES] = cursor::decode(text)
        .map_err(|_| bad())?
        .try_into()
        .map_err(|_| bad())?;
    let (micros, id) = key.split_at(8);
    let micros = i64::from_be_bytes(micros.try_into().map_err(|_| bad())?);
    let at = DateTime::from_timestamp_micros(micros.clamp(MIN_CURSOR_MICROS, MAX_CURSOR_MICROS))
        .ok_or_else(bad)?;
    let id = uuid::Uuid::from_slice(id).map_err(|_| bad())?;
    Ok((at, id.to_string()))
}

fn views(alerts: Vec<Alert>) -> Vec<AlertView> {
    alerts.into_iter().map(AlertView::from).collect()
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("alert {id:?} not found"))
}

/// The tenant's alerts, newest first, with filters.
#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    operation_id = "list_alerts",
    params(AlertListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of alerts, newest first (by `fired_at`, then id).", body = AlertPageView),
    )
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(p): Params<AlertListParams>,
) -> Result<Json<AlertPageView>, ApiError> {
    let alerts = enabled(&s)?;
    let limit = parse_limit(p.limit.as_deref())?.unwrap_or(DEFAULT_ALERT_LIMIT);
    let filter = AlertFilter {
        since: parse_time("since", p.since.as_deref())?,
        severity: parse_severity(p.severity.as_deref())?,
        status: parse_alert_status(p.status.as_deref())?,
        unread_only: parse_bool("unread_only", p.unread_only.as_deref())?.unwrap_or(false),
        campaign_id: checked_filter_id("campaign", p.campaign_id)?,
        rule_id: checked_filter_id("rule", p.rule_id)?,
        include_dismissed: parse_bool("include_dismissed", p.include_dismissed.as_deref())?
            .unwrap_or(false),
        limit: i64::try_from(limit).unwrap_or(i64::MAX),
        after: p.cursor.as_deref().map(parse_alert_cursor).transpose()?,
    };
    let page = alerts
        .metadata
        .list_alerts(&scope.tenant, &scope.principal, &filter)
        .await?;
    let next_cursor = if page.has_more {
        page.alerts.last().map(alert_cursor)
    } else {
        None
    };
    Ok(Json(AlertPageView {
        alerts: views(page.alerts),
        total: page.total,
        unread_count: page.unread_count,
        has_more: page.has_more,
        next_cursor,
    }))
}

/// Counts of the tenant's alerts: unread by the caller, firing (per
/// severity, per rule).
#[utoipa::path(
    get,
    path = "/v1/alerts/stats",
    tag = "alerts",
    operation_id = "alert_stats",
    params(AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The counts.", body = AlertStatsView),
    )
)]
pub async fn stats<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
) -> Result<Json<AlertStatsView>, ApiError> {
    let alerts = enabled(&s)?;
    let stats = alerts
        .metadata
        .alert_stats(&scope.tenant, &scope.principal)
        .await?;
    Ok(Json(stats.into()))
}

/// The alerts the caller has not read (dismissed ones left out), newest
/// first.
#[utoipa::path(
    get,
    path = "/v1/alerts/unread",
    tag = "alerts",
    operation_id = "unread_alerts",
    params(UnreadParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unread alerts, newest first.", body = AlertList),
    )
)]
pub async fn unread<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(p): Params<UnreadParams>,
) -> Result<Json<AlertList>, ApiError> {
    let alerts = enabled(&s)?;
    let limit = parse_limit(p.limit.as_deref())?.unwrap_or(DEFAULT_ALERT_LIMIT);
    let filter = AlertFilter {
        unread_only: true,
        limit: i64::try_from(limit).unwrap_or(i64::MAX),
        ..AlertFilter::default()
    };
    let page = alerts
        .metadata
        .list_alerts(&scope.tenant, &scope.principal, &filter)
        .await?;
    Ok(Json(AlertList {
        alerts: views(page.alerts),
    }))
}

/// One alert (dismissed or not), with its deliveries to the rule's
/// channels and every attempt of each.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    tag = "alerts",
    operation_id = "get_alert",
    params(("id" = String, Path, description = "Alert id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The alert and its deliveries.", body = AlertDetail),
    )
)]
pub async fn one<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<AlertDetail>, ApiError> {
    check_ids(&[("alert", &id)])?;
    let alerts = enabled(&s)?;
    let alert = alerts
        .metadata
        .alert(&scope.tenant, &scope.principal, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let deliveries = alerts
        .metadata
        .deliveries_of_alert(&scope.tenant, &alert.id)
        .await?;
    Ok(Json(AlertDetail {
        alert: alert.into(),
        deliveries: deliveries.into_iter().map(DeliveryView::from).collect(),
    }))
}

fn manual_alert(input: ManualAlertInput) -> Result<ManualAlert, ApiError> {
    let severity = alerting::Severity::from_name(&input.severity).ok_or_else(|| {
        ApiError::bad_body(format!(
            "severity: must be info, warning or critical, not {:?}",
            input.severity
        ))
    })?;
    let message = input.message.trim();
    if message.is_empty() {
        return Err(ApiError::bad_body("message: must not be empty"));
    }
    let chars = message.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(ApiError::bad_body(format!(
            "message: at most {MAX_MESSAGE_CHARS} characters, got {chars}"
        )));
    }
    let title = input
        .title
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if let Some(title) = &title {
        let chars = title.chars().count();
        if chars > MAX_TITLE_CHARS {
            return Err(ApiError::bad_body(format!(
                "title: at most {MAX_TITLE_CHARS} characters, got {chars}"
            )));
        }
    }
    let campaign_id = checked_id("campaign", input.campaign_id)?;
    let job_id = checked_id("job", input.job_id)?;
    if job_id.is_some() && campaign_id.is_none() {
        return Err(ApiError::bad_body("job_id: needs campaign_id"));
    }
    Ok(ManualAlert {
        severity: severity.as_str().to_owned(),
        message: message.to_owned(),
        rule_name: title,
        campaign_id,
        job_id,
        value: input.value,
        threshold: input.threshold,
    })
}

/// The bytes of a request body, or 400.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the request body is too large")
        } else {
            ApiError::bad_body(format!("unreadable request body: {e}"))
        }
    })
}

/// Create a manual alert (for upstream services): firing until resolved
/// through `POST /v1/alerts/{id}/resolve`. Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/alerts",
    tag = "alerts",
    operation_id = "create_alert",
    params(AlertParams),
    request_body(content = ManualAlertInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The alert, firing.", body = AlertView),
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
    let input: ManualAlertInput = serde_json::from_slice(&body_bytes(body)?)
        .map_err(|e| ApiError::bad_body(format!("invalid alert: {e}")))?;
    let alert = alerts
        .metadata
        .create_manual_alert(&scope.tenant, &scope.principal, manual_alert(input)?)
        .await?;
    Ok((StatusCode::CREATED, Json(AlertView::from(alert))).into_response())
}

/// Resolve a manual alert (a rule's alerts are resolved by the
/// processor). Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/resolve",
    tag = "alerts",
    operation_id = "resolve_alert",
    params(("id" = String, Path, description = "Alert id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The alert, resolved (404: no such manual alert).", body = AlertView),
    )
)]
pub async fn resolve<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<AlertView>, ApiError> {
    check_ids(&[("alert", &id)])?;
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    let alert = alerts
        .metadata
        .resolve_manual_alert(&scope.tenant, &scope.principal, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("manual alert {id:?} not found")))?;
    Ok(Json(alert.into()))
}

/// Mark an alert read by the calling principal.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/mark-read",
    tag = "alerts",
    operation_id = "mark_alert_read",
    params(("id" = String, Path, description = "Alert id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Read (also when it was already)."),
    )
)]
pub async fn mark_read<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<StatusCode, ApiError> {
    check_ids(&[("alert", &id)])?;
    let alerts = enabled(&s)?;
    if alerts
        .metadata
        .mark_read(&scope.tenant, &scope.principal, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// Mark every alert of the tenant read by the calling principal.
#[utoipa::path(
    post,
    path = "/v1/alerts/mark-all-read",
    tag = "alerts",
    operation_id = "mark_all_alerts_read",
    params(AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many were unread.", body = Marked),
    )
)]
pub async fn mark_all_read<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
) -> Result<Json<Marked>, ApiError> {
    let alerts = enabled(&s)?;
    let marked = alerts
        .metadata
        .mark_all_read(&scope.tenant, &scope.principal)
        .await?;
    Ok(Json(Marked { marked }))
}

/// Dismiss an alert: left out of the lists unless `include_dismissed=true`.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/dismiss",
    tag = "alerts",
    operation_id = "dismiss_alert",
    params(("id" = String, Path, description = "Alert id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Dismissed."),
    )
)]
pub async fn dismiss<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<StatusCode, ApiError> {
    check_ids(&[("alert", &id)])?;
    let alerts = enabled(&s)?;
    if alerts
        .metadata
        .dismiss_alert(&scope.tenant, &scope.principal, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// Delete an alert: gone from every route. Needs an editor key.
#[utoipa::path(
    delete,
    path = "/v1/alerts/{id}",
    tag = "alerts",
    operation_id = "delete_alert",
    params(("id" = String, Path, description = "Alert id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), AlertParams),
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
    check_ids(&[("alert", &id)])?;
    let alerts = enabled(&s)?;
    scope.require_editor()?;
    if alerts
        .metadata
        .delete_alert(&scope.tenant, &scope.principal, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// One event id (`source` names where it came from): an integer from 0 to
/// `i64::MAX`, in decimal digits only.
fn event_id(source: &str, text: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(
            ErrorCode::BadEventId,
            format!(
                "{source} must be the id of an event (an integer from 0 to {}), not {text:?}",
                i64::MAX
            ),
        )
    };
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// Where to resume: the `Last-Event-ID` header, else the `last_event_id`
/// parameter. Both are checked when both are given.
pub(crate) fn after_event(
    headers: &HeaderMap,
    param: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    let param = param
        .map(|text| event_id("last_event_id", text))
        .transpose()?;
    let header = match headers.get("last-event-id") {
        Some(v) => {
            let text = v.to_str().map_err(|_| {
                ApiError::bad_request(
                    ErrorCode::BadEventId,
                    "Last-Event-ID must be the id of an event (a non-negative integer)",
                )
            })?;
            Some(event_id("Last-Event-ID", text)?)
        }
        None => None,
    };
    Ok(header.or(param))
}

pub(crate) fn event_json(event: StoredEvent) -> (AlertEvent, String) {
    let event = AlertEvent::from(event);
    // Serializing these plain structs cannot fail.
    let json = serde_json::to_string(&event).unwrap_or_default();
    (event, json)
}

/// Live transitions of the tenant as Server-Sent Events: `id` is the
/// transition's number, `event` its kind (`fired`, `resolved`, `repeated`),
/// `data` the JSON of [`AlertEvent`]. A client that reconnects with
/// `Last-Event-ID` first gets every stored transition after it.
#[utoipa::path(
    get,
    path = "/v1/alerts/stream",
    tag = "alerts",
    operation_id = "alert_stream",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, maximum = 9_223_372_036_854_775_807_i64,
         description = "Resume after this event id (what the browser's EventSource sends when it reconnects); wins over `last_event_id`."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An endless `text/event-stream`: each event is an AlertStreamEvent (`id` the transition's `seq`, `event` its kind, `data` the JSON of an AlertEvent). A comment every 15 s keeps the connection open.",
         content((doc::StreamEvent = "text/event-stream"))),
    )
)]
pub async fn stream<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Params(p): Params<StreamParams>,
) -> Result<Response, ApiError> {
    let alerts = enabled(&s)?.clone();
    let after = after_event(&headers, p.last_event_id.as_deref())?;
    let feed = EventFeed::start(alerts, scope.tenant, scope.principal, after).await?;
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let (event, json) = event_json(feed.next().await?);
        let sse = Event::default()
            .id(event.seq.to_string())
            .event(event.kind)
            .data(json);
        Some((Ok::<Event, Infallible>(sse), feed))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_cursors_round_trip_and_refuse_garbage() {
        let at = DateTime::from_timestamp_micros(1_793_527_200_123_456).unwrap();
        let alert = Alert {
            id: "0b7a9c3e-0000-4000-8000-000000000001".into(),
            tenant_id: "t".into(),
            rule_id: None,
            rule_name: None,
            severity: "info".into(),
            campaign_id: None,
            job_id: None,
            status: "firing".into(),
            value: None,
            threshold: None,
            message: "m".into(),
            fired_at: at,
            resolved_at: None,
            read: false,
            dismissed: false,
        };
        let c = alert_cursor(&alert);
        assert_eq!(c.len(), ALERT_CURSOR_CHARS);
        assert_eq!(parse_alert_cursor(&c).unwrap(), (at, alert.id.clone()));
        // Any 32 characters of base64url are a position; times are clamped.
        let (at, id) = parse_alert_cursor(&"_".repeat(32)).unwrap();
        assert_eq!(at.timestamp_micros(), -1);
        assert_eq!(id, "ffffffff-ffff-ffff-ffff-ffffffffffff");
        let mut key = [0u8; ALERT_CURSOR_BYTES];
        key[..8].copy_from_slice(&i64::MAX.to_be_bytes());
        let (at, _) = parse_alert_cursor(&cursor::encode(key)).unwrap();
        assert_eq!(at.to_rfc3339(), "9999-12-31T23:59:59.999999+00:00");
        key[..8].copy_from_slice(&i64::MIN.to_be_bytes());
        let (at, _) = parse_alert_cursor(&cursor::encode(key)).unwrap();
        assert_eq!(at.to_rfc3339(), "0001-01-01T00:00:00+00:00");
        for bad in [
            "",
            "!!",
            &cursor::encode("no-dot"),
            &"A".repeat(31),
            &"A".repeat(33),
            &"!".repeat(32),
            &format!("{}=", "A".repeat(31)),
        ] {
            assert_eq!(
                parse_alert_cursor(bad).unwrap_err().code,
                ErrorCode::BadCursor,
                "{bad}"
            );
        }
    }

    #[test]
    fn filter_ids_hold_at_most_64_characters() {
        let ok = "é".repeat(MAX_FILTER_ID_CHARS);
        assert_eq!(
            checked_filter_id("campaign", Some(ok.clone())).unwrap(),
            Some(ok)
        );
        assert_eq!(checked_filter_id("rule", None).unwrap(), None);
        for bad in ["", "a\u{1}", &"x".repeat(MAX_FILTER_ID_CHARS + 1)] {
            assert_eq!(
                checked_filter_id("campaign", Some(bad.to_owned()))
                    .unwrap_err()
                    .code,
                ErrorCode::BadId,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn event_ids() {
        let mut h = HeaderMap::new();
        assert_eq!(after_event(&h, None).unwrap(), None);
        assert_eq!(after_event(&h, Some("7")).unwrap(), Some(7));
        h.insert("last-event-id", "12".parse().unwrap());
        assert_eq!(after_event(&h, Some("7")).unwrap(), Some(12));
        assert_eq!(
            after_event(&HeaderMap::new(), Some("9223372036854775807")).unwrap(),
            Some(i64::MAX)
        );
        for bad in [
            "-1",
            "x",
            "",
            " 7",
            "+7",
            "99999999999999999999",
            "9223372036854775808",
            "1.5",
        ] {
            assert_eq!(
                after_event(&HeaderMap::new(), Some(bad)).unwrap_err().code,
                ErrorCode::BadEventId,
                "{bad}"
            );
            // A bad parameter is refused even when the header is good, and
            // a bad header even when the parameter is good.
            assert_eq!(
                after_event(&h, Some(bad)).unwrap_err().code,
                ErrorCode::BadEventId,
                "{bad}"
            );
            let mut bad_header = HeaderMap::new();
            bad_header.insert("last-event-id", bad.parse().unwrap());
            assert_eq!(
                after_event(&bad_header, Some("7")).unwrap_err().code,
                ErrorCode::BadEventId,
                "{bad}"
            );
        }
    }
}
