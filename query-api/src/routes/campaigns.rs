//! Campaign and job reports: the list, one campaign, its jobs, one job.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use storage::rows::ReportRow;

use super::{check_ids, one, page, Ids, Params};
use crate::app::AppState;
use crate::auth::Scope;
use crate::cursor;
use crate::error::ApiError;
use crate::export::{items_response, stream_response, Format};
use crate::model::{CampaignPage, JobList, Report};
use crate::params::{
    parse_limit, parse_status, parse_updated_since, CampaignListParams, ReportParams, DEFAULT_LIMIT,
};
use crate::read::{CampaignQuery, Reader};

/// The campaigns of the tenant (their reports over all jobs), by campaign id.
#[utoipa::path(
    get,
    path = "/v1/campaigns",
    tag = "campaigns",
    operation_id = "list_campaigns",
    params(CampaignListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of campaign reports (JSON), or every matching report (CSV/NDJSON export without `limit`).",
         content(
            (CampaignPage = "application/json"),
            (String = "text/csv"),
            (Report = "application/x-ndjson"),
         )),
    )
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Params(p): Params<CampaignListParams>,
) -> Result<Response, ApiError> {
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let status = parse_status(p.status.as_deref())?;
    let updated_since = parse_updated_since(p.updated_since.as_deref())?;
    let limit = parse_limit(p.limit.as_deref())?;
    let after = p.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut query = CampaignQuery {
        tenant: scope.tenant,
        status: status.map(|s| s.as_str().to_string()),
        updated_since,
        after,
        limit,
    };
    if format != Format::Json {
        let rows = s.reader.campaigns(query).await?;
        return stream_response(format, rows, Report::from_row).await;
    }
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    query.limit = Some(limit + 1);
    let rows: Vec<ReportRow> = s.reader.campaigns(query).await?.try_collect().await?;
    let (rows, next_cursor) = page(rows, limit, |r| r.campaign_id.as_str());
    Ok(Json(CampaignPage {
        campaigns: rows.iter().map(Report::from_row).collect(),
        next_cursor,
    })
    .into_response())
}

/// A campaign's report over all its jobs.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{campaign_id}/report",
    tag = "campaigns",
    operation_id = "campaign_report",
    params(
        ("campaign_id" = String, Path, description = "Campaign id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ReportParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The campaign report.",
         content(
            (Report = "application/json"),
            (String = "text/csv"),
            (Report = "application/x-ndjson"),
         )),
    )
)]
pub async fn report<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Ids(campaign_id): Ids<String>,
    Params(p): Params<ReportParams>,
) -> Result<Response, ApiError> {
    check_ids(&[("campaign", &campaign_id)])?;
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let row = s
        .reader
        .report(&scope.tenant, &campaign_id, None)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("campaign {campaign_id:?} not found")))?;
    Ok(one(format, Report::from_row(&row)))
}

/// The per-job reports of a campaign, by job id.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{campaign_id}/jobs",
    tag = "campaigns",
    operation_id = "campaign_jobs",
    params(
        ("campaign_id" = String, Path, description = "Campaign id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ReportParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job reports of the campaign.",
         content(
            (JobList = "application/json"),
            (String = "text/csv"),
            (Report = "application/x-ndjson"),
         )),
    )
)]
pub async fn jobs<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Ids(campaign_id): Ids<String>,
    Params(p): Params<ReportParams>,
) -> Result<Response, ApiError> {
    check_ids(&[("campaign", &campaign_id)])?;
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let (campaign, rows) = tokio::try_join!(
        s.reader.report(&scope.tenant, &campaign_id, None),
        s.reader.jobs(&scope.tenant, &campaign_id),
    )?;
    if campaign.is_none() {
        return Err(ApiError::not_found(format!(
            "campaign {campaign_id:?} not found"
        )));
    }
    let jobs: Vec<Report> = rows.iter().map(Report::from_row).collect();
    Ok(match format {
        Format::Json => Json(JobList { jobs }).into_response(),
        _ => items_response(format, &jobs),
    })
}

/// One job's report.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{campaign_id}/jobs/{job_id}/report",
    tag = "campaigns",
    operation_id = "job_report",
    params(
        ("campaign_id" = String, Path, description = "Campaign id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ("job_id" = String, Path, description = "Job id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ReportParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job report.",
         content(
            (Report = "application/json"),
            (String = "text/csv"),
            (Report = "application/x-ndjson"),
         )),
    )
)]
pub async fn job_report<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Ids((campaign_id, job_id)): Ids<(String, String)>,
    Params(p): Params<ReportParams>,
) -> Result<Response, ApiError> {
    check_ids(&[("campaign", &campaign_id), ("job", &job_id)])?;
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let row = s
        .reader
        .report(&scope.tenant, &campaign_id, Some(&job_id))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "job {job_id:?} of campaign {campaign_id:?} not found"
            ))
        })?;
    Ok(one(format, Report::from_row(&row)))
}
