//! The metadata database: what users create and change (alert rules,
//! alerts with their read and dismissed state, delivery channels,
//! silences, the audit log), saved dashboards, scheduled reports (definitions, templates,
//! schedules, runs, files, their deliveries) and the delivery queues, in
//! PostgreSQL.
//! ClickHouse stays the home of events and reports.
//!
//! [`Metadata`] is the seam: a connection pool and one method per
//! operation, grouped by concept ([`rules`], [`alerts`], [`channels`],
//! [`silences`], [`deliveries`], [`reports`], [`dashboards`]). Every method
//! that reads or changes a tenant's data takes the tenant and scopes its
//! statement by it: another tenant's row is "not found".

pub mod alerts;
pub mod channels;
pub mod config;
pub mod dashboards;
pub mod deliveries;
pub mod error;
pub mod migrate;
pub mod reports;
pub mod rules;
pub mod silences;

#[cfg(feature = "testing")]
pub mod testing;

pub use alerts::{
    Alert, AlertFilter, AlertPage, AlertStats, EventListener, ManualAlert, StoredEvent,
    EVENTS_CHANNEL,
};
pub use channels::{Channel, ChannelConfig};
pub use config::MetadataConfig;
pub use dashboards::{DashboardBody, DashboardFilter, Replaced, StoredDashboard};
pub use deliveries::{
    Attempt, AttemptOutcome, AttemptRecord, ClaimedDelivery, Delivery, NextState,
    DELIVERIES_CHANNEL,
};
pub use error::MetadataError;
pub use rules::{RuleChange, StoredRule};
pub use silences::{NewSilence, Silence, SilenceMatchers};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

/// The metadata database: a pool of connections.
#[derive(Clone)]
pub struct Metadata {
    pool: Pool,
    pg: tokio_postgres::Config,
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("hosts", &self.pg.get_hosts())
            .field("dbname", &self.pg.get_dbname())
            .finish_non_exhaustive()
    }
}

impl Metadata {
    /// A pool for `cfg`; checks that the server answers (a clear error at
    /// start beats a retry loop).
    pub async fn connect(cfg: &MetadataConfig) -> Result<Self, MetadataError> {
        let pg: tokio_postgres::Config = cfg
            .database_url
            .parse()
            .map_err(|e| MetadataError::Config(format!("DATABASE_URL: {e}")))?;
        let manager = Manager::from_config(
            pg.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(cfg.pool_size)
            .build()
            .map_err(|e| MetadataError::Config(e.to_string()))?;
        let metadata = Metadata { pool, pg };
        metadata.client().await?.simple_query("SELECT 1").await?;
        Ok(metadata)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, MetadataError> {
        self.pool
            .get()
            .await
            .map_err(|e| MetadataError::Unavailable(e.to_string()))
    }

    /// A connection of its own, outside the pool (for LISTEN).
    pub(crate) async fn dedicated(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
        ),
        MetadataError,
    > {
        Ok(self.pg.connect(tokio_postgres::NoTls).await?)
    }
}
