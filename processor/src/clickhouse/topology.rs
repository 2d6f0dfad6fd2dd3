//! The partition count the state was built with (`topology` table). State
//! is sharded by Kafka partition, and a campaign's partition is its key's
//! hash modulo the count: with another count, campaigns would move between
//! shards whose checkpoints no longer describe them. So a start with a count
//! other than the recorded one is refused, with what to do.

use clickhouse::Client;

/// Why the processor may not start on these topics.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(
        "the input topics have {topics} partitions, but the state in this ClickHouse database \
         was built with {recorded}. State is sharded by partition (campaign_id hash), so \
         another count would split campaigns across shards and corrupt them. Either give the \
         topics {recorded} partitions again, or rebuild: start the processor on a new, empty \
         database (CLICKHOUSE_DATABASE) with the topics read from their beginning"
    )]
    Changed { recorded: i32, topics: i32 },
    #[error("read or record the partition count (table topology): {0}")]
    Store(#[from] clickhouse::error::Error),
}

/// The decision, given the recorded count and the highest partition with a
/// checkpoint (databases from before the topology table have only those).
pub fn decide(
    recorded: Option<i32>,
    max_checkpointed: Option<i32>,
    topics: i32,
) -> Result<bool, TopologyError> {
    match recorded {
        Some(recorded) if recorded != topics => Err(TopologyError::Changed { recorded, topics }),
        Some(_) => Ok(false),
        None => match max_checkpointed {
            // An older database: at least this many partitions existed.
            Some(max) if max >= topics => Err(TopologyError::Changed {
                recorded: max + 1,
                topics,
            }),
            // Record the count from now on.
            _ => Ok(true),
        },
    }
}

/// Check `topics` (the input topics' partition count) against the database
/// and record it on the first start.
pub async fn check_partition_count(client: &Client, topics: i32) -> Result<(), TopologyError> {
    let recorded: Vec<i32> = client
        .query("SELECT partitions FROM topology ORDER BY recorded_at DESC LIMIT 1")
        .fetch_all()
        .await?;
    let max: Vec<(i32, u64)> = client
        .query("SELECT max(partition), count() FROM checkpoints")
        .fetch_all()
        .await?;
    let max_checkpointed = max.first().filter(|(_, n)| *n > 0).map(|(m, _)| *m);
    if decide(recorded.first().copied(), max_checkpointed, topics)? {
        client
            .query("INSERT INTO topology (partitions) VALUES (?)")
            .bind(topics)
            .execute()
            .await?;
        tracing::info!(partitions = topics, "partition count recorded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_count_must_match() {
        assert!(!decide(Some(8), Some(7), 8).unwrap());
        assert!(matches!(
            decide(Some(8), Some(7), 16),
            Err(TopologyError::Changed {
                recorded: 8,
                topics: 16
            })
        ));
        assert!(decide(Some(8), None, 4).is_err());
    }

    #[test]
    fn a_first_start_records_and_an_old_database_is_checked_by_its_checkpoints() {
        assert!(decide(None, None, 8).unwrap());
        assert!(decide(None, Some(7), 8).unwrap());
        assert!(decide(None, Some(7), 4).is_err());
        let msg = decide(Some(4), None, 2).unwrap_err().to_string();
        assert!(
            msg.contains("have 2 partitions") && msg.contains("built with 4"),
            "{msg}"
        );
    }
}
