//! The topics of one benchmark case, on the real broker.

use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::env::{unique, Env};

/// The three input topics and the dead-letter topic, uniquely named.
#[derive(Debug, Clone)]
pub struct Topics {
    pub lifecycle: String,
    pub notifications: String,
    pub interactions: String,
    pub dlq: String,
    pub partitions: i32,
}

impl Topics {
    pub fn unique(prefix: &str, partitions: i32) -> Self {
        let base = unique(prefix);
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

    fn all(&self) -> [&str; 4] {
        [
            &self.lifecycle,
            &self.notifications,
            &self.interactions,
            &self.dlq,
        ]
    }

    /// Create the four topics with `partitions` partitions each on the
    /// broker at `brokers`.
    pub async fn create(&self, brokers: &str) -> anyhow::Result<()> {
        let admin = admin(brokers)?;
        let new: Vec<NewTopic<'_>> = self
            .all()
            .into_iter()
            .map(|n| NewTopic::new(n, self.partitions, TopicReplication::Fixed(1)))
            .collect();
        let results = admin
            .create_topics(&new, &options())
            .await
            .with_context(|| format!("create topics on {brokers} (is the stack up?)"))?;
        for result in results {
            if let Err((topic, code)) = result {
                bail!("cannot create topic {topic}: {code}");
            }
        }
        Ok(())
    }

    /// Delete the four topics (frees the broker's memory); a broker that
    /// refuses is only reported. (tansu 0.6 answers UnknownTopicOrPartition
    /// for some topics of a request it did delete: that counts as gone.)
    pub async fn delete(&self, env: &Env) {
        delete_named(env, &self.all()).await;
    }

    /// Produce the first interaction of every partition again (same key,
    /// same bytes: a duplicate, which changes no figure) and return how
    /// many records were added to the interactions topic.
    pub async fn duplicate_first_interactions(&self, env: &Env) -> anyhow::Result<u64> {
        let (brokers, topic, partitions) = (
            env.brokers.clone(),
            self.interactions.clone(),
            self.partitions,
        );
        let firsts =
            tokio::task::spawn_blocking(move || first_records(&brokers, &topic, partitions))
                .await??;
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &env.brokers)
            .create()
            .context("producer")?;
        for (p, (key, payload)) in firsts.iter().enumerate() {
            let record = FutureRecord::to(&self.interactions)
                .partition(i32::try_from(p)?)
                .key(key)
                .payload(payload);
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| e)
                .context("produce a duplicate")?;
        }
        Ok(firsts.len() as u64)
    }
}

/// Create one more topic (the alert rules and alert topics) with
/// `partitions` partitions and these topic configs (e.g.
/// `cleanup.policy=compact`).
pub async fn create_topic(
    brokers: &str,
    name: &str,
    partitions: i32,
    config: &[(&str, &str)],
) -> anyhow::Result<()> {
    let admin = admin(brokers)?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in config {
        topic = topic.set(key, value);
    }
    let results = admin
        .create_topics([&topic], &options())
        .await
        .with_context(|| format!("create topic {name} on {brokers} (is the stack up?)"))?;
    for result in results {
        if let Err((topic, code)) = result {
            bail!("cannot create topic {topic}: {code}");
        }
    }
    Ok(())
}

/// Delete these topics; a broker that refuses is only reported (see
/// [`Topics::delete`]).
pub async fn delete_named(env: &Env, names: &[&str]) {
    let result = match admin(&env.brokers) {
        Ok(admin) => admin
            .delete_topics(names, &options())
            .await
            .map_err(anyhow::Error::from)
            .and_then(|rs| {
                let refused = rs.into_iter().find_map(|r| match r {
                    Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) | Ok(_) => None,
                    Err((topic, code)) => Some(format!("{topic}: {code}")),
                });
                refused.map_or(Ok(()), |e| Err(anyhow::anyhow!(e)))
            }),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("pipeline-bench: topics not deleted ({e:#})");
    }
}

/// (key, payload) of the first record of each partition of `topic`.
fn first_records(
    brokers: &str,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("bench-dup"))
        .set("enable.auto.commit", "false")
        .create()
        .context("consumer to read first records")?;
    let mut out = Vec::new();
    for p in 0..partitions {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .context("partition list")?;
        consumer.assign(&tpl).context("assign")?;
        out.push(poll_one(&consumer).with_context(|| format!("first record of {topic} [{p}]"))?);
    }
    Ok(out)
}

fn poll_one(consumer: &BaseConsumer) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    for _ in 0..100 {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let key = m.key().unwrap_or_default().to_vec();
                return Ok((key, m.payload().unwrap_or_default().to_vec()));
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    bail!("no record within 10 s")
}

fn admin(brokers: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("Kafka admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))
}
