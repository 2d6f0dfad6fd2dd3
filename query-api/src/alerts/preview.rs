//! `POST /v1/alert-rules/{id}/preview`: which reports a rule would be
//! firing on now, evaluated on the current reports read through the
//! [`Reader`] with the processor's own logic ([`alerting::observe`]).
//!
//! The condition is evaluated as of now, whatever `enabled` and
//! `for_seconds` say (a preview answers "does it hold?"). An `inactivity`
//! condition takes the report's last event time as the campaign's last
//! activity: the processor counts processing time, so the preview is an
//! approximation that matches once the stream is caught up.

use alerting::{in_scope, observe, Activity, Metric, ReportView, Rule};
use futures_util::TryStreamExt;
use storage::rows::ReportRow;

use super::model::{Preview, PreviewHit};
use crate::model::Report;
use crate::read::{CampaignQuery, ReadError, Reader};

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
            .find(|step| step.node_id == node_id)
            .map(|step| step.conversion_from_previous)
    }
}

/// Evaluates one rule on reports one by one.
#[derive(Debug)]
pub struct Evaluation<'r> {
    rule: &'r Rule,
    now_ms: i64,
    preview: Preview,
}

impl<'r> Evaluation<'r> {
    pub fn new(rule: &'r Rule, now_ms: i64) -> Self {
        Evaluation {
            rule,
            now_ms,
            preview: Preview {
                firing: Vec::new(),
                evaluated: 0,
            },
        }
    }

    /// Looks at one report (ignored when out of the rule's scope).
    pub fn add(&mut self, row: &ReportRow) {
        let report = Report::from_row(row);
        if !in_scope(self.rule, &report) {
            return;
        }
        let activity = Activity {
            last_applied_ms: row.last_event_at_ms,
        };
        let Some(observation) = observe(self.rule, &report, activity, self.now_ms) else {
            return;
        };
        self.preview.evaluated += 1;
        if observation.holds {
            self.preview.firing.push(PreviewHit {
                campaign_id: report.campaign_id,
                job_id: report.job_id,
                value: observation.value,
            });
        }
    }

    pub fn finish(self) -> Preview {
        self.preview
    }
}

/// The rule evaluated on the current reports of its scope: one job's
/// report, one campaign's all-jobs report, or every campaign's.
pub async fn preview<R: Reader>(
    reader: &R,
    rule: &Rule,
    now_ms: i64,
) -> Result<Preview, ReadError> {
    let mut evaluation = Evaluation::new(rule, now_ms);
    let tenant = rule.tenant_id.as_str();
    match (
        rule.scope.campaign_id.as_deref(),
        rule.scope.job_id.as_deref(),
    ) {
        (Some(campaign), job) => {
            if let Some(row) = reader.report(tenant, campaign, job).await? {
                evaluation.add(&row);
            }
        }
        // Validation refuses a job without a campaign: nothing matches.
        (None, Some(_)) => {}
        (None, None) => {
            let mut rows = reader
                .campaigns(CampaignQuery {
                    tenant: tenant.to_owned(),
                    ..CampaignQuery::default()
                })
                .await?;
            while let Some(row) = rows.try_next().await? {
                evaluation.add(&row);
            }
        }
    }
    Ok(evaluation.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alerting::{Condition, Op, Scope, Severity};

    fn row(campaign: &str, job: &str, status: &str, last_event_at_ms: i64) -> ReportRow {
        ReportRow {
            tenant_id: "t".into(),
            campaign_id: campaign.into(),
            job_id: job.into(),
            partition: 0,
            version: 1,
            status: status.into(),
            target_users: 10,
            sent_users: 8,
            interacted_users: 2,
            completed_users: 1,
            interaction_rate: 25.0,
            completion_rate: 12.5,
            total_interactions: 3,
            messages_sent: 8,
            warnings_sent: 0,
            avg_completion_seconds: None,
            nodes_json: "[]".into(),
            funnel_json: r#"[{"node_id":"a","users":8,"conversion_from_previous":100.0,"drop_off":0},{"node_id":"b","users":2,"conversion_from_previous":25.0,"drop_off":6}]"#.into(),
            first_event_at_ms: 0,
            last_event_at_ms,
            snapshot_at: 0,
        }
    }

    fn rule(condition: Condition, scope: Scope) -> Rule {
        Rule {
            id: "r".into(),
            tenant_id: "t".into(),
            name: "r".into(),
            description: None,
            severity: Severity::Warning,
            enabled: true,
            scope,
            condition,
            for_seconds: 0,
            min_sent_users: 0,
            channels: Vec::new(),
            message: None,
            repeat_interval_seconds: None,
            revision: 1,
        }
    }

    fn run(rule: &Rule, rows: &[ReportRow], now_ms: i64) -> Preview {
        let mut e = Evaluation::new(rule, now_ms);
        for r in rows {
            e.add(r);
        }
        e.finish()
    }

    #[test]
    fn every_kind_is_evaluated_on_report_rows() {
        let rows = [
            row("c1", "", "ERROR", 1_000),
            row("c2", "", "RUNNING", 1_000),
            row("c1", "j1", "ERROR", 1_000),
        ];
        let all = Scope::default();
        let status = rule(
            Condition::Status {
                status: "ERROR".into(),
            },
            all.clone(),
        );
        let p = run(&status, &rows, 2_000);
        assert_eq!(p.evaluated, 2, "all-jobs reports only");
        assert_eq!(
            p.firing,
            [PreviewHit {
                campaign_id: "c1".into(),
                job_id: None,
                value: None
            }]
        );
        let job = rule(
            Condition::Status {
                status: "ERROR".into(),
            },
            Scope {
                campaign_id: Some("c1".into()),
                job_id: Some("j1".into()),
            },
        );
        let p = run(&job, &rows, 2_000);
        assert_eq!((p.evaluated, p.firing.len()), (1, 1));
        assert_eq!(p.firing[0].job_id.as_deref(), Some("j1"));

        let rate = rule(
            Condition::MetricThreshold {
                metric: Metric::InteractionRate,
                op: Op::Lt,
                value: 30.0,
            },
            all.clone(),
        );
        let p = run(&rate, &rows, 2_000);
        assert_eq!(p.firing.len(), 2);
        assert_eq!(p.firing[0].value, Some(25.0));

        let funnel = rule(
            Condition::FunnelConversion {
                node_id: "b".into(),
                op: Op::Le,
                value: 25.0,
            },
            all.clone(),
        );
        assert_eq!(run(&funnel, &rows, 2_000).firing.len(), 2);

        let idle = rule(Condition::Inactivity { seconds: 60 }, all.clone());
        assert!(run(&idle, &rows, 60_999).firing.is_empty());
        let p = run(&idle, &rows, 61_000);
        assert_eq!(p.firing.len(), 1, "only the RUNNING campaign");
        assert_eq!(p.firing[0].campaign_id, "c2");

        let mut gated = status.clone();
        gated.min_sent_users = 9;
        assert_eq!(
            run(&gated, &rows, 2_000),
            Preview {
                firing: Vec::new(),
                evaluated: 0
            }
        );
    }
}
