//! The tenants registry in the API (issue 15; ARCHITECTURE.md, "Tenants
//! registry"): what the `/v1/tenants` routes change in the metadata
//! database, the copy of every tenant's calendar this instance answers
//! with, and the two tasks that keep things moving:
//!
//! - [`spawn_sync`]: follows the registry in the metadata database (every
//!   [`SYNC_EVERY`], and at once after a change made here), so every API
//!   instance labels periods with the same calendars.
//! - the outbox publisher ([`TenantOutbox`], [`crate::outbox`]): each
//!   change, as the tenant's whole record, to the compacted tenants topic
//!   the processors follow.

pub mod model;
pub mod rebuild;

use std::sync::Arc;
use std::time::Duration;

use metadata::{Metadata, MetadataError};
use runtime::tenant_directory::{Applied, RecordError, TenantRecord};
use runtime::TenantDirectory;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::outbox::{Change, Outbox, PublishError};
use crate::rate_limit::RateLimiter;

/// How often an instance reads the registry for changes made elsewhere.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What the tenant routes and tasks share.
#[derive(Debug)]
pub struct Tenants {
    pub metadata: Metadata,
    /// The calendars this instance answers with (also in
    /// [`crate::app::AppState::zones`]).
    pub directory: Arc<TenantDirectory>,
    /// How far ahead of its commit a zone change takes effect at the
    /// earliest (`TENANT_ZONE_CHANGE_DELAY_SECONDS`).
    pub change_delay: chrono::TimeDelta,
    /// The API keys' buckets: a tenant's limits apply to its keys.
    limiter: Arc<RateLimiter>,
    /// Wakes the outbox publisher after a committed change.
    changed: Arc<Notify>,
}

impl Tenants {
    pub fn new(
        metadata: Metadata,
        directory: Arc<TenantDirectory>,
        change_delay: chrono::TimeDelta,
        limiter: Arc<RateLimiter>,
    ) -> Self {
        Tenants {
            metadata,
            directory,
            change_delay,
            limiter,
            changed: Arc::new(Notify::new()),
        }
    }

    /// Hold a record: its calendar and its keys' rate limits.
    fn hold(&self, record: &TenantRecord) -> Result<Applied, RecordError> {
        let applied = self.directory.apply_record(record)?;
        if applied == Applied::Changed {
            self.limiter.set_tenant_limits(
                &record.id,
                record.rate_limit_per_second,
                record.rate_limit_burst,
            );
        }
        Ok(applied)
    }

    /// A change was committed: hold it here at once and publish it now.
    pub fn committed(&self, record: &TenantRecord) {
        if let Err(e) = self.hold(record) {
            tracing::error!(error = %e, tenant = %record.id, "a committed tenant does not apply");
        }
        self.changed.notify_one();
    }

    /// Read every tenant of the registry into the directory; returns how
    /// many changed.
    pub async fn sync(&self) -> Result<usize, MetadataError> {
        let records = self.metadata.all_tenant_records().await?;
        let mut changed = 0;
        for record in &records {
            match self.hold(record) {
                Ok(Applied::Changed) => changed += 1,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, tenant = %record.id,
                    "a tenant of the registry does not apply (written by a newer release?)"),
            }
        }
        Ok(changed)
    }
}

/// Keep the directory in step with the registry: a full read every
/// [`SYNC_EVERY`] when the registry's version moved.
pub fn spawn_sync(tenants: Arc<Tenants>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = None;
        let mut failing = false;
        loop {
            match tenants.metadata.tenants_version().await {
                Ok(version) if seen == Some(version) => {}
                Ok(version) => match tenants.sync().await {
                    Ok(changed) => {
                        if changed > 0 {
                            tracing::info!(changed, "tenants registry: calendars updated");
                        }
                        seen = Some(version);
                        failing = false;
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "tenants registry: reading it failed; retrying");
                        }
                        failing = true;
                    }
                },
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "tenants registry: reading it failed; retrying");
                    }
                    failing = true;
                }
            }
            tokio::time::sleep(SYNC_EVERY).await;
        }
    })
}

/// The tenants' outbox: each change as the tenant's whole record.
#[derive(Debug)]
pub struct TenantOutbox {
    metadata: Metadata,
    /// Notified after a change committed here; `None`: rounds only every
    /// [`crate::outbox::POLL`] (or one at a time, [`crate::outbox::publish_pending`]).
    changed: Option<Arc<Notify>>,
}

impl TenantOutbox {
    /// The outbox of the registry `tenants` serves, woken by its changes.
    pub fn of(tenants: &Tenants) -> Self {
        TenantOutbox {
            metadata: tenants.metadata.clone(),
            changed: Some(tenants.changed.clone()),
        }
    }

    /// The outbox of `metadata`, for one-shot rounds (an admin command).
    pub fn standalone(metadata: Metadata) -> Self {
        TenantOutbox {
            metadata,
            changed: None,
        }
    }
}

impl Outbox for TenantOutbox {
    const WHAT: &'static str = "tenant";

    async fn pending(&self, limit: i64) -> Result<Vec<Change>, PublishError> {
        let records = self.metadata.unpublished_tenants(limit).await?;
        records
            .iter()
            .map(|record| {
                let value = serde_json::to_vec(record).map_err(|source| PublishError::Encode {
                    what: Self::WHAT,
                    key: record.id.clone(),
                    source,
                })?;
                Ok(Change {
                    key: record.id.clone(),
                    revision: i64::try_from(record.revision).unwrap_or(i64::MAX),
                    value: Some(value),
                })
            })
            .collect()
    }

    async fn mark(&self, key: &str, revision: i64) -> Result<(), MetadataError> {
        self.metadata
            .mark_tenant_published(key, u64::try_from(revision).unwrap_or(0))
            .await
    }

    async fn changed(&self) {
        match &self.changed {
            Some(changed) => changed.notified().await,
            None => std::future::pending().await,
        }
    }
}
