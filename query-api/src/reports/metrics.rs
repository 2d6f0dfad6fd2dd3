//! Prometheus metrics of the reports role.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Runs, schedules and deliveries, by outcome.
#[derive(Debug, Clone)]
pub struct ReportMetrics {
    runs: HistogramVec,
    scheduled: IntCounterVec,
    deliveries: IntCounterVec,
}

impl ReportMetrics {
    /// Metrics registered in `registry` (unregistered ones when it already
    /// has them, e.g. a second server in one test process).
    pub fn new(registry: &Registry) -> Self {
        let runs = HistogramVec::new(
            HistogramOpts::new(
                "report_run_seconds",
                "Report run attempts by outcome (succeeded, failed, retry, abandoned), seconds",
            )
            .buckets(vec![
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
            ]),
            &["outcome"],
        )
        .unwrap_or_else(|_| unreachable!("valid histogram options"));
        let scheduled = IntCounterVec::new(
            Opts::new(
                "report_schedule_steps_total",
                "Due schedules handled by the scheduler, by decision (run, missed_run, skipped)",
            ),
            &["decision"],
        )
        .unwrap_or_else(|_| unreachable!("valid counter options"));
        let deliveries = IntCounterVec::new(
            Opts::new(
                "report_delivery_attempts_total",
                "Report delivery attempts by recipient kind and outcome",
            ),
            &["kind", "outcome"],
        )
        .unwrap_or_else(|_| unreachable!("valid counter options"));
        let _ = registry.register(Box::new(runs.clone()));
        let _ = registry.register(Box::new(scheduled.clone()));
        let _ = registry.register(Box::new(deliveries.clone()));
        ReportMetrics {
            runs,
            scheduled,
            deliveries,
        }
    }

    pub fn observe_run(&self, outcome: &str, took: Duration) {
        self.runs
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
    }

    pub fn schedule_step(&self, decision: &str) {
        self.scheduled.with_label_values(&[decision]).inc();
    }

    pub fn delivery(&self, kind: &str, outcome: &str) {
        self.deliveries.with_label_values(&[kind, outcome]).inc();
    }
}
