//! Reads a compacted topic in full, from the beginning, on a thread of its
//! own, into a [`Table`]: the alert rules ([`crate::alerts::RuleBoard`])
//! and the tenants registry ([`TenantTable`]). Every processor needs every
//! record, whichever partitions it holds. A record is keyed by the entity's
//! id; its value is the entity's JSON, or empty (a tombstone).
//!
//! [`TableReader::start`] returns once the topic is read up to its end as
//! of the start, so the first snapshot sees the current table (not an
//! empty one: no rules would resolve every firing alert, no tenants would
//! zone events in the default calendar).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alerting::Rule;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use runtime::TenantDirectory;

use super::KafkaConfig;

use crate::alerts::RuleBoard;

/// What a compacted topic is read into.
pub trait Table: Send + Sync + 'static {
    /// What logs and errors call the topic ("alert rules").
    const WHAT: &'static str;
    /// The setting that names the topic, and how to do without it.
    const HINT: &'static str;

    /// Apply one record: `value` `None` (or empty) is a tombstone. A record
    /// that does not apply is logged and skipped.
    fn apply(&self, key: &str, value: Option<&[u8]>, offset: i64);

    /// Entities held (for the logs).
    fn held(&self) -> usize;
}

impl Table for RuleBoard {
    const WHAT: &'static str = "alert rules";
    const HINT: &'static str = "or unset ALERTING";

    fn apply(&self, key: &str, value: Option<&[u8]>, offset: i64) {
        match value {
            None | Some([]) => {
                RuleBoard::apply_at(self, key, None, offset);
            }
            Some(bytes) => match serde_json::from_slice::<Rule>(bytes) {
                Ok(rule) if rule.id == key => {
                    RuleBoard::apply_at(self, key, Some(rule), offset);
                }
                Ok(rule) => tracing::warn!(
                    key, id = %rule.id, offset,
                    "rules topic: a record whose key is not its rule id is ignored"
                ),
                Err(e) => tracing::error!(
                    key, offset, error = %e,
                    "rules topic: a record that is not a rule is ignored (written by a newer API?)"
                ),
            },
        }
    }

    fn held(&self) -> usize {
        RuleBoard::len(self)
    }
}

/// The tenants registry's calendars, as the processor holds them.
#[derive(Debug)]
pub struct TenantTable(pub Arc<TenantDirectory>);

impl Table for TenantTable {
    const WHAT: &'static str = "tenants";
    const HINT: &'static str = "or unset TENANT_REGISTRY";

    fn apply(&self, key: &str, value: Option<&[u8]>, offset: i64) {
        match self.0.apply(key, value) {
            Ok(applied) => tracing::debug!(key, offset, ?applied, "tenants topic: record"),
            Err(e) => tracing::error!(
                key, offset, error = %e,
                "tenants topic: a record that does not apply is ignored (written by a newer API?)"
            ),
        }
    }

    fn held(&self) -> usize {
        self.0.registered()
    }
}

/// The reader thread; stops when dropped.
#[derive(Debug)]
pub struct TableReader {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TableReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One record of the topic into the table (a key that is not UTF-8 is
/// skipped).
fn apply<T: Table>(table: &T, message: &rdkafka::message::BorrowedMessage<'_>) {
    let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
        tracing::warn!(
            offset = message.offset(),
            what = T::WHAT,
            "a record without a UTF-8 key is ignored"
        );
        return;
    };
    table.apply(key, message.payload(), message.offset());
}

impl TableReader {
    /// Read `topic` into `table` until its end as of now (at most
    /// `catch_up`), then keep following it on a thread. `group` only names
    /// the client (partitions are assigned, not subscribed).
    pub fn start<T: Table>(
        kafka: &KafkaConfig,
        topic: &str,
        group: &str,
        table: Arc<T>,
        catch_up: Duration,
    ) -> anyhow::Result<Self> {
        let what = T::WHAT;
        let brokers = &kafka.brokers;
        let consumer: BaseConsumer = kafka
            .client_config(&[
                ("group.id", group),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("fetch.wait.max.ms", "100"),
            ])
            .create()?;
        let deadline = Instant::now() + catch_up;
        let metadata = consumer
            .fetch_metadata(Some(topic), catch_up)
            .map_err(|e| anyhow::anyhow!("{what} topic {topic} on {brokers}: {e}"))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            anyhow::bail!(
                "{what} topic {topic} does not exist on {brokers}: create it (one partition, \
                 cleanup.policy=compact; deploy/local/topics.sh does) {}",
                T::HINT
            );
        }
        let mut ends = Vec::new();
        let mut list = TopicPartitionList::new();
        for &p in &partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, catch_up)
                .map_err(|e| anyhow::anyhow!("{what} topic {topic}[{p}]: {e}"))?;
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
                    "{what} topic {topic}: not read to its end within {catch_up:?}; \
                     is the broker slow?"
                );
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    apply(&*table, &m);
                    if let Some(slot) = next.iter_mut().find(|(p, _)| *p == m.partition()) {
                        slot.1 = m.offset() + 1;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, topic, what, "reading a compacted topic")
                }
                None => {}
            }
        }
        tracing::info!(topic, what, held = table.held(), "compacted topic read");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let topic_name = topic.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("table-{}", what.replace(' ', "-")))
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    match consumer.poll(Duration::from_millis(200)) {
                        Some(Ok(m)) => apply(&*table, &m),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, topic = %topic_name, what, "reading a compacted topic")
                        }
                        None => {}
                    }
                }
            })?;
        Ok(TableReader {
            stop,
            thread: Some(thread),
        })
    }
}
