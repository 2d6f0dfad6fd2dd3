//! The rule publisher: the outbox of rule changes ([`crate::outbox`]),
//! produced to the rules topic. A record's key is the rule id; its value is
//! the `alerting::Rule` JSON, or nothing (a tombstone) for a deleted rule.

use std::sync::Arc;

use metadata::{MetadataError, RuleChange};
use rdkafka::error::KafkaError;
use tokio::task::JoinHandle;

use super::Alerts;
use crate::ingest::kafka::KafkaSinkConfig;
use crate::outbox::{spawn_publisher, Change, Outbox, PublishError};

/// The record value of a change: the rule's JSON, `None` for a tombstone.
pub fn record_value(change: &RuleChange) -> Result<Option<Vec<u8>>, PublishError> {
    change
        .rule
        .as_ref()
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|source| PublishError::Encode {
            what: RuleOutbox::WHAT,
            key: change.id.clone(),
            source,
        })
}

/// The rules' outbox in the metadata database.
#[derive(Debug)]
pub struct RuleOutbox(pub Arc<Alerts>);

impl Outbox for RuleOutbox {
    const WHAT: &'static str = "rule";

    async fn pending(&self, limit: i64) -> Result<Vec<Change>, PublishError> {
        let changes = self.0.metadata.unpublished_rules(limit).await?;
        changes
            .iter()
            .map(|change| {
                Ok(Change {
                    key: change.id.clone(),
                    revision: change.revision,
                    value: record_value(change)?,
                })
            })
            .collect()
    }

    async fn mark(&self, key: &str, revision: i64) -> Result<(), MetadataError> {
        self.0.metadata.mark_rule_published(key, revision).await
    }

    async fn changed(&self) {
        self.0.rule_change().await;
    }
}

/// Starts the publisher of the rules topic: a round at start, then after
/// each [`Alerts::rules_changed`] or every [`crate::outbox::POLL`].
pub fn spawn_rule_publisher(
    alerts: Arc<Alerts>,
    config: KafkaSinkConfig,
    topic: String,
) -> Result<JoinHandle<()>, KafkaError> {
    spawn_publisher(Arc::new(RuleOutbox(alerts)), config, topic)
}
