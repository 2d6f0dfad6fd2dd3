//! What a rule looks at: a read-only view of one report ([`ReportView`]),
//! the campaign's activity, and [`observe`], which says whether a rule's
//! condition holds on them.

use crate::rule::{Condition, Metric, Rule};
use crate::time::elapsed;

/// One report (per job, or all jobs of a campaign) as `metrics.md` defines
/// it, implemented by the processor's state and by the query API's rows.
pub trait ReportView {
    /// The report's tenant.
    fn tenant_id(&self) -> &str;
    /// The report's campaign.
    fn campaign_id(&self) -> &str;
    /// The job, `None` for the all-jobs report.
    fn job_id(&self) -> Option<&str>;
    /// The last lifecycle status by event time, if any.
    fn status(&self) -> Option<&str>;
    /// Distinct users who received the first message.
    fn sent_users(&self) -> u64;
    /// A numeric field; `None` when it is null (e.g.
    /// `avg_completion_seconds` with no completed user).
    fn metric(&self, metric: Metric) -> Option<f64>;
    /// The funnel step `node_id`'s `conversion_from_previous`, `None` when
    /// the node is not in the funnel (no script yet, or a script without
    /// it).
    fn funnel_conversion(&self, node_id: &str) -> Option<f64>;
}

/// The campaign's activity, for `inactivity` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Processing time (ms since the epoch) of the last event applied to
    /// the campaign.
    pub last_applied_ms: i64,
}

/// What a rule sees on one report at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Whether the condition holds.
    pub holds: bool,
    /// The compared number (`metric_threshold`, `funnel_conversion`) when
    /// it is known; `None` for `status` and `inactivity`.
    pub value: Option<f64>,
}

/// Whether `rule` looks at `report`: same tenant, and the report is in the
/// rule's scope. Says nothing about `enabled`.
pub fn in_scope(rule: &Rule, report: &dyn ReportView) -> bool {
    rule.tenant_id == report.tenant_id()
        && rule.scope.matches(report.campaign_id(), report.job_id())
}

/// Evaluates `rule`'s condition on `report` at processing time `now_ms`.
///
/// `None` when the rule is not evaluated on this report at all: fewer
/// `sent_users` than `min_sent_users`. The caller must then leave the
/// pair's state unchanged. Scope and `enabled` are the caller's business
/// ([`in_scope`]).
pub fn observe(
    rule: &Rule,
    report: &dyn ReportView,
    activity: Activity,
    now_ms: i64,
) -> Option<Observation> {
    if report.sent_users() < rule.min_sent_users {
        return None;
    }
    let observation = match &rule.condition {
        Condition::MetricThreshold { metric, op, value } => {
            compare(report.metric(*metric), |left| op.holds(left, *value))
        }
        Condition::FunnelConversion { node_id, op, value } => {
            compare(report.funnel_conversion(node_id), |left| {
                op.holds(left, *value)
            })
        }
        Condition::Status { status } => Observation {
            holds: report.status() == Some(status.as_str()),
            value: None,
        },
        Condition::Inactivity { seconds } => Observation {
            holds: report.status() == Some("RUNNING")
                && elapsed(activity.last_applied_ms, now_ms, *seconds),
            value: None,
        },
    };
    Some(observation)
}

/// A null (or NaN) number is never true, and is reported as `None`.
fn compare(left: Option<f64>, holds: impl Fn(f64) -> bool) -> Observation {
    match left.filter(|v| v.is_finite()) {
        Some(left) => Observation {
            holds: holds(left),
            value: Some(left),
        },
        None => Observation {
            holds: false,
            value: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Op;
    use crate::testkit::{rule, TestReport};

    const NOW: i64 = 1_000_000;
    const ACTIVE: Activity = Activity {
        last_applied_ms: NOW,
    };

    fn holds(condition: Condition, report: &TestReport) -> Option<bool> {
        observe(&rule(condition), report, ACTIVE, NOW).map(|o| o.holds)
    }

    #[test]
    fn metric_threshold() {
        let report = TestReport::new().with_metric(Metric::InteractionRate, 3.2);
        let lt5 = Condition::MetricThreshold {
            metric: Metric::InteractionRate,
            op: Op::Lt,
            value: 5.0,
        };
        let obs = observe(&rule(lt5.clone()), &report, ACTIVE, NOW).expect("evaluated");
        assert_eq!(
            obs,
            Observation {
                holds: true,
                value: Some(3.2)
            }
        );
        let gt5 = Condition::MetricThreshold {
            metric: Metric::InteractionRate,
            op: Op::Gt,
            value: 5.0,
        };
        assert_eq!(holds(gt5, &report), Some(false));
        let at_boundary = TestReport::new().with_metric(Metric::InteractionRate, 5.0);
        assert_eq!(holds(lt5, &at_boundary), Some(false));
        let le5 = Condition::MetricThreshold {
            metric: Metric::InteractionRate,
            op: Op::Le,
            value: 5.0,
        };
        assert_eq!(holds(le5, &at_boundary), Some(true));
    }

    #[test]
    fn null_metric_is_never_true() {
        let report = TestReport::new();
        for op in Op::ALL {
            let c = Condition::MetricThreshold {
                metric: Metric::AvgCompletionSeconds,
                op,
                value: 0.0,
            };
            let obs = observe(&rule(c), &report, ACTIVE, NOW).expect("evaluated");
            assert_eq!(
                obs,
                Observation {
                    holds: false,
                    value: None
                }
            );
        }
        let nan = TestReport::new().with_metric(Metric::AvgCompletionSeconds, f64::NAN);
        let c = Condition::MetricThreshold {
            metric: Metric::AvgCompletionSeconds,
            op: Op::Le,
            value: 1e9,
        };
        assert_eq!(holds(c, &nan), Some(false));
    }

    #[test]
    fn funnel_conversion() {
        let c = Condition::FunnelConversion {
            node_id: "n2".into(),
            op: Op::Lt,
            value: 40.0,
        };
        assert_eq!(
            holds(c.clone(), &TestReport::new()),
            Some(false),
            "no funnel yet"
        );
        let report = TestReport::new()
            .with_funnel("n1", 100.0)
            .with_funnel("n2", 32.5);
        let obs = observe(&rule(c.clone()), &report, ACTIVE, NOW).expect("evaluated");
        assert_eq!(
            obs,
            Observation {
                holds: true,
                value: Some(32.5)
            }
        );
        let other = TestReport::new()
            .with_funnel("n1", 100.0)
            .with_funnel("n3", 10.0);
        assert_eq!(holds(c, &other), Some(false), "node not in the funnel");
    }

    #[test]
    fn status() {
        let c = Condition::Status {
            status: "ERROR".into(),
        };
        assert_eq!(
            holds(c.clone(), &TestReport::new()),
            Some(false),
            "no status yet"
        );
        assert_eq!(
            holds(c.clone(), &TestReport::new().with_status("RUNNING")),
            Some(false)
        );
        let obs = observe(
            &rule(c),
            &TestReport::new().with_status("ERROR"),
            ACTIVE,
            NOW,
        );
        assert_eq!(
            obs,
            Some(Observation {
                holds: true,
                value: None
            })
        );
    }

    #[test]
    fn inactivity() {
        let r = rule(Condition::Inactivity { seconds: 600 });
        let running = TestReport::new().with_status("RUNNING");
        let idle = |last: i64, report: &TestReport| {
            observe(
                &r,
                report,
                Activity {
                    last_applied_ms: last,
                },
                NOW,
            )
            .map(|o| o.holds)
        };
        assert_eq!(idle(NOW - 599_999, &running), Some(false));
        assert_eq!(idle(NOW - 600_000, &running), Some(true));
        assert_eq!(
            idle(NOW + 5_000, &running),
            Some(false),
            "clock behind the last event"
        );
        let completed = TestReport::new().with_status("COMPLETED");
        assert_eq!(
            idle(0, &completed),
            Some(false),
            "only RUNNING campaigns are inactive"
        );
        let obs = observe(&r, &running, Activity { last_applied_ms: 0 }, NOW).expect("evaluated");
        assert_eq!(obs.value, None);
    }

    #[test]
    fn min_sent_users_gates_evaluation() {
        let mut r = rule(Condition::Status {
            status: "ERROR".into(),
        });
        r.min_sent_users = 100;
        let small = TestReport::new().with_status("ERROR").with_sent_users(99);
        assert_eq!(observe(&r, &small, ACTIVE, NOW), None);
        let enough = small.with_sent_users(100);
        assert_eq!(
            observe(&r, &enough, ACTIVE, NOW).map(|o| o.holds),
            Some(true)
        );
    }

    #[test]
    fn scope_and_tenant() {
        let mut r = rule(Condition::Status {
            status: "ERROR".into(),
        });
        assert!(in_scope(&r, &TestReport::new()));
        assert!(!in_scope(&r, &TestReport::new().with_job("j-1")));
        r.tenant_id = "other".into();
        assert!(!in_scope(&r, &TestReport::new()), "another tenant's report");
    }
}
