//! The Kafka [`EventSink`]: an rdkafka producer, idempotent with
//! `acks=all` by default, whose sends resolve when the broker acknowledged
//! (or after the delivery timeout, `message.timeout.ms`).
//!
//! The producer is created at start without waiting for the broker: a
//! broker that cannot be reached makes deliveries time out (a 503 for the
//! request), never keeps the read API from serving. An idempotent producer
//! that hit a fatal error (librdkafka's `rd_kafka_fatal_error`, e.g. a
//! sequence gap the broker refused) cannot produce again, so after a failed
//! send the sink checks for one and replaces the producer.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;

use super::sink::{EventSink, OutRecord, SendFuture, SinkError};

/// Producer settings (`query-api serve --help` documents each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSinkConfig {
    pub brokers: String,
    /// `enable.idempotence` (with `acks=all` in either case).
    pub idempotence: bool,
    /// `message.timeout.ms`: how long a record may wait for its
    /// acknowledgement, retries included.
    pub delivery_timeout: Duration,
    pub linger_ms: u64,
    /// `batch.num.messages` (1: a record per batch, for tansu's memory
    /// storage when consumers may resume mid-topic).
    pub batch_records: u32,
    /// Must be every producer's of the three topics (loadgen's, upstream
    /// services'): a campaign's records must land on the same partition
    /// number of each topic. `murmur2_random` is the Java client's.
    pub partitioner: String,
    /// The user's librdkafka properties, applied last.
    pub properties: kafka_settings::KafkaProperties,
}

impl KafkaSinkConfig {
    pub fn client_config(&self) -> ClientConfig {
        let timeout_ms = u64::try_from(self.delivery_timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", self.idempotence.to_string())
            .set("acks", "all")
            .set("message.timeout.ms", timeout_ms.to_string())
            // A request may not outlive the delivery timeout.
            .set("request.timeout.ms", timeout_ms.min(30_000).to_string())
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.num.messages", self.batch_records.to_string())
            .set("partitioner", &self.partitioner)
            .set("compression.type", "none");
        self.properties.apply(&mut c);
        c
    }
}

/// Produces to Kafka.
pub struct KafkaSink {
    config: KafkaSinkConfig,
    producer: RwLock<Arc<FutureProducer>>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// The producer (no broker contact yet; a bad setting fails here).
    pub fn new(config: KafkaSinkConfig) -> Result<Self, KafkaError> {
        let producer = config.client_config().create()?;
        Ok(KafkaSink {
            config,
            producer: RwLock::new(Arc::new(producer)),
        })
    }

    fn current(&self) -> Arc<FutureProducer> {
        match self.producer.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// After a failed send: a producer in a fatal state is replaced.
    fn recover(&self, failed: &Arc<FutureProducer>) {
        let Some((code, reason)) = failed.client().fatal_error() else {
            return;
        };
        tracing::error!(?code, %reason, "the Kafka producer hit a fatal error; replacing it");
        match self.config.client_config().create::<FutureProducer>() {
            Ok(fresh) => {
                let mut slot = match self.producer.write() {
                    Ok(slot) => slot,
                    Err(poisoned) => poisoned.into_inner(),
                };
                // Another request may have replaced it already.
                if Arc::ptr_eq(&slot, failed) {
                    *slot = Arc::new(fresh);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot create a new Kafka producer"),
        }
    }

    async fn send_all(&self, records: Vec<OutRecord>) -> Result<(), SinkError> {
        let producer = self.current();
        let total = records.len();
        let deadline = Instant::now() + self.config.delivery_timeout;
        // Queue every record first (in order, so a partition's records keep
        // it), then wait for the acknowledgements.
        let mut pending = Vec::with_capacity(total);
        for r in &records {
            loop {
                let record = FutureRecord::to(&r.topic).key(&r.key).payload(&r.payload);
                match producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(Ok(delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                        if Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        pending.push(Err(e.to_string()));
                        break;
                    }
                }
            }
        }
        let mut acknowledged = 0;
        let mut first_error = None;
        for p in pending {
            let outcome = match p {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((e, _))) => Err(e.to_string()),
                    Err(_) => Err("the producer went away".to_string()),
                },
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => acknowledged += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(reason) => {
                self.recover(&producer);
                Err(SinkError {
                    acknowledged,
                    total,
                    reason,
                })
            }
        }
    }
}

impl EventSink for KafkaSink {
    fn send(&self, records: Vec<OutRecord>) -> SendFuture<'_> {
        Box::pin(self.send_all(records))
    }
}

/// Which of `topics` the broker at `brokers` does not have (or why it
/// could not be asked), for a warning at start. Blocking.
pub fn missing_topics(
    brokers: &str,
    properties: &kafka_settings::KafkaProperties,
    topics: &[&str],
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "false");
    properties.apply(&mut config);
    let consumer: BaseConsumer = config.create().map_err(|e| e.to_string())?;
    let metadata = consumer
        .fetch_metadata(None, timeout)
        .map_err(|e| e.to_string())?;
    Ok(topics
        .iter()
        .filter(|t| {
            !metadata
                .topics()
                .iter()
                .any(|m| m.name() == **t && m.error().is_none() && !m.partitions().is_empty())
        })
        .map(|t| (*t).to_string())
        .collect())
}
