//! Topics and offsets on the real broker.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;

/// The four topics of one test (the benchmarks' type).
pub use benches::e2e::topics::Topics;

/// Create the topics on the test broker; fails the test if it cannot.
pub async fn create(topics: &Topics) {
    topics.create(&crate::brokers()).await.unwrap_or_else(|e| {
        panic!(
            "cannot create the test's topics on {} ({e:#}); run `make up`",
            crate::brokers()
        )
    });
}

/// Create one more topic (alerts, rules...) with `partitions` partitions
/// on the test broker; fails the test if it cannot.
pub async fn create_topic(name: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", crate::brokers())
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Every record of the dead-letter topic: (headers, payload).
pub fn dead_letters(topics: &Topics, expected: usize) -> Vec<(BTreeMap<String, String>, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", crate::brokers())
        .set("group.id", crate::unique("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topics.dlq]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut quiet_since = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let mut headers = BTreeMap::new();
                if let Some(h) = m.headers() {
                    for i in 0..h.count() {
                        let header = h.get(i);
                        headers.insert(
                            header.key.to_string(),
                            String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                out.push((headers, m.payload().unwrap_or_default().to_vec()));
                quiet_since = std::time::Instant::now();
            }
            Some(Err(e)) => panic!("dead-letter read: {e}"),
            None => {
                if out.len() >= expected && quiet_since.elapsed() > Duration::from_secs(3) {
                    break;
                }
            }
        }
    }
    out
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

fn reader() -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", crate::brokers())
        .set("group.id", crate::unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// The end offset of each partition of `topic`: the high watermark, read
/// rather than only asked for (tansu 0.6's memory storage lists the base
/// offset of the last stored batch plus one; `processor dlq replay` reads
/// its ends the same way).
pub fn end_offsets(topic: &str) -> BTreeMap<i32, i64> {
    let consumer = reader();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut ends = BTreeMap::new();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("end offset of {topic}[{p}]: {e}"));
        ends.insert(p, high);
        if high > low {
            tpl.add_partition_offset(topic, p, rdkafka::Offset::Offset(high - 1))
                .expect("partition list");
        }
    }
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", crate::brokers())
        .set("group.id", crate::unique("reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut open: std::collections::BTreeSet<i32> =
        tpl.elements().iter().map(|e| e.partition()).collect();
    probe.assign(&tpl).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !open.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{topic}: no end of partitions {open:?} in 30 s"
        );
        match probe.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let end = ends.entry(m.partition()).or_default();
                *end = (*end).max(m.offset() + 1);
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => panic!("read {topic}: {e}"),
            None => {}
        }
    }
    ends
}

/// Records of `topic` (all partitions): the sum of its end offsets.
pub fn record_count(topic: &str) -> i64 {
    end_offsets(topic).values().sum()
}

/// Every record of `topic` up to its end offsets now, by partition and
/// offset.
pub fn read_all(topic: &str) -> Vec<Record> {
    let ends = end_offsets(topic);
    let consumer = reader();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (&p, &end) in &ends {
        if end > 0 {
            tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
                .expect("partition list");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut next: BTreeMap<i32, i64> = ends.keys().map(|p| (*p, 0)).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ends.iter().any(|(p, end)| next[p] < *end) {
        assert!(
            std::time::Instant::now() < deadline,
            "{topic}: read up to {next:?} of {ends:?} in 30 s"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let mut headers = BTreeMap::new();
                if let Some(h) = m.headers() {
                    for header in h.iter() {
                        headers.insert(
                            header.key.to_string(),
                            String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                next.insert(m.partition(), m.offset() + 1);
                if m.offset() < ends[&m.partition()] {
                    out.push(Record {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().unwrap_or_default().to_vec(),
                        headers,
                    });
                }
            }
            Some(Err(e)) => panic!("read {topic}: {e}"),
            None => {}
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}
