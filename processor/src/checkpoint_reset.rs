//! `processor checkpoint reset`: move a partition's checkpoint back inside
//! its log, deliberately, after the processor refused the partition because
//! its checkpoint lies outside the log (see [`crate::kafka::bounds`]).
//!
//! It writes one new checkpoint row for the partition (a version above every
//! version the store holds for it), with each topic's offset set to the
//! log's first offset (`--to earliest`) or its end (`--to latest`). The state
//! is kept: replayed events that the state already holds count once (same
//! `event_id`). Run it with the processors stopped, then start them.

use std::time::Duration;

use crate::clickhouse::ClickHouseStore;
use crate::kafka::{bounds, KafkaConfig};
use crate::store::{next_version, Checkpoint, Offsets, Snapshot, Store, STATE_FORMAT};

/// `--to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResetTo {
    /// The first offset the log holds: every record there is read (what
    /// the state already has counts once).
    Earliest,
    /// The log's end: records now in the log are skipped, on purpose.
    Latest,
}

/// Arguments of `processor checkpoint reset`.
#[derive(Debug, Clone, clap::Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub kafka: KafkaConfig,

    /// The partition (the same number on the three input topics).
    #[arg(long)]
    pub partition: i32,

    /// Where the partition resumes on each input topic.
    #[arg(long, value_enum)]
    pub to: ResetTo,

    /// Print the checkpoint that would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What the reset did (or would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetReport {
    pub before: Option<Checkpoint>,
    pub after: Checkpoint,
    pub written: bool,
}

impl std::fmt::Display for ResetReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |o: &Offsets| {
            o.iter()
                .map(|x| x.map_or("beginning".to_string(), |n| n.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &self.before {
            Some(b) => writeln!(
                f,
                "partition {}: checkpoint version {} resumes at [{}]",
                b.partition,
                b.version,
                show(&b.offsets)
            )?,
            None => writeln!(f, "partition {}: no checkpoint yet", self.after.partition)?,
        }
        write!(
            f,
            "{} version {} resuming at [{}] (lifecycle, notifications, interactions)",
            if self.written {
                "wrote"
            } else {
                "would write (dry run)"
            },
            self.after.version,
            show(&self.after.offsets)
        )
    }
}

/// The checkpoint a reset writes: `to` applied to the watermarks, above
/// every version in the store (and not below `now_ms`, like the engine's).
pub fn reset_checkpoint(
    partition: i32,
    to: ResetTo,
    watermarks: [(i64, i64); 3],
    epoch: u64,
    max_version: u64,
    now_ms: i64,
) -> Checkpoint {
    let offsets = watermarks.map(|(low, high)| {
        Some(match to {
            ResetTo::Earliest => low,
            ResetTo::Latest => high,
        })
    });
    Checkpoint {
        partition,
        version: next_version(epoch, max_version, now_ms),
        offsets,
        format: STATE_FORMAT,
        // Unknown: the retention job drops no snapshot month until the
        // partition's owner checkpoints again.
        retained_from_ms: 0,
        rules_offset: -1,
    }
}

/// Run the command.
pub async fn reset(args: &ResetArgs, client: clickhouse::Client) -> anyhow::Result<ResetReport> {
    let kafka = args.kafka.clone();
    let partition = args.partition;
    let watermarks =
        tokio::task::spawn_blocking(move || bounds::watermarks(&kafka, partition)).await??;
    let store = ClickHouseStore::new(client);
    let before = store.checkpoint(partition).await?;
    let max_version = store.version_floor(partition).await?;
    let epoch = if args.dry_run {
        0
    } else {
        // The reset writes as the partition's owner for a moment (the
        // processors are stopped): its own epoch, so its row is taken.
        store.claim(partition, "processor checkpoint reset").await?
    };
    let mut after = reset_checkpoint(
        partition,
        args.to,
        watermarks,
        epoch,
        max_version,
        chrono::Utc::now().timestamp_millis(),
    );
    // The state rows stay what they were.
    after.format = before.as_ref().map_or(STATE_FORMAT, |c| c.format);
    if !args.dry_run {
        let snapshot = Snapshot {
            epochs: [(partition, epoch)].into(),
            checkpoints: vec![after.clone()],
            ..Snapshot::default()
        };
        tokio::time::timeout(Duration::from_secs(60), store.write(&snapshot)).await??;
    }
    Ok(ResetReport {
        before,
        after,
        written: !args.dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_and_latest_take_the_watermarks_and_a_greater_version() {
        let marks = [(0, 10), (5, 7), (0, 0)];
        let c = reset_checkpoint(3, ResetTo::Earliest, marks, 0, 41, 0);
        assert_eq!(c.offsets, [Some(0), Some(5), Some(0)]);
        assert_eq!(c.version, 42);
        let c = reset_checkpoint(3, ResetTo::Latest, marks, 0, 41, 1_000);
        assert_eq!(c.offsets, [Some(10), Some(7), Some(0)]);
        assert_eq!(c.version, 1_000);
        let c = reset_checkpoint(3, ResetTo::Latest, marks, 2, 41, 1_000);
        assert_eq!(
            crate::store::epoch_of(c.version),
            2,
            "written in the reset's epoch"
        );
    }
}
