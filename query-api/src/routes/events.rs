//! Event ingestion: `POST /v1/events` (one event) and `POST
//! /v1/events/batch` (`{"events": [...]}`), for producers that cannot use
//! Kafka. A producer key only; see [`crate::ingest`] for the checks.
//!
//! Answers: 202 `{"accepted", "rejected"}` once the broker acknowledged
//! every accepted event (the valid events of a batch are accepted even when
//! others are rejected); 400 `bad_body` for a body that is not JSON or not
//! of the route's shape; 413 `too_large` over 1 MiB or 1000 events; 503
//! `unavailable` when the broker did not acknowledge every valid event
//! within the delivery timeout: then nothing is reported accepted (some may
//! have reached Kafka; re-sending is harmless, an `event_id` counts once);
//! 404 when the server runs without `KAFKA_BROKERS` (ingestion off).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemas::json::{batch_from_slice, event_from_slice, BodyError, JsonEventError};
use schemas::Event;

use crate::app::AppState;
use crate::auth::ProducerScope;
use crate::error::{ApiError, ErrorCode};
use crate::ingest::{Ingest, MAX_BATCH_EVENTS, MAX_BODY_BYTES};
use crate::model::IngestResult;
use crate::read::Reader;

/// Post one event.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "ingestion",
    operation_id = "post_event",
    request_body(content = crate::ingest::doc::Event, content_type = "application/json",
        description = "One event (at most 1 MiB)."),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The broker acknowledged the event (`accepted` 1), or it was rejected (`accepted` 0, `rejected` says why).", body = IngestResult),
        (status = 413, description = "The body is over 1 MiB.", body = crate::error::ErrorBody),
    )
)]
pub async fn post_event<R: Reader>(
    State(s): State<AppState<R>>,
    scope: ProducerScope,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ingest = enabled(&s)?;
    let event = event_from_slice(&bytes(body)?).map_err(bad_body)?;
    produce(&s, ingest, &scope, vec![event]).await
}

/// Post a batch of events.
#[utoipa::path(
    post,
    path = "/v1/events/batch",
    tag = "ingestion",
    operation_id = "post_events",
    request_body(content = crate::ingest::doc::EventBatch, content_type = "application/json",
        description = "At most 1000 events and 1 MiB."),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The broker acknowledged every accepted event; `rejected` lists the others with why.", body = IngestResult),
        (status = 413, description = "The body is over 1 MiB or holds more than 1000 events.", body = crate::error::ErrorBody),
    )
)]
pub async fn post_batch<R: Reader>(
    State(s): State<AppState<R>>,
    scope: ProducerScope,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ingest = enabled(&s)?;
    let events = batch_from_slice(&bytes(body)?, MAX_BATCH_EVENTS).map_err(bad_body)?;
    produce(&s, ingest, &scope, events).await
}

fn enabled<R>(s: &AppState<R>) -> Result<&Ingest, ApiError> {
    s.ingest.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "HTTP ingestion is off on this server: it needs KAFKA_BROKERS (--kafka-brokers)",
        )
    })
}

/// The body: 413 over the byte limit.
fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the body is over {MAX_BODY_BYTES} bytes (1 MiB); send fewer events at a time"
            ))
        } else {
            ApiError::bad_body(format!("cannot read the body: {}", e.body_text()))
        }
    })
}

/// 400 for a body that is not JSON or not of the route's shape, 413 for
/// too many events.
fn bad_body(e: BodyError) -> ApiError {
    match e {
        BodyError::Json(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadBody,
            format!("the body is not JSON of the route's shape ({e}); an event is a JSON object, a batch {{\"events\": [...]}}"),
        ),
        too_many @ BodyError::TooMany { .. } => ApiError::too_large(too_many.to_string()),
    }
}

/// Check, produce, answer.
async fn produce<R>(
    s: &AppState<R>,
    ingest: &Ingest,
    scope: &ProducerScope,
    events: Vec<Result<Event, JsonEventError>>,
) -> Result<Response, ApiError> {
    let now_ms = s
        .settings
        .now
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_millis();
    let prepared = ingest.prepare(events, &scope.tenant, now_ms);
    for r in &prepared.rejected {
        s.metrics
            .ingest_rejected
            .with_label_values(&[&r.code])
            .inc();
    }
    let valid = prepared.records.len();
    if valid > 0 {
        let started = Instant::now();
        let sent = ingest.sink.send(prepared.records).await;
        let outcome = if sent.is_ok() {
            "acknowledged"
        } else {
            "failed"
        };
        s.metrics
            .ingest_produce
            .with_label_values(&[outcome])
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = sent {
            s.metrics.ingest_undelivered.inc_by(valid as u64);
            tracing::warn!(error = %e, events = valid, "events not acknowledged by the broker");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                format!(
                    "the Kafka broker did not acknowledge {} of the {valid} valid events ({}); \
                     none of this request is reported accepted: send it again later \
                     (re-sending an event is harmless, its event_id counts once)",
                    e.total - e.acknowledged,
                    e.reason
                ),
            ));
        }
    }
    for kind in &prepared.kinds {
        s.metrics
            .ingest_accepted
            .with_label_values(&[kind.as_str()])
            .inc();
    }
    let result = IngestResult {
        accepted: valid as u64,
        rejected: prepared.rejected,
    };
    Ok((StatusCode::ACCEPTED, Json(result)).into_response())
}
