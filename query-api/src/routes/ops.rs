//! Routes for operators and tools, without a key: liveness, readiness,
//! Prometheus metrics, the OpenAPI spec and its docs page.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::model::Health;
use crate::read::Reader;

/// How long readiness waits for ClickHouse.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "Alive.", body = Health)),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: ClickHouse answers (503 until it does).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "ClickHouse is reachable.", body = Health),
        (status = 503, description = "ClickHouse is not reachable.", body = crate::error::ErrorBody),
    ),
)]
pub async fn readyz<R: Reader>(State(s): State<AppState<R>>) -> Result<Json<Health>, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, s.reader.ping()).await {
        Ok(Ok(())) => Ok(Json(Health {
            status: "ready".into(),
        })),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            format!(
                "ClickHouse did not answer within {} s",
                READY_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Prometheus metrics: requests and latency by method, route template and
/// status.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain")),
)]
pub async fn metrics<R: Reader>(State(s): State<AppState<R>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        s.metrics.render(),
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI document.", body = Object, content_type = "application/json")),
)]
pub async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::openapi::spec_json(),
    )
        .into_response()
}

/// This API's documentation: the OpenAPI document as one page, rendered
/// by the server (works offline).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    operation_id = "docs",
    responses((status = 200, description = "HTML documentation.", body = String, content_type = "text/html")),
)]
pub async fn docs() -> Html<&'static str> {
    Html(crate::openapi::docs_html())
}
