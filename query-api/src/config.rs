//! The command line: `query-api [serve] [flags]` and `query-api hash-key KEY`.
//! Every flag has an environment variable; the doc comments are the
//! `--help` text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use processor::clickhouse::ClickHouseConfig;

/// Campaign analytics query API: tenant-isolated campaign reports, job
/// reports, user journeys and the tenant overview over HTTP, read from the
/// processor's ClickHouse tables as of their latest checkpoints.
///
/// Without a subcommand, `serve` runs (its flags may be given directly).
/// /healthz, /readyz, /metrics, /openapi.json and /docs need no key; every
/// /v1 route needs `Authorization: Bearer <key>`.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGTERM or Ctrl-C (requests in flight finish).
    Serve(Box<ServeArgs>),
    /// Print the hex SHA-256 of KEY, for the `sha256` of a keys-file entry.
    HashKey {
        /// The API key (printable ASCII, no spaces).
        key: String,
    },
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub clickhouse: ClickHouseConfig,

    /// TOML file of API keys ([[keys]] entries with `tenant` or
    /// `role = "admin"`, and `sha256` = `query-api hash-key KEY`; optional
    /// `name`, `rate_limit_per_second`, `burst`). Required.
    #[arg(
        long = "api-keys",
        env = "API_KEYS_FILE",
        required = true,
        value_name = "PATH"
    )]
    pub api_keys: Option<PathBuf>,

    /// Time zone (IANA) of tenants not listed in --tenant-timezone: their
    /// overview days and months follow its calendar.
    #[arg(long, env = "DEFAULT_TIMEZONE", default_value = "UTC")]
    pub default_timezone: String,

    /// A tenant's time zone as tenant=Zone (repeatable, or comma-separated
    /// in TENANT_TIMEZONES), e.g. acme=Europe/Berlin. Use the processor's
    /// setting: the rollups were cut at its day boundaries.
    #[arg(
        long = "tenant-timezone",
        visible_alias = "tenant-timezones",
        value_name = "TENANT=ZONE",
        env = "TENANT_TIMEZONES",
        value_delimiter = ','
    )]
    pub tenant_timezones: Vec<String>,

    /// Longest overview range, in days (from and to inclusive).
    #[arg(long, env = "MAX_OVERVIEW_DAYS", default_value_t = 731,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_overview_days: u32,

    /// Requests a second each key may make on average (a key's
    /// `rate_limit_per_second` overrides it).
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 100.0,
          value_parser = positive)]
    pub rate_limit_per_second: f64,

    /// Requests each key may make at once (a key's `burst` overrides it).
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Longest time to answer a request (to the response head) before
    /// giving up with 504.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Log format: text for people, json for log pipelines.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default_and_hash_key_needs_no_keys_file() {
        let cli = Cli::try_parse_from(["query-api", "hash-key", "abc"]).unwrap();
        assert!(matches!(cli.command, Some(Command::HashKey { ref key }) if key == "abc"));
        let cli = Cli::try_parse_from([
            "query-api",
            "--api-keys",
            "k.toml",
            "--listen",
            "127.0.0.1:9",
            "--tenant-timezones",
            "a=UTC,b=Europe/Berlin",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.listen.port(), 9);
        assert_eq!(cli.serve.tenant_timezones.len(), 2);
        assert_eq!(cli.serve.max_overview_days, 731);
        assert_eq!(cli.serve.request_timeout_ms, 10_000);
        let cli = Cli::try_parse_from(["query-api", "serve", "--api-keys", "k.toml"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Serve(_))));
        assert!(Cli::try_parse_from([
            "query-api",
            "--rate-limit-per-second",
            "0",
            "--api-keys",
            "k"
        ])
        .is_err());
    }
}
