//! The alert store: the processor's transitions, read from the alerts topic
//! (key: the alert id; value: an `alerting::Transition` as JSON) and stored
//! in the metadata database, each once (the store ignores an idempotency
//! key it has).
//!
//! A record's offset is stored for the auto-commit only after the record
//! is handled (`enable.auto.offset.store=false`): after a crash the
//! uncommitted records are read again and their second store is a no-op.
//! While the database is unavailable the record is retried with backoff,
//! never skipped. A record that is not a transition (or that the database
//! refuses as malformed) is logged with its topic, partition and offset,
//! and skipped.

use std::time::Duration;

use alerting::Transition;
use metadata::{Metadata, MetadataError};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::ClientConfig;
use tokio::task::JoinHandle;

/// Where the transitions are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConsumerConfig {
    pub brokers: String,
    /// The alerts topic.
    pub topic: String,
    /// The consumer group (every API instance shares it: one stores each
    /// partition).
    pub group: String,
    /// The user's librdkafka properties, applied last.
    pub properties: kafka_settings::KafkaProperties,
}

impl StoreConsumerConfig {
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100");
        self.properties.apply(&mut c);
        c
    }
}

/// First and longest wait between two tries of a record while the
/// database is unavailable.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new transition, stored with this number.
    Stored(i64),
    /// A transition stored before (a replay).
    Duplicate,
    /// Not a transition, or refused by the database as malformed: skipped.
    Skipped,
}

/// Starts the consumer: subscribes now (a bad setting fails the start),
/// consumes in a task.
pub fn spawn_store_consumer(
    metadata: Metadata,
    config: &StoreConsumerConfig,
) -> Result<JoinHandle<()>, KafkaError> {
    let consumer: StreamConsumer = config.client_config().create()?;
    consumer.subscribe(&[config.topic.as_str()])?;
    Ok(tokio::spawn(run(metadata, consumer)))
}

async fn run(metadata: Metadata, consumer: StreamConsumer) {
    let mut failing = false;
    loop {
        match consumer.recv().await {
            Ok(message) => {
                failing = false;
                handle(&metadata, &message).await;
                if let Err(e) = consumer.store_offset_from_message(&message) {
                    tracing::warn!(
                        topic = message.topic(),
                        partition = message.partition(),
                        offset = message.offset(),
                        error = %e,
                        "alert store: cannot store the offset (the record may be read again)"
                    );
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "alert store: consuming the alerts topic failed; retrying");
                }
                failing = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Stores one record's transition, retrying while the database is
/// unavailable.
pub async fn handle(metadata: &Metadata, message: &BorrowedMessage<'_>) -> Outcome {
    let where_ = |what: &str, error: &dyn std::fmt::Display| {
        tracing::error!(
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            error = %error,
            "alert store: {what}; record skipped"
        );
    };
    let transition = match parse(message.payload()) {
        Ok(t) => t,
        Err(e) => {
            where_("not a transition", &e);
            return Outcome::Skipped;
        }
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        match metadata.store_transition(&transition).await {
            Ok(Some(seq)) => return Outcome::Stored(seq),
            Ok(None) => return Outcome::Duplicate,
            Err(e) if malformed(&e) => {
                where_("the metadata database refused the transition", &e);
                return Outcome::Skipped;
            }
            Err(e) => {
                tracing::warn!(
                    topic = message.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    alert_id = %transition.alert_id,
                    error = %e,
                    retry_in_ms = backoff.as_millis() as u64,
                    "alert store: storing a transition failed; retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// A record's value as a transition.
pub fn parse(payload: Option<&[u8]>) -> Result<Transition, String> {
    let payload = payload.ok_or_else(|| "the record has no value".to_string())?;
    serde_json::from_slice(payload).map_err(|e| e.to_string())
}

/// Whether the database refused the transition itself (retrying cannot
/// help): an id that is not a UUID, or a data or integrity error (SQLSTATE
/// classes 22 and 23, which the metadata error carries first).
fn malformed(e: &MetadataError) -> bool {
    match e {
        MetadataError::Corrupt(_) => true,
        MetadataError::Unavailable(message) => {
            let code = message.split(':').next().unwrap_or_default();
            code.len() == 5 && (code.starts_with("22") || code.starts_with("23"))
        }
        MetadataError::Config(_)
        | MetadataError::Migration(_)
        | MetadataError::UnknownChannels(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_that_are_not_transitions_are_refused() {
        assert!(parse(None).is_err());
        assert!(parse(Some(b"garbage")).is_err());
        assert!(parse(Some(br#"{"alert_id": "a"}"#)).is_err());
    }

    #[test]
    fn only_data_errors_are_malformed() {
        assert!(malformed(&MetadataError::Corrupt("alert id".into())));
        assert!(malformed(&MetadataError::Unavailable(
            "23514: new row violates check constraint".into()
        )));
        assert!(malformed(&MetadataError::Unavailable(
            "22P02: invalid input syntax".into()
        )));
        assert!(!malformed(&MetadataError::Unavailable(
            "57P01: terminating connection due to administrator command".into()
        )));
        assert!(!malformed(&MetadataError::Unavailable(
            "error connecting to server: Connection refused".into()
        )));
    }
}
