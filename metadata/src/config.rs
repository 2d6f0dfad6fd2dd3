//! Where the metadata database is.

/// PostgreSQL connection settings.
#[derive(Debug, Clone, clap::Args)]
pub struct MetadataConfig {
    /// PostgreSQL URL of the metadata database
    /// (postgres://USER[:PASSWORD]@HOST:PORT/DATABASE[?PARAMS]); the local
    /// stack's is postgres://campaign@127.0.0.1:5433/campaign_analytics.
    /// TLS as libpq: `sslmode=disable|prefer|require|verify-ca|verify-full`
    /// (default prefer) and `sslrootcert=/path/ca.pem` (PEM CA certificates;
    /// `system` for the system's), e.g.
    /// `?sslmode=verify-full&sslrootcert=/etc/ssl/pg-ca.pem`.
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

impl MetadataConfig {
    /// DATABASE_URL checked without connecting: it parses, its `sslmode` is
    /// one we know and its `sslrootcert` is read ([`crate::tls`]). Returns
    /// its `sslmode`.
    pub fn check(&self) -> Result<crate::tls::SslMode, crate::MetadataError> {
        crate::tls::settings(&self.database_url).map(|s| s.sslmode)
    }
}
