//! Report runs (`scheduled-reports.md`, "Runs", "Files and downloads"):
//! the list and one run (any reading key), cancel (editor keys), a signed
//! download link of one of its files (any reading key; audited), and the
//! file behind such a link (no key: the signature is the credential).
//!
//! Another tenant's run, or an id no run has, is a 404 on every route. A
//! link that expired or was changed is a 403 `link_refused`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use metadata::reports::{CancelOutcome, RunFilter};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::alerts::AlertParams;
use super::reports::{id_cursor, id_cursor_of, reports_of};
use super::{cut_page, rows_for_page, Ids, Params};
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::params::parse_limit;
use crate::read::Reader;
use crate::reports::delivery::link;
use crate::reports::links::LinkError;
use crate::reports::model::{DownloadLink, RunList, RunView};

/// Parameters of `GET /v1/report-runs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunListParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Only runs of this definition.
    #[param(value_type = Option<String>, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub definition_id: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[param(value_type = Option<String>, pattern = "^(queued|running|succeeded|failed|cancelled)$")]
    pub status: Option<String>,
    /// 1 to 1000, default 100.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page: 32 hex digits.
    #[param(value_type = Option<String>, min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

/// Parameters of the download link route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DownloadParams {
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// `csv`, `json`, `xlsx`, `pdf` or `html`: one of the run's formats
    /// (default: its first).
    #[param(value_type = Option<String>, pattern = "^(csv|json|xlsx|pdf|html)$")]
    pub format: Option<String>,
    /// Seconds the link works: default 3600, at most 604800 (7 days).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 604800)]
    pub expires_in: Option<String>,
}

/// Parameters of a signed link.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileParams {
    /// Seconds since the epoch the link works until.
    #[param(value_type = i64)]
    pub expires: Option<String>,
    /// Hex HMAC-SHA256 of the link.
    #[param(value_type = String)]
    pub signature: Option<String>,
}

const STATES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

fn run_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("report run {id:?} not found"))
}

/// The tenant's runs, newest first.
#[utoipa::path(
    get,
    path = "/v1/report-runs",
    tag = "reports",
    operation_id = "list_report_runs",
    params(RunListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of runs.", body = RunList))
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Params(p): Params<RunListParams>,
) -> Result<Json<RunList>, ApiError> {
    let reports = reports_of(&s)?;
    if let Some(status) = &p.status {
        if !STATES.contains(&status.as_str()) {
            return Err(ApiError::bad_request(
                ErrorCode::BadStatus,
                format!(
                    "status: must be one of {}, not {status:?}",
                    STATES.join(", ")
                ),
            ));
        }
    }
    if let Some(id) = &p.definition_id {
        if uuid::Uuid::parse_str(id).is_err() || id.len() != 36 {
            return Err(ApiError::bad_request(
                ErrorCode::BadId,
                format!("definition_id: a definition id (a UUID), not {id:?}"),
            ));
        }
    }
    let limit = parse_limit(p.limit.as_deref())?.unwrap_or(100);
    let before = p.cursor.as_deref().map(id_cursor).transpose()?;
    let filter = RunFilter {
        definition_id: p.definition_id,
        state: p.status,
        before,
        limit: rows_for_page(limit),
    };
    let runs = reports.metadata.list_runs(&scope.tenant, &filter).await?;
    let (runs, next_cursor) = cut_page(runs, limit, |r| id_cursor_of(&r.id));
    Ok(Json(RunList {
        runs: runs.into_iter().map(RunView::from).collect(),
        next_cursor,
    }))
}

/// One run, with its files and its deliveries.
#[utoipa::path(
    get,
    path = "/v1/report-runs/{id}",
    tag = "reports",
    operation_id = "report_run",
    params(("id" = String, Path, description = "Run id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The run.", body = RunView))
)]
pub async fn one<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<RunView>, ApiError> {
    let reports = reports_of(&s)?;
    let run = reports
        .metadata
        .run(&scope.tenant, &id)
        .await?
        .ok_or_else(|| run_not_found(&id))?;
    let deliveries = reports
        .metadata
        .deliveries_of_run(&scope.tenant, &id)
        .await?;
    let mut view = RunView::from(run);
    view.deliveries = Some(deliveries.into_iter().map(Into::into).collect());
    Ok(Json(view))
}

/// Cancel a queued or running run (its worker stops at its next
/// heartbeat). Needs an editor key; a finished run is a 409.
#[utoipa::path(
    post,
    path = "/v1/report-runs/{id}/cancel",
    tag = "reports",
    operation_id = "cancel_report_run",
    params(("id" = String, Path, description = "Run id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), AlertParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The run, cancelled.", body = RunView),
        (status = 409, description = "The run already finished (`conflict`).", body = crate::error::ErrorBody),
    )
)]
pub async fn cancel<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(_): Params<AlertParams>,
) -> Result<Json<RunView>, ApiError> {
    let reports = reports_of(&s)?;
    scope.require_editor()?;
    match reports
        .metadata
        .cancel_run(&scope.tenant, &scope.principal, &id)
        .await?
    {
        CancelOutcome::Cancelled(run) => Ok(Json(RunView::from(*run))),
        CancelOutcome::Finished(run) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!(
                "run {id:?} already {}: only queued or running runs can be cancelled",
                run.state
            ),
        )),
        CancelOutcome::NotFound => Err(run_not_found(&id)),
    }
}

/// A signed link to one file of a succeeded run. Audited.
#[utoipa::path(
    get,
    path = "/v1/report-runs/{id}/download",
    tag = "reports",
    operation_id = "download_report_run",
    params(("id" = String, Path, description = "Run id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), DownloadParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The link.", body = DownloadLink),
        (status = 409, description = "The run has no file in that format: not finished, failed, or past retention (`conflict`).", body = crate::error::ErrorBody),
    )
)]
pub async fn download<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    Ids(id): Ids<String>,
    Params(p): Params<DownloadParams>,
) -> Result<Json<DownloadLink>, ApiError> {
    let reports = reports_of(&s)?;
    let run = reports
        .metadata
        .run(&scope.tenant, &id)
        .await?
        .ok_or_else(|| run_not_found(&id))?;
    let formats: Vec<String> = run.definition["formats"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let format = match p.format {
        Some(f) if formats.contains(&f) => f,
        Some(f) => {
            return Err(ApiError::bad_request(
                ErrorCode::BadFormat,
                format!("format: this run makes {}, not {f:?}", formats.join(", ")),
            ))
        }
        None => formats.first().cloned().unwrap_or_default(),
    };
    let max = reports.settings.link_ttl_max.as_secs();
    let ttl = match p.expires_in.as_deref() {
        None => reports.settings.link_ttl,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => std::time::Duration::from_secs(n),
            _ => {
                return Err(ApiError::bad_request(
                    ErrorCode::BadQuery,
                    format!("expires_in: seconds from 1 to {max}, not {text:?}"),
                ))
            }
        },
    };
    let Some(file) = run.files.iter().find(|f| f.format == format) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!(
                "run {id:?} is {} and has no {format} file{}",
                run.state,
                if run.state == "succeeded" {
                    " (expired)"
                } else {
                    " yet"
                }
            ),
        ));
    };
    let linked = link(reports, file, Utc::now(), ttl);
    let detail = json!({"format": format, "expires_at": linked.expires_at});
    reports
        .metadata
        .audit(
            &scope.tenant,
            &scope.principal,
            "download_link",
            "report_run",
            &id,
            Some(&detail),
        )
        .await?;
    Ok(Json(DownloadLink {
        download_url: linked.download_url,
        expires_at: linked
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        filename: linked.file_name,
        size: linked.size,
    }))
}

/// The file of a signed link: no key needed until the link expires; an
/// expired or changed link is a 403. Audited.
#[utoipa::path(
    get,
    path = "/v1/report-files/{id}/{format}",
    tag = "reports",
    operation_id = "report_file",
    params(
        ("id" = String, Path, description = "Run id.", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
        ("format" = String, Path, description = "csv, json, xlsx, pdf or html."),
        FileParams,
    ),
    responses((status = 200, description = "The file.", content_type = "application/octet-stream"))
)]
pub async fn file<R: Reader>(
    State(s): State<AppState<R>>,
    Ids((id, format)): Ids<(String, String)>,
    Params(p): Params<FileParams>,
) -> Result<Response, ApiError> {
    let reports = reports_of(&s)?;
    let refused = |why: &str| ApiError::new(StatusCode::FORBIDDEN, ErrorCode::LinkRefused, why);
    let expires = p
        .expires
        .as_deref()
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(|| refused("this link is not valid (no or a bad `expires`)"))?;
    let signature = p.signature.unwrap_or_default();
    match reports
        .links
        .verify(&id, &format, expires, &signature, Utc::now().timestamp())
    {
        Ok(()) => {}
        Err(LinkError::Expired) => {
            return Err(refused("this link expired: ask the API for a new one"))
        }
        Err(LinkError::BadSignature) => return Err(refused("this link is not valid")),
    }
    let file = reports
        .metadata
        .run_file(&id, &format)
        .await?
        .ok_or_else(|| ApiError::not_found("the file is gone (past its retention)"))?;
    let stream = reports.store.read(&file.storage_key).await.map_err(|e| {
        tracing::warn!(key = %file.storage_key, error = %e, "reading a report file failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the file store is unavailable; try again later",
        )
    })?;
    let detail = json!({"format": format});
    reports
        .metadata
        .audit(
            &file.tenant_id,
            "signed-link",
            "download",
            "report_run",
            &id,
            Some(&detail),
        )
        .await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file.file_name.replace(['"', '\\'], "_")
    );
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(file.size.max(0) as u64),
    );
    Ok(response)
}
