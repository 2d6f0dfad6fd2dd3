//! Rule changes reach evicted campaigns (ARCHITECTURE.md, "Rules and
//! evicted campaigns"). Each partition knows the rules-topic offset up to
//! which every rule change has reached its evicted campaigns, and its
//! checkpoints carry it. At each snapshot the engine asks the rules which
//! tenants changed after it; where such a tenant has evicted campaigns, a
//! background read (a **sweep**) looks at them (the alert book of each
//! one's latest header and its latest reports), judges the rules on them
//! ([`would_change`], a dry run of the evaluation), and reads back in full
//! the few it concerns. The engine puts those back into memory, where the
//! next snapshot evaluates them for real (a transition leaves with its
//! checkpoint, as every other), and moves the partition's offset on, so
//! that checkpoint also says the change is through. The usual eviction
//! drops them again once their alerts are settled. A sweep cut off (crash,
//! rebalance) leaves the checkpoint's offset behind: the next owner sweeps
//! again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::{now_ms, Engine};
use crate::state::{would_change, RuleIndex};
use crate::store::{Store, StoreError, StoredCampaign};

/// How long a failed sweep waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The engine's side of the sweeps: at most one read at a time.
#[derive(Default)]
pub(super) struct RuleSweeps {
    running: Option<Running>,
    /// After a failed read: not again before this.
    not_before: Option<Instant>,
}

struct Running {
    /// Partition → the rules-topic offset it is swept up to, and the
    /// epoch of the ownership the sweep read for.
    partitions: BTreeMap<i32, (i64, u64)>,
    tenants: BTreeSet<String>,
    task: JoinHandle<Result<Swept, StoreError>>,
}

/// What one sweep found.
struct Swept {
    looked_at: usize,
    campaigns: Vec<StoredCampaign>,
}

/// Read the evicted campaigns of `tenants` in `partitions`, and in full
/// those the rules would change.
async fn sweep<S: Store>(
    store: Arc<S>,
    partitions: Vec<i32>,
    tenants: Vec<String>,
    rules: Arc<RuleIndex>,
    now_ms: i64,
) -> Result<Swept, StoreError> {
    let views = store.evicted_views(&partitions, &tenants).await?;
    let looked_at = views.len();
    let mut campaigns = Vec::new();
    for v in views {
        if !would_change(&v.book, &v.tenant_id, &v.reports, &rules, now_ms) {
            continue;
        }
        if let Some(c) = store
            .campaign(v.partition, &v.tenant_id, &v.campaign_id)
            .await?
        {
            campaigns.push(c);
        }
    }
    Ok(Swept {
        looked_at,
        campaigns,
    })
}

impl<S: Store> Engine<S> {
    /// At a snapshot: which partitions have evicted campaigns of tenants
    /// whose rules changed after the partition's offset. A partition
    /// without any is through at once; the others are swept (unless a
    /// sweep runs: the next snapshot asks again).
    pub(super) fn plan_rule_sweeps(&mut self) {
        let Some(alerts) = &self.alerts else {
            return;
        };
        if self.sweeps.running.is_some()
            || self.sweeps.not_before.is_some_and(|t| Instant::now() < t)
        {
            return;
        }
        let board = alerts.board.clone();
        let mut partitions = BTreeMap::new();
        let mut tenants = BTreeSet::new();
        for (&p, shard) in &mut self.shards {
            let (mut changed, mut high) = board.changed_since(shard.rules_swept);
            if high < shard.rules_swept {
                // The rules topic ends before the partition's offset: it
                // was deleted and created again. Its offsets say nothing
                // about what the partition has seen: sweep every tenant.
                tracing::warn!(
                    partition = p,
                    rules_offset = shard.rules_swept,
                    topic_end = high,
                    "the rules topic ends before this partition's rules offset (created again?); \
                     evicted campaigns of every tenant with rules are looked at again"
                );
                shard.rules_swept = -1;
                (changed, high) = board.changed_since(-1);
            }
            if changed.is_empty() {
                shard.rules_swept = shard.rules_swept.max(high);
                continue;
            }
            let evicted: Vec<String> = changed
                .into_iter()
                .filter(|t| shard.evicted.has_tenant(t))
                .collect();
            if evicted.is_empty() {
                shard.rules_swept = shard.rules_swept.max(high);
                continue;
            }
            partitions.insert(p, (high, shard.epoch));
            tenants.extend(evicted);
        }
        if partitions.is_empty() {
            return;
        }
        let rules = board.index();
        let store = self.store.clone();
        let list: Vec<i32> = partitions.keys().copied().collect();
        let names: Vec<String> = tenants.iter().cloned().collect();
        let now = now_ms();
        let task = self
            .handle
            .spawn(async move { sweep(store, list, names, rules, now).await });
        self.sweeps.running = Some(Running {
            partitions,
            tenants,
            task,
        });
    }

    /// Put back what a finished sweep read.
    pub(super) fn poll_rule_sweeps(&mut self) {
        let finished = self
            .sweeps
            .running
            .as_ref()
            .is_some_and(|r| r.task.is_finished());
        if finished {
            if let Some(r) = self.sweeps.running.take() {
                self.finish_sweep(r);
            }
        }
    }

    /// Wait for the sweep that runs, if any (tests; the engine itself
    /// never waits for a sweep).
    pub fn finish_rule_sweeps(&mut self) {
        if let Some(r) = self.sweeps.running.take() {
            self.finish_sweep(r);
        }
    }

    fn finish_sweep(&mut self, r: Running) {
        let outcome = match self.handle.block_on(r.task) {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let swept = match outcome {
            Ok(swept) => swept,
            Err(error) => {
                self.metrics
                    .clickhouse_errors
                    .with_label_values(&["read evicted campaigns"])
                    .inc();
                tracing::warn!(
                    %error,
                    "reading evicted campaigns for a rule change failed; trying again in {RETRY_AFTER:?}"
                );
                self.sweeps.not_before = Some(Instant::now() + RETRY_AFTER);
                return;
            }
        };
        self.sweeps.not_before = None;
        let mut reloaded = 0u64;
        for c in swept.campaigns {
            let (t, id) = (&c.header.tenant_id, &c.header.campaign_id);
            // Revoked meanwhile (and maybe assigned again: another owner
            // may have written the campaign since it was read).
            let Some(shard) = self
                .shards
                .get_mut(&c.partition)
                .filter(|s| r.partitions.get(&c.partition).map(|(_, e)| *e) == Some(s.epoch))
            else {
                continue;
            };
            // Reloaded meanwhile by a late event (then evaluated as it
            // changes): nothing to do.
            if !shard.evicted.contains(t, id) {
                continue;
            }
            shard.evicted.remove(t, id);
            shard.state.reload_for_rules(c.header, c.users);
            reloaded += 1;
        }
        // Through: what the change concerns is in memory, and the next
        // snapshot evaluates it before it checkpoints the offset. (A
        // partition revoked meanwhile is swept again by its next owner.)
        for (p, (high, epoch)) in r.partitions {
            if let Some(shard) = self.shards.get_mut(&p).filter(|s| s.epoch == epoch) {
                shard.rules_swept = shard.rules_swept.max(high);
            }
        }
        self.metrics.campaigns_reloaded.inc_by(reloaded);
        tracing::info!(
            tenants = ?r.tenants,
            evicted_campaigns = swept.looked_at,
            reloaded,
            "rule change: evicted campaigns it concerns are back in memory for evaluation"
        );
    }
}
