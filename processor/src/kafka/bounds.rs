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

/// Where the log of `topic`/`partition` really ends, when the listed high
/// watermark `listed_high` (> 0) may be short: tansu 0.6 (memory storage)
/// lists the base offset of the last stored batch plus one. Reads from
/// `listed_high - 1` to the end of the partition with a consumer of its own
/// (`config`: a consumer configuration; no offsets are committed); the end is
/// the offset after the last record seen. On Kafka this reads one record and
/// confirms the listed watermark. `None` when it could not be read in
/// `timeout`.
pub fn probe_end(
    config: &rdkafka::ClientConfig,
    topic: &str,
    partition: i32,
    listed_high: i64,
    timeout: std::time::Duration,
) -> Option<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let mut config = config.clone();
    config
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false");
    let probe: BaseConsumer = config.create().ok()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(listed_high - 1))
        .ok()?;
    probe.assign(&tpl).ok()?;
    let deadline = std::time::Instant::now() + timeout;
    let mut end = listed_high;
    while std::time::Instant::now() < deadline {
        match probe.poll(std::time::Duration::from_millis(100)) {
            Some(Ok(m)) => end = end.max(m.offset() + 1),
            Some(Err(KafkaError::PartitionEOF(_))) => return Some(end),
            Some(Err(_)) | None => {}
        }
    }
    None
}

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
