//! Scheduled reports (`scheduled-reports.md`): definitions, a tenant's
//! templates, schedules and the scheduler's step, runs with their leases
//! and files, the deliveries of runs, and the audit log's reading side.
//! What a definition or schedule means is the `reporting` crate's; this
//! module stores what the API validated.

pub mod audit;
pub mod definitions;
pub mod deliveries;
pub mod runs;
pub mod schedules;
pub mod templates;

/// The NOTIFY channel raised when runs are queued.
pub const RUNS_CHANNEL: &str = "report_runs";
/// The NOTIFY channel raised when report deliveries are enqueued.
pub const REPORT_DELIVERIES_CHANNEL: &str = "report_deliveries";

pub use audit::{AuditEntry, AuditFilter};
pub use definitions::{DefinitionBody, DefinitionFilter, DefinitionSort, StoredDefinition};
pub use deliveries::{ClaimedReportDelivery, ReportDelivery};
pub use runs::{CancelOutcome, ClaimedRun, NewFile, RunFilter, StoredFile, StoredRun};
pub use schedules::{DueSchedule, ScheduleStep, StoredSchedule};
pub use templates::StoredTemplate;
