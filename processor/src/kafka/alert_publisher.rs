//! Committed transitions to the alerts topic: keyed by alert id (so an
//! alert's transitions stay in order on one partition), the value the
//! transition's JSON. The producer is idempotent (retries neither
//! duplicate nor reorder); a transition that fails is sent again until
//! the broker takes it, and a replay after a crash sends the same ids,
//! which the alert store keeps once.

use std::sync::Arc;
use std::time::Duration;

use super::KafkaConfig;
use alerting::Transition;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::task::JoinHandle;

use crate::alerts::AlertSink;
use crate::metrics::Metrics;

/// The alerts topic producer.
#[derive(Clone)]
pub struct AlertPublisher {
    producer: FutureProducer,
    topic: Arc<str>,
    metrics: Metrics,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for AlertPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertPublisher")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl AlertPublisher {
    pub fn new(
        kafka: &KafkaConfig,
        topic: &str,
        metrics: Metrics,
        handle: tokio::runtime::Handle,
    ) -> anyhow::Result<Self> {
        let producer: FutureProducer = kafka
            .client_config(&[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
                ("message.timeout.ms", "30000"),
            ])
            .create()?;
        Ok(AlertPublisher {
            producer,
            topic: topic.into(),
            metrics,
            handle,
        })
    }

    /// Fail unless the topic exists (a missing topic would hold every
    /// checkpoint back while its transitions wait to be published).
    pub fn check_topic(&self, timeout: Duration) -> anyhow::Result<()> {
        let md = self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), timeout)
            .map_err(|e| anyhow::anyhow!("alerts topic {}: {e}", self.topic))?;
        let exists = md
            .topics()
            .iter()
            .any(|t| t.name() == &*self.topic && t.error().is_none() && !t.partitions().is_empty());
        if !exists {
            anyhow::bail!(
                "alerts topic {} does not exist: create it (deploy/local/topics.sh does) or set \
                 TOPIC_ALERTS",
                self.topic
            );
        }
        Ok(())
    }

    /// Wait up to `timeout` for what is queued (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "alert transitions not all delivered at shutdown; the next start publishes them again");
        }
    }
}

impl AlertSink for AlertPublisher {
    fn publish(&self, transitions: Vec<Transition>) -> JoinHandle<()> {
        let this = self.clone();
        self.handle.spawn(async move {
            let encoded: Vec<(String, Vec<u8>)> = transitions
                .iter()
                .filter_map(|t| match serde_json::to_vec(t) {
                    Ok(v) => Some((t.alert_id.clone(), v)),
                    Err(e) => {
                        tracing::error!(error = %e, alert = %t.alert_id, "alert transition not encodable");
                        None
                    }
                })
                .collect();
            let sends = encoded.iter().map(|(key, value)| this.send(key, value));
            futures_util::future::join_all(sends).await;
            this.metrics
                .alert_transitions_published
                .inc_by(encoded.len() as u64);
        })
    }
}

impl AlertPublisher {
    /// Send one transition until the broker takes it (the checkpoints
    /// after it wait for this). Logged at the first failure and then every
    /// tenth.
    async fn send(&self, key: &str, value: &[u8]) {
        let mut backoff = Duration::from_millis(100);
        for attempt in 1u64.. {
            let record = FutureRecord::to(&self.topic).key(key).payload(value);
            match self.producer.send(record, Duration::from_secs(5)).await {
                Ok(_) => return,
                Err((e, _)) => {
                    if attempt % 10 == 1 {
                        tracing::warn!(error = %e, topic = %self.topic, alert = key, attempt,
                            "publishing an alert transition failed; retrying (checkpoints wait for it)");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}
