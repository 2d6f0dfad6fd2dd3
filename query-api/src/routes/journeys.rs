//! User journeys of a job: the list and one user's.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use storage::rows::JourneyRow;

use super::{check_ids, one, page, Ids, Params};
use crate::app::AppState;
use crate::auth::Scope;
use crate::cursor;
use crate::error::ApiError;
use crate::export::{stream_response, Format};
use crate::model::{Journey, JourneyPage};
use crate::params::{
    parse_completed, parse_limit, JourneyListParams, JourneyParams, DEFAULT_LIMIT,
};
use crate::read::{JourneyQuery, Reader};

/// The journeys of a job's users, by user id.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys",
    tag = "journeys",
    operation_id = "list_journeys",
    params(
        ("campaign_id" = String, Path, description = "Campaign id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ("job_id" = String, Path, description = "Job id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        JourneyListParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of journeys (JSON), or every matching journey (CSV/NDJSON export without `limit`).",
         content(
            (JourneyPage = "application/json"),
            (String = "text/csv"),
            (Journey = "application/x-ndjson"),
         )),
    )
)]
pub async fn list<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Ids((campaign_id, job_id)): Ids<(String, String)>,
    Params(p): Params<JourneyListParams>,
) -> Result<Response, ApiError> {
    check_ids(&[("campaign", &campaign_id), ("job", &job_id)])?;
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let completed = parse_completed(p.completed.as_deref())?;
    let limit = parse_limit(p.limit.as_deref())?;
    let after = p.cursor.as_deref().map(cursor::decode).transpose()?;
    let not_found = || {
        ApiError::not_found(format!(
            "job {job_id:?} of campaign {campaign_id:?} not found"
        ))
    };
    let mut query = JourneyQuery {
        tenant: scope.tenant.clone(),
        campaign: campaign_id.clone(),
        job: job_id.clone(),
        completed,
        after,
        limit,
    };
    let job = s.reader.report(&scope.tenant, &campaign_id, Some(&job_id));
    if format != Format::Json {
        // The job must be known to exist before the export starts.
        job.await?.ok_or_else(not_found)?;
        let rows = s.reader.journeys(query).await?;
        return stream_response(format, rows, Journey::from_row).await;
    }
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    query.limit = Some(limit + 1);
    // The job and the page are read at once.
    let page_rows = async {
        let rows: Vec<JourneyRow> = s.reader.journeys(query).await?.try_collect().await?;
        Ok::<_, ApiError>(rows)
    };
    let job = async { Ok::<_, ApiError>(job.await?) };
    let (job, rows) = tokio::try_join!(job, page_rows)?;
    job.ok_or_else(not_found)?;
    let (rows, next_cursor) = page(rows, limit, |r| r.user_id.as_str());
    Ok(Json(JourneyPage {
        journeys: rows.iter().map(Journey::from_row).collect(),
        next_cursor,
    })
    .into_response())
}

/// One user's journey through a job.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys/{user_id}",
    tag = "journeys",
    operation_id = "journey",
    params(
        ("campaign_id" = String, Path, description = "Campaign id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ("job_id" = String, Path, description = "Job id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ("user_id" = String, Path, description = "User id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        JourneyParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The journey.",
         content(
            (Journey = "application/json"),
            (String = "text/csv"),
            (Journey = "application/x-ndjson"),
         )),
    )
)]
pub async fn one_journey<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Ids((campaign_id, job_id, user_id)): Ids<(String, String, String)>,
    Params(p): Params<JourneyParams>,
) -> Result<Response, ApiError> {
    check_ids(&[
        ("campaign", &campaign_id),
        ("job", &job_id),
        ("user", &user_id),
    ])?;
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let row = s
        .reader
        .journey(&scope.tenant, &campaign_id, &job_id, &user_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "journey of user {user_id:?} in job {job_id:?} of campaign {campaign_id:?} not found"
            ))
        })?;
    Ok(one(format, Journey::from_row(&row)))
}
