//! The errors of a load-generator run.

use std::path::PathBuf;

use rdkafka::error::KafkaError;
use schemas::error::{EncodeError, SchemaError};

/// Why a run (generation, writing the expected figures, producing) failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("an encoder thread stopped unexpectedly")]
    EncoderStopped,
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialize the expected figures: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no Kafka broker answers at {brokers}: {error}")]
    Unreachable { brokers: String, error: KafkaError },
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },
    #[error("{failed} of {total} records were not delivered (first error: {first_error})")]
    Delivery {
        failed: u64,
        total: u64,
        first_error: String,
    },
}
