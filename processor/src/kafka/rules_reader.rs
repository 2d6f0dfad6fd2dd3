//! Reads the rules topic in full, from the beginning, on a thread of its
//! own, into the [`RuleBoard`]: every processor needs every rule of its
//! tenants, whichever partitions it holds. A record is keyed by rule id;
//! its value is the rule's JSON, or empty (a tombstone) for a deleted rule.
//!
//! [`RulesReader::start`] returns once the topic is read up to its end as
//! of the start, so the first snapshot evaluates the current rules (not
//! none of them, which would resolve every firing alert).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alerting::Rule;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaConfig;

use crate::alerts::RuleBoard;

/// The reader thread; stops when dropped.
#[derive(Debug)]
pub struct RulesReader {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RulesReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn apply(board: &RuleBoard, message: &rdkafka::message::BorrowedMessage<'_>) {
    let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
        tracing::warn!(
            offset = message.offset(),
            "rules topic: a record without a UTF-8 key is ignored"
        );
        return;
    };
    match message.payload() {
        None | Some([]) => {
            board.apply(key, None);
        }
        Some(bytes) => match serde_json::from_slice::<Rule>(bytes) {
            Ok(rule) if rule.id == key => {
                board.apply(key, Some(rule));
            }
            Ok(rule) => tracing::warn!(
                key, id = %rule.id, offset = message.offset(),
                "rules topic: a record whose key is not its rule id is ignored"
            ),
            Err(e) => tracing::error!(
                key, offset = message.offset(), error = %e,
                "rules topic: a record that is not a rule is ignored (written by a newer API?)"
            ),
        },
    }
}

impl RulesReader {
    /// Read `topic` into `board` until its end as of now (at most
    /// `catch_up`), then keep following it on a thread.
    pub fn start(
        kafka: &KafkaConfig,
        topic: &str,
        board: Arc<RuleBoard>,
        catch_up: Duration,
    ) -> anyhow::Result<Self> {
        let brokers = &kafka.brokers;
        let consumer: BaseConsumer = kafka
            .client_config(&[
                // Assigned, not subscribed: the group id only names the client.
                ("group.id", "campaign-analytics-rules-reader"),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("fetch.wait.max.ms", "100"),
            ])
            .create()?;
        let deadline = Instant::now() + catch_up;
        let metadata = consumer
            .fetch_metadata(Some(topic), catch_up)
            .map_err(|e| anyhow::anyhow!("alert rules topic {topic} on {brokers}: {e}"))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            anyhow::bail!(
                "alert rules topic {topic} does not exist on {brokers}: create it (one partition, \
                 cleanup.policy=compact; deploy/local/topics.sh does) or unset ALERT_RULES_TOPIC"
            );
        }
        let mut ends = Vec::new();
        let mut list = TopicPartitionList::new();
        for &p in &partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, catch_up)
                .map_err(|e| anyhow::anyhow!("alert rules topic {topic}[{p}]: {e}"))?;
            ends.push((p, high));
            list.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&list)?;
        // Catch up: every partition read to its end as of now.
        let mut next: Vec<(i32, i64)> = partitions.iter().map(|&p| (p, 0)).collect();
        let caught_up = |next: &[(i32, i64)]| {
            ends.iter()
                .all(|(p, high)| *high == 0 || next.iter().any(|(q, n)| q == p && n >= high))
        };
        while !caught_up(&next) {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "alert rules topic {topic}: not read to its end within {catch_up:?}; \
                     is the broker slow?"
                );
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    apply(&board, &m);
                    if let Some(slot) = next.iter_mut().find(|(p, _)| *p == m.partition()) {
                        slot.1 = m.offset() + 1;
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, topic, "reading the alert rules topic"),
                None => {}
            }
        }
        tracing::info!(topic, rules = board.len(), "alert rules read");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let topic_name = topic.to_string();
        let thread = std::thread::Builder::new()
            .name("alert-rules".into())
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    match consumer.poll(Duration::from_millis(200)) {
                        Some(Ok(m)) => {
                            apply(&board, &m);
                            tracing::debug!(topic = %topic_name, offset = m.offset(), "alert rule change");
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, topic = %topic_name, "reading the alert rules topic")
                        }
                        None => {}
                    }
                }
            })?;
        Ok(RulesReader {
            stop,
            thread: Some(thread),
        })
    }
}
