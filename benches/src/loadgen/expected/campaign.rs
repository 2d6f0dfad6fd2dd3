//! Per-campaign figures: the journeys of its users, one report per job and
//! one over all its jobs (`metrics.md`, "Per-(campaign, job) report" and
//! "Per-user journey").

use std::collections::{BTreeMap, BTreeSet, HashSet};

use schemas::{CampaignLifecycle, Event, NotificationSent, UserInteraction};

use super::script::ScriptAnalysis;
use super::{count, percent};
use crate::loadgen::expected_json::{FunnelStep, Journey, NodeStats, Report, Step};

pub(super) struct CampaignFigures {
    pub reports: Vec<Report>,
    pub journeys: Vec<Journey>,
}

/// The events of one campaign, split by record.
struct Campaign<'a> {
    tenant: &'a str,
    campaign: &'a str,
    all: &'a [&'a Event],
    /// Sorted by (`occurred_at`, `event_id`): the last is the latest.
    lifecycle: Vec<&'a CampaignLifecycle>,
    notifications: Vec<&'a NotificationSent>,
    interactions: Vec<&'a UserInteraction>,
    /// By (job, user).
    journeys: BTreeMap<(String, String), Journey>,
}

/// Of one `answer_target`: its users, and `selected_action` -> event ids.
type NodeAcc<'a> = (HashSet<&'a str>, BTreeMap<&'a str, HashSet<&'a str>>);

/// Which events a report covers.
#[derive(Clone, Copy)]
enum Scope<'a> {
    AllJobs,
    Job(&'a str),
}

impl Scope<'_> {
    fn covers(self, job_id: &str) -> bool {
        match self {
            Scope::AllJobs => true,
            Scope::Job(job) => job == job_id,
        }
    }
}

pub(super) fn compute(tenant: &str, campaign: &str, events: &[&Event]) -> CampaignFigures {
    let mut c = Campaign {
        tenant,
        campaign,
        all: events,
        lifecycle: Vec::new(),
        notifications: Vec::new(),
        interactions: Vec::new(),
        journeys: BTreeMap::new(),
    };
    for event in events {
        match event {
            Event::Lifecycle(e) => c.lifecycle.push(e),
            Event::Notification(e) => c.notifications.push(e),
            Event::Interaction(e) => c.interactions.push(e),
        }
    }
    c.lifecycle
        .sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));

    // The script of the latest lifecycle event that carries one.
    let script = c.lifecycle.iter().rev().find_map(|e| e.script.as_ref());
    let analysis = ScriptAnalysis::new(script);
    c.journeys = journeys(&c, &analysis);

    let jobs: BTreeSet<&str> = events
        .iter()
        .map(|e| e.job_id())
        .filter(|job| !job.is_empty())
        .collect();
    let mut job_reports: Vec<Report> = jobs
        .iter()
        .map(|job| report(&c, &analysis, Scope::Job(job), &[]))
        .collect();
    let all_jobs = report(&c, &analysis, Scope::AllJobs, &job_reports);

    let mut reports = vec![all_jobs];
    reports.append(&mut job_reports);
    CampaignFigures {
        reports,
        journeys: c.journeys.into_values().collect(),
    }
}

/// One journey per (job, user) with any notification or interaction.
fn journeys(c: &Campaign<'_>, analysis: &ScriptAnalysis) -> BTreeMap<(String, String), Journey> {
    #[derive(Default)]
    struct Acc<'a> {
        first_message_at: Option<i64>,
        steps: BTreeMap<(i64, &'a str), &'a UserInteraction>,
    }
    let mut accs: BTreeMap<(&str, &str), Acc<'_>> = BTreeMap::new();
    for n in &c.notifications {
        let acc = accs.entry((&n.job_id, &n.user_id)).or_default();
        if n.first_message {
            let at = acc
                .first_message_at
                .map_or(n.occurred_at, |t| t.min(n.occurred_at));
            acc.first_message_at = Some(at);
        }
    }
    for i in &c.interactions {
        let acc = accs.entry((&i.job_id, &i.user_id)).or_default();
        // Keyed by (occurred_at, event_id): ordered, and one step per event id.
        acc.steps.insert((i.occurred_at, &i.event_id), i);
    }

    let mut out = BTreeMap::new();
    for ((job, user), acc) in accs {
        let steps: Vec<Step> = acc
            .steps
            .values()
            .map(|i| Step {
                node_id: i.answer_target.clone(),
                choice: i.selected_action.clone(),
                occurred_at: i.occurred_at,
                event_id: i.event_id.clone(),
            })
            .collect();
        let exit = steps.iter().find(|s| analysis.is_end(&s.node_id));
        let completion_seconds = exit.map(|exit| {
            let from = acc
                .first_message_at
                .unwrap_or_else(|| steps.first().map_or(exit.occurred_at, |s| s.occurred_at));
            (exit.occurred_at - from) as f64 / 1000.0
        });
        let journey = Journey {
            tenant_id: c.tenant.to_owned(),
            campaign_id: c.campaign.to_owned(),
            job_id: job.to_owned(),
            user_id: user.to_owned(),
            total_interactions: steps.len() as u64,
            completed: exit.is_some(),
            exit_node: exit.map(|s| s.node_id.clone()),
            completion_seconds,
            steps,
        };
        out.insert((job.to_owned(), user.to_owned()), journey);
    }
    out
}

/// The report of `scope`. `job_reports` are the per-job reports, needed by
/// the all-jobs `target_users`.
fn report(
    c: &Campaign<'_>,
    analysis: &ScriptAnalysis,
    scope: Scope<'_>,
    job_reports: &[Report],
) -> Report {
    let notifications: Vec<&NotificationSent> = c
        .notifications
        .iter()
        .copied()
        .filter(|n| scope.covers(&n.job_id))
        .collect();
    let interactions: Vec<&UserInteraction> = c
        .interactions
        .iter()
        .copied()
        .filter(|i| scope.covers(&i.job_id))
        .collect();

    let mut users: HashSet<&str> = HashSet::new();
    let mut sent: HashSet<&str> = HashSet::new();
    let mut messages: HashSet<&str> = HashSet::new();
    let mut warnings: HashSet<&str> = HashSet::new();
    for n in &notifications {
        users.insert(&n.user_id);
        if n.first_message {
            sent.insert(&n.user_id);
        }
        if n.warning_message {
            warnings.insert(&n.event_id);
        } else {
            messages.insert(&n.event_id);
        }
    }
    let mut interacted: HashSet<&str> = HashSet::new();
    let mut interaction_ids: HashSet<&str> = HashSet::new();
    let mut nodes: BTreeMap<&str, NodeAcc<'_>> = BTreeMap::new();
    for i in &interactions {
        users.insert(&i.user_id);
        interacted.insert(&i.user_id);
        interaction_ids.insert(&i.event_id);
        let node = nodes.entry(&i.answer_target).or_default();
        node.0.insert(&i.user_id);
        node.1
            .entry(&i.selected_action)
            .or_default()
            .insert(&i.event_id);
    }

    let journeys: Vec<&Journey> = c
        .journeys
        .values()
        .filter(|j| scope.covers(&j.job_id))
        .collect();
    let completed: HashSet<&str> = journeys
        .iter()
        .filter(|j| j.completed)
        .map(|j| j.user_id.as_str())
        .collect();
    let durations: Vec<f64> = journeys
        .iter()
        .filter_map(|j| j.completion_seconds)
        .collect();
    let avg_completion_seconds =
        (!durations.is_empty()).then(|| durations.iter().sum::<f64>() / durations.len() as f64);

    let target_users = match scope {
        Scope::Job(job) => {
            let announced = latest_audience(c, job).or_else(|| latest_audience(c, ""));
            announced.unwrap_or(0).max(count(&users))
        }
        Scope::AllJobs => {
            let jobs_max = job_reports.iter().map(|r| r.target_users).max();
            latest_audience(c, "")
                .unwrap_or(0)
                .max(jobs_max.unwrap_or(0))
                .max(count(&users))
        }
    };

    let status = c
        .lifecycle
        .iter()
        .rev()
        .filter(|e| match scope {
            Scope::AllJobs => true,
            Scope::Job(job) => e.job_id == job || e.job_id.is_empty(),
        })
        .find_map(|e| e.status)
        .map(|s| s.as_str().to_owned());

    let times = c
        .all
        .iter()
        .filter(|e| scope.covers(e.job_id()))
        .map(|e| e.occurred_at());
    let first_event_at = times.clone().min().unwrap_or(0);
    let last_event_at = times.max().unwrap_or(0);

    let sent_users = count(&sent);
    let funnel = funnel(analysis, sent_users, &nodes);
    let nodes = nodes
        .into_iter()
        .map(|(node, (reached, choices))| NodeStats {
            node_id: node.to_owned(),
            reached_users: count(&reached),
            choices: choices
                .into_iter()
                .map(|(action, ids)| (action.to_owned(), count(&ids)))
                .collect(),
        })
        .collect();

    Report {
        tenant_id: c.tenant.to_owned(),
        campaign_id: c.campaign.to_owned(),
        job_id: match scope {
            Scope::AllJobs => None,
            Scope::Job(job) => Some(job.to_owned()),
        },
        status,
        target_users,
        sent_users,
        interacted_users: count(&interacted),
        completed_users: count(&completed),
        interaction_rate: percent(count(&interacted), sent_users),
        completion_rate: percent(count(&completed), sent_users),
        total_interactions: count(&interaction_ids),
        messages_sent: count(&messages),
        warnings_sent: count(&warnings),
        avg_completion_seconds,
        nodes,
        funnel,
        first_event_at,
        last_event_at,
    }
}

/// The latest announced `audience_size` of lifecycle events with this
/// `job_id` (`""`: campaign-wide). Negative sizes count as 0.
fn latest_audience(c: &Campaign<'_>, job_id: &str) -> Option<u64> {
    c.lifecycle
        .iter()
        .rev()
        .filter(|e| e.job_id == job_id)
        .find_map(|e| e.audience_size)
        .map(|n| u64::try_from(n).unwrap_or(0))
}

/// One step per flow-sequence node: the start node counts `sent_users`,
/// every other node the distinct users whose interactions led to it.
fn funnel(
    analysis: &ScriptAnalysis,
    sent_users: u64,
    nodes: &BTreeMap<&str, NodeAcc<'_>>,
) -> Vec<FunnelStep> {
    let mut steps: Vec<FunnelStep> = Vec::new();
    for node in &analysis.flow {
        let users = if analysis.start.as_ref() == Some(node) {
            sent_users
        } else {
            nodes
                .get(node.as_str())
                .map_or(0, |(users, _)| count(users))
        };
        let (conversion_from_previous, drop_off) = match steps.last() {
            None => (if users > 0 { 100.0 } else { 0.0 }, 0),
            Some(previous) => (
                percent(users, previous.users),
                previous.users.saturating_sub(users),
            ),
        };
        steps.push(FunnelStep {
            node_id: node.clone(),
            users,
            conversion_from_previous,
            drop_off,
        });
    }
    steps
}
