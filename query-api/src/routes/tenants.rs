//! The tenants registry (`/v1/tenants`): list, create, read, change and
//! delete tenants, each with its display name, default rate limits and
//! calendar. Platform admin keys only (`role = "admin"` without a tenant):
//! any other key is a 403. Every change is audited (under the tenant's id)
//! and published to the processors through the outbox.
//!
//! A zone change is appended to the tenant's zone history: it applies to
//! events that occur from its `effective_from` on, at least the change
//! delay after the request, so every processor holds it before the first
//! event it applies to. A body that is not a valid tenant is a 400
//! `bad_tenant` naming the field; an id that no live tenant has is a 404;
//! creating an id that exists, or existed, is a 409.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use metadata::tenants::{Created, Updated};
use serde::Deserialize;
use utoipa::IntoParams;

use super::alerts::body_bytes;
use super::{cut_page, rows_for_page, Ids, Params};
use crate::app::AppState;
use crate::auth::PlatformAdmin;
use crate::error::{ApiError, ErrorCode};
use crate::params::{parse_limit, validate_id};
use crate::read::Reader;
use crate::tenants::model::{TenantInput, TenantList, TenantPatchInput, TenantView};
use crate::tenants::Tenants;

/// The registry, or 503 when the server runs without a metadata database.
fn registry<R>(s: &AppState<R>) -> Result<&Tenants, ApiError> {
    s.tenants.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the tenants registry is off on this server: set DATABASE_URL (or --database-url) \
             to the metadata database (PostgreSQL) and restart it; until then tenants' zones \
             come from TENANT_TIMEZONES",
        )
    })
}

fn bad_tenant(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::BadTenant, message)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("tenant {id:?} not found"))
}

fn json<T: for<'de> Deserialize<'de>>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body_bytes(body)?;
    serde_json::from_slice(&bytes).map_err(|e| bad_tenant(e.to_string()))
}

/// Query parameters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantListParams {
    /// 1 to 1000, default 100.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>, min_length = 1, max_length = 400, pattern = "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{4}|[A-Za-z0-9_-]{2,3})$")]
    pub cursor: Option<String>,
}

/// The live tenants, by id.
#[utoipa::path(
    get,
    path = "/v1/tenants",
    tag = "tenants",
    operation_id = "list_tenants",
    params(TenantListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of tenants.", body = TenantList))
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    _admin: PlatformAdmin,
    Params(p): Params<TenantListParams>,
) -> Result<Json<TenantList>, ApiError> {
    let tenants = registry(&s)?;
    let limit = parse_limit(p.limit.as_deref())?.unwrap_or(100);
    // A cursor is a position: any key works (one that is not UTF-8 is read
    // as its lossy text, without the NULs PostgreSQL's text cannot hold).
    let after = p
        .cursor
        .as_deref()
        .map(crate::cursor::decode)
        .transpose()?
        .map(|key| String::from_utf8_lossy(&key).replace('\0', ""));
    let rows = tenants
        .metadata
        .list_tenants(after.as_deref(), rows_for_page(limit))
        .await?;
    let (rows, next_cursor) = cut_page(rows, limit, |t| crate::cursor::encode(&t.record.id));
    let now = Utc::now();
    Ok(Json(TenantList {
        tenants: rows.iter().map(|t| TenantView::of(t, now)).collect(),
        next_cursor,
    }))
}

/// Create a tenant. Its zone applies to all of its events, past ones too.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "tenants",
    operation_id = "create_tenant",
    request_body(content = TenantInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The tenant.", body = TenantView),
        (status = 409, description = "The id is taken (ids of deleted tenants too).", body = crate::error::ErrorBody),
    )
)]
pub async fn create<R: Reader>(
    State(s): State<AppState<R>>,
    admin: PlatformAdmin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenants = registry(&s)?;
    let input: TenantInput = json(body)?;
    validate_id("tenant", &input.id)?;
    let tenant = input.validate().map_err(bad_tenant)?;
    match tenants
        .metadata
        .create_tenant(&admin.principal, tenant)
        .await?
    {
        Created::Created(stored) => {
            tenants.committed(&stored.record);
            Ok((
                StatusCode::CREATED,
                Json(TenantView::of(&stored, Utc::now())),
            )
                .into_response())
        }
        Created::Taken { deleted } => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            if deleted {
                "a deleted tenant had this id: ids are not reused (its events still carry it)"
            } else {
                "a tenant with this id exists: change it with PATCH /v1/tenants/{id}"
            },
        )),
    }
}

/// One live tenant.
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    operation_id = "get_tenant",
    params(("id" = String, Path, description = "Tenant id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")),
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant.", body = TenantView))
)]
pub async fn one<R: Reader>(
    State(s): State<AppState<R>>,
    _admin: PlatformAdmin,
    Ids(id): Ids<String>,
) -> Result<Json<TenantView>, ApiError> {
    validate_id("tenant", &id)?;
    let tenants = registry(&s)?;
    let stored = tenants
        .metadata
        .tenant(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(TenantView::of(&stored, Utc::now())))
}

/// Change a tenant: its display name, rate limits, or its zone from an
/// instant on (appended to its zone history).
#[utoipa::path(
    patch,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    operation_id = "update_tenant",
    params(("id" = String, Path, description = "Tenant id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")),
    request_body(content = TenantPatchInput, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        (status = 409, description = "A zone change is already set for a later instant.", body = crate::error::ErrorBody),
    )
)]
pub async fn update<R: Reader>(
    State(s): State<AppState<R>>,
    admin: PlatformAdmin,
    Ids(id): Ids<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TenantView>, ApiError> {
    validate_id("tenant", &id)?;
    let tenants = registry(&s)?;
    let input: TenantPatchInput = json(body)?;
    let patch = input
        .validate(&id, Utc::now(), tenants.change_delay)
        .map_err(bad_tenant)?;
    match tenants
        .metadata
        .update_tenant(&admin.principal, &id, patch)
        .await?
    {
        Updated::Updated(stored) => {
            tenants.committed(&stored.record);
            Ok(Json(TenantView::of(&stored, Utc::now())))
        }
        Updated::NotFound => Err(not_found(&id)),
        Updated::ZoneNotAfter { latest } => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!(
                "a zone change is already set for {}: a new one must take effect after it \
                 (timezone_effective_from)",
                crate::reports::model::millis(latest)
            ),
        )),
    }
}

/// Delete a tenant. Its events and reports stay, and so does its calendar;
/// its id is not reused.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    operation_id = "delete_tenant",
    params(("id" = String, Path, description = "Tenant id.", min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted."))
)]
pub async fn delete<R: Reader>(
    State(s): State<AppState<R>>,
    admin: PlatformAdmin,
    Ids(id): Ids<String>,
) -> Result<StatusCode, ApiError> {
    validate_id("tenant", &id)?;
    let tenants = registry(&s)?;
    let record = tenants
        .metadata
        .delete_tenant(&admin.principal, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    tenants.committed(&record);
    Ok(StatusCode::NO_CONTENT)
}
