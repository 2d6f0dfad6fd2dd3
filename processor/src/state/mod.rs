//! The pure state machine: decoded events in, reports and journeys out.
//!
//! No I/O, no clocks, no async: [`PartitionState::apply`] folds one event
//! into the state of one Kafka partition, [`PartitionState::take_changes`]
//! returns what changed since the last call. The fold is order-independent:
//! duplicates (same `event_id`) count once, journey steps are kept ordered by
//! event time, and everything that depends on the script is recomputed from
//! the stored journeys when reports are derived, so a late or changed script
//! loses nothing.

mod alerts;
mod campaign;
mod interner;
mod persist;
mod report;
mod script;

#[cfg(test)]
mod tests;

use std::hash::BuildHasher;

use foldhash::fast::{FixedState, RandomState};

use schemas::{CampaignStatus, Event};

pub use alerts::{would_change, AlertPass, RuleIndex};
pub use campaign::{Campaign, Eviction, Job, Step, UserEntry};
pub use interner::{Interner, Sym};
pub use persist::{CampaignHeader, HeaderAlerts, JobHeader, Stamped, UserRecord};
pub use report::{percent, FunnelStep, Journey, JourneyStep, NodeStats, Report};
pub use script::ScriptInfo;

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event changed the state (and belongs in the raw events table).
    New,
    /// Its `event_id` was applied before: nothing changed.
    Duplicate,
}

/// Reports and journeys changed since the previous [`PartitionState::take_changes`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    pub reports: Vec<Report>,
    pub journeys: Vec<Journey>,
    /// The header of every changed campaign.
    pub headers: Vec<CampaignHeader>,
    /// Headers of campaigns written in full on their way out of memory, to
    /// be written marked evicted (their reports and journeys are above).
    pub evicted_headers: Vec<CampaignHeader>,
    /// Alert transitions the headers above carry: published once the
    /// snapshot commits.
    pub transitions: Vec<alerting::Transition>,
}

/// Hash maps and sets of the state: foldhash (fast), seeded per process.
pub type Map<K, V> = std::collections::HashMap<K, V, RandomState>;
pub type Set<K> = std::collections::HashSet<K, RandomState>;

/// 128-bit hash of an event id, for duplicate detection (persisted: the
/// notification keys of the user rows).
pub fn event_key(event_id: &str) -> u128 {
    key128(event_id)
}

/// 128-bit hash of a value: two 64-bit hashes with fixed, different seeds
/// (the same in every process).
pub fn key128<T: std::hash::Hash>(value: T) -> u128 {
    let a = FixedState::with_seed(0x5eed_0001).hash_one(&value);
    let b = FixedState::with_seed(0x5eed_0002).hash_one(&value);
    (u128::from(a) << 64) | u128::from(b)
}

/// Campaigns by tenant, then campaign id: found by `&str` without
/// allocating a key per event.
#[derive(Debug, Default)]
struct Campaigns {
    by_tenant: Map<String, Map<String, Campaign>>,
    len: usize,
}

impl Campaigns {
    fn get(&self, tenant: &str, campaign: &str) -> Option<&Campaign> {
        self.by_tenant.get(tenant)?.get(campaign)
    }

    fn get_mut(&mut self, tenant: &str, campaign: &str) -> Option<&mut Campaign> {
        self.by_tenant.get_mut(tenant)?.get_mut(campaign)
    }

    fn get_or_insert(
        &mut self,
        tenant: &str,
        campaign: &str,
        make: impl FnOnce() -> Campaign,
    ) -> &mut Campaign {
        // Allocate keys only on a miss (the borrow checker wants the
        // lookups split this way).
        if !self.by_tenant.contains_key(tenant) {
            self.by_tenant.insert(tenant.to_string(), Map::default());
        }
        let Some(inner) = self.by_tenant.get_mut(tenant) else {
            unreachable!("the tenant was just inserted")
        };
        if !inner.contains_key(campaign) {
            inner.insert(campaign.to_string(), make());
            self.len += 1;
        }
        let Some(c) = inner.get_mut(campaign) else {
            unreachable!("the campaign was just inserted")
        };
        c
    }

    fn remove(&mut self, tenant: &str, campaign: &str) -> Option<Campaign> {
        let removed = self.by_tenant.get_mut(tenant)?.remove(campaign)?;
        self.len -= 1;
        Some(removed)
    }

    fn values(&self) -> impl Iterator<Item = &Campaign> {
        self.by_tenant.values().flat_map(|m| m.values())
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut Campaign> {
        self.by_tenant.values_mut().flat_map(|m| m.values_mut())
    }
}

/// The state of every campaign keyed to one Kafka partition.
#[derive(Debug, Default)]
pub struct PartitionState {
    interner: Interner,
    campaigns: Campaigns,
    /// How many times [`PartitionState::take_changes`] ran: a clock in
    /// snapshots, with no wall clock in the pure state.
    generation: u64,
    /// Campaigns created since [`PartitionState::stamp_new`] last ran.
    unstamped: usize,
    /// The next alert pass evaluates every campaign whose tenant has
    /// rules (after a restore: the rules may have changed meanwhile).
    reevaluate_alerts: bool,
}

impl PartitionState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fold one event into the state.
    pub fn apply(&mut self, event: &Event) -> Applied {
        let mut created = false;
        let campaign = self
            .campaigns
            .get_or_insert(event.tenant_id(), event.campaign_id(), || {
                created = true;
                Campaign::new(event.tenant_id(), event.campaign_id(), event.occurred_at())
            });
        self.unstamped += usize::from(created);
        let key = event_key(event.event_id());
        if !campaign.seen.insert(key) {
            return Applied::Duplicate;
        }
        campaign.changed_in = Some(self.generation);
        campaign.unchecked = true;
        campaign.eviction = Eviction::None;
        match event {
            Event::Lifecycle(e) => campaign.apply_lifecycle(&mut self.interner, e, key),
            Event::Notification(e) => campaign.apply_notification(&mut self.interner, e, key),
            Event::Interaction(e) => campaign.apply_interaction(&mut self.interner, e),
        }
        Applied::New
    }

    /// Fold an event found beyond the checkpoint when a partition is
    /// restored (raw rows an interrupted snapshot wrote). The restored rows
    /// may already hold it (a user row of the newer version landed) while
    /// the campaign's header is older: a duplicate still moves the first
    /// and last event times, which is idempotent.
    pub fn apply_tail(&mut self, event: &Event) -> Applied {
        let applied = self.apply(event);
        if applied == Applied::Duplicate {
            if let Some(c) = self
                .campaigns
                .get_mut(event.tenant_id(), event.campaign_id())
            {
                let job = self.interner.intern(event.job_id());
                if matches!(event, Event::Lifecycle(_)) {
                    // A lifecycle event is in the header that holds its key.
                } else {
                    c.touch_times(job, event.occurred_at());
                }
                c.changed_in = Some(self.generation);
                c.eviction = Eviction::None;
            }
        }
        applied
    }

    /// Reports of every changed campaign (all jobs, and each job) and the
    /// journeys that changed, then forget that they changed.
    pub fn take_changes(&mut self) -> Changes {
        self.take_changes_with(None)
    }

    /// [`PartitionState::take_changes`], evaluating alert rules on the
    /// reports taken (and on campaigns that a timer or a rule change makes
    /// due, which are then taken too).
    pub fn take_changes_with(&mut self, alerts: Option<&AlertPass>) -> Changes {
        let just_applied = Some(self.generation);
        self.generation += 1;
        let reevaluate_all = std::mem::take(&mut self.reevaluate_alerts);
        if let Some(pass) = alerts {
            for campaign in self.campaigns.values_mut() {
                if campaign.last_applied_ms == 0 || campaign.changed_in == just_applied {
                    campaign.last_applied_ms = pass.now_ms;
                }
                if !campaign.dirty
                    && ((reevaluate_all && !pass.rules.of_tenant(&campaign.tenant_id).is_empty())
                        || alerts::due(campaign, pass))
                {
                    campaign.dirty = true;
                }
            }
        }
        let mut out = Changes::default();
        for campaign in self.campaigns.values_mut() {
            if !campaign.dirty {
                continue;
            }
            let first_report = out.reports.len();
            reports_of(campaign, &self.interner, &mut out.reports);
            let all_users = campaign.script_changed;
            let jobs: Vec<Sym> = campaign.jobs.keys().copied().collect();
            if let Some(pass) = alerts {
                alerts::evaluate(campaign, &out.reports[first_report..], pass);
            }
            if !campaign.recent_transitions.is_empty() && campaign.eviction == Eviction::Requested {
                // Its transitions must be re-publishable from a live header
                // until a later header drops them: not evicted now.
                campaign.eviction = Eviction::None;
            }
            campaign.share_alerts();
            if campaign.eviction == Eviction::Requested {
                campaign.eviction = Eviction::Taken;
                out.evicted_headers.push(campaign.header(&self.interner));
            } else {
                out.headers.push(campaign.header(&self.interner));
            }
            out.transitions.append(&mut campaign.recent_transitions);
            for job_sym in jobs {
                let Some(job) = campaign.jobs.get_mut(&job_sym) else {
                    continue;
                };
                let users: Vec<Sym> = if all_users {
                    job.users.keys().copied().collect()
                } else {
                    job.dirty_users.drain().collect()
                };
                job.dirty_users.clear();
                for user in users {
                    if let Some(j) = campaign.journey(job_sym, user, &self.interner) {
                        out.journeys.push(j);
                    }
                }
            }
            campaign.dirty = false;
            campaign.script_changed = false;
            // Evaluated now: nothing left for a dry run to look at.
            campaign.unchecked = false;
        }
        out
    }

    /// Whether a campaign changed by an event since this last looked at it
    /// would make an alert fire or resolve if a snapshot were taken now
    /// (a dry run, [`alerts::would_transition`]; nothing is evaluated).
    /// Only campaigns of tenants with enabled rules are looked at, each
    /// once per change; the engine then takes its snapshot ahead of the
    /// interval. Stops at the first such campaign: the rest are looked at
    /// next time, or evaluated by that snapshot.
    pub fn transition_due(&mut self, pass: &AlertPass) -> bool {
        let mut reports = Vec::new();
        for (tenant, campaigns) in &mut self.campaigns.by_tenant {
            if !pass.rules.of_tenant(tenant).iter().any(|r| r.enabled) {
                continue;
            }
            for campaign in campaigns.values_mut() {
                if !campaign.unchecked {
                    continue;
                }
                campaign.unchecked = false;
                reports.clear();
                reports_of(campaign, &self.interner, &mut reports);
                if alerts::would_transition(campaign, &reports, pass) {
                    return true;
                }
            }
        }
        false
    }

    /// The reports of the campaigns changed since the last take, as the
    /// next take will have them so far; nothing is taken (they stay
    /// changed). Written ahead while a snapshot is being written.
    pub fn changed_reports(&self) -> Vec<Report> {
        let mut out = Vec::new();
        for campaign in self.campaigns.values().filter(|c| c.dirty) {
            reports_of(campaign, &self.interner, &mut out);
        }
        out
    }

    /// Every report and journey, whether changed or not (for tests and full
    /// rewrites).
    pub fn all(&self) -> Changes {
        let mut out = Changes::default();
        for campaign in self.campaigns.values() {
            out.reports.push(campaign.campaign_report(&self.interner));
            for (&job_sym, job) in &campaign.jobs {
                let has_report = !self.interner.resolve(job_sym).is_empty();
                if let Some(r) = campaign
                    .job_report(job_sym, &self.interner)
                    .filter(|_| has_report)
                {
                    out.reports.push(r);
                }
                for &user in job.users.keys() {
                    if let Some(j) = campaign.journey(job_sym, user, &self.interner) {
                        out.journeys.push(j);
                    }
                }
            }
        }
        out
    }

    /// The all-jobs report of one campaign.
    pub fn campaign_report(&self, tenant_id: &str, campaign_id: &str) -> Option<Report> {
        let c = self.campaigns.get(tenant_id, campaign_id)?;
        Some(c.campaign_report(&self.interner))
    }

    /// The report of one job of a campaign.
    pub fn job_report(&self, tenant_id: &str, campaign_id: &str, job_id: &str) -> Option<Report> {
        let c = self.campaigns.get(tenant_id, campaign_id)?;
        c.job_report(self.interner.get(job_id)?, &self.interner)
    }

    /// One user's journey in one job.
    pub fn journey(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        job_id: &str,
        user_id: &str,
    ) -> Option<Journey> {
        let c = self.campaigns.get(tenant_id, campaign_id)?;
        c.journey(
            self.interner.get(job_id)?,
            self.interner.get(user_id)?,
            &self.interner,
        )
    }

    /// Completed campaigns (latest status COMPLETED) whose last event is
    /// more than `grace_ms` before `now_ms`, that have nothing unwritten and
    /// that no event changed for `idle_snapshots` snapshots: candidates to
    /// drop from memory. (Idle in event time alone is not enough: catching
    /// up on old traffic, a campaign's events keep coming long after its
    /// last event time is past the grace, and dropping it between two of
    /// them means a reload from the store per event.)
    pub fn evictable(
        &self,
        now_ms: i64,
        grace_ms: i64,
        idle_snapshots: u64,
    ) -> Vec<(String, String)> {
        self.campaigns
            .values()
            .filter(|c| {
                !c.dirty
                    && c.changed_in
                        .is_none_or(|g| self.generation > g.saturating_add(idle_snapshots))
                    && c.last_at < now_ms.saturating_sub(grace_ms)
                    && c.status_any.as_ref().map(|l| l.value) == Some(CampaignStatus::Completed)
                    // A pending pair waits for its timer, which only a
                    // campaign in memory has.
                    && !c.alerts.pairs().any(|(_, p)| p.state.is_pending())
            })
            .map(|c| (c.tenant_id.clone(), c.campaign_id.clone()))
            .collect()
    }

    /// Where a campaign stands on its way out of memory (`None` if it is
    /// not held).
    pub fn eviction(&self, tenant_id: &str, campaign_id: &str) -> Option<Eviction> {
        Some(self.campaigns.get(tenant_id, campaign_id)?.eviction)
    }

    /// First step out of memory: the next snapshot writes every row of the
    /// campaign, its header marked evicted.
    pub fn request_eviction(&mut self, tenant_id: &str, campaign_id: &str, now_ms: i64) {
        if let Some(c) = self.campaigns.get_mut(tenant_id, campaign_id) {
            c.request_full_write(now_ms);
            c.eviction = Eviction::Requested;
        }
    }

    /// A snapshot that took eviction writes was not written: take them
    /// again in the next one.
    pub fn retake_evictions(&mut self) {
        for c in self.campaigns.values_mut() {
            if c.eviction == Eviction::Taken {
                c.eviction = Eviction::Requested;
                c.dirty = true;
                c.script_changed = true;
            }
        }
    }

    /// Drop a campaign from memory once its eviction write is durable (its
    /// rows stay in the store); false if it is not held or not written
    /// marked evicted.
    pub fn evict(&mut self, tenant_id: &str, campaign_id: &str) -> bool {
        if self.eviction(tenant_id, campaign_id) != Some(Eviction::Taken) {
            return false;
        }
        self.campaigns.remove(tenant_id, campaign_id).is_some()
    }

    /// Have the next snapshot write in full every campaign whose latest
    /// full write was requested before `older_than_ms` (wall time), so that
    /// no row of a campaign in memory grows older than the retention lets
    /// live. Returns how many.
    pub fn refresh(&mut self, older_than_ms: i64, now_ms: i64) -> usize {
        let mut n = 0;
        for c in self.campaigns.values_mut() {
            if c.rewritten_at < older_than_ms {
                c.request_full_write(now_ms);
                n += 1;
            }
        }
        n
    }

    /// Before a snapshot, at wall time `now_ms`: campaigns created since the
    /// last one are written in full by it (every user of theirs is new).
    pub fn stamp_new(&mut self, now_ms: i64) {
        if self.unstamped == 0 {
            return;
        }
        for c in self.campaigns.values_mut() {
            if c.rewritten_at == campaign::UNSTAMPED {
                c.rewritten_at = now_ms;
            }
        }
        self.unstamped = 0;
    }

    /// The oldest full write of the campaigns held: no row of theirs in
    /// the store is older (`now_ms` when none is held).
    pub fn retained_from(&self, now_ms: i64) -> i64 {
        self.campaigns
            .values()
            .map(|c| c.rewritten_at)
            .min()
            .unwrap_or(now_ms)
    }

    /// Put a campaign back from its persisted header and user rows (the
    /// greatest version of each). It counts as unchanged: its rows in the
    /// store already show it. Replaces what the state held of it.
    pub fn restore_campaign(&mut self, header: CampaignHeader, users: Vec<UserRecord>) {
        let (tenant, id) = (header.tenant_id.clone(), header.campaign_id.clone());
        self.campaigns.remove(&tenant, &id);
        let campaign = Campaign::restore(&mut self.interner, header, users);
        self.campaigns.get_or_insert(&tenant, &id, move || campaign);
    }

    /// Put back an evicted campaign that a rule change concerns (its
    /// stored rows, as [`PartitionState::restore_campaign`]), to be
    /// evaluated by the next snapshot. Unchanged otherwise: it leaves
    /// memory again by the usual eviction, once its alerts are settled.
    pub fn reload_for_rules(&mut self, header: CampaignHeader, users: Vec<UserRecord>) {
        let (tenant, id) = (header.tenant_id.clone(), header.campaign_id.clone());
        self.restore_campaign(header, users);
        if let Some(c) = self.campaigns.get_mut(&tenant, &id) {
            c.dirty = true;
        }
    }

    /// Have the next alert pass evaluate every campaign whose tenant has
    /// rules.
    pub fn reevaluate_alerts(&mut self) {
        self.reevaluate_alerts = true;
    }

    /// Give back transitions a snapshot took but did not commit (it was
    /// abandoned): the next snapshot carries them in their campaigns'
    /// headers again and publishes them once it commits.
    pub fn requeue_transitions(&mut self, transitions: Vec<alerting::Transition>) {
        for t in transitions {
            if let Some(c) = self.campaigns.get_mut(&t.tenant_id, &t.campaign_id) {
                c.dirty = true;
                c.recent_transitions.push(t);
            }
        }
    }

    /// Mark every campaign and every user changed, so the next snapshot
    /// writes all of them (the one-time rewrite after an upgrade).
    pub fn mark_all_changed(&mut self) {
        for c in self.campaigns.values_mut() {
            c.dirty = true;
            c.script_changed = true;
        }
    }

    /// Ids of the campaigns held, by tenant.
    pub fn campaign_keys(&self) -> Vec<(String, String)> {
        self.campaigns
            .values()
            .map(|c| (c.tenant_id.clone(), c.campaign_id.clone()))
            .collect()
    }

    pub fn campaign_count(&self) -> usize {
        self.campaigns.len
    }

    /// (campaign, job, user) entries held.
    pub fn user_entries(&self) -> usize {
        self.campaigns
            .values()
            .flat_map(|c| c.jobs.values())
            .map(|j| j.users.len())
            .sum()
    }

    /// Approximate heap bytes held by the state.
    pub fn heap_bytes(&self) -> usize {
        self.interner.heap_bytes()
            + self
                .campaigns
                .values()
                .map(Campaign::heap_bytes)
                .sum::<usize>()
    }
}

/// A campaign's all-jobs report, then its jobs' reports (events without a
/// job count in the all-jobs report only).
fn reports_of(campaign: &Campaign, interner: &Interner, out: &mut Vec<Report>) {
    campaign.reports(interner, out);
}
