//! The event contract of campaign analytics.
//!
//! # Layout
//!
//! - [`events`]: the Rust event types, field for field the records of
//!   `schemas/avro/*.avsc` (see `../shared/spec/metrics.md`).
//! - [`registry`]: the versioned `.avsc` files compiled into the binary, and
//!   which version of each record is the current reader schema.
//! - [`canonical`]: the Avro specification's Parsing Canonical Form and
//!   CRC-64-AVRO fingerprint (apache-avro's differs for logical types).
//! - [`codec`]: the codec of both wire formats (Avro single-object,
//!   Confluent Schema Registry). This crate is the only one in
//!   the workspace that knows Avro; everybody else sees [`Event`]s and bytes.
//! - [`error`]: typed decode errors. Decoding never panics.
//! - [`json`]: events as JSON (HTTP ingestion), checked against the
//!   contract field by field.
//! - [`migrations`]: the numbered ClickHouse migrations of
//!   `schemas/clickhouse/`, embedded so the processor can apply them.

pub mod canonical;
pub mod codec;
pub mod error;
pub mod events;
pub mod json;
pub mod migrations;
pub mod registry;

mod fast;
mod strict;
mod value;

pub use codec::Codec;
pub use error::{ContractViolation, DecodeError};
pub use events::{
    CampaignLifecycle, CampaignStatus, Event, EventKind, LifecycleKind, NotificationSent, Script,
    ScriptEdge, ScriptNode, UserInteraction,
};

/// Reject an event whose `occurred_at` lies more than `max_skew_ms` after
/// `now_ms` (a producer with a broken clock; metrics.md, "Bad input").
pub fn check_not_in_future(
    event: &Event,
    now_ms: i64,
    max_skew_ms: i64,
) -> Result<(), ContractViolation> {
    let ahead_ms = event.occurred_at().saturating_sub(now_ms);
    if ahead_ms > max_skew_ms {
        return Err(ContractViolation::InFuture {
            occurred_at: event.occurred_at(),
            ahead_ms,
            max_skew_ms,
        });
    }
    Ok(())
}
