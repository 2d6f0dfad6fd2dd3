//! Is a checkpoint inside its partition's log? At assignment the consumer
//! compares each checkpointed offset with the partition's low and high
//! watermarks. Outside them, resuming would silently skip records (the log
//! was recreated and grew past the checkpoint, or retention removed records
//! the state never saw) or wait forever (the log ends before it). Such a
//! partition is refused: not consumed, with an error saying what happened and
//! how to reset it deliberately (`processor checkpoint reset`).

/// Where a checkpointed offset lies outside the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutsideLog {
    /// The log ends before the checkpoint: the topic was recreated or the
    /// broker lost its data.
    #[error("the checkpoint resumes at offset {next}, but the log ends at {high}: the topic was recreated or the broker lost its data")]
    AfterEnd { next: i64, high: i64 },
    /// Records between the checkpoint and the log's start were removed
    /// (retention) before the state saw them.
    #[error("the checkpoint resumes at offset {next}, but the log starts at {low}: records {next}..{low} were removed (retention) before they were applied")]
    BeforeStart { next: i64, low: i64 },
}

/// Check `next` (the checkpoint's next offset) against the log's
/// watermarks: `low` (first offset held) and `high` (the next offset to be
/// written). `next == high` is a caught-up partition.
pub fn check(next: i64, low: i64, high: i64) -> Result<(), OutsideLog> {
    if next > high {
        return Err(OutsideLog::AfterEnd { next, high });
    }
    if next < low {
        return Err(OutsideLog::BeforeStart { next, low });
    }
    Ok(())
}

/// The message of a refused partition: what happened, and the command that
/// resets it.
pub fn refusal(topic: &str, partition: i32, outside: &OutsideLog) -> String {
    let to = match outside {
        OutsideLog::AfterEnd { .. } => "earliest",
        OutsideLog::BeforeStart { .. } => "earliest",
    };
    format!(
        "partition {partition} refused: {topic}: {outside}. Nothing of partition {partition} is \
         consumed, so nothing is skipped or read twice in silence. To resume it deliberately, \
         run `processor checkpoint reset --partition {partition} --to {to}` (or --to latest; \
         see README, \"Checkpoints outside the log\") and restart the processors"
    )
}

/// Where the logs of `partitions` of `topic` really end, when their listed
/// high watermarks (each `(partition, listed_high)`, `listed_high` > 0) may
/// be short: tansu 0.6 (memory storage) lists the base offset of the last
/// stored batch plus one. One consumer of its own (`config`: a consumer
/// configuration; no offsets are committed) reads every partition from
/// `listed_high - 1` to its end at once, so the cost is one fetch round
/// trip however many partitions are probed; a partition's end is the offset
/// after the last record seen. On Kafka this reads one record per partition
/// and confirms the listed watermarks. A partition whose end could not be
/// read in `timeout` is left out of the answer.
pub fn probe_ends(
    config: &rdkafka::ClientConfig,
    topic: &str,
    partitions: &[(i32, i64)],
    timeout: std::time::Duration,
) -> std::collections::BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    use std::collections::{BTreeMap, BTreeSet};
    let mut ends: BTreeMap<i32, i64> = partitions.iter().copied().collect();
    if ends.is_empty() {
        return ends;
    }
    let mut config = config.clone();
    config
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false");
    let Ok(probe) = config.create_with_context::<_, BaseConsumer<ProbeContext>>(ProbeContext)
    else {
        return BTreeMap::new();
    };
    let mut tpl = TopicPartitionList::new();
    for (partition, listed_high) in partitions {
        if tpl
            .add_partition_offset(topic, *partition, Offset::Offset(listed_high - 1))
            .is_err()
        {
            ends.remove(partition);
        }
    }
    if probe.assign(&tpl).is_err() {
        return BTreeMap::new();
    }
    // librdkafka delivers a partition's end-of-log event after its records.
    let mut reached = BTreeSet::new();
    let deadline = std::time::Instant::now() + timeout;
    while reached.len() < ends.len() && std::time::Instant::now() < deadline {
        match probe.poll(std::time::Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if let Some(end) = ends.get_mut(&m.partition()) {
                    *end = (*end).max(m.offset() + 1);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                reached.insert(p);
            }
            Some(Err(_)) | None => {}
        }
    }
    ends.retain(|p, _| reached.contains(p));
    ends
}

/// The probe's context: the end of a log is what a probe looks for, not an
/// error to log (librdkafka reports it as one).
struct ProbeContext;

impl rdkafka::ClientContext for ProbeContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        if matches!(error, rdkafka::error::KafkaError::PartitionEOF(_)) {
            tracing::debug!("end-of-log probe: {reason}");
        } else {
            tracing::warn!(%error, "end-of-log probe: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ProbeContext {}

/// The (low, high) watermarks of `partition` of each input topic.
pub fn watermarks(
    config: &super::KafkaConfig,
    partition: i32,
) -> Result<[(i64, i64); 3], rdkafka::error::KafkaError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = config.consumer_config().create()?;
    let mut out = [(0, 0); 3];
    for (t, topic) in config.topics().iter().enumerate() {
        out[t] = consumer.fetch_watermarks(topic, partition, config.metadata_timeout())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_the_log_is_fine_including_both_ends() {
        assert_eq!(check(0, 0, 0), Ok(()));
        assert_eq!(check(5, 0, 10), Ok(()));
        assert_eq!(check(10, 0, 10), Ok(()));
        assert_eq!(check(3, 3, 10), Ok(()));
    }

    #[test]
    fn past_the_end_and_before_the_start_are_refused() {
        assert_eq!(
            check(11, 0, 10),
            Err(OutsideLog::AfterEnd { next: 11, high: 10 })
        );
        assert_eq!(
            check(2, 3, 10),
            Err(OutsideLog::BeforeStart { next: 2, low: 3 })
        );
        let msg = refusal(
            "interactions",
            4,
            &OutsideLog::AfterEnd { next: 11, high: 10 },
        );
        assert!(
            msg.contains("processor checkpoint reset --partition 4"),
            "{msg}"
        );
        assert!(msg.contains("recreated"), "{msg}");
    }
}
