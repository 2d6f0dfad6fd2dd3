//! Saved dashboards: a tenant's named lists of widgets, and their data as
//! of one moment ([`crate::dashboards`]). Reading needs any reading key;
//! creating, replacing and deleting need an editor key. Every change is
//! audited.
//!
//! A body that is not a valid dashboard is a 400 `bad_dashboard` naming
//! the field. Another tenant's dashboard, or an id no dashboard has, is a
//! 404 on every route. A replace with `If-Match` of another version than
//! the stored one is a 412 `conflict` (someone else changed it).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use metadata::{DashboardBody, DashboardFilter, Metadata, Replaced, StoredDashboard};
use reporting::{DashboardInput, ValidDashboard};
use serde::Deserialize;
use utoipa::IntoParams;

use super::alerts::{body_bytes, AlertParams};
use super::reports::{id_cursor, id_cursor_of};
use super::{cut_page, rows_for_page, Ids, Params};
use crate::app::AppState;
use crate::auth::Scope;
use crate::dashboards::data::{read, Viewer};
use crate::dashboards::model::{DashboardData, DashboardList, DashboardView};
use crate::error::{ApiError, ErrorCode};
use crate::params::parse_limit;
use crate::read::Reader;

/// The metadata database, or 503 when the server runs without one.
fn metadata_of<R>(s: &AppState<R>) -> Result<&Metadata, ApiError> {
    s.reports.as_ref().map(|r| &r.metadata).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "saved dashboards are off on this server: set DATABASE_URL (or --database-url) \
             to the metadata database (PostgreSQL) and restart it",
        )
    })
}

fn bad_dashboard(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::BadDashboard, message)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("dashboard {id:?} not found"))
}

/// The checked dashboard of a request body, and what the database keeps
/// of it.
fn dashboard_of_body(body: &[u8]) -> Result<DashboardBody, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| bad_dashboard("the body is not UTF-8"))?;
    let valid = DashboardInput::from_json(text)
        .and_then(|input| input.validate())
        .map_err(|e| bad_dashboard(e.to_string()))?;
    Ok(DashboardBody {
        name: valid.name().to_owned(),
        description: valid.description().map(str::to_owned),
        widgets: valid.widgets_json(),
    })
}

/// The version an `If-Match` header insists on: `"3"`, `W/"3"` or `3`;
/// `*` or no header: any.
fn if_match(headers: &HeaderMap) -> Result<Option<i32>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            ErrorCode::BadQuery,
            "If-Match: the dashboard's version as an entity tag (\"3\"), or *",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    tag.parse::<i32>().map(Some).map_err(|_| bad())
}

/// `ETag` of a dashboard: its version.
fn tagged(status: StatusCode, d: StoredDashboard) -> Response {
    let etag = format!("\"{}\"", d.version);
    (
        status,
        [(axum::http::header::ETAG, etag)],
        Json(DashboardView::from(d)),
    )
        .into_response()
}

/// Parameters of `GET /v1/dashboards`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DashboardListParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Case-insensitive text in the name or the description.
    #[param(value_type = Option<String>)]
    pub search: Option<String>,
    /// 1 to 1000, default 100.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page: 32 hex digits.
    #[param(value_type = Option<String>, min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

/// The tenant's dashboards, by name.
#[utoipa::path(
    get,
    path = "/v1/dashboards",
    tag = "dashboards",
    operation_id = "list_dashboards",
    params(DashboardListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of dashboards.", body = DashboardList))
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(p): Params<DashboardListParams>,
) -> Result<Json<DashboardList>, ApiError> {
    let metadata = metadata_of(&s)?;
    let limit = parse_limit(p.limit.as_deref())?.unwrap_or(100);
    let filter = DashboardFilter {
        search: p.search.filter(|s| !s.is_empty()),
        after: p.cursor.as_deref().map(id_cursor).transpose()?,
        limit: rows_for_page(limit),
    };
    let rows = metadata.list_dashboards(&scope.tenant, &filter).await?;
    let (rows, next_cursor) = cut_page(rows, limit, |d| id_cursor_of(&d.id));
    Ok(Json(DashboardList {
        dashboards: rows.into_iter().map(DashboardView::from).collect(),
        next_cursor,
    }))
}

/// Create a dashboard. Needs an editor key.
#[utoipa::path(
    post,
    path = "/v1/dashboards",
    tag = "dashboards",
    operation_id = "create_dashboard",
    params(AlertParams),
    request_body(content = crate::dashboards::model::DashboardInputDoc, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 201, description = "The dashboard, with its id and every widget's id and defaults.", body = DashboardView))
)]
pub async fn create<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(_): Params<AlertParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let metadata = metadata_of(&s)?;
    scope.require_editor()?;
    let body = dashboard_of_body(&body_bytes(body)?)?;
    let created = metadata
        .create_dashboard(&scope.tenant, &scope.principal, &body)
        .await?;
    Ok(tagged(StatusCode::CREATED, created))
}

/// One dashboard (`ETag`: its version).
#[utoipa::path(
    get,
    path = "/v1/dashboards/{id}",
    tag = "dashboards",
    operation_id = "dashboard",
    params(("id" = String, Path, description = "Dashboard id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The dashboard.", body = DashboardView))
)]
pub async fn one<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Response, ApiError> {
    let d = metadata_of(&s)?
        .dashboard(&scope.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(tagged(StatusCode::OK, d))
}

/// Replace a dashboard (its version grows). With `If-Match: "<version>"`,
/// only if nobody changed it since that version (412 otherwise). Needs an
/// editor key.
#[utoipa::path(
    put,
    path = "/v1/dashboards/{id}",
    tag = "dashboards",
    operation_id = "replace_dashboard",
    params(
        ("id" = String, Path, description = "Dashboard id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
        ("If-Match" = Option<String>, Header, description = "The version read (its ETag, e.g. \"3\"): replace only that version."),
        AlertParams
    ),
    request_body(content = crate::dashboards::model::DashboardInputDoc, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dashboard.", body = DashboardView),
        (status = 412, description = "The dashboard is at another version than If-Match says.", body = crate::error::ErrorBody)
    )
)]
pub async fn replace<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let metadata = metadata_of(&s)?;
    scope.require_editor()?;
    let expected = if_match(&headers)?;
    let body = dashboard_of_body(&body_bytes(body)?)?;
    match metadata
        .replace_dashboard(&scope.tenant, &scope.principal, &id, &body, expected)
        .await?
    {
        Replaced::Done(d) => Ok(tagged(StatusCode::OK, d)),
        Replaced::NotFound => Err(not_found(&id)),
        Replaced::VersionMismatch { current } => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            ErrorCode::Conflict,
            format!(
                "dashboard {id:?} is at version {current}, not {}: someone changed it; read it \
                 again and apply your change to that version",
                expected.unwrap_or_default()
            ),
        )),
    }
}

/// Delete a dashboard. Needs an editor key.
#[utoipa::path(
    delete,
    path = "/v1/dashboards/{id}",
    tag = "dashboards",
    operation_id = "delete_dashboard",
    params(("id" = String, Path, description = "Dashboard id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted."))
)]
pub async fn delete<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<StatusCode, ApiError> {
    let metadata = metadata_of(&s)?;
    scope.require_editor()?;
    if metadata
        .delete_dashboard(&scope.tenant, &scope.principal, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// Every widget's data as of one moment: the reports of all widgets from
/// one read, the overview trends right after. A widget whose campaign has
/// no report yet carries an `error` instead of `data`; the others are
/// unaffected. `cursor` is the campaigns stream's position before the
/// read, for live updates.
#[utoipa::path(
    get,
    path = "/v1/dashboards/{id}/data",
    tag = "dashboards",
    operation_id = "dashboard_data",
    params(("id" = String, Path, description = "Dashboard id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The widgets' data.", body = DashboardData))
)]
pub async fn data<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<DashboardData>, ApiError> {
    let stored = metadata_of(&s)?
        .dashboard(&scope.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let valid = ValidDashboard::from_stored(
        &stored.body.name,
        stored.body.description.as_deref(),
        &stored.body.widgets,
    )
    .map_err(|e| {
        tracing::error!(dashboard = %id, error = %e, "stored dashboard does not validate");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            format!("dashboard {id:?} as stored is not valid ({e}); replace it with PUT"),
        )
    })?;
    let zone = s.zones.zone(&scope.tenant);
    let viewer = Viewer {
        tenant: &scope.tenant,
        principal: &scope.principal,
        timezone: zone.name(),
        today: s.settings.today(zone),
    };
    let metadata = s.alerts.as_ref().map(|a| &a.metadata);
    let data = read(
        &s.reader,
        metadata,
        viewer,
        &stored.id,
        stored.version,
        &valid,
    )
    .await?;
    Ok(Json(data))
}
