//! HTTP ingestion (`ingestion.md`, "HTTP ingestion"): JSON events checked
//! against the contract one by one, encoded with the current schemas in
//! the Avro single-object encoding and produced to their topics keyed by
//! `campaign_id`; the routes are [`crate::routes::events`].
//!
//! - [`sink`]: the [`EventSink`] seam (and an in-memory sink for tests);
//!   [`kafka`]: the rdkafka one.
//! - [`doc`]: the OpenAPI description of the request bodies.
//!
//! Each event is checked as the processor checks a decoded record
//! (`schemas::json`: required fields, non-empty ids, enum symbols; then the
//! clock skew, `schemas::check_not_in_future` with the processor's
//! `MAX_CLOCK_SKEW_SECONDS`), then its `tenant_id` must be the producer
//! key's. A rejected event has a stable code and a message; the valid
//! events of a batch go to the broker even when others are rejected.

pub mod doc;
pub mod kafka;
pub mod sink;

use std::sync::Arc;

use schemas::json::JsonEventError;
use schemas::{check_not_in_future, Codec, Event, EventKind};

pub use sink::{EventSink, MemorySink, OutRecord, SinkError};

use crate::model::RejectedEvent;

/// Largest request body of both routes, bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 1000;

/// Where each record goes and how far in the future an event may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// Topics of CampaignLifecycle, NotificationSent, UserInteraction
    /// records ([`EventKind::ALL`] order).
    pub topics: [String; 3],
    /// Events whose `occurred_at` is more than this after now are rejected
    /// (`in_future`), as the processor would dead-letter them.
    pub max_skew_ms: i64,
}

impl Default for IngestSettings {
    /// The default topics and skew (the processor's).
    fn default() -> Self {
        IngestSettings {
            topics: EventKind::ALL.map(|k| k.default_topic().to_owned()),
            max_skew_ms: 300_000,
        }
    }
}

/// Everything the ingestion routes need.
pub struct Ingest {
    pub sink: Arc<dyn EventSink>,
    codec: Codec,
    settings: IngestSettings,
    /// The topics of [`IngestSettings`], shared by every record.
    topics: [Arc<str>; 3],
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("sink", &self.sink)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The events of one request after the checks: records to produce (with
/// each one's kind, for the metrics) and the rejected ones.
#[derive(Debug, Default)]
pub struct Prepared {
    pub records: Vec<OutRecord>,
    pub kinds: Vec<EventKind>,
    pub rejected: Vec<RejectedEvent>,
}

impl Ingest {
    pub fn new(
        sink: Arc<dyn EventSink>,
        settings: IngestSettings,
    ) -> Result<Self, schemas::error::SchemaError> {
        Ok(Ingest {
            sink,
            codec: Codec::new()?,
            topics: settings.topics.clone().map(Arc::from),
            settings,
        })
    }

    pub fn topic(&self, kind: EventKind) -> &Arc<str> {
        let [lifecycle, notifications, interactions] = &self.topics;
        match kind {
            EventKind::Lifecycle => lifecycle,
            EventKind::Notification => notifications,
            EventKind::Interaction => interactions,
        }
    }

    /// Check and encode the events of a request (as `schemas::json` read
    /// them; index = position in the request) for a producer of `tenant` at
    /// `now_ms`.
    pub fn prepare(
        &self,
        events: Vec<Result<Event, JsonEventError>>,
        tenant: &str,
        now_ms: i64,
    ) -> Prepared {
        let mut out = Prepared {
            records: Vec::with_capacity(events.len()),
            kinds: Vec::with_capacity(events.len()),
            rejected: Vec::new(),
        };
        for (index, value) in events.into_iter().enumerate() {
            match self.record(value, tenant, now_ms) {
                Ok((kind, record)) => {
                    out.kinds.push(kind);
                    out.records.push(record);
                }
                Err((code, message)) => out.rejected.push(RejectedEvent {
                    index,
                    code: code.to_owned(),
                    message,
                }),
            }
        }
        out
    }

    fn record(
        &self,
        event: Result<Event, JsonEventError>,
        tenant: &str,
        now_ms: i64,
    ) -> Result<(EventKind, OutRecord), (&'static str, String)> {
        let event = event.map_err(|e| (e.code(), e.to_string()))?;
        check_not_in_future(&event, now_ms, self.settings.max_skew_ms)
            .map_err(|e| (e.code(), e.to_string()))?;
        if event.tenant_id() != tenant {
            return Err((
                "tenant_mismatch",
                format!(
                    "tenant_id {:?} is not this key's tenant: a producer key posts events of its own tenant only",
                    event.tenant_id()
                ),
            ));
        }
        let payload = self.codec.encode(&event).map_err(|e| {
            // Every event that passed the checks encodes; this is a bug.
            tracing::error!(error = %e, "a checked event did not encode");
            (
                "encode_failed",
                format!("the event could not be encoded: {e}"),
            )
        })?;
        let kind = event.kind();
        let key = match event {
            Event::Lifecycle(e) => e.campaign_id,
            Event::Notification(e) => e.campaign_id,
            Event::Interaction(e) => e.campaign_id,
        };
        Ok((
            kind,
            OutRecord {
                topic: self.topic(kind).clone(),
                key,
                payload,
            },
        ))
    }
}
