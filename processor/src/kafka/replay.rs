//! `processor dlq replay`, the Kafka side: read the dead-letter topic over
//! the ranges fixed at start, and produce each selected record to the
//! partition of the topic it came from, with an idempotent producer
//! (acks=all), waiting for every delivery. What to replay, the ranges and
//! the texts are [`crate::replay`]'s.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientConfig, ClientContext};

use crate::replay::{
    replayed_headers, DeadLetterHeaders, Decision, Filter, PartitionFacts, Placement, Progress,
    Range, ReplayArgs, Summary, TimeWindow,
};

/// Consumer group of a run without `--group` (nothing is committed to it).
pub const DEFAULT_GROUP: &str = "campaign-analytics-dlq-replay";

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot create the Kafka {what}: {cause}")]
    Create {
        what: &'static str,
        cause: Box<KafkaError>,
    },
    #[error("cannot reach the Kafka broker at {brokers} within {timeout_s} s ({what}): {cause}{last}. Is the broker up (make up)?")]
    Broker {
        brokers: String,
        what: String,
        timeout_s: u64,
        last: String,
        cause: Box<KafkaError>,
    },
    #[error("{}{}", .0, if .0.is_fatal() { "" } else { ". Is the broker up (make up)?" })]
    Connect(kafka_settings::ConnectError),
    #[error("dead-letter topic {topic} does not exist on {brokers}")]
    MissingTopic { topic: String, brokers: String },
    #[error("--from-offset names partitions {partitions:?}, but {topic} has {count} partitions")]
    UnknownPartitions {
        topic: String,
        partitions: Vec<i32>,
        count: i32,
    },
    #[error("dead letter {dlq}[{partition}]@{offset} came from {source_topic}[{source_partition}], which does not exist on the broker ({why}); create it, or leave such records out with --source-topic")]
    MissingDestination {
        dlq: String,
        partition: i32,
        offset: i64,
        source_topic: String,
        source_partition: i32,
        why: String,
    },
    #[error(
        "cannot read to the end of {topic} partitions {partitions:?} within {timeout_s} s{last}"
    )]
    Ends {
        topic: String,
        partitions: Vec<i32>,
        timeout_s: u64,
        last: String,
    },
    #[error("cannot produce dead letter {dlq}[{dlq_partition}]@{dlq_offset} to {topic}[{partition}]: {cause}. Nothing is lost: the dead letters are still there; fix the cause and run the command again")]
    Produce {
        dlq: String,
        dlq_partition: i32,
        dlq_offset: i64,
        topic: String,
        partition: i32,
        cause: Box<KafkaError>,
    },
    #[error("{failed} replayed record(s) were not delivered; the first: {first}. Nothing is lost: the dead letters are still there; fix the cause and run the command again")]
    Delivery { failed: usize, first: String },
    #[error("{in_flight} replayed record(s) were not confirmed by the broker within {timeout_s} s; run the command again (duplicates count once)")]
    Unconfirmed { in_flight: i32, timeout_s: u64 },
    #[error("cannot commit the position to consumer group {group}: {cause} (every record read so far was delivered; a re-run replays them again, and they count once)")]
    Commit {
        group: String,
        cause: Box<KafkaError>,
    },
    #[error("no record from the dead-letter topic for {seconds} s while partitions {partitions} were not read to their end{last}; is the broker up?")]
    Stalled {
        seconds: u64,
        partitions: String,
        last: String,
    },
}

/// What the delivery callback was given with each record.
#[derive(Debug)]
struct Sent {
    reason: String,
    dlq_partition: i32,
    dlq_offset: i64,
}

/// Outcomes of deliveries, gathered by the producer's polling thread.
#[derive(Debug, Default)]
struct Deliveries {
    /// Reason labels of the records delivered.
    delivered: Vec<String>,
    failures: Vec<String>,
}

/// librdkafka's logs and errors at debug level (a command line tool
/// reports one clear error, not a flood of retries), keeping the last error
/// to name in ours.
#[derive(Debug, Default)]
struct Quiet {
    last_error: Mutex<Option<String>>,
}

impl Quiet {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(?level, fac, "librdkafka: {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, "librdkafka: {reason}");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(reason.to_string());
        }
    }

    fn last_error(&self) -> String {
        self.last_error
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .map_or_else(String::new, |e| format!(" (last broker error: {e})"))
    }
}

/// The consumer's context.
#[derive(Debug, Default)]
struct ReaderContext {
    quiet: Quiet,
}

impl ClientContext for ReaderContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.quiet.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.quiet.error(error, reason);
    }
}

impl ConsumerContext for ReaderContext {}

struct DeliveryContext {
    dlq: String,
    outcomes: Mutex<Deliveries>,
    quiet: Quiet,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.quiet.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.quiet.error(error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Sent>) {
        let Ok(mut outcomes) = self.outcomes.lock() else {
            return;
        };
        match result {
            Ok(_) => outcomes.delivered.push(sent.reason),
            Err((e, m)) => outcomes.failures.push(format!(
                "dead letter {}[{}]@{} to {}[{}]: {e}",
                self.dlq,
                sent.dlq_partition,
                sent.dlq_offset,
                m.topic(),
                m.partition()
            )),
        }
    }
}

fn consumer_config(args: &ReplayArgs) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &args.brokers)
        .set("group.id", args.group.as_deref().unwrap_or(DEFAULT_GROUP))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .set("fetch.wait.max.ms", "100");
    args.properties.apply(&mut c);
    c
}

fn producer_config(args: &ReplayArgs) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &args.brokers)
        // Idempotence implies acks=all and retries without duplicates or
        // reordering within a partition.
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.num.messages", args.batch_records.to_string())
        .set(
            "message.timeout.ms",
            (args.delivery_timeout_seconds * 1000).to_string(),
        );
    args.properties.apply(&mut c);
    c
}

/// The run: reading, selecting, producing, counting.
struct Run<'a> {
    args: &'a ReplayArgs,
    filter: Filter,
    consumer: BaseConsumer<ReaderContext>,
    producer: Option<ThreadedProducer<DeliveryContext>>,
    /// Partition count of each destination topic (`Err`: why it is unusable).
    destinations: HashMap<String, Result<i32, String>>,
    ranges: BTreeMap<i32, Range>,
    window: TimeWindow,
    next: BTreeMap<i32, i64>,
    /// Records produced since deliveries were last awaited.
    unsettled: u64,
    /// Offsets read since the last commit.
    uncommitted: bool,
}

impl Run<'_> {
    fn broker_error(&self, what: impl Into<String>, source: KafkaError) -> ReplayError {
        ReplayError::Broker {
            brokers: self.args.brokers.clone(),
            what: what.into(),
            timeout_s: self.args.timeout_seconds,
            last: self.consumer.context().quiet.last_error(),
            cause: Box::new(source),
        }
    }

    /// Partitions of the dead-letter topic (bounded wait).
    fn dlq_partitions(&self) -> Result<Vec<i32>, ReplayError> {
        let topic = &self.args.topic_dlq;
        let md = self
            .consumer
            .fetch_metadata(Some(topic), self.args.timeout())
            .map_err(|e| self.broker_error(format!("metadata of topic {topic}"), e))?;
        let partitions: Vec<i32> = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        if partitions.is_empty() {
            return Err(ReplayError::MissingTopic {
                topic: topic.clone(),
                brokers: self.args.brokers.clone(),
            });
        }
        Ok(partitions)
    }

    /// Offsets of the first records at or after `time` in each partition
    /// (`None`: no record is that recent).
    fn offsets_for_time(
        &self,
        partitions: &[i32],
        time: chrono::DateTime<chrono::Utc>,
        what: &str,
    ) -> Result<BTreeMap<i32, Option<i64>>, ReplayError> {
        let topic = &self.args.topic_dlq;
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition_offset(topic, p, Offset::Offset(time.timestamp_millis()))
                .map_err(|e| self.broker_error(what, e))?;
        }
        let found = self
            .consumer
            .offsets_for_times(tpl, self.args.timeout())
            .map_err(|e| self.broker_error(format!("offsets of {topic} at {what}"), e))?;
        tracing::debug!(?found, what, "offsets for a time");
        Ok(found
            .elements_for_topic(topic)
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(n) => (e.partition(), Some(n)),
                _ => (e.partition(), None),
            })
            .collect())
    }

    /// The `--group`'s committed offsets.
    fn committed(&self, partitions: &[i32]) -> Result<BTreeMap<i32, i64>, ReplayError> {
        let topic = &self.args.topic_dlq;
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(topic, p);
        }
        let got = self
            .consumer
            .committed_offsets(tpl, self.args.timeout())
            .map_err(|e| self.broker_error("committed offsets of the group", e))?;
        Ok(got
            .elements_for_topic(topic)
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(n) => Some((e.partition(), n)),
                _ => None,
            })
            .collect())
    }

    /// The end offset of each partition, read rather than only asked for:
    /// tansu 0.6 (memory storage) answers ListOffsets with the base offset
    /// of the last stored batch plus one, which would leave the rest of
    /// that batch unread. So read from the last listed offset up to the
    /// first end of partition (on Kafka: one record) with a consumer of its
    /// own; the end is the offset after the last record seen, at least the
    /// listed one. Bounded by --timeout-seconds.
    fn read_ends(
        &self,
        listed: &BTreeMap<i32, (i64, i64)>,
    ) -> Result<BTreeMap<i32, i64>, ReplayError> {
        let topic = &self.args.topic_dlq;
        let mut ends: BTreeMap<i32, i64> = listed.iter().map(|(p, w)| (*p, w.1)).collect();
        let mut open: BTreeSet<i32> = listed
            .iter()
            .filter(|(_, (low, high))| high > low)
            .map(|(p, _)| *p)
            .collect();
        if open.is_empty() {
            return Ok(ends);
        }
        let mut probe_config = consumer_config(self.args);
        probe_config.set("group.id", DEFAULT_GROUP);
        let probe: BaseConsumer<ReaderContext> = probe_config
            .create_with_context(ReaderContext::default())
            .map_err(|e| ReplayError::Create {
                what: "consumer",
                cause: Box::new(e),
            })?;
        let mut tpl = TopicPartitionList::new();
        for &p in &open {
            let high = listed.get(&p).map_or(0, |w| w.1);
            tpl.add_partition_offset(topic, p, Offset::Offset(high - 1))
                .map_err(|e| self.broker_error("assign", e))?;
        }
        probe
            .assign(&tpl)
            .map_err(|e| self.broker_error("assign the dead-letter partitions", e))?;
        let deadline = Instant::now() + self.args.timeout();
        while !open.is_empty() {
            if Instant::now() > deadline {
                return Err(ReplayError::Ends {
                    topic: topic.clone(),
                    partitions: open.into_iter().collect(),
                    timeout_s: self.args.timeout_seconds,
                    last: probe.context().quiet.last_error(),
                });
            }
            match probe.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let end = ends.entry(m.partition()).or_default();
                    *end = (*end).max(m.offset() + 1);
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.remove(&p);
                }
                Some(Err(e)) => tracing::debug!(error = %e, "finding the end offsets"),
                None => {}
            }
        }
        Ok(ends)
    }

    /// Where each partition starts and ends.
    fn plan(&self) -> Result<BTreeMap<i32, Range>, ReplayError> {
        let args = self.args;
        let topic = &args.topic_dlq;
        let partitions = self.dlq_partitions()?;
        let asked = args.start_offsets();
        let count = i32::try_from(partitions.len()).unwrap_or(i32::MAX);
        let unknown = asked.unknown_partitions(count);
        if !unknown.is_empty() {
            return Err(ReplayError::UnknownPartitions {
                topic: topic.clone(),
                partitions: unknown,
                count,
            });
        }
        let from_time = match args.from_time {
            Some(t) => Some(self.offsets_for_time(&partitions, t, "--from-time")?),
            None => None,
        };
        // The group's offsets matter for partitions no --from-* names.
        let committed = match &args.group {
            Some(_) if args.from_time.is_none() && asked.all.is_none() => {
                self.committed(&partitions)?
            }
            _ => BTreeMap::new(),
        };
        let mut listed = BTreeMap::new();
        for &p in &partitions {
            let watermarks = self
                .consumer
                .fetch_watermarks(topic, p, args.timeout())
                .map_err(|e| self.broker_error(format!("end offsets of {topic}[{p}]"), e))?;
            listed.insert(p, watermarks);
        }
        let ends = self.read_ends(&listed)?;
        let mut ranges = BTreeMap::new();
        for p in partitions {
            let low = listed.get(&p).map_or(0, |w| w.0);
            let high = ends.get(&p).copied().unwrap_or(low);
            let facts = PartitionFacts {
                low,
                high,
                asked: asked.get(p),
                from_time: from_time.as_ref().map(|m| m.get(&p).copied().flatten()),
                committed: committed.get(&p).copied(),
            };
            ranges.insert(p, facts.range());
        }
        Ok(ranges)
    }

    /// Whether `topic` has `partition` (metadata asked once per topic).
    fn destination(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<Result<(), String>, ReplayError> {
        if !self.destinations.contains_key(topic) {
            let md = self
                .consumer
                .fetch_metadata(Some(topic), self.args.timeout())
                .map_err(|e| self.broker_error(format!("metadata of topic {topic}"), e))?;
            let count = md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                .map(|t| i32::try_from(t.partitions().len()).unwrap_or(i32::MAX))
                .ok_or_else(|| format!("no topic {topic}"));
            self.destinations.insert(topic.to_string(), count);
        }
        Ok(match &self.destinations[topic] {
            Ok(count) if partition < *count => Ok(()),
            Ok(count) => Err(format!("{topic} has {count} partitions")),
            Err(why) => Err(why.clone()),
        })
    }

    fn produce(
        &self,
        m: &OwnedMessage,
        h: &DeadLetterHeaders,
        topic: &str,
        partition: i32,
    ) -> Result<(), ReplayError> {
        let Some(producer) = &self.producer else {
            return Ok(());
        };
        let mut headers = OwnedHeaders::new();
        for (key, value) in replayed_headers(h, &self.args.topic_dlq, m.partition(), m.offset()) {
            headers = headers.insert(Header {
                key: &key,
                value: value.as_deref(),
            });
        }
        let sent = Box::new(Sent {
            reason: h.reason_label().to_string(),
            dlq_partition: m.partition(),
            dlq_offset: m.offset(),
        });
        let mut record = BaseRecord::<[u8], [u8], Box<Sent>>::with_opaque_to(topic, sent)
            .partition(partition)
            .headers(headers);
        if let Some(key) = m.key() {
            record = record.key(key);
        }
        if let Some(payload) = m.payload() {
            record = record.payload(payload);
        }
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((e, _)) => {
                    return Err(ReplayError::Produce {
                        dlq: self.args.topic_dlq.clone(),
                        dlq_partition: m.partition(),
                        dlq_offset: m.offset(),
                        topic: topic.to_string(),
                        partition,
                        cause: Box::new(e),
                    })
                }
            }
        }
    }

    /// Wait for every delivery so far, count them, fail on any failure,
    /// then (with `--group`) commit the position.
    fn settle(&mut self, summary: &mut Summary) -> Result<(), ReplayError> {
        if let Some(producer) = &self.producer {
            if self.unsettled > 0 {
                let wait = Duration::from_secs(self.args.delivery_timeout_seconds + 5);
                let flushed = producer.flush(wait);
                let outcomes = producer
                    .context()
                    .outcomes
                    .lock()
                    .map(|mut o| std::mem::take(&mut *o))
                    .unwrap_or_default();
                for reason in &outcomes.delivered {
                    summary.tally.delivered(reason);
                }
                if let Some(first) = outcomes.failures.first() {
                    return Err(ReplayError::Delivery {
                        failed: outcomes.failures.len(),
                        first: first.clone(),
                    });
                }
                if flushed.is_err() || producer.in_flight_count() > 0 {
                    return Err(ReplayError::Unconfirmed {
                        in_flight: producer.in_flight_count(),
                        timeout_s: self.args.delivery_timeout_seconds,
                    });
                }
                self.unsettled = 0;
            }
        }
        if let (Some(group), false, true) = (&self.args.group, self.args.dry_run, self.uncommitted)
        {
            let mut tpl = TopicPartitionList::new();
            for (&p, &next) in &self.next {
                tpl.add_partition_offset(&self.args.topic_dlq, p, Offset::Offset(next))
                    .map_err(|source| ReplayError::Commit {
                        group: group.clone(),
                        cause: Box::new(source),
                    })?;
            }
            self.consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|source| ReplayError::Commit {
                    group: group.clone(),
                    cause: Box::new(source),
                })?;
            self.uncommitted = false;
        }
        Ok(())
    }

    /// One dead letter read.
    fn handle(&mut self, m: &OwnedMessage, summary: &mut Summary) -> Result<(), ReplayError> {
        let h = DeadLetterHeaders::parse(
            m.headers()
                .into_iter()
                .flat_map(|hs| hs.iter())
                .map(|h| (h.key, h.value)),
        );
        let mut decision = self.filter.decide(&h, &self.args.topic_dlq);
        let Decision::Replay { topic, partition } = decision.clone() else {
            summary.tally.count(&h, &decision);
            return Ok(());
        };
        let routable = self.destination(&topic, partition)?;
        if routable.is_err() && self.args.dry_run {
            decision = Decision::Unroutable("source topic or partition missing on the broker");
        }
        // Counted before it is produced: a failure below leaves it read
        // and selected, not replayed.
        summary.tally.count(&h, &decision);
        if let Err(why) = routable {
            if self.args.dry_run {
                return Ok(());
            }
            return Err(ReplayError::MissingDestination {
                dlq: self.args.topic_dlq.clone(),
                partition: m.partition(),
                offset: m.offset(),
                source_topic: topic,
                source_partition: partition,
                why,
            });
        }
        self.produce(m, &h, &topic, partition)?;
        if self.producer.is_some() {
            self.unsettled += 1;
        }
        Ok(())
    }

    fn position(&self) -> u64 {
        self.ranges
            .iter()
            .map(|(p, r)| {
                u64::try_from(self.next.get(p).copied().unwrap_or(r.start) - r.start).unwrap_or(0)
            })
            .sum()
    }

    /// Read every range to its end.
    fn read(&mut self, summary: &mut Summary) -> Result<(), ReplayError> {
        let args = self.args;
        let total: u64 = self.ranges.values().map(Range::len).sum();
        let mut remaining: BTreeSet<i32> = self
            .ranges
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(p, _)| *p)
            .collect();
        if remaining.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for &p in &remaining {
            let start = self.ranges[&p].start;
            tpl.add_partition_offset(&args.topic_dlq, p, Offset::Offset(start))
                .map_err(|e| self.broker_error("assign", e))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| self.broker_error("assign the dead-letter partitions", e))?;
        let stall = Duration::from_secs(args.stall_seconds);
        let every = Duration::from_secs(args.progress_seconds);
        let mut progress = Progress::default();
        let (mut last_record, mut last_line) = (Instant::now(), Instant::now());
        let mut settled_at = Instant::now();
        while !remaining.is_empty() {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    // Owned: the borrowed message would hold the consumer.
                    let m = m.detach();
                    last_record = Instant::now();
                    let (p, o) = (m.partition(), m.offset());
                    let (Some(range), Some(&next)) = (self.ranges.get(&p), self.next.get(&p))
                    else {
                        continue;
                    };
                    let end = range.end;
                    if !remaining.contains(&p) || o < next {
                        continue;
                    }
                    if o >= end {
                        summary.tally.gaps += u64::try_from(end - next).unwrap_or(0);
                        self.next.insert(p, end);
                        remaining.remove(&p);
                        continue;
                    }
                    summary.tally.gaps += u64::try_from(o - next).unwrap_or(0);
                    let placement = self.window.place(m.timestamp().to_millis());
                    match placement {
                        Placement::After => {
                            // --to-time: this partition ends here (a later
                            // run with the same --group starts here).
                            self.next.insert(p, o);
                            self.uncommitted = true;
                            if let Some(r) = self.ranges.get_mut(&p) {
                                r.end = o;
                            }
                            remaining.remove(&p);
                            continue;
                        }
                        Placement::Before => summary.tally.before_from_time += 1,
                        Placement::Inside => {}
                    }
                    self.next.insert(p, o + 1);
                    self.uncommitted = true;
                    if o + 1 >= end {
                        remaining.remove(&p);
                    }
                    if placement == Placement::Inside {
                        self.handle(&m, summary)?;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    last_record = Instant::now();
                    if remaining.remove(&p) {
                        // At the high watermark, beyond the end: whatever
                        // was not read was skipped by the broker.
                        if let (Some(r), Some(next)) = (self.ranges.get(&p), self.next.get_mut(&p))
                        {
                            summary.tally.gaps += u64::try_from(r.end - *next).unwrap_or(0);
                            *next = r.end;
                            self.uncommitted = true;
                        }
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, "reading the dead-letter topic"),
                None => {}
            }
            if self.unsettled >= u64::from(args.chunk_records)
                || (self.uncommitted && settled_at.elapsed() >= Duration::from_secs(5))
            {
                self.settle(summary)?;
                settled_at = Instant::now();
            }
            if last_record.elapsed() > stall {
                let partitions: Vec<String> = remaining
                    .iter()
                    .map(|p| {
                        format!(
                            "{p} (at {} of [{}, {}))",
                            self.next[p], self.ranges[p].start, self.ranges[p].end
                        )
                    })
                    .collect();
                return Err(ReplayError::Stalled {
                    seconds: args.stall_seconds,
                    partitions: partitions.join(", "),
                    last: self.consumer.context().quiet.last_error(),
                });
            }
            if args.progress_seconds > 0 && last_line.elapsed() >= every {
                eprintln!(
                    "{}",
                    progress.line(&summary.tally, self.position(), total, last_line.elapsed())
                );
                last_line = Instant::now();
            }
        }
        Ok(())
    }
}

/// Run `processor dlq replay`; `summary` holds the counts so far, also when
/// it fails (blocking: call it off the async runtime).
pub fn replay(args: &ReplayArgs, summary: &mut Summary) -> Result<(), ReplayError> {
    let started = Instant::now();
    kafka_settings::check_connection(&args.brokers, &args.properties, args.timeout())
        .map_err(ReplayError::Connect)?;
    let filter = args.filter();
    let consumer: BaseConsumer<ReaderContext> = consumer_config(args)
        .create_with_context(ReaderContext::default())
        .map_err(|e| ReplayError::Create {
            what: "consumer",
            cause: Box::new(e),
        })?;
    let mut run = Run {
        args,
        filter: filter.clone(),
        consumer,
        producer: None,
        destinations: HashMap::new(),
        ranges: BTreeMap::new(),
        window: args.time_window(),
        next: BTreeMap::new(),
        unsettled: 0,
        uncommitted: false,
    };
    run.ranges = run.plan()?;
    run.next = run.ranges.iter().map(|(p, r)| (*p, r.start)).collect();
    summary.ranges = run.ranges.clone();
    let plan: Vec<String> = run
        .ranges
        .iter()
        .map(|(p, r)| format!("{p}:[{}, {})", r.start, r.end))
        .collect();
    let total: u64 = run.ranges.values().map(Range::len).sum();
    eprintln!(
        "dlq replay: {} {} records of {} (partition:[start, end) {}){}",
        if args.dry_run {
            "checking"
        } else {
            "replaying from"
        },
        total,
        args.topic_dlq,
        plan.join(" "),
        if args.dry_run { ", dry run" } else { "" }
    );
    if !args.dry_run && total > 0 {
        let context = DeliveryContext {
            dlq: args.topic_dlq.clone(),
            outcomes: Mutex::new(Deliveries::default()),
            quiet: Quiet::default(),
        };
        run.producer = Some(
            producer_config(args)
                .create_with_context(context)
                .map_err(|e| ReplayError::Create {
                    what: "producer",
                    cause: Box::new(e),
                })?,
        );
    }
    let result = run.read(summary).and_then(|()| run.settle(summary));
    // --to-time may have ended partitions early.
    summary.ranges = run.ranges.clone();
    if result.is_ok() && args.progress_seconds > 0 && total > 0 {
        // The last line: every delivery confirmed, rates over the whole run.
        eprintln!(
            "{}",
            Progress::default().line(&summary.tally, run.position(), total, started.elapsed())
        );
    }
    if result.is_err() {
        // Count what was confirmed before the failure; the error stays the
        // one that stopped the run.
        if let Some(p) = &run.producer {
            let _ = p.flush(Duration::from_secs(args.delivery_timeout_seconds + 5));
            if let Ok(mut o) = p.context().outcomes.lock() {
                for reason in std::mem::take(&mut o.delivered) {
                    summary.tally.delivered(&reason);
                }
            }
        }
    }
    summary.finish(&filter, started.elapsed());
    result
}
