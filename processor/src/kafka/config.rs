//! Kafka settings of the processor.

use std::time::Duration;

use kafka_settings::{KafkaClientArgs, KafkaProperties, PropertyError};
use rdkafka::ClientConfig;

/// Where the events come from and where bad records go.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaConfig {
    /// Kafka bootstrap servers, comma-separated.
    #[arg(
        long = "brokers",
        env = "KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,

    /// Consumer group id. Instances with the same group share the partitions.
    #[arg(long, env = "KAFKA_GROUP_ID", default_value = "campaign-analytics")]
    pub group_id: String,

    /// Topic of CampaignLifecycle records.
    #[arg(long, env = "TOPIC_LIFECYCLE", default_value = "campaign-lifecycle")]
    pub topic_lifecycle: String,

    /// Topic of NotificationSent records.
    #[arg(long, env = "TOPIC_NOTIFICATIONS", default_value = "notifications")]
    pub topic_notifications: String,

    /// Topic of UserInteraction records.
    #[arg(long, env = "TOPIC_INTERACTIONS", default_value = "interactions")]
    pub topic_interactions: String,

    /// Dead-letter topic: records that cannot be applied go here unchanged,
    /// with headers naming the source topic, partition, offset and reason.
    #[arg(long, env = "TOPIC_DLQ", default_value = "dead-letter")]
    pub topic_dlq: String,

    /// Consumer session timeout. A crashed instance's partitions move to the
    /// others after this long.
    #[arg(long, env = "KAFKA_SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u64,

    /// librdkafka's max.poll.interval.ms: a member that does not poll for
    /// this long leaves the group. Back-pressure (ClickHouse down) stops
    /// polling, so this is how long an outage may last before the
    /// partitions are reassigned (then restored; the old assignment's
    /// writes are fenced).
    #[arg(long, env = "KAFKA_MAX_POLL_INTERVAL_MS", default_value_t = 3_600_000)]
    pub max_poll_interval_ms: u64,

    #[command(flatten)]
    pub client: KafkaClientArgs,

    /// What `client` resolves to ([`KafkaConfig::resolve`]): applied to
    /// every client, after the processor's own settings.
    #[arg(skip)]
    pub properties: KafkaProperties,
}

impl KafkaConfig {
    /// Read the `--kafka-property` flags, `KAFKA_PROPERTY_*` variables and
    /// the properties file into [`KafkaConfig::properties`]. Call it once
    /// at start, before any client is created.
    pub fn resolve(&mut self) -> Result<(), PropertyError> {
        self.properties = self.client.resolve()?;
        Ok(())
    }

    /// A client of the brokers with the user's properties applied after
    /// `settings` (the client's own).
    pub(crate) fn client_config(&self, settings: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in settings {
            c.set(*k, *v);
        }
        self.properties.apply(&mut c);
        c
    }

    /// The three input topics in [`super::TopicIndex`] order.
    pub fn topics(&self) -> [&str; 3] {
        [
            &self.topic_lifecycle,
            &self.topic_notifications,
            &self.topic_interactions,
        ]
    }

    pub(crate) fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            // Co-partitioning: `range` gives partition p of every topic to
            // the same member (equal partition counts, same subscription).
            .set("partition.assignment.strategy", "range")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (self.session_timeout_ms / 4).max(500).to_string(),
            )
            .set(
                "max.poll.interval.ms",
                self.max_poll_interval_ms
                    .max(self.session_timeout_ms)
                    .to_string(),
            )
            .set("fetch.wait.max.ms", "100")
            // Prefetch at most this much per partition queue: the bound on
            // memory while the engine takes no records.
            .set("queued.max.messages.kbytes", "16384")
            .set("statistics.interval.ms", "5000");
        self.properties.apply(&mut c);
        c
    }

    pub(crate) fn producer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000");
        self.properties.apply(&mut c);
        c
    }

    pub fn metadata_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
}
