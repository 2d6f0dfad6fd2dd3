//! `processor`: the campaign analytics stream processor.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use processor::clickhouse::{migrate, ClickHouseConfig};
use processor::replay::{ReplayArgs, Summary};
use processor::run::{run, RunConfig};
use runtime::config_file::{self, FileSettings};
use runtime::shutdown_signal;

/// mimalloc instead of glibc's malloc: librdkafka's threads free what the
/// engine thread allocated (dead letters, produced alert transitions), and
/// glibc serializes that on its arena locks. Measured in benches/RESULTS.md
/// (dead-letter throughput, issue 10).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Campaign analytics stream processor: consumes the campaign-lifecycle,
/// notifications and interactions topics, keeps per-campaign and per-user
/// aggregates in memory, and snapshots them to ClickHouse together with the
/// Kafka offsets they reflect (restarts resume exactly there).
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log format: text for people, json for log pipelines.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true, value_parser = ["text", "json"])]
    log_format: String,

    /// The deployment's TOML configuration file, shared by every binary:
    /// [common], [processor], [query-api] and [kafka-properties] sections
    /// whose keys are the settings' variable names in lower case
    /// (kafka_brokers = "..."). A flag wins over a variable, a variable over
    /// the file. Also ANALYTICS_CONFIG=PATH. `processor config check` shows
    /// what it all comes to.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the ClickHouse migrations (schemas/clickhouse/*.sql) and exit.
    Migrate {
        #[command(flatten)]
        clickhouse: ClickHouseConfig,
    },
    /// Migrate, then consume and aggregate until SIGTERM or Ctrl-C (a final
    /// snapshot is written before leaving the consumer group).
    Run {
        #[command(flatten)]
        clickhouse: ClickHouseConfig,
        #[command(flatten)]
        run: Box<RunConfig>,
    },
    /// Partition checkpoints.
    Checkpoint {
        #[command(subcommand)]
        command: CheckpointCommand,
    },
    /// Drop the months of raw events and snapshot rows past the retention
    /// horizon, as `processor run --retention-days` does hourly. Prints what
    /// it drops and which months past the horizon it keeps, and why. A
    /// month of snapshot rows is dropped only once no processor holds a
    /// campaign with rows in it (processors must run with --retention-days
    /// too); rollups are never dropped.
    Retention {
        #[command(flatten)]
        clickhouse: ClickHouseConfig,
        /// Keep this many days.
        #[arg(long, env = "RETENTION_DAYS")]
        retention_days: u32,
        /// Print the plan, drop nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The dead-letter topic.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// The configuration (--config, the environment, the defaults).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check the settings `processor run` would start with: the
    /// configuration file, the environment and the defaults. Prints every
    /// setting with where it came from, secrets masked; fails with the
    /// reason when one is invalid (a value, a Kafka property, a time zone,
    /// a CA file). Does not contact Kafka, ClickHouse or PostgreSQL.
    Check,
}

#[derive(Debug, Subcommand)]
enum CheckpointCommand {
    /// Move a partition's checkpoint to the start or the end of its log,
    /// after the processor refused it because the checkpoint lies outside
    /// the log (topics recreated, broker data lost, retention). Writes one
    /// checkpoint row; the state is kept. Stop the processors first.
    Reset {
        #[command(flatten)]
        clickhouse: ClickHouseConfig,
        #[command(flatten)]
        args: Box<processor::checkpoint_reset::ResetArgs>,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Re-produce dead-lettered records, unchanged, to the topics they came
    /// from, once the cause is fixed (safe to re-run: they count once).
    #[command(long_about = processor::replay::LONG_ABOUT)]
    Replay(Box<ReplayArgs>),
}

fn main() -> anyhow::Result<()> {
    // First, while no other thread runs: the configuration file, then the
    // secrets given as NAME_FILE, become the variables clap reads.
    let file = config_file::load_with_secrets("processor", &Cli::command())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_cli(file))
}

/// `processor config check`.
fn config_check(file: &FileSettings) -> anyhow::Result<()> {
    let cmd = Cli::command();
    let (matches, text) =
        config_file::check(&cmd, "processor", "run", file).map_err(anyhow::Error::msg)?;
    print!("{text}");
    let Command::Run { clickhouse, run } = Cli::from_arg_matches(&matches)?.command else {
        anyhow::bail!("internal: `processor run` did not parse as run");
    };
    print!("{}", run.kafka.client.resolve()?.describe());
    clickhouse.client()?;
    runtime::TenantZones::parse(&run.default_timezone, &run.tenant_timezones)?;
    println!("OK: the settings are valid (Kafka and ClickHouse not contacted)");
    Ok(())
}

async fn run_cli(file: FileSettings) -> anyhow::Result<()> {
    let cli: Cli = config_file::parse_or_exit(&file);
    runtime::logging::init(&cli.log_format);
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check,
        } => config_check(&file)?,
        Command::Migrate { clickhouse } => {
            let report = migrate(&clickhouse).await?;
            if report.applied.is_empty() {
                println!(
                    "schema of {} is up to date ({} migrations)",
                    clickhouse.database, report.already
                );
            } else {
                for f in &report.applied {
                    println!("applied {f}");
                }
            }
        }
        Command::Run {
            clickhouse,
            run: cfg,
        } => {
            let report = migrate(&clickhouse).await?;
            tracing::info!(applied = report.applied.len(), "schema up to date");
            run(*cfg, clickhouse.client()?, shutdown_signal()).await?;
        }
        Command::Checkpoint {
            command: CheckpointCommand::Reset { clickhouse, args },
        } => {
            let mut args = args;
            args.kafka.resolve()?;
            migrate(&clickhouse).await?;
            let report = processor::checkpoint_reset::reset(&args, clickhouse.client()?).await?;
            println!("{report}");
        }
        Command::Retention {
            clickhouse,
            retention_days,
            dry_run,
        } => {
            let Some(horizon) = processor::run::retention_ms(retention_days) else {
                anyhow::bail!("--retention-days must be at least 1");
            };
            migrate(&clickhouse).await?;
            let plan =
                processor::clickhouse::retention::run_once(&clickhouse.client()?, horizon, dry_run)
                    .await?;
            print!("{plan}");
            if dry_run && !plan.drops.is_empty() {
                println!("(dry run: nothing dropped)");
            }
        }
        Command::Dlq {
            command: DlqCommand::Replay(args),
        } => dlq_replay(*args).await?,
    }
    Ok(())
}

/// `processor dlq replay`: the summary on stdout (also after a failure),
/// then the error if any.
async fn dlq_replay(mut args: ReplayArgs) -> anyhow::Result<()> {
    args.properties = args.client.resolve()?;
    let (summary, result) = tokio::task::spawn_blocking(move || {
        let mut summary = Summary::new(&args.topic_dlq, args.dry_run);
        let result = processor::kafka::replay::replay(&args, &mut summary);
        (summary, result)
    })
    .await?;
    if result.is_ok() || summary.tally.read > 0 {
        print!("{summary}");
    }
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
