//! The dead-letter producer: a record that cannot be applied goes, unchanged
//! (same key, same bytes), to the dead-letter topic with headers naming where
//! it came from and why.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::config::KafkaConfig;

/// Headers on every dead-lettered record.
pub const HEADER_TOPIC: &str = "source-topic";
pub const HEADER_PARTITION: &str = "source-partition";
pub const HEADER_OFFSET: &str = "source-offset";
pub const HEADER_REASON: &str = "reason";
pub const HEADER_REASON_CODE: &str = "reason-code";

#[derive(Debug, thiserror::Error)]
#[error("dead-letter topic {topic}: {source}")]
pub struct DeadLetterError {
    topic: String,
    source: rdkafka::error::KafkaError,
}

/// Sends records to the dead-letter topic.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("topic", &self.topic)
            .finish()
    }
}

/// Where a bad record came from and why it was rejected.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub reason_code: &'static str,
    pub reason: String,
}

impl DeadLetters {
    pub fn new(config: &KafkaConfig) -> Result<Self, DeadLetterError> {
        let producer = config
            .producer_config()
            .create()
            .map_err(|source| DeadLetterError {
                topic: config.topic_dlq.clone(),
                source,
            })?;
        Ok(DeadLetters {
            producer,
            topic: config.topic_dlq.clone(),
        })
    }

    /// Send one record and wait for the broker's acknowledgement, so a
    /// checkpoint past its offset is only written once it is safe.
    pub async fn send(&self, r: &Rejected) -> Result<(), DeadLetterError> {
        let partition = r.partition.to_string();
        let offset = r.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: HEADER_TOPIC,
                value: Some(r.topic.as_bytes()),
            })
            .insert(Header {
                key: HEADER_PARTITION,
                value: Some(partition.as_bytes()),
            })
            .insert(Header {
                key: HEADER_OFFSET,
                value: Some(offset.as_bytes()),
            })
            .insert(Header {
                key: HEADER_REASON_CODE,
                value: Some(r.reason_code.as_bytes()),
            })
            .insert(Header {
                key: HEADER_REASON,
                value: Some(r.reason.as_bytes()),
            });
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .payload(&r.payload)
            .headers(headers);
        if let Some(key) = &r.key {
            record = record.key(key);
        }
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map(drop)
            .map_err(|(source, _)| DeadLetterError {
                topic: self.topic.clone(),
                source,
            })
    }

    pub fn flush(&self) {
        let _ = self.producer.flush(Duration::from_secs(10));
    }
}
