//! The outbox publisher: changes committed in the metadata database with a
//! `revision` (alert rules, tenants) are produced to their compacted topic
//! and marked published once the broker acknowledged them, so every
//! processor learns each change after its commit, at least once, and keeps
//! the greatest revision.
//!
//! A record's key is the entity's id (UTF-8); its value is the entity's
//! JSON, or nothing (a tombstone) for one deleted for good. The producer is
//! idempotent with `acks=all` (the HTTP ingestion producer's settings). A
//! change that fails to publish, or whose mark fails, stays in the outbox
//! and is produced again at the next round.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use metadata::MetadataError;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::task::JoinHandle;

use crate::ingest::kafka::KafkaSinkConfig;

/// Changes read from the outbox at once.
pub const BATCH: i64 = 500;
/// The longest wait between two rounds without a wake-up.
pub const POLL: Duration = Duration::from_secs(1);

/// One change to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub revision: i64,
    /// The record's value; `None`: a tombstone.
    pub value: Option<Vec<u8>>,
}

/// Why a round did not publish everything.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("producing {what} {key} revision {revision}: {reason}")]
    Kafka {
        what: &'static str,
        key: String,
        revision: i64,
        reason: String,
    },
    #[error("encoding {what} {key}: {source}")]
    Encode {
        what: &'static str,
        key: String,
        source: serde_json::Error,
    },
}

/// A table with an outbox: its unpublished changes, how to mark one
/// published, and a wake-up after a committed change.
pub trait Outbox: Send + Sync + 'static {
    /// What the logs and errors call an entity ("rule", "tenant").
    const WHAT: &'static str;

    /// Unpublished changes, oldest first, at most `limit`.
    fn pending(&self, limit: i64)
        -> impl Future<Output = Result<Vec<Change>, PublishError>> + Send;

    /// Mark `revision` of `key` published (a later one stays unpublished).
    fn mark(
        &self,
        key: &str,
        revision: i64,
    ) -> impl Future<Output = Result<(), MetadataError>> + Send;

    /// Completes after a change was committed (or never: rounds then run
    /// every [`POLL`]).
    fn changed(&self) -> impl Future<Output = ()> + Send;
}

/// One round: produces every unpublished change (at most [`BATCH`]) and
/// marks each published once acknowledged. Returns how many were
/// published; the first failure is the error (the changes acknowledged
/// before it are marked).
pub async fn publish_pending<O: Outbox>(
    outbox: &O,
    producer: &FutureProducer,
    topic: &str,
) -> Result<usize, PublishError> {
    let changes = outbox.pending(BATCH).await?;
    // Queue every record first, in order, then wait for the
    // acknowledgements.
    let mut queued = Vec::with_capacity(changes.len());
    let mut failure = None;
    let failed = |change: &Change, reason: String| PublishError::Kafka {
        what: O::WHAT,
        key: change.key.clone(),
        revision: change.revision,
        reason,
    };
    for change in changes {
        let mut record: FutureRecord<'_, str, Vec<u8>> = FutureRecord::to(topic).key(&change.key);
        if let Some(value) = change.value.as_ref() {
            record = record.payload(value);
        }
        match producer.send_result(record) {
            Ok(delivery) => queued.push((change, delivery)),
            Err((e, _)) => {
                failure = Some(failed(&change, e.to_string()));
                break;
            }
        }
    }
    let mut published = 0;
    for (change, delivery) in queued {
        let reason = match delivery.await {
            Ok(Ok(_)) => {
                outbox.mark(&change.key, change.revision).await?;
                published += 1;
                continue;
            }
            Ok(Err((e, _))) => e.to_string(),
            Err(_) => "the producer went away".to_string(),
        };
        failure.get_or_insert(failed(&change, reason));
    }
    match failure {
        None => Ok(published),
        Some(e) => Err(e),
    }
}

/// Starts the publisher of `outbox` to `topic`: a round at start, then
/// after each [`Outbox::changed`] or every [`POLL`]. The producer is
/// created here (a bad setting fails the start) without contacting the
/// broker.
pub fn spawn_publisher<O: Outbox>(
    outbox: Arc<O>,
    config: KafkaSinkConfig,
    topic: String,
) -> Result<JoinHandle<()>, KafkaError> {
    let producer: FutureProducer = config.client_config().create()?;
    Ok(tokio::spawn(run(outbox, config, producer, topic)))
}

async fn run<O: Outbox>(
    outbox: Arc<O>,
    config: KafkaSinkConfig,
    mut producer: FutureProducer,
    topic: String,
) {
    let what = O::WHAT;
    let mut failing = false;
    loop {
        match publish_pending(&*outbox, &producer, &topic).await {
            Ok(n) => {
                if failing {
                    tracing::info!(%topic, what, "outbox publisher: publishing again");
                    failing = false;
                }
                if n > 0 {
                    tracing::debug!(%topic, what, published = n, "changes published");
                }
                if n as i64 >= BATCH {
                    // More are waiting.
                    continue;
                }
            }
            Err(e) => {
                tracing::warn!(%topic, error = %e, "outbox publisher: round failed; retrying");
                failing = true;
                if let Some((code, reason)) = producer.client().fatal_error() {
                    tracing::error!(?code, %reason, %topic,
                        "outbox publisher: the producer hit a fatal error; replacing it");
                    match config.client_config().create() {
                        Ok(fresh) => producer = fresh,
                        Err(e) => tracing::error!(error = %e, "cannot create a new Kafka producer"),
                    }
                }
            }
        }
        tokio::select! {
            () = outbox.changed() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
