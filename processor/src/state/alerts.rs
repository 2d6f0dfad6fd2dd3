//! Alert rules evaluated on the partition state (alerts.md): pure, like the
//! rest of the state. Each snapshot evaluates the reports it writes; the
//! (rule, report) states live in each campaign ([`alerting::AlertBook`])
//! and are persisted in its header, so the checkpoint that commits a
//! snapshot commits the alert states and the transitions it produced
//! together (ARCHITECTURE.md, "Alerts").

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use alerting::{Activity, AlertBook, Condition, Metric, ReportView, Rule};

use super::campaign::Campaign;
use super::report::Report;

/// The current rules, by tenant and by id.
#[derive(Debug, Default, Clone)]
pub struct RuleIndex {
    by_tenant: HashMap<String, Vec<Arc<Rule>>>,
    by_id: HashMap<String, Arc<Rule>>,
}

impl RuleIndex {
    /// An index of these rules (disabled ones included: their alerts are
    /// resolved).
    pub fn new(rules: impl IntoIterator<Item = Arc<Rule>>) -> Self {
        let mut index = RuleIndex::default();
        for rule in rules {
            index
                .by_tenant
                .entry(rule.tenant_id.clone())
                .or_default()
                .push(rule.clone());
            index.by_id.insert(rule.id.clone(), rule);
        }
        for rules in index.by_tenant.values_mut() {
            rules.sort_by(|a, b| a.id.cmp(&b.id));
        }
        index
    }

    /// The rules of a tenant, in id order.
    pub fn of_tenant(&self, tenant: &str) -> &[Arc<Rule>] {
        self.by_tenant.get(tenant).map_or(&[], Vec::as_slice)
    }

    /// A rule by id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.by_id.get(id).map(Arc::as_ref)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// What one snapshot evaluates with.
#[derive(Debug, Clone, Copy)]
pub struct AlertPass<'a> {
    pub rules: &'a RuleIndex,
    /// Tenants whose rules changed since the previous pass: every campaign
    /// of theirs is evaluated.
    pub changed_tenants: &'a HashSet<String>,
    /// Processing time (ms).
    pub now_ms: i64,
}

impl ReportView for Report {
    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    fn campaign_id(&self) -> &str {
        &self.campaign_id
    }

    fn job_id(&self) -> Option<&str> {
        self.job_id.as_deref()
    }

    fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    fn sent_users(&self) -> u64 {
        self.sent_users
    }

    fn metric(&self, metric: Metric) -> Option<f64> {
        Some(match metric {
            Metric::InteractionRate => self.interaction_rate,
            Metric::CompletionRate => self.completion_rate,
            Metric::SentUsers => self.sent_users as f64,
            Metric::InteractedUsers => self.interacted_users as f64,
            Metric::CompletedUsers => self.completed_users as f64,
            Metric::TotalInteractions => self.total_interactions as f64,
            Metric::MessagesSent => self.messages_sent as f64,
            Metric::WarningsSent => self.warnings_sent as f64,
            Metric::AvgCompletionSeconds => return self.avg_completion_seconds,
            Metric::TargetUsers => self.target_users as f64,
        })
    }

    fn funnel_conversion(&self, node_id: &str) -> Option<f64> {
        self.funnel
            .iter()
            .find(|s| s.node_id == node_id)
            .map(|s| s.conversion_from_previous)
    }
}

/// Whether a campaign whose reports did not change needs evaluating now:
/// its tenant's rules changed, a pending pair's wait or a repeat interval
/// is over, or an inactivity rule's condition no longer matches its pair.
pub(super) fn due(campaign: &Campaign, pass: &AlertPass) -> bool {
    if pass.changed_tenants.contains(&campaign.tenant_id) {
        return true;
    }
    if campaign
        .alerts
        .next_deadline_ms()
        .is_some_and(|at| at <= pass.now_ms)
    {
        return true;
    }
    let running = campaign
        .status_any
        .as_ref()
        .is_some_and(|s| s.value.as_str() == "RUNNING");
    let idle_ms = pass.now_ms - campaign.last_applied_ms;
    pass.rules
        .of_tenant(&campaign.tenant_id)
        .iter()
        .filter(|r| r.enabled)
        .any(|rule| {
            let Condition::Inactivity { seconds } = rule.condition else {
                return false;
            };
            if rule
                .scope
                .campaign_id
                .as_deref()
                .is_some_and(|c| c != campaign.campaign_id)
            {
                return false;
            }
            let job = rule.scope.job_id.as_deref();
            // A job's status may differ from the campaign's: let the
            // evaluation decide for job-scoped rules.
            let holds = (running || job.is_some())
                && idle_ms >= i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
            let active = campaign
                .alerts
                .get(&rule.id, job)
                .is_some_and(|p| p.state.is_firing() || p.state.is_pending());
            holds != active
        })
}

/// Evaluate the rules of the campaign's tenant on its reports (the
/// all-jobs report and each job's), then resolve the pairs of rules
/// deleted, disabled or moved out of scope. The transitions join the
/// campaign's `recent_transitions`, which its next header carries.
pub(super) fn evaluate(campaign: &mut Campaign, reports: &[Report], pass: &AlertPass) {
    let rules: Vec<&Rule> = pass
        .rules
        .of_tenant(&campaign.tenant_id)
        .iter()
        .map(Arc::as_ref)
        .collect();
    let activity = Activity {
        last_applied_ms: campaign.last_applied_ms,
    };
    if !rules.is_empty() {
        for report in reports {
            let t = campaign
                .alerts
                .evaluate(&rules, report, activity, pass.now_ms);
            campaign.recent_transitions.extend(t);
        }
    }
    if !campaign.alerts.is_empty() {
        let lookup = |id: &str| pass.rules.get(id);
        let t = campaign.alerts.retire(&lookup, pass.now_ms);
        campaign.recent_transitions.extend(t);
    }
}

/// Evaluate `tenant`'s rules on `reports` into `dry` (a copy of a book) at
/// `now_ms`, with the campaign's last activity at `now_ms`: whether a pair
/// fires or resolves. Stops at the first report that makes one.
fn dry_run_transitions(
    dry: &mut AlertBook,
    tenant: &str,
    reports: &[Report],
    rules: &RuleIndex,
    now_ms: i64,
) -> bool {
    let of_tenant: Vec<&Rule> = rules.of_tenant(tenant).iter().map(Arc::as_ref).collect();
    if of_tenant.is_empty() {
        return false;
    }
    let activity = Activity {
        last_applied_ms: now_ms,
    };
    reports.iter().any(|report| {
        !dry.evaluate(&of_tenant, report, activity, now_ms)
            .is_empty()
    })
}

/// Whether evaluating the campaign on these reports now would make an
/// alert transition leave (a pair fire or resolve): a dry run of
/// [`evaluate`] on a copy of its book, with its latest event applied now,
/// as the next snapshot will see it. Going pending, or staying as it is,
/// is not a transition. Rule changes are left to the snapshot (their
/// tenants are evaluated in full there).
pub(super) fn would_transition(campaign: &Campaign, reports: &[Report], pass: &AlertPass) -> bool {
    let mut dry = campaign.alerts.clone();
    dry_run_transitions(
        &mut dry,
        &campaign.tenant_id,
        reports,
        pass.rules,
        pass.now_ms,
    )
}

/// Whether the current rules would change the alerts of an evicted
/// campaign of `tenant`, judged on the book of its latest header and its
/// latest reports: a dry run of [`evaluate`] at `now_ms`, with the
/// campaign's last activity at `now_ms`, as a reloaded campaign gets it.
/// True when a pair would fire, go pending, resolve, be forgotten, or take
/// a changed rule's name or severity: then the campaign is reloaded and
/// evaluated for real (ARCHITECTURE.md, "Rules and evicted campaigns").
pub fn would_change(
    book: &AlertBook,
    tenant: &str,
    reports: &[Report],
    rules: &RuleIndex,
    now_ms: i64,
) -> bool {
    let mut dry = book.clone();
    if dry_run_transitions(&mut dry, tenant, reports, rules, now_ms) {
        return true;
    }
    if !dry.is_empty() {
        let lookup = |id: &str| rules.get(id);
        if !dry.retire(&lookup, now_ms).is_empty() {
            return true;
        }
    }
    dry != *book
}
