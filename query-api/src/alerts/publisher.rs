//! The rule publisher: the outbox of rule changes (committed in the
//! metadata database with the change), produced to the rules topic and
//! marked published once the broker acknowledged them.
//!
//! A record's key is the rule id (UTF-8); its value is the
//! `alerting::Rule` JSON, or nothing (a tombstone) for a deleted rule. The
//! producer is idempotent with `acks=all` (the HTTP ingestion producer's
//! settings). A change that fails to publish, or whose mark fails, stays in
//! the outbox and is produced again at the next round: the processors see
//! each change at least once and keep the greatest `revision`.

use std::sync::Arc;
use std::time::Duration;

use metadata::{Metadata, MetadataError, RuleChange};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::task::JoinHandle;

use super::Alerts;
use crate::ingest::kafka::KafkaSinkConfig;

/// Changes read from the outbox at once.
pub const BATCH: i64 = 500;
/// The longest wait between two rounds without a wake-up.
pub const POLL: Duration = Duration::from_secs(1);

/// Why a round did not publish everything.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("producing rule {id} revision {revision}: {reason}")]
    Kafka {
        id: String,
        revision: i64,
        reason: String,
    },
    #[error("encoding rule {id}: {source}")]
    Encode {
        id: String,
        source: serde_json::Error,
    },
}

/// The record value of a change: the rule's JSON, `None` for a tombstone.
pub fn record_value(change: &RuleChange) -> Result<Option<Vec<u8>>, PublishError> {
    change
        .rule
        .as_ref()
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|source| PublishError::Encode {
            id: change.id.clone(),
            source,
        })
}

/// One round: produces every unpublished change (at most [`BATCH`]) and
/// marks each published once acknowledged. Returns how many were
/// published; the first failure is the error (the changes acknowledged
/// before it are marked).
pub async fn publish_pending(
    metadata: &Metadata,
    producer: &FutureProducer,
    topic: &str,
) -> Result<usize, PublishError> {
    let changes = metadata.unpublished_rules(BATCH).await?;
    // Queue every record first, in order, then wait for the
    // acknowledgements.
    let mut queued = Vec::with_capacity(changes.len());
    let mut failure = None;
    for change in changes {
        let value = record_value(&change)?;
        let mut record: FutureRecord<'_, str, Vec<u8>> = FutureRecord::to(topic).key(&change.id);
        if let Some(value) = value.as_ref() {
            record = record.payload(value);
        }
        match producer.send_result(record) {
            Ok(delivery) => queued.push((change, delivery)),
            Err((e, _)) => {
                failure = Some(PublishError::Kafka {
                    id: change.id.clone(),
                    revision: change.revision,
                    reason: e.to_string(),
                });
                break;
            }
        }
    }
    let mut published = 0;
    for (change, delivery) in queued {
        let reason = match delivery.await {
            Ok(Ok(_)) => {
                metadata
                    .mark_rule_published(&change.id, change.revision)
                    .await?;
                published += 1;
                continue;
            }
            Ok(Err((e, _))) => e.to_string(),
            Err(_) => "the producer went away".to_string(),
        };
        failure.get_or_insert(PublishError::Kafka {
            id: change.id,
            revision: change.revision,
            reason,
        });
    }
    match failure {
        None => Ok(published),
        Some(e) => Err(e),
    }
}

/// Starts the publisher of `topic`: a round at start, then after each
/// [`Alerts::rules_changed`] or every [`POLL`]. The producer is created
/// here (a bad setting fails the start) without contacting the broker.
pub fn spawn_rule_publisher(
    alerts: Arc<Alerts>,
    config: KafkaSinkConfig,
    topic: String,
) -> Result<JoinHandle<()>, KafkaError> {
    let producer: FutureProducer = config.client_config().create()?;
    Ok(tokio::spawn(run(alerts, config, producer, topic)))
}

async fn run(
    alerts: Arc<Alerts>,
    config: KafkaSinkConfig,
    mut producer: FutureProducer,
    topic: String,
) {
    let mut failing = false;
    loop {
        match publish_pending(&alerts.metadata, &producer, &topic).await {
            Ok(n) => {
                if failing {
                    tracing::info!(%topic, "rule publisher: publishing again");
                    failing = false;
                }
                if n > 0 {
                    tracing::debug!(%topic, published = n, "rule changes published");
                }
                if n as i64 >= BATCH {
                    // More are waiting.
                    continue;
                }
            }
            Err(e) => {
                tracing::warn!(%topic, error = %e, "rule publisher: round failed; retrying");
                failing = true;
                if let Some((code, reason)) = producer.client().fatal_error() {
                    tracing::error!(?code, %reason, "rule publisher: the producer hit a fatal error; replacing it");
                    match config.client_config().create() {
                        Ok(fresh) => producer = fresh,
                        Err(e) => tracing::error!(error = %e, "cannot create a new Kafka producer"),
                    }
                }
            }
        }
        tokio::select! {
            () = alerts.rule_change() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
