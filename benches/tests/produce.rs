//! Produce a small run to a real broker (KAFKA_BROKERS, default
//! 127.0.0.1:9092; `make up` starts one) and read it back: every record
//! arrives, and a campaign's records share one partition number across the
//! three topics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use benches::loadgen::config::ProducerConfig;
use benches::loadgen::{self, producer, GenConfig, Topics};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use schemas::{Codec, EventKind};

const PARTITIONS: i32 = 4;

/// (key, payload)
type Keyed = (String, Vec<u8>);
/// Topic -> partition -> records in offset order.
type Received = BTreeMap<String, BTreeMap<i32, Vec<Keyed>>>;

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Fails with a hint when no broker answers.
fn admin(brokers: &str) -> AdminClient<DefaultClientContext> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("an admin client");
    if let Err(e) = admin.inner().fetch_metadata(None, Duration::from_secs(10)) {
        panic!("no Kafka broker at {brokers} ({e}): run `make up`, or set KAFKA_BROKERS");
    }
    admin
}

fn create_topics(admin: &AdminClient<DefaultClientContext>, names: &[&str]) {
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in runtime()
        .block_on(admin.create_topics(&new, &options))
        .expect("create topics")
    {
        result.unwrap_or_else(|(topic, code)| panic!("cannot create {topic}: {code}"));
    }
}

/// Topic -> partition -> (key, payload) in offset order, until `total`
/// records arrived (and a little longer, to catch extras).
fn consume_all(brokers: &str, topics: &[&str], total: u64) -> Received {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("loadgen-test-{}", rand::random::<u32>()),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        for p in 0..PARTITIONS {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .expect("a partition");
        }
    }
    consumer.assign(&assignment).expect("assign");

    let mut out = Received::new();
    let mut received = 0u64;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut quiet_until: Option<Instant> = None;
    while Instant::now() < deadline && quiet_until.is_none_or(|q| Instant::now() < q) {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("a record");
        let key = String::from_utf8(message.key().expect("a key").to_vec()).expect("a UTF-8 key");
        out.entry(message.topic().to_owned())
            .or_default()
            .entry(message.partition())
            .or_default()
            .push((key, message.payload().unwrap_or_default().to_vec()));
        received += 1;
        if received == total {
            quiet_until = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    out
}

#[test]
fn a_run_arrives_whole_and_co_partitioned() {
    let brokers = brokers();
    let admin = admin(&brokers);
    let suffix = format!("{:08x}", rand::random::<u32>());
    let topics = Topics {
        lifecycle: format!("loadgen-test-lifecycle-{suffix}"),
        notifications: format!("loadgen-test-notifications-{suffix}"),
        interactions: format!("loadgen-test-interactions-{suffix}"),
    };
    let names = topics.all();
    create_topics(&admin, &names);

    let cfg = GenConfig {
        seed: 21,
        tenants: 2,
        campaigns: 5,
        jobs: 2,
        users: 15,
        poison: 14,
        ..GenConfig::default()
    };
    let codec = Codec::new().expect("the compiled-in schemas");
    let g = loadgen::generate(&cfg, &codec).expect("generation");
    let counts = g.plan.counts(&g.traffic, &topics);
    let produced = producer::produce(
        &ProducerConfig::new(&brokers, topics.clone()),
        &g.traffic,
        &g.plan,
        &codec,
    )
    .expect("every record delivered");
    assert_eq!(produced.delivered, counts.records);

    let got = consume_all(&brokers, &names, counts.records);

    // Per topic: the counts, and the very records of the plan.
    let mut wanted: BTreeMap<&str, Vec<Keyed>> = BTreeMap::new();
    for record in g.plan.records(&g.traffic, &codec) {
        let record = record.expect("encodable");
        wanted
            .entry(topics.of(record.kind))
            .or_default()
            .push((record.key.to_owned(), record.payload.into_owned()));
    }
    for kind in EventKind::ALL {
        let topic = topics.of(kind);
        let mut records: Vec<Keyed> = got
            .get(topic)
            .map(|parts| parts.values().flatten().cloned().collect())
            .unwrap_or_default();
        assert_eq!(
            records.len() as u64,
            counts.per_topic[topic].records,
            "{topic}"
        );
        assert_eq!(produced.per_topic[topic], counts.per_topic[topic].records);
        let mut expected = wanted.remove(topic).unwrap_or_default();
        records.sort();
        expected.sort();
        assert!(records == expected, "{topic}: other records than produced");
    }

    // Every key on one partition number, in all three topics.
    let mut partition_of: BTreeMap<&str, i32> = BTreeMap::new();
    for (topic, partitions) in &got {
        for (partition, records) in partitions {
            for (key, _) in records {
                let first = *partition_of.entry(key).or_insert(*partition);
                assert_eq!(
                    first, *partition,
                    "{key} on partitions {first} and {partition} ({topic})"
                );
            }
        }
    }
    let used: std::collections::BTreeSet<i32> = partition_of.values().copied().collect();
    assert!(used.len() > 1, "all campaigns on one partition: {used:?}");

    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let _ = runtime().block_on(admin.delete_topics(&names, &options));
}

#[test]
fn loadgen_creates_missing_topics_and_leaves_existing_ones() {
    let brokers = brokers();
    let admin = admin(&brokers);
    let name = format!("loadgen-test-create-{:08x}", rand::random::<u32>());
    producer::create_topics(&brokers, &[&name], PARTITIONS).expect("created");
    producer::create_topics(&brokers, &[&name], PARTITIONS).expect("already there is fine");
    let metadata = admin
        .inner()
        .fetch_metadata(Some(&name), Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(metadata.topics()[0].partitions().len(), PARTITIONS as usize);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let _ = runtime().block_on(admin.delete_topics(&[&name], &options));
}
