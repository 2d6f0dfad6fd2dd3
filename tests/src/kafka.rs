//! Topics and offsets on the real broker.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;

/// The four topics of one test, created with `partitions` partitions.
#[derive(Debug, Clone)]
pub struct Topics {
    pub lifecycle: String,
    pub notifications: String,
    pub interactions: String,
    pub dlq: String,
    pub partitions: i32,
}

impl Topics {
    pub fn unique(test: &str, partitions: i32) -> Self {
        let base = crate::unique(test);
        Topics {
            lifecycle: format!("{base}-lifecycle"),
            notifications: format!("{base}-notifications"),
            interactions: format!("{base}-interactions"),
            dlq: format!("{base}-dlq"),
            partitions,
        }
    }

    pub fn inputs(&self) -> [&str; 3] {
        [&self.lifecycle, &self.notifications, &self.interactions]
    }

    pub async fn create(&self) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", crate::brokers())
            .create()
            .expect("admin client");
        let names = [
            &self.lifecycle,
            &self.notifications,
            &self.interactions,
            &self.dlq,
        ];
        let topics: Vec<NewTopic> = names
            .iter()
            .map(|n| NewTopic::new(n, self.partitions, TopicReplication::Fixed(1)))
            .collect();
        let results = admin
            .create_topics(&topics, &AdminOptions::new())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot reach the broker at {} ({e}); run `make up`",
                    crate::brokers()
                )
            });
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    }

    /// Every record of the dead-letter topic: (headers, payload).
    pub fn dead_letters(&self, expected: usize) -> Vec<(BTreeMap<String, String>, Vec<u8>)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", crate::brokers())
            .set("group.id", crate::unique("dlq-reader"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[&self.dlq]).expect("subscribe");
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
                                String::from_utf8_lossy(header.value.unwrap_or_default())
                                    .into_owned(),
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
}
