//! Typed decode errors. Every way a record can be rejected has its own
//! variant, so the processor can name the reason in the dead-letter headers.

use crate::events::EventKind;

/// Why a record's bytes did not become an [`crate::Event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record is {len} bytes, shorter than its header (Avro single-object: 10 bytes, C3 01 and an 8-byte fingerprint; Confluent: 5 bytes, 00 and a 4-byte schema id)")]
    TooShort { len: usize },
    #[error("bad marker {found:02x?}: expected c3 01 (Avro single-object encoding) or 00 (Confluent Schema Registry wire format)")]
    BadMarker { found: [u8; 2] },
    #[error("unknown writer schema fingerprint {fingerprint:016x}: no known .avsc version has it")]
    UnknownFingerprint { fingerprint: u64 },
    #[error("unknown schema id {id} (Confluent wire format): not in the schema registry or the schema ids file")]
    UnknownSchemaId { id: u32 },
    #[error("schema id {id} cannot be read as an event record: {found}")]
    ForeignSchema { id: u32, found: String },
    #[error("truncated {record} body: {reason}")]
    TruncatedBody {
        record: &'static str,
        reason: String,
    },
    #[error("malformed {record} body: {reason}")]
    MalformedBody {
        record: &'static str,
        reason: String,
    },
    #[error("cannot resolve writer schema of {record} against the reader schema: {reason}")]
    Resolution {
        record: &'static str,
        reason: String,
    },
    #[error("contract violation: {0}")]
    Contract(#[from] ContractViolation),
}

impl DecodeError {
    /// A short stable code for the reason, used as a metric label and in the
    /// dead-letter `reason` header.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooShort { .. } => "too_short",
            DecodeError::BadMarker { .. } => "bad_marker",
            DecodeError::UnknownFingerprint { .. } => "unknown_fingerprint",
            DecodeError::UnknownSchemaId { .. } => "unknown_schema_id",
            DecodeError::ForeignSchema { .. } => "foreign_schema",
            DecodeError::TruncatedBody { .. } => "truncated_body",
            DecodeError::MalformedBody { .. } => "malformed_body",
            DecodeError::Resolution { .. } => "resolution_failed",
            DecodeError::Contract(c) => c.code(),
        }
    }
}

/// A record that decoded but breaks the event contract of `metrics.md`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractViolation {
    #[error("required field `{field}` is empty")]
    EmptyField { field: &'static str },
    #[error("required field `{field}` is missing or has the wrong type")]
    MissingField { field: &'static str },
    #[error("field `{field}` has unknown symbol {symbol:?}")]
    UnknownSymbol { field: &'static str, symbol: String },
    #[error("occurred_at {occurred_at} ms is {ahead_ms} ms in the future, more than the allowed skew of {max_skew_ms} ms")]
    InFuture {
        occurred_at: i64,
        ahead_ms: i64,
        max_skew_ms: i64,
    },
    #[error("a {found} record on a topic that carries {expected} records")]
    WrongTopic {
        expected: EventKind,
        found: EventKind,
    },
}

impl ContractViolation {
    pub fn code(&self) -> &'static str {
        match self {
            ContractViolation::EmptyField { .. } => "empty_field",
            ContractViolation::MissingField { .. } => "missing_field",
            ContractViolation::UnknownSymbol { .. } => "unknown_symbol",
            ContractViolation::InFuture { .. } => "in_future",
            ContractViolation::WrongTopic { .. } => "wrong_topic",
        }
    }
}

/// An embedded or given `.avsc` text that is not a usable schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema {name}: {reason}")]
    Parse { name: String, reason: String },
    #[error("no reader schema for {0} records")]
    NoReader(EventKind),
    #[error("schema {name} is a {found} record, expected {expected}")]
    WrongRecord {
        name: String,
        expected: &'static str,
        found: String,
    },
}

/// A value that the writer schema does not accept (a bug, not bad input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {record}: {reason}")]
pub struct EncodeError {
    pub record: &'static str,
    pub reason: String,
}
