//! Producing a plan to Kafka: a threaded librdkafka producer with batching,
//! keyed by campaign id, paced to a target rate, with a delivery report for
//! every record; fails if any record was not delivered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use schemas::{Codec, EventKind};

use super::config::ProducerConfig;
use super::encoder;
use super::error::LoadgenError;
use super::ordering::{OwnedRecord, Plan, Record, RecordClass};
use super::progress::{Pacer, Progress};
use super::traffic::Traffic;

/// How long to wait for the broker's first answer.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the last deliveries.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// What was produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    /// Topic -> records delivered to it.
    pub per_topic: BTreeMap<String, u64>,
    pub delivered: u64,
    pub elapsed: Duration,
}

/// Counts delivery reports (called on the producer's polling thread).
#[derive(Debug, Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    *first = Some(error.to_string());
                }
            }
        }
    }
}

fn client_config(cfg: &ProducerConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &cfg.brokers)
        .set("linger.ms", cfg.linger_ms.to_string())
        .set("partitioner", &cfg.partitioner)
        .set("compression.codec", &cfg.compression)
        .set("batch.num.messages", cfg.batch_records.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "60000");
    config
}

/// Produce every record of `plan` in order, encoding them on worker
/// threads as it goes; `Err` if any was not delivered.
pub fn produce(
    cfg: &ProducerConfig,
    traffic: &Traffic,
    plan: &Plan,
    codec: &Codec,
) -> Result<Produced, LoadgenError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    produce_with(cfg, plan.items.len() as u64, |send| {
        encoder::for_each_record(plan, traffic, codec, workers, |record| send(&record))
    })
}

/// Produce records encoded beforehand ([`encoder::encode_all`]), in
/// order: the producing process then spends its CPU on producing only (a
/// benchmark's load generator shares the machine with what it measures).
pub fn produce_encoded(
    cfg: &ProducerConfig,
    records: &[OwnedRecord],
) -> Result<Produced, LoadgenError> {
    produce_with(cfg, records.len() as u64, |send| {
        records.iter().try_for_each(|r| send(&r.borrowed()))
    })
}

/// The producing loop: `records` calls its argument with every record, in
/// order.
fn produce_with<R>(cfg: &ProducerConfig, total: u64, records: R) -> Result<Produced, LoadgenError>
where
    R: FnOnce(&mut dyn FnMut(&Record<'_>) -> Result<(), LoadgenError>) -> Result<(), LoadgenError>,
{
    let producer: ThreadedProducer<Deliveries> =
        client_config(cfg).create_with_context(Deliveries::default())?;
    check_topics(&producer, cfg)?;
    let mut pacer = Pacer::new(cfg.rate);
    let mut progress = Progress::new(total);
    let mut per_kind = [0u64; 3];
    let delivered =
        |p: &ThreadedProducer<Deliveries>| p.context().delivered.load(Ordering::Relaxed);

    let mut n = 0u64;
    records(&mut |record: &Record<'_>| {
        pacer.wait(n);
        let reframed = match record.class {
            RecordClass::Poison => None,
            _ => cfg.framing.apply(record.kind, &record.payload),
        };
        let payload = reframed.as_deref().unwrap_or(record.payload.as_ref());
        let mut base = BaseRecord::to(cfg.topics.of(record.kind))
            .key(record.key)
            .payload(payload);
        loop {
            match producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The polling thread drains the queue as deliveries come in.
                    base = back;
                    std::thread::sleep(Duration::from_millis(2));
                    progress.tick(n, delivered(&producer));
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
        per_kind[record.kind as usize] += 1;
        n += 1;
        progress.tick(n, delivered(&producer));
        Ok(())
    })?;

    let deadline = Instant::now() + FLUSH_TIMEOUT;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        match producer.flush(Duration::from_secs(1)) {
            Ok(()) | Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
            Err(error) => return Err(error.into()),
        }
        progress.tick(total, delivered(&producer));
    }
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed) + producer.in_flight_count().max(0) as u64;
    if failed > 0 {
        let first_error = context
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "flush timed out".to_owned());
        return Err(LoadgenError::Delivery {
            failed,
            total,
            first_error,
        });
    }
    let per_topic = EventKind::ALL
        .iter()
        .map(|kind| (cfg.topics.of(*kind).to_owned(), per_kind[*kind as usize]))
        .collect();
    Ok(Produced {
        per_topic,
        delivered: delivered(&producer),
        elapsed: progress.elapsed(),
    })
}

/// Fail fast when no broker answers; warn about missing topics.
fn check_topics(
    producer: &ThreadedProducer<Deliveries>,
    cfg: &ProducerConfig,
) -> Result<(), LoadgenError> {
    let metadata = producer
        .client()
        .fetch_metadata(None, METADATA_TIMEOUT)
        .map_err(|error| LoadgenError::Unreachable {
            brokers: cfg.brokers.clone(),
            error,
        })?;
    for topic in cfg.topics.all() {
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        match found {
            Some(t) => tracing::info!(topic, partitions = t.partitions().len(), "producing to"),
            None => tracing::warn!(
                topic,
                "topic does not exist; the broker may create it on first use (--create-topics creates it)"
            ),
        }
    }
    Ok(())
}

/// Create `topics` with `partitions` partitions each (replication: the
/// broker's default); topics that exist already are left alone.
pub fn create_topics(brokers: &str, topics: &[&str], partitions: i32) -> Result<(), LoadgenError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(-1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadgenError::Config(format!("cannot start a runtime: {e}")))?;
    let results = runtime.block_on(admin.create_topics(&new, &options))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(LoadgenError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}
