//! Reports and journeys derived from a campaign's state, exactly as
//! metrics.md defines them (decisions where it is silent:
//! docs/metrics-decisions.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::campaign::{Campaign, Job, UserEntry};
use super::interner::{Interner, Sym};
use super::script::ScriptInfo;
use super::{Map, Set};

/// Per node of `nodes[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    pub node_id: String,
    pub reached_users: u64,
    pub choices: BTreeMap<String, u64>,
}

/// One step of `funnel[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelStep {
    pub node_id: String,
    pub users: u64,
    pub conversion_from_previous: f64,
    pub drop_off: u64,
}

/// A per-(campaign, job) report, or the all-jobs report when `job_id` is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: Option<String>,
    pub status: Option<String>,
    pub target_users: u64,
    pub sent_users: u64,
    pub interacted_users: u64,
    pub completed_users: u64,
    pub interaction_rate: f64,
    pub completion_rate: f64,
    pub total_interactions: u64,
    pub messages_sent: u64,
    pub warnings_sent: u64,
    pub avg_completion_seconds: Option<f64>,
    pub nodes: Vec<NodeStats>,
    pub funnel: Vec<FunnelStep>,
    /// Milliseconds since the epoch.
    pub first_event_at: i64,
    pub last_event_at: i64,
}

/// One step of a journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyStep {
    pub node_id: String,
    pub choice: String,
    pub occurred_at: i64,
    pub event_id: String,
}

/// A user's path through one job of a campaign. Equality compares the
/// journey as it is shown (the persisted state fields are left out: rows
/// read back for the API do not carry them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journey {
    pub tenant_id: String,
    pub campaign_id: String,
    pub job_id: String,
    pub user_id: String,
    pub steps: Vec<JourneyStep>,
    pub total_interactions: u64,
    pub completed: bool,
    pub exit_node: Option<String>,
    pub completion_seconds: Option<f64>,
    /// The rest of the user's persisted state (not part of the journey the
    /// API shows): the earliest first-message time and the keys of the
    /// user's notifications, messages and warnings apart.
    #[serde(skip)]
    pub first_message_at: Option<i64>,
    #[serde(skip)]
    pub message_keys: Vec<u128>,
    #[serde(skip)]
    pub warning_keys: Vec<u128>,
}

impl PartialEq for Journey {
    fn eq(&self, other: &Self) -> bool {
        self.tenant_id == other.tenant_id
            && self.campaign_id == other.campaign_id
            && self.job_id == other.job_id
            && self.user_id == other.user_id
            && self.steps == other.steps
            && self.total_interactions == other.total_interactions
            && self.completed == other.completed
            && self.exit_node == other.exit_node
            && self.completion_seconds == other.completion_seconds
    }
}

impl Journey {
    /// The persisted form of the user's state.
    pub fn to_user_record(&self) -> super::UserRecord {
        super::UserRecord {
            job_id: self.job_id.clone(),
            user_id: self.user_id.clone(),
            first_message_at: self.first_message_at,
            message_keys: self.message_keys.clone(),
            warning_keys: self.warning_keys.clone(),
            steps: self.steps.clone(),
        }
    }
}

/// `part / whole * 100`, 0 when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}

/// Completion of one journey: the first step reaching an end node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Completion {
    pub exit_node: Sym,
    pub millis: i64,
}

impl Completion {
    pub fn seconds(&self) -> f64 {
        self.millis as f64 / 1000.0
    }
}

pub fn completion(
    user: &UserEntry,
    script: Option<&ScriptInfo>,
    interner: &Interner,
) -> Option<Completion> {
    Ends::new(script, interner).completion(user)
}

/// Which nodes end a journey, remembered by symbol while one campaign's
/// journeys are visited (a campaign has a handful of nodes; a report visits
/// every step of every journey).
struct Ends<'a> {
    script: Option<&'a ScriptInfo>,
    interner: &'a Interner,
    /// A map, not a list: node ids come from the events, so a campaign
    /// may have many.
    known: Map<Sym, bool>,
}

impl<'a> Ends<'a> {
    fn new(script: Option<&'a ScriptInfo>, interner: &'a Interner) -> Self {
        Ends {
            script,
            interner,
            known: Map::default(),
        }
    }

    fn is_end(&mut self, node: Sym) -> bool {
        let (script, interner) = (self.script, self.interner);
        *self
            .known
            .entry(node)
            .or_insert_with(|| ScriptInfo::is_end(script, interner.resolve(node)))
    }

    /// Completion of one journey: the first step reaching an end node.
    fn completion(&mut self, user: &UserEntry) -> Option<Completion> {
        let step = user.steps.iter().find(|s| self.is_end(s.node))?;
        let origin = user
            .first_message_at
            .or_else(|| user.steps.first().map(|s| s.at))?;
        Some(Completion {
            exit_node: step.node,
            millis: step.at - origin,
        })
    }
}

/// What a report takes besides the tallies.
struct Head {
    job_id: Option<String>,
    status: Option<String>,
    /// The announced audience that applies.
    announced: Option<i64>,
    /// First and last event time.
    at: (i64, i64),
}

/// What a set of (job, user) journeys comes to: one job's (each user is in
/// a job once, so no user sets are needed) or the union of a campaign's
/// jobs (see [`Union`]).
#[derive(Default, Clone)]
struct Counts {
    users: u64,
    sent: u64,
    interacted: u64,
    completed: u64,
    /// Sum of completion times in milliseconds, over journeys (integers:
    /// the mean does not depend on the order journeys are visited in).
    completion_ms: i64,
    completions: u64,
    /// Distinct users per node reached.
    reached: Map<Sym, u64>,
    choices: Map<Sym, BTreeMap<String, u64>>,
    total_interactions: u64,
    messages_sent: u64,
    warnings_sent: u64,
}

const SENT: u8 = 1;
const INTERACTED: u8 = 2;
const COMPLETED: u8 = 4;

/// The distinct users of several jobs: what each did in any of them, and
/// the (node, user) pairs reached.
#[derive(Default)]
struct Union {
    users: Map<Sym, u8>,
    reached: Set<(Sym, Sym)>,
}

impl Counts {
    /// The sums a job carries (not per user).
    fn add_totals(&mut self, job: &Job, interner: &Interner) {
        self.total_interactions += job.total_interactions;
        self.messages_sent += job.messages_sent;
        self.warnings_sent += job.warnings_sent;
        for (&(choice, node), &n) in &job.choices {
            *self
                .choices
                .entry(node)
                .or_default()
                .entry(interner.resolve(choice).to_string())
                .or_default() += n;
        }
    }

    /// One job's counts; each journey is also added to `union`, if any
    /// (so a campaign's journeys are visited, and their completions found,
    /// once for all of its reports).
    fn of_job(
        job: &Job,
        ends: &mut Ends<'_>,
        interner: &Interner,
        mut union: Option<&mut Union>,
    ) -> Counts {
        let mut c = Counts {
            users: job.users.len() as u64,
            ..Counts::default()
        };
        c.add_totals(job, interner);
        let mut nodes: Vec<Sym> = Vec::new();
        for (&user, entry) in &job.users {
            let mut flags = 0;
            if entry.first_message_at.is_some() {
                c.sent += 1;
                flags |= SENT;
            }
            if !entry.steps.is_empty() {
                c.interacted += 1;
                flags |= INTERACTED;
            }
            if let Some(done) = ends.completion(entry) {
                c.completed += 1;
                c.completion_ms += done.millis;
                c.completions += 1;
                flags |= COMPLETED;
            }
            nodes.clear();
            nodes.extend(entry.steps.iter().map(|s| s.node));
            nodes.sort_unstable();
            nodes.dedup();
            for &node in &nodes {
                *c.reached.entry(node).or_default() += 1;
            }
            if let Some(u) = union.as_deref_mut() {
                *u.users.entry(user).or_default() |= flags;
                u.reached.extend(nodes.iter().map(|&node| (node, user)));
            }
        }
        c
    }

    /// The campaign-wide counts: user counts from `union`, sums over `jobs`.
    fn of_union<'a>(union: &Union, jobs: impl Iterator<Item = &'a Counts>) -> Counts {
        let mut c = Counts {
            users: union.users.len() as u64,
            ..Counts::default()
        };
        for &flags in union.users.values() {
            c.sent += u64::from(flags & SENT != 0);
            c.interacted += u64::from(flags & INTERACTED != 0);
            c.completed += u64::from(flags & COMPLETED != 0);
        }
        for &(node, _) in &union.reached {
            *c.reached.entry(node).or_default() += 1;
        }
        for j in jobs {
            c.completion_ms += j.completion_ms;
            c.completions += j.completions;
            c.total_interactions += j.total_interactions;
            c.messages_sent += j.messages_sent;
            c.warnings_sent += j.warnings_sent;
            for (&node, choices) in &j.choices {
                let into = c.choices.entry(node).or_default();
                for (choice, &n) in choices {
                    *into.entry(choice.clone()).or_default() += n;
                }
            }
        }
        c
    }

    fn report(
        &self,
        campaign: &Campaign,
        head: Head,
        script: Option<&ScriptInfo>,
        interner: &Interner,
    ) -> Report {
        let Head {
            job_id,
            status,
            announced,
            at,
        } = head;
        let sent_users = self.sent;
        let announced = announced.map_or(0, |n| u64::try_from(n).unwrap_or(0));
        let mut nodes: Vec<NodeStats> = self
            .reached
            .iter()
            .map(|(&node, &users)| NodeStats {
                node_id: interner.resolve(node).to_string(),
                reached_users: users,
                choices: self.choices.get(&node).cloned().unwrap_or_default(),
            })
            .collect();
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        let funnel = funnel(script, sent_users, |node| {
            interner
                .get(node)
                .and_then(|sym| self.reached.get(&sym))
                .copied()
                .unwrap_or(0)
        });
        Report {
            tenant_id: campaign.tenant_id.clone(),
            campaign_id: campaign.campaign_id.clone(),
            job_id,
            status,
            target_users: announced.max(self.users),
            sent_users,
            interacted_users: self.interacted,
            completed_users: self.completed,
            interaction_rate: percent(self.interacted, sent_users),
            completion_rate: percent(self.completed, sent_users),
            total_interactions: self.total_interactions,
            messages_sent: self.messages_sent,
            warnings_sent: self.warnings_sent,
            avg_completion_seconds: (self.completions > 0)
                .then(|| self.completion_ms as f64 / self.completions as f64 / 1000.0),
            nodes,
            funnel,
            first_event_at: at.0,
            last_event_at: at.1,
        }
    }
}

/// The funnel over the script's flow sequence.
pub fn funnel(
    script: Option<&ScriptInfo>,
    sent_users: u64,
    reached: impl Fn(&str) -> u64,
) -> Vec<FunnelStep> {
    let Some(script) = script else {
        return Vec::new();
    };
    let mut out: Vec<FunnelStep> = Vec::with_capacity(script.flow.len());
    for (i, node) in script.flow.iter().enumerate() {
        let users = if i == 0 { sent_users } else { reached(node) };
        let (conversion, drop_off) = match out.last() {
            None => (if users > 0 { 100.0 } else { 0.0 }, 0),
            Some(prev) => (percent(users, prev.users), prev.users.saturating_sub(users)),
        };
        out.push(FunnelStep {
            node_id: node.clone(),
            users,
            conversion_from_previous: conversion,
            drop_off,
        });
    }
    out
}

impl Campaign {
    fn script_info(&self) -> Option<&ScriptInfo> {
        self.script.as_ref().map(|s| &s.value.info)
    }

    /// The announced audience that applies to a job: its own, else the
    /// campaign-wide one.
    fn job_audience(&self, job: &Job) -> Option<i64> {
        job.audience
            .as_ref()
            .or(self.audience_wide.as_ref())
            .map(|l| l.value)
    }

    /// A job's `target_users`.
    fn job_target(&self, job: &Job) -> u64 {
        let announced = self
            .job_audience(job)
            .map_or(0, |n| u64::try_from(n).unwrap_or(0));
        announced.max(job.users.len() as u64)
    }

    /// The report of one job.
    pub fn job_report(&self, job_sym: Sym, interner: &Interner) -> Option<Report> {
        let job = self.jobs.get(&job_sym)?;
        let mut ends = Ends::new(self.script_info(), interner);
        let counts = Counts::of_job(job, &mut ends, interner, None);
        Some(self.job_report_of(job_sym, job, &counts, interner))
    }

    fn job_report_of(
        &self,
        job_sym: Sym,
        job: &Job,
        counts: &Counts,
        interner: &Interner,
    ) -> Report {
        let status = [job.status.as_ref(), self.status_wide.as_ref()]
            .into_iter()
            .flatten()
            .max_by(|a, b| a.stamp.cmp(&b.stamp))
            .map(|l| l.value.as_str().to_string());
        let head = Head {
            job_id: Some(interner.resolve(job_sym).to_string()),
            status,
            announced: self.job_audience(job),
            at: (job.first_at, job.last_at),
        };
        counts.report(self, head, self.script_info(), interner)
    }

    /// The all-jobs report: user counts are unions across jobs.
    pub fn campaign_report(&self, interner: &Interner) -> Report {
        let (all, _) = self.counts(interner);
        self.campaign_report_of(&all, interner)
    }

    fn campaign_report_of(&self, all: &Counts, interner: &Interner) -> Report {
        let head = Head {
            job_id: None,
            status: self
                .status_any
                .as_ref()
                .map(|l| l.value.as_str().to_string()),
            announced: self.audience_wide.as_ref().map(|l| l.value),
            at: (self.first_at, self.last_at),
        };
        let mut report = all.report(self, head, self.script_info(), interner);
        let max_job_target = self
            .jobs
            .values()
            .map(|job| self.job_target(job))
            .max()
            .unwrap_or(0);
        report.target_users = report.target_users.max(max_job_target);
        report
    }

    /// The campaign-wide counts and each job's, from one visit of every
    /// journey.
    fn counts(&self, interner: &Interner) -> (Counts, Vec<(Sym, Counts)>) {
        let mut ends = Ends::new(self.script_info(), interner);
        if let (1, Some((&sym, job))) = (self.jobs.len(), self.jobs.iter().next()) {
            let counts = Counts::of_job(job, &mut ends, interner, None);
            return (counts.clone(), vec![(sym, counts)]);
        }
        let mut union = Union {
            users: Map::with_capacity_and_hasher(
                self.jobs.values().map(|j| j.users.len()).max().unwrap_or(0),
                Default::default(),
            ),
            reached: Set::default(),
        };
        let jobs: Vec<(Sym, Counts)> = self
            .jobs
            .iter()
            .map(|(&sym, job)| {
                (
                    sym,
                    Counts::of_job(job, &mut ends, interner, Some(&mut union)),
                )
            })
            .collect();
        let all = Counts::of_union(&union, jobs.iter().map(|(_, c)| c));
        (all, jobs)
    }

    /// The all-jobs report, then the report of each job with an id, as the
    /// reads expect them.
    pub fn reports(&self, interner: &Interner, out: &mut Vec<Report>) {
        let (all, jobs) = self.counts(interner);
        out.push(self.campaign_report_of(&all, interner));
        for (sym, counts) in &jobs {
            if interner.resolve(*sym).is_empty() {
                continue;
            }
            if let Some(job) = self.jobs.get(sym) {
                out.push(self.job_report_of(*sym, job, counts, interner));
            }
        }
    }

    /// The journey of one user in one job.
    pub fn journey(&self, job_sym: Sym, user: Sym, interner: &Interner) -> Option<Journey> {
        let entry = self.jobs.get(&job_sym)?.users.get(&user)?;
        let done = completion(entry, self.script_info(), interner);
        Some(Journey {
            tenant_id: self.tenant_id.clone(),
            campaign_id: self.campaign_id.clone(),
            job_id: interner.resolve(job_sym).to_string(),
            user_id: interner.resolve(user).to_string(),
            steps: entry
                .steps
                .iter()
                .map(|s| JourneyStep {
                    node_id: interner.resolve(s.node).to_string(),
                    choice: interner.resolve(s.choice).to_string(),
                    occurred_at: s.at,
                    event_id: s.event_id.to_string(),
                })
                .collect(),
            total_interactions: entry.steps.len() as u64,
            completed: done.is_some(),
            exit_node: done.map(|c| interner.resolve(c.exit_node).to_string()),
            completion_seconds: done.map(|c| c.seconds()),
            first_message_at: entry.first_message_at,
            message_keys: entry.message_keys.clone(),
            warning_keys: entry.warning_keys.clone(),
        })
    }
}
