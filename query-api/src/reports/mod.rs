//! Scheduled reports (`scheduled-reports.md`), a role of the API binary:
//! the routes (in `crate::routes::report_*`), and, in tasks of every
//! instance, the scheduler ([`scheduler`]: due schedules become runs, one
//! per scheduled instant), the workers ([`worker`]: runs become files,
//! through [`data`] and the `report-render` crate), the delivery of
//! succeeded runs to their recipients ([`delivery`]) and the retention
//! clean-up ([`retention`]). Files live in a [`storage::FileStore`] and
//! are downloaded through signed links ([`links`]).
//!
//! Every coordination point is in PostgreSQL (leases with `FOR UPDATE
//! SKIP LOCKED`, unique keys), so any number of instances may run.

pub mod data;
pub mod delivery;
pub mod links;
pub mod metrics;
pub mod model;
pub mod retention;
pub mod scheduler;
pub mod spec;
pub mod storage;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metadata::Metadata;
use runtime::TenantDirectory;

use crate::alerts::senders::Senders;
use crate::read::Reader;
use links::LinkSigner;
use storage::FileStore;

/// Settings of the reports role.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// This instance's worker id (slots append `-N`).
    pub worker_id: String,
    /// Runs rendered at once by this instance (0: no worker here).
    pub workers: usize,
    /// Whether this instance runs the scheduler.
    pub scheduler: bool,
    /// How long a claimed run is held without a heartbeat.
    pub lease: Duration,
    /// How often a worker renews its lease.
    pub heartbeat: Duration,
    /// How often idle workers and the scheduler look for work (they are
    /// also woken by NOTIFY).
    pub poll_interval: Duration,
    /// First wait before retrying a failed attempt; doubled each time.
    pub retry_backoff: Duration,
    /// A schedule due longer ago than this was missed (the system was
    /// down): it runs once, or is skipped, by its `missed` policy.
    pub missed_grace: Duration,
    /// How long files are kept.
    pub retention: Duration,
    /// Default and longest lifetime of a download link.
    pub link_ttl: Duration,
    pub link_ttl_max: Duration,
    /// Files up to this size are attached to e-mails; larger ones are
    /// linked.
    pub max_attachment_bytes: u64,
    /// Where files are rendered before they are stored.
    pub scratch_dir: PathBuf,
    /// The base URL download links start with (e.g. https://api.example.com).
    pub public_url: String,
}

impl ReportSettings {
    /// The wait before attempt `attempt + 1` after attempt `attempt` failed.
    pub fn retry_backoff(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.clamp(1, 16) - 1).unwrap_or(0);
        self.retry_backoff.saturating_mul(1u32 << doublings)
    }
}

/// What the report routes and tasks share.
#[derive(Debug)]
pub struct Reports {
    pub metadata: Metadata,
    pub store: FileStore,
    pub links: LinkSigner,
    pub zones: Arc<TenantDirectory>,
    pub senders: Senders,
    pub settings: ReportSettings,
    pub metrics: metrics::ReportMetrics,
}

impl Reports {
    /// Start the scheduler, the workers, the delivery worker and the
    /// retention clean-up of this instance.
    pub fn spawn_tasks<R: Reader>(self: &Arc<Self>, reader: R) {
        if self.settings.scheduler {
            tokio::spawn(scheduler::run_scheduler(self.clone()));
            tokio::spawn(retention::run_retention(self.clone()));
        }
        for slot in 0..self.settings.workers {
            tokio::spawn(worker::run_worker(self.clone(), reader.clone(), slot));
        }
        if self.settings.workers > 0 {
            tokio::spawn(delivery::run_delivery(self.clone()));
        }
    }
}
