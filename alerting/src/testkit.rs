//! Test helpers: a report built field by field, and a rule with defaults.

use std::collections::BTreeMap;

use crate::report::ReportView;
use crate::rule::{Condition, Metric, Rule, Scope, Severity};

/// A report of tenant `t-1`, campaign `c-1`, all jobs, 1000 sent users.
#[derive(Debug, Clone)]
pub(crate) struct TestReport {
    tenant_id: String,
    campaign_id: String,
    job_id: Option<String>,
    status: Option<String>,
    sent_users: u64,
    metrics: BTreeMap<Metric, f64>,
    funnel: Vec<(String, f64)>,
}

impl TestReport {
    pub(crate) fn new() -> Self {
        TestReport {
            tenant_id: "t-1".into(),
            campaign_id: "c-1".into(),
            job_id: None,
            status: None,
            sent_users: 1000,
            metrics: BTreeMap::new(),
            funnel: Vec::new(),
        }
    }

    pub(crate) fn with_campaign(mut self, campaign_id: &str) -> Self {
        self.campaign_id = campaign_id.into();
        self
    }

    pub(crate) fn with_job(mut self, job_id: &str) -> Self {
        self.job_id = Some(job_id.into());
        self
    }

    pub(crate) fn with_status(mut self, status: &str) -> Self {
        self.status = Some(status.into());
        self
    }

    pub(crate) fn with_sent_users(mut self, sent_users: u64) -> Self {
        self.sent_users = sent_users;
        self
    }

    pub(crate) fn with_metric(mut self, metric: Metric, value: f64) -> Self {
        self.metrics.insert(metric, value);
        self
    }

    pub(crate) fn with_funnel(mut self, node_id: &str, conversion: f64) -> Self {
        self.funnel.push((node_id.into(), conversion));
        self
    }
}

impl ReportView for TestReport {
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
        match metric {
            Metric::SentUsers => Some(self.sent_users as f64),
            other => self.metrics.get(&other).copied(),
        }
    }

    fn funnel_conversion(&self, node_id: &str) -> Option<f64> {
        self.funnel
            .iter()
            .find(|(id, _)| id == node_id)
            .map(|(_, c)| *c)
    }
}

/// Rule `r-1` of tenant `t-1`: enabled, every campaign, fires at once.
pub(crate) fn rule(condition: Condition) -> Rule {
    Rule {
        id: "r-1".into(),
        tenant_id: "t-1".into(),
        name: "Rule one".into(),
        description: None,
        severity: Severity::Critical,
        enabled: true,
        scope: Scope::default(),
        condition,
        for_seconds: 0,
        min_sent_users: 0,
        channels: Vec::new(),
        message: None,
        repeat_interval_seconds: None,
        revision: 1,
    }
}
