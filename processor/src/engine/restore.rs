//! Restoring assigned partitions: from their state rows (live campaigns
//! only) plus the raw events an interrupted snapshot left beyond the
//! checkpoint, or once from every raw event when the checkpoint predates
//! state rows (ARCHITECTURE.md, "Persisted state").

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Engine, Shard};
use crate::store::{Checkpoint, RawEvent, Store, StoredCampaign, STATE_FORMAT};

/// Batches of raw events read ahead of the restoring engine.
const RESTORE_READ_AHEAD: usize = 8;

/// A partition being restored from its history (a checkpoint of a release
/// without state rows): the fold of its raw events so far.
struct Restoring {
    shard: Shard,
    /// Raw events beyond the checkpoint, applied after the others.
    after: Vec<RawEvent>,
}

impl Restoring {
    fn new(checkpoint: Option<&Checkpoint>, floor: u64) -> Self {
        let next = checkpoint.map_or([None; 3], |c| c.offsets);
        let committed = checkpoint.map_or(0, |c| c.version);
        let rules = checkpoint.map_or(-1, |c| c.rules_offset);
        Restoring {
            shard: Shard {
                next,
                checkpointed: next,
                version: floor.max(committed),
                rules_swept: rules,
                rules_checkpointed: rules,
                ..Shard::default()
            },
            after: Vec::new(),
        }
    }

    /// Fold one raw event (`topic`: its topic's index, if one of ours).
    fn fold(&mut self, topic: Option<usize>, r: RawEvent) {
        let covered = match topic.and_then(|t| self.shard.next[t]) {
            Some(n) => r.offset < n,
            None => false,
        };
        if covered {
            self.shard.state.apply(&r.event);
        } else {
            self.after.push(r);
        }
    }

    fn finish(mut self) -> Shard {
        for r in &self.after {
            self.shard.state.apply(&r.event);
        }
        // The old release wrote no state rows: the first snapshot writes
        // every campaign and user in the new format, and a checkpoint
        // (also for a partition without any).
        self.shard.state.mark_all_changed();
        self.shard.upgrade_checkpoint = true;
        self.shard
    }
}

/// Put the live campaigns back into their partitions' states, partitions
/// spread over the machine's cores (each partition's state is its own).
fn restore_in_parallel(shards: &mut BTreeMap<i32, Shard>, live: Vec<StoredCampaign>) {
    let mut by_partition: BTreeMap<i32, Vec<StoredCampaign>> = BTreeMap::new();
    for c in live {
        by_partition.entry(c.partition).or_default().push(c);
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(by_partition.len())
        .max(1);
    let mut groups: Vec<Vec<(&mut Shard, Vec<StoredCampaign>)>> =
        (0..workers).map(|_| Vec::new()).collect();
    for (i, (p, shard)) in shards.iter_mut().enumerate() {
        if let Some(campaigns) = by_partition.remove(p) {
            groups[i % workers].push((shard, campaigns));
        }
    }
    std::thread::scope(|scope| {
        for group in groups {
            scope.spawn(move || {
                for (shard, campaigns) in group {
                    for c in campaigns {
                        shard.state.restore_campaign(c.header, c.users);
                    }
                }
            });
        }
    });
}

impl<S: Store> Engine<S> {
    /// Restore partitions from the store: from their state rows, or once
    /// from their history when the checkpoint predates state rows.
    pub(super) fn restore(
        &mut self,
        partitions: Vec<(i32, Option<Checkpoint>)>,
    ) -> Vec<(i32, Shard)> {
        let floors: BTreeMap<i32, u64> = partitions
            .iter()
            .map(|&(p, _)| {
                let floor =
                    self.retry(
                        "read version floor",
                        |s| async move { s.version_floor(p).await },
                    );
                (p, floor)
            })
            .collect();
        let (legacy, current): (Vec<_>, Vec<_>) = partitions
            .into_iter()
            .partition(|(_, c)| c.as_ref().is_some_and(|c| c.format < STATE_FORMAT));
        let mut out = Vec::new();
        if !legacy.is_empty() {
            tracing::warn!(
                partitions = ?legacy.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
                "checkpoints from a release without state rows: restoring once from every raw \
                 event, then writing the state rows"
            );
            out.extend(self.restore_from_history(legacy, &floors));
        }
        if !current.is_empty() {
            out.extend(self.restore_from_state(current, &floors));
        }
        out
    }

    /// Restore partitions from their state rows (live campaigns only), then
    /// fold the tail: raw events an interrupted snapshot wrote beyond the
    /// checkpoint.
    fn restore_from_state(
        &mut self,
        partitions: Vec<(i32, Option<Checkpoint>)>,
        floors: &BTreeMap<i32, u64>,
    ) -> Vec<(i32, Shard)> {
        let ids: Vec<i32> = partitions.iter().map(|(p, _)| *p).collect();
        let rows = self.retry("read state rows", |s| {
            let ids = ids.clone();
            async move { s.partition_rows(&ids).await }
        });
        let mut shards: BTreeMap<i32, Shard> = partitions
            .iter()
            .map(|(p, checkpoint)| {
                let next = checkpoint.as_ref().map_or([None; 3], |c| c.offsets);
                let committed = checkpoint.as_ref().map_or(0, |c| c.version);
                let floor = floors.get(p).copied().unwrap_or(0);
                let rules = checkpoint.as_ref().map_or(-1, |c| c.rules_offset);
                let shard = Shard {
                    next,
                    checkpointed: next,
                    version: floor.max(committed),
                    rules_swept: rules,
                    rules_checkpointed: rules,
                    ..Shard::default()
                };
                (*p, shard)
            })
            .collect();
        restore_in_parallel(&mut shards, rows.live);
        for (p, t, c) in rows.evicted {
            if let Some(shard) = shards.get_mut(&p) {
                shard.evicted.insert(t, c);
            }
        }
        let topics = self.cfg.topics.clone();
        for (p, checkpoint) in &partitions {
            let p = *p;
            let tail = self.retry("read tail", |s| {
                let (checkpoint, topics) = (checkpoint.clone(), topics.clone());
                async move { s.tail(p, checkpoint.as_ref(), &topics).await }
            });
            if tail.is_empty() {
                continue;
            }
            // The insert that wrote these may have been cut off between
            // the table's part and its views' parts.
            self.retry("repair rollups", |s| {
                let tail = tail.clone();
                async move { s.repair_rollups(&tail).await }
            });
            let Some(mut shard) = shards.remove(&p) else {
                continue;
            };
            for r in &tail {
                let key = (
                    r.event.tenant_id().to_string(),
                    r.event.campaign_id().to_string(),
                );
                if shard.evicted.contains(&key.0, &key.1) {
                    // Dropped before this snapshot's header landed: bring
                    // it back first.
                    let stored = self.retry("reload campaign", |s| {
                        let key = key.clone();
                        async move { s.campaign(p, &key.0, &key.1).await }
                    });
                    if let Some(c) = stored {
                        shard.state.restore_campaign(c.header, c.users);
                    }
                    shard.evicted.remove(&key.0, &key.1);
                }
                shard.state.apply_tail(&r.event);
                shard.tail_campaigns.insert(key);
            }
            tracing::info!(
                partition = p,
                events = tail.len(),
                campaigns = shard.tail_campaigns.len(),
                "raw events beyond the checkpoint folded in (a snapshot was interrupted)"
            );
            shards.insert(p, shard);
        }
        shards.into_iter().collect()
    }

    /// Restore partitions from every raw event they have (checkpoints of a
    /// release without state rows): one read of all their raw events,
    /// folded while it streams in (the store's task decodes rows on the
    /// runtime while this thread applies them). Retried from scratch when
    /// the read fails.
    fn restore_from_history(
        &mut self,
        partitions: Vec<(i32, Option<Checkpoint>)>,
        floors: &BTreeMap<i32, u64>,
    ) -> Vec<(i32, Shard)> {
        let ids: Vec<i32> = partitions.iter().map(|(p, _)| *p).collect();
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut restoring: BTreeMap<i32, Restoring> = partitions
                .iter()
                .map(|(p, checkpoint)| {
                    let floor = floors.get(p).copied().unwrap_or(0);
                    (*p, Restoring::new(checkpoint.as_ref(), floor))
                })
                .collect();
            let (tx, mut rx) = tokio::sync::mpsc::channel(RESTORE_READ_AHEAD);
            let store = self.store.clone();
            let read = ids.clone();
            let task = self
                .handle
                .spawn(async move { store.raw_events(&read, tx).await });
            while let Some(batch) = rx.blocking_recv() {
                for r in batch {
                    let t = self.cfg.topics.iter().position(|t| *t == r.topic);
                    if let Some(shard) = restoring.get_mut(&r.partition) {
                        shard.fold(t, r);
                    }
                }
            }
            let error = match self.handle.block_on(task) {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            let Some(error) = error else {
                return restoring
                    .into_iter()
                    .map(|(p, r)| (p, r.finish()))
                    .collect();
            };
            self.metrics
                .clickhouse_errors
                .with_label_values(&["read raw events"])
                .inc();
            self.metrics.clickhouse_retries.inc();
            tracing::warn!(%error, "read raw events failed; restoring again in {backoff:?}");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}
