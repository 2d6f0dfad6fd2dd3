//! The scheduler: every poll interval, due schedules become runs (one per
//! scheduled instant: the database's unique key) and get their next
//! instant, decided by `reporting::due`. Any number of instances may run
//! it: each step locks the schedules it handles (`SKIP LOCKED`).

use std::sync::Arc;

use metadata::reports::{DueSchedule, ScheduleStep};
use reporting::schedule::{ScheduleInput, ValidSchedule};

use super::Reports;

/// Schedules handled per step.
const BATCH: i64 = 100;

/// The stored spec of a schedule, checked again (it was valid when
/// stored; the default time zone is never used, the stored spec names it).
pub fn parse_spec(spec: &serde_json::Value) -> Result<ValidSchedule, String> {
    let input: ScheduleInput =
        serde_json::from_value(spec.clone()).map_err(|e| format!("stored schedule: {e}"))?;
    input.validate("UTC").map_err(|e| e.to_string())
}

/// Forever: step through due schedules.
pub async fn run_scheduler(reports: Arc<Reports>) {
    tracing::info!("report scheduler started");
    let mut failing = false;
    loop {
        match step(&reports).await {
            Ok(created) => {
                failing = false;
                if !created.is_empty() {
                    tracing::info!(runs = ?created, "scheduled runs created");
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "report scheduler step failed; retrying");
                }
                failing = true;
            }
        }
        tokio::time::sleep(reports.settings.poll_interval).await;
    }
}

/// One step; returns the ids of the runs created.
pub async fn step(reports: &Reports) -> Result<Vec<String>, metadata::MetadataError> {
    let grace = reports.settings.missed_grace;
    let metrics = &reports.metrics;
    reports
        .metadata
        .step_schedules(BATCH, |due: &DueSchedule, now| {
            match parse_spec(&due.spec) {
                Ok(schedule) => {
                    let step = reporting::due::decide(&schedule, due.due_at, now, grace);
                    let decision = match (step.run_for, step.missed) {
                        (Some(_), false) => "run",
                        (Some(_), true) => "missed_run",
                        (None, _) => "skipped",
                    };
                    metrics.schedule_step(decision);
                    if step.missed {
                        tracing::info!(definition = %due.definition_id, due_at = %due.due_at,
                        run_for = ?step.run_for, "schedule missed while the system was down");
                    }
                    ScheduleStep {
                        run_for: step.run_for,
                        next_run_at: step.next_run_at,
                    }
                }
                Err(e) => {
                    // Never again until someone sets it right.
                    tracing::error!(definition = %due.definition_id, error = %e,
                    "unreadable schedule: it is stopped");
                    ScheduleStep {
                        run_for: None,
                        next_run_at: None,
                    }
                }
            }
        })
        .await
}
