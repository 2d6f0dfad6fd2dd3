//! Every error the API answers: a status and the JSON body
//! `{"error": {"code": "...", "message": "..."}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::read::ReadError;

/// Machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The query string could not be parsed (for example a repeated parameter).
    BadQuery,
    /// An id (path segment or `tenant_id`) is empty, longer than 256 bytes
    /// or holds a control character.
    BadId,
    /// `from` or `to` is not a `YYYY-MM-DD` date.
    BadDate,
    /// `from` is after `to`.
    BadRange,
    /// The overview range is longer than the configured maximum.
    RangeTooLarge,
    /// `granularity` is not `day`, `week` or `month`.
    BadGranularity,
    /// `limit` is not an integer in the allowed range.
    BadLimit,
    /// `cursor` is not one this API handed out.
    BadCursor,
    /// `status` is not a campaign status.
    BadStatus,
    /// `updated_since` is not an RFC 3339 date-time.
    BadTimestamp,
    /// `completed` is not `true` or `false`.
    BadBoolean,
    /// `format` is not `json`, `csv` or `ndjson`.
    BadFormat,
    /// An alert rule (`POST`/`PUT /v1/alert-rules`) is malformed or
    /// invalid: the message names the field and what it allows.
    BadRule,
    /// A delivery channel (`POST /v1/channels`) is malformed or invalid: an
    /// unknown kind, a URL that is not http(s), no or a bad recipient...;
    /// the message names the field.
    BadChannel,
    /// A silence (`POST /v1/silences`) is malformed or invalid: no matcher,
    /// a bad severity or time, `ends_at` not after `starts_at`...; the
    /// message names the field.
    BadSilence,
    /// A report definition or template is malformed or invalid (an unknown
    /// kind or format, a parameter the kind does not take, a range whose
    /// `from` is after `to`...); the message names the field.
    BadDefinition,
    /// A schedule is malformed or invalid (an invalid cron expression or
    /// preset, an unknown time zone, a recipient that is neither an e-mail
    /// address nor an http(s) URL...); the message names the field.
    BadSchedule,
    /// A dashboard is malformed or invalid (an unknown widget type, a
    /// parameter the widget does not take, a missing campaign id...); the
    /// message names the widget and the field.
    BadDashboard,
    /// A tenant (`POST`/`PATCH /v1/tenants`) is malformed or invalid: an
    /// unknown time zone, a zone change earlier than the change delay
    /// allows, a rate limit out of range...; the message names the field.
    BadTenant,
    /// A key role change (`PUT /v1/keys/{id}/role`) is invalid: a role
    /// other than `viewer`, `editor` or `admin`, or a key changing its own.
    BadRole,
    /// A download link expired, or was changed (403).
    LinkRefused,
    /// The run has finished (succeeded, failed or cancelled) and cannot
    /// be cancelled, or has no file in that format yet (409); a dashboard
    /// is at another version than `If-Match` says (412).
    Conflict,
    /// `severity` is not `info`, `warning` or `critical`.
    BadSeverity,
    /// `Last-Event-ID` (or `last_event_id`) is not an id the stream sends:
    /// a non-negative integer (alert stream, report stream) or a cursor of
    /// `partition=version` pairs (campaigns stream).
    BadEventId,
    /// `GET /v1/ws` without a WebSocket upgrade request.
    #[serde(rename = "not_websocket")]
    NotWebsocket,
    /// An admin key must name the tenant with `?tenant_id=`.
    TenantRequired,
    /// No, a malformed or an unknown API key.
    Unauthorized,
    /// The key's role may not use this route: a producer key reads no
    /// reports, only a producer key posts events.
    Forbidden,
    /// The request body is not JSON, or not of the shape the route takes.
    BadBody,
    /// The request body is over the route's limit (bytes or events).
    TooLarge,
    /// No such route, or no such campaign, job, user or tenant for this key.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The key exceeded its rate limit; retry after `Retry-After` seconds.
    RateLimited,
    /// ClickHouse (reads), the Kafka broker (event ingestion) or the
    /// metadata database (alerts) is unreachable or failed, or alerts are
    /// off (the server has no `DATABASE_URL`).
    Unavailable,
    /// The request took longer than the configured timeout.
    Timeout,
    /// An unexpected error.
    Internal,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people: what was wrong and how to fix it.
    pub message: String,
}

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, what)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::bad_request(ErrorCode::BadBody, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, message)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let retry_after = retry_after.max(1);
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("rate limit of this API key exceeded; retry after {retry_after} s"),
            )
        }
    }

    pub fn timeout(after_ms: u64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Timeout,
            format!("the request took longer than {after_ms} ms"),
        )
    }

    /// The error for a status produced outside the handlers (axum's own
    /// rejections), with a message for it.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route".to_string()),
            StatusCode::METHOD_NOT_ALLOWED => (
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route (see the Allow header)".to_string(),
            ),
            StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, "unauthorized".to_string()),
            StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "forbidden".to_string()),
            StatusCode::PAYLOAD_TOO_LARGE => (
                ErrorCode::TooLarge,
                "the request body is too large".to_string(),
            ),
            StatusCode::TOO_MANY_REQUESTS => {
                (ErrorCode::RateLimited, "too many requests".to_string())
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                (ErrorCode::Unavailable, "service unavailable".to_string())
            }
            StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => {
                (ErrorCode::Timeout, "request timed out".to_string())
            }
            s if s.is_client_error() => (
                ErrorCode::BadQuery,
                format!(
                    "bad request ({})",
                    s.canonical_reason().unwrap_or("client error")
                ),
            ),
            _ => (ErrorCode::Internal, "internal error".to_string()),
        };
        Self::new(status, code, message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
            },
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        tracing::warn!(error = %e, "read failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "ClickHouse is unavailable; try again later",
        )
    }
}

impl From<metadata::MetadataError> for ApiError {
    fn from(e: metadata::MetadataError) -> Self {
        match e {
            metadata::MetadataError::Unavailable(_) => {
                tracing::warn!(error = %e, "metadata database failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the metadata database is unavailable; try again later",
                )
            }
            _ => {
                tracing::error!(error = %e, "metadata database error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error (metadata database)",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut res = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
