//! Where ClickHouse is.

/// ClickHouse connection settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ClickHouseConfig {
    /// ClickHouse HTTP URL.
    #[arg(
        long = "clickhouse-url",
        env = "CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub url: String,

    /// ClickHouse user.
    #[arg(
        long = "clickhouse-user",
        env = "CLICKHOUSE_USER",
        default_value = "default"
    )]
    pub user: String,

    /// ClickHouse password.
    #[arg(
        long = "clickhouse-password",
        env = "CLICKHOUSE_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub password: String,

    /// Database of the processor's tables (created by the migrations).
    #[arg(
        long = "clickhouse-database",
        env = "CLICKHOUSE_DATABASE",
        default_value = "campaign_analytics"
    )]
    pub database: String,
}

impl ClickHouseConfig {
    /// A client of the server, not bound to a database.
    pub fn server_client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(&self.password)
            // 18.16 rejects the setting validation sends.
            .with_validation(false)
    }

    /// A client of the processor's database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }
}
