//! The persisted form of a campaign's state (ARCHITECTURE.md, "Persisted
//! state"): a header per campaign and a record per user of a job. Together
//! they are everything [`Campaign`] folds, so a partition is restored from
//! them instead of from its history.
//!
//! Counters (messages, warnings, interactions, node choices) are not in the
//! header: they are counted from the user records, so a header and user
//! records of different snapshots never count an event twice. What the
//! header holds is idempotent to apply again (latest by stamp, min/max).

use std::collections::BTreeMap;

use alerting::{AlertBook, Transition};
use schemas::CampaignStatus;
use serde::{Deserialize, Serialize};

use super::campaign::{Campaign, CurrentScript, Job, Latest, Step, UserEntry};
use super::event_key;
use super::interner::Interner;
use super::report::JourneyStep;
use super::script::ScriptInfo;

/// A value with the stamp `(occurred_at, event_id)` of the event that set it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    pub at: i64,
    pub event_id: String,
    pub value: T,
}

/// What one job's header holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobHeader {
    pub job_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Stamped<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Stamped<i64>>,
    pub first_at: i64,
    pub last_at: i64,
}

/// The persisted header of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignHeader {
    pub tenant_id: String,
    pub campaign_id: String,
    /// Keys of the lifecycle events applied (duplicate detection).
    pub lifecycle_keys: Vec<u128>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Stamped<ScriptInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_any: Option<Stamped<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_wide: Option<Stamped<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_wide: Option<Stamped<i64>>,
    pub first_at: i64,
    pub last_at: i64,
    /// Every job the campaign has, in id order.
    pub jobs: Vec<JobHeader>,
    /// Wall time (ms) of the campaign's latest full write: none of its
    /// rows is older (0: unknown, written before retention existed).
    #[serde(default)]
    pub rewritten_at: i64,
    /// Alert rule states on the campaign's reports, and the transitions of
    /// the snapshot that wrote this header (re-published after a restore:
    /// the store and the channels keep each transition id once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<HeaderAlerts>,
}

/// The alert part of a header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeaderAlerts {
    /// Shared with the campaign while the book does not change (a header
    /// is taken at every snapshot that changes the campaign; copying a book
    /// of a hundred pairs each time cost more than evaluating it).
    pub book: std::sync::Arc<AlertBook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
}

/// What one user of one job holds: the persisted form of a journey.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub job_id: String,
    pub user_id: String,
    pub first_message_at: Option<i64>,
    pub message_keys: Vec<u128>,
    pub warning_keys: Vec<u128>,
    /// In any order (restored in `(at, event_id)` order).
    pub steps: Vec<JourneyStep>,
}

fn stamp<T: Clone, U>(l: &Option<Latest<T>>, f: impl Fn(&T) -> U) -> Option<Stamped<U>> {
    l.as_ref().map(|l| Stamped {
        at: l.stamp.0,
        event_id: l.stamp.1.clone(),
        value: f(&l.value),
    })
}

fn latest<T, U>(s: Option<Stamped<T>>, f: impl Fn(T) -> Option<U>) -> Option<Latest<U>> {
    let s = s?;
    Some(Latest {
        stamp: (s.at, s.event_id),
        value: f(s.value)?,
    })
}

fn status_name(s: &CampaignStatus) -> String {
    s.as_str().to_string()
}

impl Campaign {
    /// The persisted header of this campaign.
    pub fn header(&self, interner: &Interner) -> CampaignHeader {
        CampaignHeader {
            tenant_id: self.tenant_id.clone(),
            campaign_id: self.campaign_id.clone(),
            lifecycle_keys: self.lifecycle_keys.clone(),
            script: stamp(&self.script, |s: &CurrentScript| s.info.clone()),
            status_any: stamp(&self.status_any, status_name),
            status_wide: stamp(&self.status_wide, status_name),
            audience_wide: stamp(&self.audience_wide, |n| *n),
            first_at: self.first_at,
            last_at: self.last_at,
            jobs: self
                .jobs
                .iter()
                .map(|(&sym, job)| JobHeader {
                    job_id: interner.resolve(sym).to_string(),
                    status: stamp(&job.status, status_name),
                    audience: stamp(&job.audience, |n| *n),
                    first_at: job.first_at,
                    last_at: job.last_at,
                })
                .collect(),
            rewritten_at: self.rewritten_at,
            alerts: (!self.alerts.is_empty() || !self.recent_transitions.is_empty()).then(|| {
                HeaderAlerts {
                    book: match &self.alerts_shared {
                        Some(shared) if **shared == self.alerts => shared.clone(),
                        _ => std::sync::Arc::new(self.alerts.clone()),
                    },
                    transitions: self.recent_transitions.clone(),
                }
            }),
        }
    }

    /// A campaign from its header and its users' records (unchanged: its
    /// rows in the store show it already).
    pub fn restore(
        interner: &mut Interner,
        header: CampaignHeader,
        users: Vec<UserRecord>,
    ) -> Self {
        let mut c = Campaign::new(&header.tenant_id, &header.campaign_id, header.first_at);
        c.last_at = header.last_at;
        c.seen.extend(header.lifecycle_keys.iter().copied());
        c.lifecycle_keys = header.lifecycle_keys;
        c.script = latest(header.script, |info| Some(CurrentScript { info }));
        c.status_any = latest(header.status_any, |s| CampaignStatus::from_symbol(&s));
        c.status_wide = latest(header.status_wide, |s| CampaignStatus::from_symbol(&s));
        c.audience_wide = latest(header.audience_wide, Some);
        c.rewritten_at = header.rewritten_at;
        if let Some(alerts) = header.alerts {
            c.alerts = std::sync::Arc::unwrap_or_clone(alerts.book);
            // Transitions of the header's snapshot may not have been
            // published before the crash: they go out again with the next
            // snapshot (see `PartitionState::restore_campaign`).
            c.recent_transitions = alerts.transitions;
        }
        let mut jobs: BTreeMap<_, Job> = BTreeMap::new();
        for j in header.jobs {
            let job = jobs.entry(interner.intern(&j.job_id)).or_default();
            job.first_at = j.first_at;
            job.last_at = j.last_at;
            job.status = latest(j.status, |s| CampaignStatus::from_symbol(&s));
            job.audience = latest(j.audience, Some);
        }
        for u in users {
            let job_sym = interner.intern(&u.job_id);
            let job = jobs.entry(job_sym).or_insert_with(|| Job {
                // A user row of a job its (older) header does not list yet:
                // the times come from the user's events.
                first_at: i64::MAX,
                last_at: i64::MIN,
                ..Job::default()
            });
            let mut steps: Vec<Step> = u
                .steps
                .into_iter()
                .map(|s| Step {
                    at: s.occurred_at,
                    event_id: s.event_id.into_boxed_str(),
                    node: interner.intern(&s.node_id),
                    choice: interner.intern(&s.choice),
                })
                .collect();
            steps.sort_by(|a, b| (a.at, &*a.event_id).cmp(&(b.at, &*b.event_id)));
            for s in &steps {
                c.seen.insert(event_key(&s.event_id));
                *job.choices.entry((s.choice, s.node)).or_default() += 1;
                job.first_at = job.first_at.min(s.at);
                job.last_at = job.last_at.max(s.at);
            }
            job.total_interactions += steps.len() as u64;
            job.messages_sent += u.message_keys.len() as u64;
            job.warnings_sent += u.warning_keys.len() as u64;
            c.seen.extend(u.message_keys.iter().copied());
            c.seen.extend(u.warning_keys.iter().copied());
            if let Some(at) = u.first_message_at {
                job.first_at = job.first_at.min(at);
                job.last_at = job.last_at.max(at);
            }
            job.users.insert(
                interner.intern(&u.user_id),
                UserEntry {
                    first_message_at: u.first_message_at,
                    steps,
                    message_keys: u.message_keys,
                    warning_keys: u.warning_keys,
                },
            );
        }
        for job in jobs.values_mut() {
            if job.first_at > job.last_at {
                job.first_at = c.first_at;
                job.last_at = c.first_at;
            }
            c.first_at = c.first_at.min(job.first_at);
            c.last_at = c.last_at.max(job.last_at);
        }
        c.jobs = jobs;
        c.seen.shrink_to_fit();
        // Unchanged, unless transitions are to be published again.
        c.dirty = !c.recent_transitions.is_empty();
        c.changed_in = None;
        // No event changed it since it was stored (the first snapshot
        // after a restore evaluates every campaign with rules anyway).
        c.unchecked = false;
        c
    }
}
