//! Rule changes reach evicted campaigns (ARCHITECTURE.md, "Rules and
//! evicted campaigns"): when a tenant's rules change, a background read
//! looks at the tenant's evicted campaigns of the assigned partitions (the
//! alert book of each one's latest header and its latest reports), judges
//! the change on them ([`would_change`], a dry run of the evaluation), and
//! reads back in full the few it concerns. The engine puts those back
//! into memory, where the next snapshot evaluates them for real (a
//! transition leaves with its checkpoint, as every other); the usual
//! eviction drops them again once their alerts are settled.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::{now_ms, Engine};
use crate::state::{would_change, RuleIndex};
use crate::store::{Store, StoreError, StoredCampaign};

/// How long a failed sweep waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The engine's side of the sweeps: at most one read at a time, and the
/// tenants whose rule changes wait for the next.
#[derive(Default)]
pub(super) struct RuleSweeps {
    running: Option<Running>,
    waiting: BTreeSet<String>,
    not_before: Option<Instant>,
    /// The first view of the rules (at start, every rule is new to the
    /// engine) is not a change to sweep for.
    seen_rules: bool,
}

struct Running {
    tenants: BTreeSet<String>,
    task: JoinHandle<Result<Swept, StoreError>>,
}

/// What one sweep found.
struct Swept {
    looked_at: usize,
    campaigns: Vec<StoredCampaign>,
}

impl RuleSweeps {
    /// The tenants whose rules changed in a view of the rules the engine
    /// took.
    pub(super) fn changed<'a>(&mut self, tenants: impl IntoIterator<Item = &'a String>) {
        if std::mem::replace(&mut self.seen_rules, true) {
            self.waiting.extend(tenants.into_iter().cloned());
        }
    }
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
    /// Put back what a finished sweep read; start the next one if tenants
    /// wait for it.
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
        if self.sweeps.running.is_none()
            && !self.sweeps.waiting.is_empty()
            && self.sweeps.not_before.is_none_or(|t| Instant::now() >= t)
        {
            self.start_sweep();
        }
    }

    /// Run the sweeps due now to the end (tests; the engine itself never
    /// waits for a sweep).
    pub fn finish_rule_sweeps(&mut self) {
        self.sweeps.not_before = None;
        loop {
            if let Some(r) = self.sweeps.running.take() {
                self.finish_sweep(r);
            }
            if self.sweeps.waiting.is_empty() || self.sweeps.not_before.is_some() {
                return;
            }
            self.start_sweep();
            if self.sweeps.running.is_none() {
                return;
            }
        }
    }

    fn start_sweep(&mut self) {
        let Some(alerts) = &self.alerts else {
            self.sweeps.waiting.clear();
            return;
        };
        let tenants = std::mem::take(&mut self.sweeps.waiting);
        let partitions: Vec<i32> = self
            .shards
            .iter()
            .filter(|(_, s)| tenants.iter().any(|t| s.evicted.has_tenant(t)))
            .map(|(p, _)| *p)
            .collect();
        if partitions.is_empty() {
            return;
        }
        let rules = alerts.board.index();
        let store = self.store.clone();
        let list: Vec<String> = tenants.iter().cloned().collect();
        let now = now_ms();
        let task = self
            .handle
            .spawn(async move { sweep(store, partitions, list, rules, now).await });
        self.sweeps.running = Some(Running { tenants, task });
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
                self.sweeps.waiting.extend(r.tenants);
                self.sweeps.not_before = Some(Instant::now() + RETRY_AFTER);
                return;
            }
        };
        self.sweeps.not_before = None;
        let mut reloaded = 0u64;
        for c in swept.campaigns {
            let (t, id) = (&c.header.tenant_id, &c.header.campaign_id);
            let Some(shard) = self.shards.get_mut(&c.partition) else {
                continue;
            };
            // Reloaded meanwhile by a late event (then evaluated as it
            // changes), or revoked: nothing to do.
            if !shard.evicted.contains(t, id) {
                continue;
            }
            shard.evicted.remove(t, id);
            shard.state.reload_for_rules(c.header, c.users);
            reloaded += 1;
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
