//! What the engine keeps in memory, and for how long: idle completed
//! campaigns are written in full marked evicted, then dropped, and reloaded
//! from their rows when a late event arrives (unless retention dropped
//! them); the state of revoked partitions is kept within a byte budget.

use std::collections::{HashMap, HashSet};

use super::{now_ms, Engine};
use crate::state::Eviction;
use crate::store::Store;

/// The campaigns of a partition dropped from memory, by tenant then
/// campaign id: found by `&str`, without allocating a key per event.
#[derive(Debug, Default)]
pub(super) struct Evicted {
    by_tenant: HashMap<String, HashSet<String>>,
}

impl Evicted {
    pub(super) fn contains(&self, tenant: &str, campaign: &str) -> bool {
        self.by_tenant
            .get(tenant)
            .is_some_and(|c| c.contains(campaign))
    }

    /// Whether some campaign of `tenant` is evicted.
    pub(super) fn has_tenant(&self, tenant: &str) -> bool {
        self.by_tenant.contains_key(tenant)
    }

    pub(super) fn insert(&mut self, tenant: String, campaign: String) {
        self.by_tenant.entry(tenant).or_default().insert(campaign);
    }

    pub(super) fn remove(&mut self, tenant: &str, campaign: &str) {
        if let Some(c) = self.by_tenant.get_mut(tenant) {
            c.remove(campaign);
            if c.is_empty() {
                self.by_tenant.remove(tenant);
            }
        }
    }
}

impl<S: Store> Engine<S> {
    /// Bring an evicted campaign back from the store before a late event
    /// of it is applied.
    pub(super) fn reload(&mut self, partition: i32, key: &(String, String)) {
        let (tenant, campaign) = (key.0.clone(), key.1.clone());
        let stored = self.retry("reload campaign", |s| {
            let (t, c) = (tenant.clone(), campaign.clone());
            async move { s.campaign(partition, &t, &c).await }
        });
        let Some(shard) = self.shards.get_mut(&partition) else {
            return;
        };
        match stored {
            Some(c) => {
                let users = c.users.len();
                // Its rows in the store already show all of this.
                shard.state.restore_campaign(c.header, c.users);
                tracing::debug!(tenant = %key.0, campaign = %key.1, users, "evicted campaign reloaded");
            }
            None => tracing::warn!(
                tenant = %key.0,
                campaign = %key.1,
                partition,
                "an evicted campaign has no state rows (dropped by retention?); it starts again \
                 from its late events"
            ),
        }
        shard.evicted.remove(&key.0, &key.1);
        self.metrics.campaigns_reloaded.inc();
    }

    /// Drop idle completed campaigns whose every change is written.
    pub(super) fn evict_idle(&mut self) {
        let Some(grace) = self.cfg.evict_completed_after_ms else {
            return;
        };
        let now = now_ms();
        // Idle for the grace period in processing time too: that many
        // snapshots without an event (snapshots come at least that far
        // apart).
        let interval_ms = self.cfg.snapshot_interval.as_millis().max(1);
        let idle_snapshots =
            u64::try_from(u128::try_from(grace).unwrap_or(0).div_ceil(interval_ms))
                .unwrap_or(u64::MAX);
        let mut evicted = 0u64;
        for shard in self.shards.values_mut() {
            let unwritten: HashSet<(&str, &str)> = shard
                .pending
                .iter()
                .map(|r| (r.event.tenant_id(), r.event.campaign_id()))
                .collect();
            let candidates: Vec<(String, String)> = shard
                .state
                .evictable(now, grace, idle_snapshots)
                .into_iter()
                .filter(|(t, c)| !unwritten.contains(&(t.as_str(), c.as_str())))
                .collect();
            for key in candidates {
                match shard.state.eviction(&key.0, &key.1) {
                    // Its full write, marked evicted, is durable: drop it.
                    Some(Eviction::Taken) => {
                        if shard.state.evict(&key.0, &key.1) {
                            shard.evicted.insert(key.0, key.1);
                            evicted += 1;
                        }
                    }
                    // First have the next snapshot write all its rows.
                    Some(Eviction::None) => shard.state.request_eviction(&key.0, &key.1, now),
                    Some(Eviction::Requested) | None => {}
                }
            }
        }
        if evicted > 0 {
            self.metrics.campaigns_evicted.inc_by(evicted);
            tracing::debug!(evicted, "idle completed campaigns dropped from memory");
        }
    }

    /// Drop the oldest retained shards until the rest fit the budget (a
    /// dropped partition, assigned back, is restored from the store).
    pub(super) fn bound_retained(&mut self) {
        let mut total: usize = self.retained.values().map(|(_, b, _)| b).sum();
        while total > self.cfg.max_retained_bytes {
            let Some((&p, &(_, bytes, _))) =
                self.retained.iter().min_by_key(|(_, (order, _, _))| *order)
            else {
                break;
            };
            self.retained.remove(&p);
            total -= bytes;
            tracing::info!(
                partition = p,
                bytes,
                "state of a revoked partition dropped from memory (over --max-retained-state-bytes)"
            );
        }
    }
}
