//! The Kafka source against the real broker: with a slow engine (so the
//! consumer pauses and resumes over and over), every record arrives once,
//! in order, with no gap. Needs the broker the Makefile starts (KAFKA_BROKERS).

use std::collections::{BTreeMap, BTreeSet};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_engine_gets_every_record_once_in_order() {
    let base = format!(
        "source-{}-{}",
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
    let per_topic = 1500;
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

    let config = KafkaConfig {
        brokers: brokers(),
        group_id: format!("{base}-group"),
        topic_lifecycle: topics[0].clone(),
        topic_notifications: topics[1].clone(),
        topic_interactions: topics[2].clone(),
        topic_dlq: topics[3].clone(),
        session_timeout_ms: 6000,
    };
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
