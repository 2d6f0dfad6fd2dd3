//! Live reports as Server-Sent Events (`GET /v1/campaigns/stream`,
//! `GET /v1/campaigns/{campaign_id}/report/stream`). The same
//! subscriptions run over the WebSocket (`routes::ws`). The streams are
//! tenant-scoped like the JSON routes; see [`crate::live`] for how commits
//! reach them.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::alerts::KEEP_ALIVE;
use super::{check_ids, Ids, Params};
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};
use crate::live::doc::{CampaignStreamEvent, ReportStreamEvent};
use crate::live::feed::StartError;
use crate::live::{Cursor, Feed, Out, Subscription};
use crate::params::parse_status;
use crate::read::Reader;

/// `GET /v1/campaigns/stream` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignStreamParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// Only campaigns with this status (a campaign that changes to another
    /// status is sent once more, as a `removed` event).
    #[param(value_type = Option<crate::params::CampaignStatus>)]
    pub status: Option<String>,
    /// Resume from this event id (the `id` of the last event received:
    /// `partition=version` pairs); the `Last-Event-ID` header wins over it.
    #[param(value_type = Option<String>, max_length = 16384, pattern = "^([0-9]{1,9}=[0-9]{1,19}(,[0-9]{1,9}=[0-9]{1,19})*)?$")]
    pub last_event_id: Option<String>,
}

/// `GET /v1/campaigns/{campaign_id}/report/stream` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportStreamParams {
    /// The tenant: required for admin keys; a tenant key may only name its
    /// own tenant (any other answers 404).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub tenant_id: Option<String>,
    /// One job's report instead of the campaign's over all jobs.
    #[param(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")]
    pub job_id: Option<String>,
    /// Resume after this report version (the `id` of the last event
    /// received); the `Last-Event-ID` header wins over it.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub last_event_id: Option<String>,
}

/// Where to resume: the `Last-Event-ID` header, else the parameter, each
/// parsed by `parse` (both are checked when both are given); an empty
/// header is none (a browser sends an empty id before it has seen one).
fn resume<T>(
    headers: &HeaderMap,
    param: Option<&str>,
    parse: impl Fn(&str) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    let header = match headers.get("last-event-id") {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::bad_request(
                ErrorCode::BadEventId,
                "Last-Event-ID must be the id of an event this stream sent",
            )
        })?),
        None => None,
    };
    // An empty header is none (a first connection may send one); an empty
    // parameter is a malformed id, like any other.
    let param = param.map(&parse).transpose()?;
    let header = header.filter(|t| !t.is_empty()).map(&parse).transpose()?;
    Ok(header.or(param))
}

/// Ids a stream may follow: the contract's ids (at most 64 characters,
/// no control characters). A lookup of a longer id is a 404; a stream of
/// one would wait for a report that can never come, so it is refused.
pub(crate) fn subscribable_id(what: &str, id: &str) -> Result<(), ApiError> {
    check_ids(&[(what, id)])?;
    if id.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::bad_request(
            ErrorCode::BadId,
            format!("{what} id is longer than {MAX_ID_CHARS} characters: no report can have it"),
        ));
    }
    Ok(())
}

/// The longest id of the event schemas, in characters.
const MAX_ID_CHARS: usize = 64;

/// A campaigns stream's resume cursor.
pub(crate) fn parse_cursor(text: &str) -> Result<Cursor, ApiError> {
    Cursor::decode(text).map_err(|e| {
        ApiError::bad_request(
            ErrorCode::BadEventId,
            format!(
                "the last event id of a campaigns stream is the `id` it sent \
                 (partition=version pairs): {e}"
            ),
        )
    })
}

/// A report stream's resume version (0 to 2^63 - 1, as the document says).
pub(crate) fn parse_version(text: &str) -> Result<u64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0 && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::BadEventId,
                format!(
                    "the last event id of a report stream is the report version it sent (an \
                     integer from 0 to {}), not {text:?}",
                    i64::MAX
                ),
            )
        })
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Read(e) => e.into(),
            StartError::NotReady => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                e.to_string(),
            ),
        }
    }
}

/// The tenant's campaigns, live: every campaign (its report over all
/// jobs, as in `GET /v1/campaigns`) as of the last commit, then `synced`,
/// then each campaign again whenever a commit changes it.
#[utoipa::path(
    get,
    path = "/v1/campaigns/stream",
    tag = "live",
    operation_id = "campaign_stream",
    params(
        CampaignStreamParams,
        ("Last-Event-ID" = Option<String>, Header, nullable = false, max_length = 16384, pattern = "^([0-9]{1,9}=[0-9]{1,19}(,[0-9]{1,9}=[0-9]{1,19})*)?$",
         description = "Resume from this event id (what the browser's EventSource sends when it reconnects): only campaigns changed since are sent; wins over `last_event_id`."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An endless `text/event-stream`. Events: `campaign` (data: a Report, as in the campaign list), `removed` (data: `{campaign_id, status}`, a campaign that left a status-filtered stream), `synced` (data `{}`: what follows is live), `close` (data `{code, message}`: the server ends the stream, e.g. `too_slow`; reconnect with the last id). The `id` (a cursor) comes with the last event of each commit. A comment every 15 s keeps the connection open.",
         content((CampaignStreamEvent = "text/event-stream"))),
    )
)]
pub async fn campaigns<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Params(p): Params<CampaignStreamParams>,
) -> Result<Response, ApiError> {
    let status = parse_status(p.status.as_deref())?.map(|s| s.as_str().to_string());
    let resume = resume(&headers, p.last_event_id.as_deref(), parse_cursor)?;
    let sub = Subscription::campaigns(scope.tenant, status, resume);
    let feed = Feed::start(&s.live, &s.reader, sub).await?;
    Ok(sse(feed))
}

/// A campaign's report (over all jobs, or one job's with `job_id`), live:
/// the report as of the last commit, then each new version as commits
/// change it. The event id is the report's version.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{campaign_id}/report/stream",
    tag = "live",
    operation_id = "campaign_report_stream",
    params(
        ("campaign_id" = String, Path, description = "Campaign id: 1 to 256 bytes of UTF-8, no control characters (the schema says at most 64 characters, which always fit in 256 bytes).",
         min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ReportStreamParams,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, maximum = 9_223_372_036_854_775_807_i64,
         description = "Resume after this report version: the current report is sent only if it is newer; wins over `last_event_id`."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An endless `text/event-stream`. Events: `report` (id: the report version; data: a Report, as from `GET /v1/campaigns/{campaign_id}/report`), `synced` (data `{}`, after the current report: what follows is live), `close` (data `{code, message}`). A campaign not reported yet sends its first report when a commit brings it. A comment every 15 s keeps the connection open.",
         content((ReportStreamEvent = "text/event-stream"))),
    )
)]
pub async fn report<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Ids(campaign_id): Ids<String>,
    Params(p): Params<ReportStreamParams>,
) -> Result<Response, ApiError> {
    subscribable_id("campaign", &campaign_id)?;
    if let Some(job) = &p.job_id {
        subscribable_id("job", job)?;
    }
    let after = resume(&headers, p.last_event_id.as_deref(), parse_version)?;
    let sub = Subscription::report(
        scope.tenant,
        campaign_id,
        p.job_id.unwrap_or_default(),
        after,
    );
    let feed = Feed::start(&s.live, &s.reader, sub).await?;
    Ok(sse(feed))
}

fn sse(feed: Feed) -> Response {
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let out = feed.next().await?;
        Some((Ok::<Event, Infallible>(event(out)), feed))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// The Server-Sent Event of a message.
fn event(out: Out) -> Event {
    match out {
        Out::Report { version, json } => Event::default()
            .event("report")
            .id(version.to_string())
            .data(&*json),
        Out::Campaign { json, id } => with_id(Event::default().event("campaign").data(&*json), id),
        Out::Removed {
            campaign_id,
            status,
            id,
        } => with_id(
            Event::default().event("removed").data(
                serde_json::json!({ "campaign_id": campaign_id, "status": status }).to_string(),
            ),
            id,
        ),
        Out::Synced { id } => with_id(Event::default().event("synced").data("{}"), id),
        Out::Close { code, message } => Event::default()
            .event("close")
            .data(serde_json::json!({ "code": code, "message": message }).to_string()),
    }
}

fn with_id(event: Event, id: Option<String>) -> Event {
    match id {
        Some(id) => event.id(id),
        None => event,
    }
}
