//! The Kafka source against the real broker: with a slow engine (so the
//! consumer pauses and resumes over and over), every record arrives once,
//! in order, with no gap. Needs the broker the Makefile starts (KAFKA_BROKERS).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use processor::kafka::source::{Source, SourceEvent};
use processor::kafka::KafkaConfig;
use processor::metrics::Metrics;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Four new topics (three inputs of 2 partitions and a dead-letter one)
/// whose inputs hold `per_topic` records each, keyed over 7 keys.
async fn topics_with_records(name: &str, per_topic: usize) -> Vec<String> {
    let base = format!(
        "{name}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let topics: Vec<String> = ["l", "n", "i", "dlq"]
        .iter()
        .map(|t| format!("{base}-{t}"))
        .collect();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, 2, TopicReplication::Fixed(1)))
        .collect();
    for r in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .unwrap_or_else(|e| panic!("broker at {} unreachable ({e}); run `make up`", brokers()))
    {
        r.unwrap();
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (t, topic) in topics.iter().enumerate().take(3) {
        let mut pending = Vec::new();
        for i in 0..per_topic {
            let key = format!("k{}", i % 7);
            let payload = format!("{t}-{i}");
            pending.push(
                producer
                    .send_result(FutureRecord::to(topic).key(&key).payload(&payload))
                    .unwrap(),
            );
        }
        for p in pending {
            p.await.unwrap().unwrap();
        }
    }
    topics
}

fn config(topics: &[String], max_poll_interval_ms: u64) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers(),
        group_id: format!("{}-group", topics[0]),
        topic_lifecycle: topics[0].clone(),
        topic_notifications: topics[1].clone(),
        topic_interactions: topics[2].clone(),
        topic_dlq: topics[3].clone(),
        session_timeout_ms: 6000,
        max_poll_interval_ms,
        client: Default::default(),
        properties: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_engine_gets_every_record_once_in_order() {
    let per_topic = 1500;
    let topics = topics_with_records("source", per_topic).await;
    let config = config(&topics, 300_000);
    let (source, events) = Source::start(&config, 10, Metrics::new()).unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        let mut next: BTreeMap<(usize, i32), i64> = BTreeMap::new();
        let mut total = 0;
        let deadline = Instant::now() + Duration::from_secs(120);
        while total < 3 * per_topic && Instant::now() < deadline {
            match events.recv_timeout(Duration::from_millis(200)) {
                Ok(SourceEvent::Assigned { partitions, reply }) => {
                    let offsets = partitions.iter().map(|p| (*p, [None; 3])).collect();
                    reply.send(offsets).unwrap();
                }
                Ok(SourceEvent::Revoked { reply, .. }) => reply.send(()).unwrap(),
                Ok(SourceEvent::Records(records)) => {
                    for r in records {
                        let expected = next.entry((r.topic, r.partition)).or_insert(0);
                        assert_eq!(
                            r.offset, *expected,
                            "gap or repeat on topic {} partition {}",
                            r.topic, r.partition
                        );
                        *expected += 1;
                        total += 1;
                    }
                    // A slow engine: the channel fills and the source pauses.
                    std::thread::sleep(Duration::from_millis(30));
                }
                Err(_) => {}
            }
        }
        (total, next, events)
    })
    .await
    .unwrap();
    let (total, next, _events) = seen;
    assert_eq!(total, 3 * per_topic, "every record: {next:?}");
    let partitions: BTreeSet<i32> = next.keys().map(|k| k.1).collect();
    assert_eq!(partitions.len(), 2);
    source
        .control
        .shutdown
        .store(true, std::sync::atomic::Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_longer_than_the_max_poll_interval_costs_a_rejoin_not_a_record() {
    // Back-pressure for twice max.poll.interval.ms (a long ClickHouse
    // outage): the group drops the member (its partitions are revoked) and
    // assigns them again once it polls; resumed at the offsets the engine
    // gives (here: the next one it expects), every record arrives once, in
    // order, with no gap.
    let per_topic = 300;
    let topics = topics_with_records("source-pause", per_topic).await;
    let max_poll_ms = 7_000;
    let (source, events) =
        Source::start(&config(&topics, max_poll_ms), 10, Metrics::new()).unwrap();
    let control = source.control.clone();
    let seen = tokio::task::spawn_blocking(move || {
        let mut next: BTreeMap<(usize, i32), i64> = BTreeMap::new();
        let (mut total, mut assignments, mut revocations) = (0, 0, 0);
        let mut paused_at: Option<Instant> = None;
        let deadline = Instant::now() + Duration::from_secs(120);
        while total < 3 * per_topic && Instant::now() < deadline {
            if let Some(at) = paused_at {
                if at.elapsed() > Duration::from_millis(2 * max_poll_ms) {
                    control.pause.store(false, Ordering::SeqCst);
                }
            }
            match events.recv_timeout(Duration::from_millis(200)) {
                Ok(SourceEvent::Assigned { partitions, reply }) => {
                    assignments += 1;
                    // Where the engine would resume: the next offset it expects.
                    let offsets = partitions
                        .iter()
                        .map(|p| {
                            let at = |t: usize| next.get(&(t, *p)).copied();
                            (*p, [at(0), at(1), at(2)])
                        })
                        .collect();
                    reply.send(offsets).unwrap();
                    if paused_at.is_none() {
                        control.pause.store(true, Ordering::SeqCst);
                        paused_at = Some(Instant::now());
                    }
                }
                Ok(SourceEvent::Revoked { reply, .. }) => {
                    revocations += 1;
                    reply.send(()).unwrap();
                }
                Ok(SourceEvent::Records(records)) => {
                    for r in records {
                        let expected = next.entry((r.topic, r.partition)).or_insert(0);
                        assert_eq!(
                            r.offset, *expected,
                            "gap or repeat on topic {} partition {}",
                            r.topic, r.partition
                        );
                        *expected += 1;
                        total += 1;
                    }
                }
                Err(_) => {}
            }
        }
        (total, assignments, revocations, events)
    })
    .await
    .unwrap();
    let (total, assignments, revocations, _events) = seen;
    assert_eq!(total, 3 * per_topic, "every record once");
    assert!(
        assignments >= 2 && revocations >= 1,
        "the group dropped the paused member and took it back \
         ({assignments} assignments, {revocations} revocations)"
    );
    source.control.shutdown.store(true, Ordering::SeqCst);
}
