//! Where the metadata database is.

/// PostgreSQL connection settings.
#[derive(Debug, Clone, clap::Args)]
pub struct MetadataConfig {
    /// PostgreSQL URL of the metadata database
    /// (postgres://USER[:PASSWORD]@HOST:PORT/DATABASE); the local stack's is
    /// postgres://campaign@127.0.0.1:5433/campaign_analytics.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// Connections kept to it.
    #[arg(
        long = "database-pool-size",
        env = "DATABASE_POOL_SIZE",
        default_value_t = 8
    )]
    pub pool_size: usize,
}
