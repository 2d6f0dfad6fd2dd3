//! The consumer: one thread that polls Kafka and hands records, in order, to
//! the engine over a bounded channel.
//!
//! Offsets come from our own checkpoints, not from Kafka: when partitions are
//! assigned, the rebalance callback asks the engine to restore their state
//! and assigns them at the offsets the restored state reflects. When they
//! are revoked, it waits until the engine has written a final snapshot.
//! Commits to Kafka are progress reports for lag tools only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::IntCounter;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;

use super::bounds;
use super::config::KafkaConfig;
use crate::metrics::Metrics;

/// Which of the three input topics: 0 lifecycle, 1 notifications, 2 interactions.
pub type TopicIndex = usize;

pub use crate::store::Offsets;

/// One record as read.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    pub topic: TopicIndex,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// How long reading a partition's watermarks at assignment may take.
const WATERMARKS_TIMEOUT: Duration = Duration::from_secs(10);

/// Records handed to the engine in one channel operation at most.
pub const BATCH_RECORDS: usize = 512;

/// What the consumer thread tells the engine, in the order it happened.
#[derive(Debug)]
pub enum SourceEvent {
    /// Records in the order read (at most [`BATCH_RECORDS`]).
    Records(Vec<SourceRecord>),
    /// Restore these partitions and reply with the offsets to resume at.
    Assigned {
        partitions: BTreeSet<i32>,
        reply: SyncSender<BTreeMap<i32, Offsets>>,
    },
    /// Write a final snapshot of these partitions, then reply.
    Revoked {
        partitions: BTreeSet<i32>,
        reply: SyncSender<()>,
    },
}

/// Shared switches between the engine and the consumer thread.
#[derive(Debug, Default)]
pub struct SourceControl {
    /// The engine is over its memory budget: take no records.
    pub pause: AtomicBool,
    pub shutdown: AtomicBool,
    /// Offsets covered by the latest checkpoint, to commit to Kafka.
    commits: Mutex<Vec<(TopicIndex, i32, i64)>>,
}

impl SourceControl {
    pub fn commit_later(&self, offsets: Vec<(TopicIndex, i32, i64)>) {
        if let Ok(mut c) = self.commits.lock() {
            c.extend(offsets);
        }
    }

    fn take_commits(&self) -> Vec<(TopicIndex, i32, i64)> {
        self.commits
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot create the Kafka consumer: {0}")]
    Create(Box<KafkaError>),
    #[error("cannot read metadata of topic {topic} from {brokers}: {source}. Is the broker up (make up)?")]
    Metadata {
        topic: String,
        brokers: String,
        source: Box<KafkaError>,
    },
    #[error("topic {0} does not exist; create it (deploy/local/topics.sh does) with as many partitions as the others")]
    MissingTopic(String),
    #[error("topics are not co-partitioned: {0}. All three input topics must have the same partition count, keyed by campaign_id")]
    NotCoPartitioned(String),
    #[error("cannot subscribe: {0}")]
    Subscribe(Box<KafkaError>),
    #[error("{}{}", .0, if .0.is_fatal() { "" } else { ". Is the broker up (make up)?" })]
    Connect(kafka_settings::ConnectError),
}

struct Context {
    topics: [String; 3],
    events: SyncSender<SourceEvent>,
    metrics: Metrics,
    /// `records_consumed` of each topic, resolved once.
    consumed: [IntCounter; 3],
    /// Records read but not yet handed to the engine. The rebalance
    /// callbacks run inside `poll` and hand them over first, so the engine
    /// sees records and assignments in the order they happened.
    batch: Mutex<Vec<SourceRecord>>,
    /// The offset the next record of each assigned (topic, partition) must
    /// have (see [`Position`]).
    positions: Mutex<HashMap<(TopicIndex, i32), Position>>,
    /// Configuration of a consumer outside the group, for reading where a
    /// log really ends ([`bounds::probe_ends`]).
    probe: rdkafka::ClientConfig,
}

/// Where a partition's next record must be. Records of our topics are
/// contiguous (neither compacted nor transactional), so a record past it
/// means records were skipped by the broker or the client: they are never
/// applied, so the figures would be short. That is logged as an error and
/// counted (`processor_offset_gaps_total`); it was seen with tansu's
/// memory storage, which cannot fetch from inside a stored batch (its
/// sqlite storage and Kafka can). A record before it was delivered already
/// (or lies before the checkpoint) and is dropped.
#[derive(Debug, Clone, Copy)]
struct Position {
    next: i64,
}

/// What to do with a record, given its partition's position.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Take,
    /// Already delivered: drop it.
    Stale,
    /// Take it, but the records from this offset up to it never came.
    Gap(i64),
}

fn check_position(pos: &mut Position, offset: i64) -> Check {
    if offset < pos.next {
        return Check::Stale;
    }
    let missing = pos.next;
    pos.next = offset + 1;
    if offset > missing {
        Check::Gap(missing)
    } else {
        Check::Take
    }
}

impl ClientContext for Context {
    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                if p.consumer_lag >= 0 {
                    self.metrics
                        .partition_lag
                        .with_label_values(&[topic.as_str(), &partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl Context {
    /// Hand the records read so far to the engine (blocks while the
    /// read-ahead channel is full). False when the engine is gone.
    fn flush(&self) -> bool {
        let records = match self.batch.lock() {
            Ok(mut b) if !b.is_empty() => std::mem::take(&mut *b),
            _ => return true,
        };
        self.events.send(SourceEvent::Records(records)).is_ok()
    }

    /// Add a record to the batch; true when the batch is full.
    fn push(&self, record: SourceRecord) -> bool {
        match self.batch.lock() {
            Ok(mut b) => {
                b.push(record);
                b.len() >= BATCH_RECORDS
            }
            Err(_) => true,
        }
    }

    fn topic_index(&self, topic: &str) -> Option<TopicIndex> {
        self.topics.iter().position(|t| t == topic)
    }

    fn partitions(tpl: &TopicPartitionList) -> BTreeSet<i32> {
        tpl.elements().iter().map(|e| e.partition()).collect()
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let partitions = Self::partitions(tpl);
        tracing::info!(?partitions, "partitions assigned; restoring their state");
        self.flush();
        let (reply, offsets) = mpsc::sync_channel(1);
        let offsets = match self
            .events
            .send(SourceEvent::Assigned { partitions, reply })
            .ok()
            .and_then(|()| offsets.recv().ok())
        {
            Some(o) => o,
            None => {
                tracing::warn!("engine gone during assignment; assigning nothing");
                return;
            }
        };
        let elements: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        let starts: Vec<(String, i32, Offset)> = elements
            .into_iter()
            .map(|(topic, partition)| {
                let offset = self
                    .topic_index(&topic)
                    .and_then(|t| offsets.get(&partition).and_then(|o| o[t]))
                    .map_or(Offset::Beginning, Offset::Offset);
                (topic, partition, offset)
            })
            .collect();
        let refused = self.outside_the_log(consumer, &starts);
        let mut accepted = TopicPartitionList::new();
        for (topic, partition, offset) in starts {
            if refused.contains(&partition) {
                continue;
            }
            if let Err(e) = accepted.add_partition_offset(&topic, partition, offset) {
                tracing::error!(%topic, partition, error = %e, "cannot set the start offset");
            }
            // From the beginning: the first record, whatever its offset,
            // sets the position.
            if let (Some(t), Ok(mut positions)) = (self.topic_index(&topic), self.positions.lock())
            {
                match offset {
                    Offset::Offset(next) => {
                        positions.insert((t, partition), Position { next });
                    }
                    _ => {
                        positions.remove(&(t, partition));
                    }
                }
            }
        }
        // (librdkafka owns `tpl`: assign our own list, never replace it.)
        if let Err(e) = consumer.assign(&accepted) {
            tracing::error!(error = %e, "assign failed");
        }
    }

    /// Partitions whose checkpoint lies outside the log of one of their
    /// topics (see [`super::bounds`]); each is reported as an error.
    fn outside_the_log(
        &self,
        consumer: &BaseConsumer<Self>,
        starts: &[(String, i32, Offset)],
    ) -> BTreeSet<i32> {
        // The listed watermarks of every checkpointed start.
        let mut listed = Vec::new();
        for (topic, partition, offset) in starts {
            let Offset::Offset(next) = *offset else {
                continue;
            };
            match consumer.fetch_watermarks(topic, *partition, WATERMARKS_TIMEOUT) {
                Ok((low, high)) => listed.push((topic.as_str(), *partition, next, low, high)),
                Err(e) => {
                    // Resuming is still right when the log is intact; say
                    // that it could not be checked.
                    tracing::warn!(%topic, partition, error = %e, "cannot read the watermarks; the checkpoint is not checked against the log");
                }
            }
        }
        // A listed end short of the checkpoint may be tansu's: read the real
        // ends, every partition of a topic with one probe, the topics at once
        // (a probe per partition, one after another, cost 0.3 s each).
        let mut short: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
        for &(topic, partition, next, _, high) in &listed {
            if next > high && high > 0 {
                short.entry(topic).or_default().push((partition, high));
            }
        }
        let ends: BTreeMap<(&str, i32), i64> = std::thread::scope(|s| {
            let probes: Vec<_> = short
                .iter()
                .map(|(topic, partitions)| {
                    let probe = &self.probe;
                    s.spawn(move || {
                        let ends = bounds::probe_ends(probe, topic, partitions, WATERMARKS_TIMEOUT);
                        (*topic, ends)
                    })
                })
                .collect();
            probes
                .into_iter()
                .filter_map(|probe| probe.join().ok())
                .flat_map(|(topic, ends)| ends.into_iter().map(move |(p, end)| ((topic, p), end)))
                .collect()
        });
        let mut refused = BTreeSet::new();
        for (topic, partition, next, low, mut high) in listed {
            if next > high && high > 0 {
                match ends.get(&(topic, partition)) {
                    Some(end) => high = *end,
                    None => {
                        tracing::warn!(%topic, partition, "cannot read the end of the log; the checkpoint is not checked against it");
                        continue;
                    }
                }
            }
            if let Err(outside) = bounds::check(next, low, high) {
                tracing::error!("{}", bounds::refusal(topic, partition, &outside));
                refused.insert(partition);
            }
        }
        self.metrics.refused_partitions.set(refused.len() as i64);
        refused
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let partitions = Self::partitions(tpl);
        tracing::info!(?partitions, "partitions revoked; writing a final snapshot");
        // Records read before the revocation belong in the final snapshot.
        self.flush();
        if let Ok(mut positions) = self.positions.lock() {
            positions.retain(|(_, p), _| !partitions.contains(p));
        }
        let (reply, done) = mpsc::sync_channel(1);
        if self
            .events
            .send(SourceEvent::Revoked { partitions, reply })
            .is_ok()
        {
            // Bounded: the group must not wait forever on a stuck ClickHouse.
            if done.recv_timeout(Duration::from_secs(60)).is_err() {
                tracing::warn!("final snapshot not confirmed within 60 s; releasing anyway");
            }
        }
        if let Err(e) = consumer.unassign() {
            tracing::error!(error = %e, "unassign failed");
        }
    }
}

impl ConsumerContext for Context {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                tracing::error!(error = ?other, "rebalance error; dropping the assignment");
                self.revoke(consumer, tpl);
            }
        }
    }
}

/// The running consumer thread.
#[derive(Debug)]
pub struct Source {
    pub control: Arc<SourceControl>,
    thread: Option<JoinHandle<()>>,
}

/// Check that the three topics exist and are co-partitioned; returns the
/// partition count.
pub fn check_topics(config: &KafkaConfig) -> Result<i32, SourceError> {
    // First the brokers themselves: a refused credential or certificate is
    // an error now, not a reconnect loop.
    kafka_settings::check_connection(
        &config.brokers,
        &config.properties,
        config.metadata_timeout(),
    )
    .map_err(SourceError::Connect)?;
    let consumer: BaseConsumer = config
        .consumer_config()
        .create()
        .map_err(|e| SourceError::Create(Box::new(e)))?;
    let mut counts = Vec::new();
    for topic in config.topics() {
        let md = consumer
            .fetch_metadata(Some(topic), config.metadata_timeout())
            .map_err(|source| SourceError::Metadata {
                topic: topic.to_string(),
                brokers: config.brokers.clone(),
                source: Box::new(source),
            })?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .ok_or_else(|| SourceError::MissingTopic(topic.to_string()))?;
        counts.push((topic.to_string(), t.partitions().len() as i32));
    }
    let first = counts[0].1;
    if counts.iter().any(|(_, n)| *n != first) {
        let list: Vec<String> = counts
            .iter()
            .map(|(t, n)| format!("{t} has {n} partitions"))
            .collect();
        return Err(SourceError::NotCoPartitioned(list.join(", ")));
    }
    Ok(first)
}

impl Source {
    /// Subscribe and start the consumer thread. Events arrive on the
    /// returned receiver, about `capacity` records ahead of the engine
    /// (in batches of up to [`BATCH_RECORDS`]).
    pub fn start(
        config: &KafkaConfig,
        capacity: usize,
        metrics: Metrics,
    ) -> Result<(Source, Receiver<SourceEvent>), SourceError> {
        let (tx, rx) = mpsc::sync_channel(capacity.div_ceil(BATCH_RECORDS).max(1));
        let topics = config.topics().map(str::to_string);
        let consumed = topics
            .clone()
            .map(|t| metrics.records_consumed.with_label_values(&[t.as_str()]));
        let context = Context {
            topics: topics.clone(),
            events: tx,
            metrics: metrics.clone(),
            consumed,
            batch: Mutex::new(Vec::with_capacity(BATCH_RECORDS)),
            positions: Mutex::new(HashMap::new()),
            probe: {
                let mut probe = config.consumer_config();
                probe.set("group.id", format!("{}-end-probe", config.group_id));
                probe
            },
        };
        let consumer: BaseConsumer<Context> = config
            .consumer_config()
            .create_with_context(context)
            .map_err(|e| SourceError::Create(Box::new(e)))?;
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&refs)
            .map_err(|e| SourceError::Subscribe(Box::new(e)))?;
        let control = Arc::new(SourceControl::default());
        let ctl = control.clone();
        let thread = std::thread::Builder::new()
            .name("kafka-source".into())
            .spawn(move || run(consumer, ctl, topics, metrics))
            .map_err(|e| SourceError::Create(Box::new(KafkaError::Subscription(e.to_string()))))?;
        Ok((
            Source {
                control,
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// Stop polling, leave the group (revoking, which waits for the final
    /// snapshot) and join the thread.
    pub fn stop(mut self) {
        self.control.shutdown.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    consumer: BaseConsumer<Context>,
    control: Arc<SourceControl>,
    topics: [String; 3],
    metrics: Metrics,
) {
    let mut paused = false;
    while !control.shutdown.load(Ordering::SeqCst) {
        commit(&consumer, &control, &topics);
        // Back-pressure: while the engine is over its budget, take nothing.
        // librdkafka keeps prefetching only up to queued.max.messages.kbytes,
        // then stops fetching; heartbeats go on in its own threads.
        // A pause longer than max.poll.interval.ms costs a rejoin: the group
        // drops this member and assigns its partitions again (the engine
        // restores them; rows the old assignment still writes are fenced).
        // Polling and seeking back while paused would keep the member, but
        // tansu's memory storage skips the rest of a stored batch after a
        // seek into it (records lost), so the interval is long instead.
        let want_pause = control.pause.load(Ordering::SeqCst);
        if want_pause != paused {
            paused = want_pause;
            metrics.paused.set(i64::from(paused));
            tracing::info!(
                paused,
                "back-pressure: consumption {}",
                if paused { "paused" } else { "resumed" }
            );
        }
        if paused {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        // Wait for a record, then take what is already there without
        // waiting, up to a batch; hand the batch over in one send.
        let mut wait = Duration::from_millis(100);
        loop {
            match consumer.poll(wait) {
                None => break,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                    break;
                }
                Some(Ok(m)) => {
                    if take(&consumer, &m) {
                        break;
                    }
                }
            }
            wait = Duration::ZERO;
        }
        if !consumer.context().flush() {
            return;
        }
    }
    commit(&consumer, &control, &topics);
    tracing::info!("leaving the consumer group");
    // Dropping the consumer leaves the group; the revoke callback waits for
    // the engine's final snapshot.
    drop(consumer);
}

/// Count a record and add it to the batch if it is in sequence; true when
/// the batch is full.
fn take(consumer: &BaseConsumer<Context>, m: &BorrowedMessage<'_>) -> bool {
    let context = consumer.context();
    let Some(topic) = context.topic_index(m.topic()) else {
        return false;
    };
    context.consumed[topic].inc();
    if !in_sequence(consumer, topic, m.partition(), m.offset(), &context.metrics) {
        return false;
    }
    context.push(SourceRecord {
        topic,
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    })
}

/// Whether to hand this record to the engine (see [`Position`]).
fn in_sequence(
    consumer: &BaseConsumer<Context>,
    topic: TopicIndex,
    partition: i32,
    offset: i64,
    metrics: &Metrics,
) -> bool {
    let context = consumer.context();
    let check = match context.positions.lock() {
        Ok(mut positions) => {
            let pos = positions
                .entry((topic, partition))
                .or_insert(Position { next: offset });
            check_position(pos, offset)
        }
        Err(_) => Check::Take,
    };
    let name = &context.topics[topic];
    match check {
        Check::Take => true,
        Check::Stale => {
            tracing::debug!(topic = %name, partition, offset, "record delivered again; dropped");
            false
        }
        Check::Gap(missing) => {
            tracing::error!(
                topic = %name, partition, first_missing = missing, got = offset,
                "records missing: the broker skipped them (they are not applied)"
            );
            metrics
                .offset_gaps
                .with_label_values(&[name])
                .inc_by(u64::try_from(offset - missing).unwrap_or(0));
            true
        }
    }
}

fn commit(consumer: &BaseConsumer<Context>, control: &SourceControl, topics: &[String; 3]) {
    let commits = control.take_commits();
    if commits.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, offset) in commits {
        if let Some(name) = topics.get(topic) {
            let _ = tpl.add_partition_offset(name, partition, Offset::Offset(offset));
        }
    }
    if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
        tracing::debug!(error = %e, "progress commit failed (harmless: offsets live in our checkpoints)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_records_are_taken_and_repeats_dropped() {
        let mut pos = Position { next: 10 };
        assert_eq!(check_position(&mut pos, 10), Check::Take);
        assert_eq!(check_position(&mut pos, 11), Check::Take);
        assert_eq!(check_position(&mut pos, 9), Check::Stale);
        assert_eq!(check_position(&mut pos, 11), Check::Stale);
        assert_eq!(pos.next, 12);
    }

    #[test]
    fn a_gap_is_reported_from_the_first_missing_offset() {
        let mut pos = Position { next: 10 };
        assert_eq!(check_position(&mut pos, 13), Check::Gap(10));
        assert_eq!(check_position(&mut pos, 14), Check::Take);
        assert_eq!(check_position(&mut pos, 12), Check::Stale);
    }
}
