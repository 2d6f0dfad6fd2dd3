//! The handlers, one file per resource, and the extractors they share.
//! Read handlers validate, ask the [`crate::read::Reader`] and shape the
//! answer; they never see SQL. The event handlers ([`events`]) hand
//! checked records to [`crate::ingest`]; the alert handlers ([`alerts`],
//! [`alert_rules`], [`channels`], [`silences`]) use the metadata database
//! of [`crate::alerts`]; the report handlers ([`reports`],
//! [`report_templates`], [`report_runs`]) and the saved dashboards
//! ([`dashboards`]) that of [`crate::reports`].

pub mod alert_rules;
pub mod alerts;
pub mod campaigns;
pub mod channels;
pub mod dashboards;
pub mod events;
pub mod journeys;
pub mod keys;
pub mod live;
pub mod me;
pub mod ops;
pub mod overview;
pub mod report_runs;
pub mod report_templates;
pub mod reports;
pub mod silences;
pub mod tenants;
pub mod ws;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::cursor;
use crate::error::{ApiError, ErrorCode};
use crate::export::{items_response, CsvRow, Format};
use crate::params::validate_id;

/// Path parameters; a segment that is not valid UTF-8 is a 400 `bad_id`.
#[derive(Debug)]
pub struct Ids<T>(pub T);

impl<S, T> FromRequestParts<S> for Ids<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| Ids(t))
            .map_err(|e| ApiError::bad_request(ErrorCode::BadId, format!("bad path: {e}")))
    }
}

/// Query parameters; an unparsable query string (for example a repeated
/// or unknown parameter) is a 400 `bad_query`.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(t)| Params(t))
            .map_err(|e| {
                ApiError::bad_request(ErrorCode::BadQuery, format!("bad query string: {e}"))
            })
    }
}

/// Check every path id of a request.
pub fn check_ids(ids: &[(&str, &str)]) -> Result<(), ApiError> {
    for (what, id) in ids {
        validate_id(what, id)?;
    }
    Ok(())
}

/// Keep `limit` rows; the cursor of the next page when there were more.
pub fn page<T>(rows: Vec<T>, limit: u64, key: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
    cut_page(rows, limit, |r| cursor::encode(key(r)))
}

/// Rows to ask the store for a page of `limit`: one more, which tells
/// whether a next page exists ([`cut_page`] drops it).
pub fn rows_for_page(limit: u64) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

/// Keep `limit` rows; when there were more, the next page's cursor, made
/// of the last row kept by `cursor_of`.
pub fn cut_page<T>(
    mut rows: Vec<T>,
    limit: u64,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor_of);
    (rows, next)
}

/// One item as JSON, or as a one-line CSV/NDJSON export.
pub fn one<T: CsvRow>(format: Format, item: T) -> Response {
    match format {
        Format::Json => Json(item).into_response(),
        _ => items_response(format, &[item]),
    }
}
