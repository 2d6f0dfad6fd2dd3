//! `query-api`: the campaign analytics query API.

use anyhow::Context;
use clap::Parser;
use processor::run::shutdown_signal;
use processor::tenants::TenantZones;
use query_api::app::{router, serve, AppState, Settings};
use query_api::config::{Cli, Command, ServeArgs};
use query_api::keys::{hash_key, unusable_key, KeyStore};
use query_api::rate_limit::Limit;
use query_api::read::ClickHouseReader;

async fn run(args: ServeArgs) -> anyhow::Result<()> {
    processor::logging::init(&args.log_format);
    let path = args
        .api_keys
        .context("--api-keys (or API_KEYS_FILE) is required: the TOML file of API key hashes")?;
    let keys = KeyStore::load(&path)?;
    let zones = TenantZones::parse(&args.default_timezone, &args.tenant_timezones)?;
    let reader = ClickHouseReader::new(args.clickhouse.client());
    let state = AppState::new(
        reader,
        keys,
        zones,
        Limit {
            per_second: args.rate_limit_per_second,
            burst: args.rate_limit_burst,
        },
        Settings {
            max_overview_days: args.max_overview_days,
            request_timeout: std::time::Duration::from_millis(args.request_timeout_ms),
            now: None,
        },
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr().unwrap_or(args.listen);
    tracing::info!(
        %addr,
        keys = state.keys.keys().len(),
        clickhouse = %args.clickhouse.url,
        database = %args.clickhouse.database,
        "query API listening on http://{addr} (docs at http://{addr}/docs)"
    );
    serve(listener, router(state), shutdown_signal()).await?;
    tracing::info!("query API stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::HashKey { key }) => {
            if let Some(why) = unusable_key(&key) {
                anyhow::bail!("{why}");
            }
            println!("{}", hash_key(&key));
            Ok(())
        }
        Some(Command::Serve(args)) => run(*args).await,
        None => run(cli.serve).await,
    }
}
