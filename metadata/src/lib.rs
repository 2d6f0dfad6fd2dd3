//! The metadata database: what users create and change (alert rules,
//! alerts with their read and dismissed state, delivery channels,
//! silences, the audit log), the tenants registry, saved dashboards, scheduled reports (definitions, templates,
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
pub mod key_roles;
pub mod migrate;
pub mod reports;
pub mod rules;
pub mod silences;
pub mod tenants;
pub mod tls;

#[cfg(feature = "testing")]
pub mod testing;

pub use alerts::{
    Alert, AlertFilter, AlertPage, AlertStats, EventListener, ManualAlert, StoredEvent,
    EVENTS_CHANNEL,
};
pub use channels::{Channel, ChannelConfig, ChannelDeletion, RuleRef};
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
    tls: tls::Tls,
    sslmode: tls::SslMode,
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("hosts", &self.pg.get_hosts())
            .field("dbname", &self.pg.get_dbname())
            .field("sslmode", &self.sslmode)
            .finish_non_exhaustive()
    }
}

impl Metadata {
    /// A pool for `cfg`; checks that the server answers (a clear error at
    /// start beats a retry loop). DATABASE_URL's `sslmode` and
    /// `sslrootcert` are libpq's ([`tls`]).
    pub async fn connect(cfg: &MetadataConfig) -> Result<Self, MetadataError> {
        let tls::Settings { pg, tls, sslmode } = tls::settings(&cfg.database_url)?;
        let manager = Manager::from_config(
            pg.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(cfg.pool_size)
            .build()
            .map_err(|e| MetadataError::Config(e.to_string()))?;
        let metadata = Metadata {
            pool,
            pg,
            tls,
            sslmode,
        };
        metadata.client().await?.simple_query("SELECT 1").await?;
        Ok(metadata)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, MetadataError> {
        self.pool.get().await.map_err(|e| match e {
            // The server's or the connection's reason (TLS, refused, ...).
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e => MetadataError::Unavailable(error::with_causes(&e)),
        })
    }

    /// A connection of its own, outside the pool (for LISTEN).
    pub(crate) async fn dedicated(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<tokio_postgres::Socket, tls::TlsStream>,
        ),
        MetadataError,
    > {
        Ok(self.pg.connect(self.tls.clone()).await?)
    }

    /// DATABASE_URL's `sslmode`.
    pub fn sslmode(&self) -> tls::SslMode {
        self.sslmode
    }
}
