//! What the processor relies on from the broker (the real tansu of the local
//! stack): a consumer assigned at an offset gets that offset first. The
//! processor resumes at its checkpoints' offsets.
//!
//! Kafka (and tansu's sqlite storage) honour any offset. tansu 0.6's memory
//! storage, which the tests run on for speed, serves fetches from whole
//! stored batches only: a fetch from inside a batch skips to the next one
//! (that lost a record in the rebalance test once). So the end-to-end tests
//! produce one record per batch (`loadgen --batch-records 1`), and this test
//! checks that such records can be read from any offset.

use std::time::{Duration, Instant};

use integration_tests::kafka::{self, Topics};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;

fn reader(topic: &str, asked: i64) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", integration_tests::brokers())
        .set("group.id", integration_tests::unique("seek"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(asked))
        .expect("offset");
    consumer.assign(&tpl).expect("assign");
    consumer
}

fn first_offset_from(topic: &str, asked: i64) -> Option<i64> {
    let consumer = reader(topic, asked);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => return Some(m.offset()),
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_starts_at_the_offset_asked_for() {
    let topics = Topics::unique("seek", 1);
    kafka::create(&topics).await;
    // One record per batch, as the end-to-end tests produce.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", integration_tests::brokers())
        .set("linger.ms", "5")
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    for i in 0..300 {
        let payload = format!("record-{i}");
        producer
            .send(
                BaseRecord::to(&topics.lifecycle)
                    .partition(0)
                    .key("k")
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)
            .expect("queue a record");
    }
    producer.flush(Duration::from_secs(30)).expect("produce");
    let topic = topics.lifecycle.clone();
    let offsets: Vec<i64> = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        let consumer = reader(&topic, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while all.len() < 300 && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                all.push(m.offset());
            }
        }
        all
    })
    .await
    .expect("read all");
    assert_eq!(offsets, (0..300).collect::<Vec<i64>>());

    let topic = topics.lifecycle.clone();
    let got = tokio::task::spawn_blocking(move || {
        [0, 1, 7, 150, 299]
            .into_iter()
            .map(|asked| (asked, first_offset_from(&topic, asked)))
            .collect::<Vec<_>>()
    })
    .await
    .expect("consumers");
    for (asked, first) in got {
        assert_eq!(first, Some(asked), "assigned at offset {asked}");
    }
}
