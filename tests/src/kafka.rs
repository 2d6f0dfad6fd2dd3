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
