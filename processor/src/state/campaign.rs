//! The state of one campaign: what every event changes, and nothing derived.
//! Reports and journeys are computed from it in [`super::report`].

use std::collections::BTreeMap;

use schemas::{CampaignLifecycle, CampaignStatus, NotificationSent, UserInteraction};

use alerting::{AlertBook, Transition};

use super::interner::{Interner, Sym};
use super::script::ScriptInfo;
use super::{Map, Set};

/// "Latest by event time": `(occurred_at, event_id)`, compared in that order.
pub type Stamp = (i64, String);

/// A value announced by lifecycle events; the one with the greatest stamp wins.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest<T> {
    pub stamp: Stamp,
    pub value: T,
}

/// Keep the later of the current and a newly announced value.
pub fn keep_latest<T>(slot: &mut Option<Latest<T>>, at: i64, event_id: &str, value: T) {
    let newer = match slot {
        None => true,
        Some(l) => (at, event_id) > (l.stamp.0, l.stamp.1.as_str()),
    };
    if newer {
        *slot = Some(Latest {
            stamp: (at, event_id.to_string()),
            value,
        });
    }
}

/// One interaction step of a journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: i64,
    /// Not interned: an event id is seen once, so indexing it would only
    /// cost memory.
    pub event_id: Box<str>,
    /// `answer_target`.
    pub node: Sym,
    /// `selected_action`.
    pub choice: Sym,
}

/// What a job knows about one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserEntry {
    /// Earliest `first_message` notification; `Some` means the user was sent.
    pub first_message_at: Option<i64>,
    /// Ordered by `(at, event_id as string)`.
    pub steps: Vec<Step>,
    /// 128-bit keys of the user's notifications (messages and warnings
    /// apart): persisted with the user, so duplicates stay exact across
    /// restarts and the counters can be counted back.
    pub message_keys: Vec<u128>,
    pub warning_keys: Vec<u128>,
}

/// One job (run) of a campaign.
#[derive(Debug, Default)]
pub struct Job {
    /// Latest status announced for this job specifically.
    pub status: Option<Latest<CampaignStatus>>,
    /// Latest audience announced for this job specifically.
    pub audience: Option<Latest<i64>>,
    pub users: Map<Sym, UserEntry>,
    pub messages_sent: u64,
    pub warnings_sent: u64,
    pub total_interactions: u64,
    /// `(choice, node) -> interactions`, folded into `nodes[]` of reports.
    pub choices: Map<(Sym, Sym), u64>,
    pub first_at: i64,
    pub last_at: i64,
    /// Users whose journey changed since the last snapshot.
    pub dirty_users: Set<Sym>,
}

impl Job {
    fn new(at: i64) -> Self {
        Job {
            first_at: at,
            last_at: at,
            ..Job::default()
        }
    }

    fn touch(&mut self, at: i64) {
        self.first_at = self.first_at.min(at);
        self.last_at = self.last_at.max(at);
    }
}

/// The script currently in force and what its analysis says.
#[derive(Debug, Clone)]
pub struct CurrentScript {
    pub info: ScriptInfo,
}

/// One campaign of one tenant.
#[derive(Debug)]
pub struct Campaign {
    pub tenant_id: String,
    pub campaign_id: String,
    /// Event ids applied (128-bit hashes), for duplicate detection.
    pub seen: Set<u128>,
    /// Keys of the lifecycle events among them (persisted in the header).
    pub lifecycle_keys: Vec<u128>,
    pub script: Option<Latest<CurrentScript>>,
    /// Latest status over all lifecycle events of the campaign.
    pub status_any: Option<Latest<CampaignStatus>>,
    /// Latest status of campaign-wide (empty `job_id`) lifecycle events.
    pub status_wide: Option<Latest<CampaignStatus>>,
    /// Latest campaign-wide announced audience.
    pub audience_wide: Option<Latest<i64>>,
    /// By job id, in id order.
    pub jobs: BTreeMap<Sym, Job>,
    pub first_at: i64,
    pub last_at: i64,
    /// Changed since the last snapshot (reports need rewriting).
    pub dirty: bool,
    /// The snapshot generation in which an event last changed it; `None`:
    /// no event changed it since it was restored.
    pub changed_in: Option<u64>,
    /// The script changed since the last snapshot: every journey's
    /// completion may have changed.
    pub script_changed: bool,
    /// Wall time (ms) at which the latest full write of the campaign was
    /// requested: every row of it in the store has a version at least this
    /// late (0: unknown; [`UNSTAMPED`]: new, all of it is written by its
    /// first snapshot). Retention drops no row of a campaign in memory
    /// (ARCHITECTURE.md, "Retention").
    pub rewritten_at: i64,
    /// Where the campaign stands on its way out of memory.
    pub eviction: Eviction,
    /// The (rule, report) states of alert rules on its reports.
    pub alerts: AlertBook,
    /// The book as the latest header took it, shared with that header
    /// ([`Campaign::share_alerts`]).
    pub alerts_shared: Option<std::sync::Arc<AlertBook>>,
    /// Alert transitions evaluated and not yet taken by a snapshot (its
    /// header carries them; they are published once it commits).
    pub recent_transitions: Vec<Transition>,
    /// Processing time (ms) of the snapshot that first saw its latest
    /// applied event (inactivity rules); 0: not known yet.
    pub last_applied_ms: i64,
    /// An event changed it since [`super::PartitionState::transition_due`]
    /// last looked at it.
    pub unchecked: bool,
}

/// `rewritten_at` of a campaign created since the last snapshot: the next
/// one writes all of it.
pub const UNSTAMPED: i64 = -1;

/// An idle completed campaign leaves memory in two steps: a full write of
/// all its rows, its header marked evicted (so that all its rows lie in one
/// version and expire together), then, once that write is durable, the
/// drop. An event in between cancels it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Eviction {
    #[default]
    None,
    /// The next snapshot writes all of it, marked evicted.
    Requested,
    /// A snapshot took that write; evictable once it is durable.
    Taken,
}

impl Campaign {
    pub fn new(tenant_id: &str, campaign_id: &str, at: i64) -> Self {
        Campaign {
            tenant_id: tenant_id.to_string(),
            campaign_id: campaign_id.to_string(),
            seen: Set::default(),
            lifecycle_keys: Vec::new(),
            script: None,
            status_any: None,
            status_wide: None,
            audience_wide: None,
            jobs: BTreeMap::new(),
            first_at: at,
            last_at: at,
            dirty: true,
            changed_in: Some(0),
            script_changed: false,
            rewritten_at: UNSTAMPED,
            eviction: Eviction::None,
            alerts: AlertBook::default(),
            alerts_shared: None,
            recent_transitions: Vec::new(),
            last_applied_ms: 0,
            unchecked: true,
        }
    }

    /// Keep a shared copy of the alert book for the headers, made again
    /// only when the book changed (comparing costs no allocation).
    pub fn share_alerts(&mut self) {
        if self.alerts.is_empty() {
            self.alerts_shared = None;
        } else if self.alerts_shared.as_deref() != Some(&self.alerts) {
            self.alerts_shared = Some(std::sync::Arc::new(self.alerts.clone()));
        }
    }

    /// Have the next snapshot write every row of the campaign (header,
    /// reports, every user), as of wall time `now_ms`.
    pub fn request_full_write(&mut self, now_ms: i64) {
        self.dirty = true;
        self.script_changed = true;
        self.rewritten_at = now_ms;
    }

    fn touch(&mut self, at: i64) {
        self.first_at = self.first_at.min(at);
        self.last_at = self.last_at.max(at);
        self.dirty = true;
    }

    /// Move the first/last event times of the campaign and of a job to
    /// include `at` (idempotent: applying it twice changes nothing).
    pub fn touch_times(&mut self, job: Sym, at: i64) {
        self.touch(at);
        self.job(job, at);
    }

    fn job(&mut self, job: Sym, at: i64) -> &mut Job {
        let job = self.jobs.entry(job).or_insert_with(|| Job::new(at));
        job.touch(at);
        job
    }

    pub fn apply_lifecycle(&mut self, interner: &mut Interner, e: &CampaignLifecycle, key: u128) {
        self.touch(e.occurred_at);
        self.lifecycle_keys.push(key);
        let at = e.occurred_at;
        if let Some(script) = &e.script {
            let before = self.script.as_ref().map(|s| s.stamp.clone());
            keep_latest(
                &mut self.script,
                at,
                &e.event_id,
                CurrentScript {
                    info: ScriptInfo::analyse(script),
                },
            );
            if self.script.as_ref().map(|s| &s.stamp) != before.as_ref() {
                self.script_changed = true;
            }
        }
        if let Some(status) = e.status {
            keep_latest(&mut self.status_any, at, &e.event_id, status);
        }
        if e.job_id.is_empty() {
            if let Some(status) = e.status {
                keep_latest(&mut self.status_wide, at, &e.event_id, status);
            }
            if let Some(n) = e.audience_size {
                keep_latest(&mut self.audience_wide, at, &e.event_id, n);
            }
        } else {
            let job = self.job(interner.intern(&e.job_id), at);
            if let Some(status) = e.status {
                keep_latest(&mut job.status, at, &e.event_id, status);
            }
            if let Some(n) = e.audience_size {
                keep_latest(&mut job.audience, at, &e.event_id, n);
            }
        }
    }

    pub fn apply_notification(&mut self, interner: &mut Interner, e: &NotificationSent, key: u128) {
        self.touch(e.occurred_at);
        let user = interner.intern(&e.user_id);
        let job = self.job(interner.intern(&e.job_id), e.occurred_at);
        if e.warning_message {
            job.warnings_sent += 1;
        } else {
            job.messages_sent += 1;
        }
        let entry = job.users.entry(user).or_default();
        if e.warning_message {
            entry.warning_keys.push(key);
        } else {
            entry.message_keys.push(key);
        }
        if e.first_message {
            let earlier = entry.first_message_at.is_none_or(|t| e.occurred_at < t);
            if earlier {
                entry.first_message_at = Some(e.occurred_at);
                job.dirty_users.insert(user);
            }
        }
        // A new user is a new (empty) journey too.
        job.dirty_users.insert(user);
    }

    pub fn apply_interaction(&mut self, interner: &mut Interner, e: &UserInteraction) {
        self.touch(e.occurred_at);
        let user = interner.intern(&e.user_id);
        let step = Step {
            at: e.occurred_at,
            event_id: e.event_id.as_str().into(),
            node: interner.intern(&e.answer_target),
            choice: interner.intern(&e.selected_action),
        };
        let job_sym = interner.intern(&e.job_id);
        let job = self.job(job_sym, e.occurred_at);
        job.total_interactions += 1;
        *job.choices.entry((step.choice, step.node)).or_default() += 1;
        let entry = job.users.entry(user).or_default();
        let pos = entry
            .steps
            .partition_point(|s| (s.at, &*s.event_id) < (e.occurred_at, e.event_id.as_str()));
        entry.steps.insert(pos, step);
        job.dirty_users.insert(user);
    }

    /// Heap bytes held, approximately (for the state-size metric).
    pub fn heap_bytes(&self) -> usize {
        let mut n = self.seen.capacity() * 17 + self.lifecycle_keys.capacity() * 16;
        for job in self.jobs.values() {
            n += job.users.capacity() * (4 + 1 + std::mem::size_of::<UserEntry>());
            n += job
                .users
                .values()
                .map(|u| {
                    u.steps.capacity() * std::mem::size_of::<Step>()
                        + u.steps.iter().map(|s| s.event_id.len()).sum::<usize>()
                        + (u.message_keys.capacity() + u.warning_keys.capacity()) * 16
                })
                .sum::<usize>();
            n += job.choices.capacity() * 17 + job.dirty_users.capacity() * 5;
        }
        n
    }
}
