//! `query-api`: the campaign analytics query API.

use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use kafka_settings::KafkaProperties;
use metadata::Metadata;
use query_api::alerts::delivery::{spawn_delivery_worker, DeliveryWorker};
use query_api::alerts::metrics::DeliveryMetrics;
use query_api::alerts::publisher::spawn_rule_publisher;
use query_api::alerts::senders::Senders;
use query_api::alerts::store_consumer::{spawn_store_consumer, StoreConsumerConfig};
use query_api::alerts::stream::spawn_fanout;
use query_api::alerts::Alerts;
use query_api::app::{router, serve, AppState, Settings};
use query_api::config::{
    AlertArgs, Cli, Command, ConfigCommand, IngestArgs, RebuildRollupsArgs, ReportArgs, ServeArgs,
    TenantCommand,
};
use query_api::ingest::kafka::{missing_topics, KafkaSink, KafkaSinkConfig};
use query_api::ingest::{Ingest, IngestSettings};
use query_api::keys::{hash_key, unusable_key, KeyStore};
use query_api::outbox::spawn_publisher;
use query_api::rate_limit::Limit;
use query_api::read::ClickHouseReader;
use query_api::reports::links::LinkSigner;
use query_api::reports::metrics::ReportMetrics;
use query_api::reports::storage::{FileStore, StoreLocation};
use query_api::reports::{ReportSettings, Reports};
use query_api::tenants::rebuild::rebuild;
use query_api::tenants::{spawn_sync, TenantOutbox, Tenants};
use rdkafka::producer::FutureProducer;
use runtime::config_file::{self, FileSettings};
use runtime::shutdown_signal;
use runtime::tenants::TenantZones;

/// HTTP ingestion when brokers are configured. The producer connects in
/// the background: an unreachable broker only fails posts (503). The
/// topics are checked in the background too, with a warning when missing.
fn ingest(
    args: &IngestArgs,
    kafka: &KafkaProperties,
    request_timeout_ms: u64,
) -> anyhow::Result<Option<Ingest>> {
    let Some(brokers) = args.brokers.clone() else {
        tracing::info!("HTTP ingestion off (no KAFKA_BROKERS / --kafka-brokers)");
        return Ok(None);
    };
    if args.delivery_timeout_ms >= request_timeout_ms {
        tracing::warn!(
            delivery_timeout_ms = args.delivery_timeout_ms,
            request_timeout_ms,
            "INGEST_DELIVERY_TIMEOUT_MS is not below REQUEST_TIMEOUT_MS: a post waiting for the \
             broker is answered 504 before it can be answered 503"
        );
    }
    if !args.idempotence {
        tracing::warn!(
            "the HTTP ingestion producer is NOT idempotent (INGEST_IDEMPOTENCE=false): a retried \
             produce may write a record twice (it counts once by its event_id)"
        );
    }
    let config = producer_config(args, brokers.clone(), kafka);
    let sink = KafkaSink::new(config).context("the Kafka producer of HTTP ingestion")?;
    let topics = args.topics();
    let settings = IngestSettings {
        topics: topics.clone(),
        max_skew_ms: args.max_clock_skew_seconds.saturating_mul(1000),
    };
    let ingest = Ingest::new(std::sync::Arc::new(sink), settings)?;
    let kafka = kafka.clone();
    std::thread::spawn(move || {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        match missing_topics(&brokers, &kafka, &names, std::time::Duration::from_secs(10)) {
            Ok(missing) if missing.is_empty() => {
                tracing::info!(%brokers, topics = ?names, "HTTP ingestion on")
            }
            Ok(missing) => tracing::warn!(
                %brokers, ?missing,
                "HTTP ingestion: topics missing on the broker; posts of their events will fail (503)"
            ),
            Err(e) => tracing::warn!(
                %brokers, error = %e,
                "HTTP ingestion: the broker did not answer yet; posts fail (503) until it does"
            ),
        }
    });
    Ok(Some(ingest))
}

/// The settings of the producers (HTTP ingestion, rule publisher).
fn producer_config(args: &IngestArgs, brokers: String, kafka: &KafkaProperties) -> KafkaSinkConfig {
    KafkaSinkConfig {
        properties: kafka.clone(),
        brokers,
        idempotence: args.idempotence,
        delivery_timeout: std::time::Duration::from_millis(args.delivery_timeout_ms),
        linger_ms: args.linger_ms,
        batch_records: args.batch_records,
        partitioner: args.partitioner.clone(),
    }
}

/// The Kafka client properties, and with brokers a first contact: a
/// refused credential or certificate, or a bad property, stops the start.
/// A broker that does not answer within a few seconds only gets a warning
/// (the read routes serve without it; posts fail with 503 meanwhile).
async fn kafka_client(args: &IngestArgs) -> anyhow::Result<KafkaProperties> {
    let kafka = args
        .client
        .resolve()
        .context("the Kafka client properties")?;
    if !kafka.is_empty() {
        tracing::info!(properties = ?kafka, "Kafka client properties");
    }
    let Some(brokers) = args.brokers.clone() else {
        return Ok(kafka);
    };
    let checking = kafka.clone();
    let check = tokio::task::spawn_blocking(move || {
        kafka_settings::check_connection(&brokers, &checking, std::time::Duration::from_secs(5))
    })
    .await?;
    match check {
        Ok(()) => Ok(kafka),
        Err(e) if e.is_fatal() => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "Kafka does not answer yet; going on without it");
            Ok(kafka)
        }
    }
}

/// Alerts when a metadata database is configured: connected and migrated
/// now (a failure stops the start), with the live stream's fan-out and the
/// delivery worker, and, with Kafka brokers, the rule publisher and the
/// alert store.
async fn alerts(
    args: &AlertArgs,
    ingest: &IngestArgs,
    kafka: &KafkaProperties,
    registry: &prometheus::Registry,
) -> anyhow::Result<Option<Arc<Alerts>>> {
    let Some(config) = args.metadata() else {
        tracing::info!(
            "alerts off: no DATABASE_URL / --database-url (the alert routes answer 503)"
        );
        return Ok(None);
    };
    let metadata = metadata_at(&config).await?;
    let senders = Senders::new(&args.delivery.sender_settings())
        .map_err(anyhow::Error::msg)
        .context("the alert delivery settings")?;
    let alerts = Arc::new(Alerts::new(metadata).with_senders(senders.clone()));
    spawn_fanout(alerts.clone());
    let worker = DeliveryWorker::new(
        alerts.metadata.clone(),
        senders,
        args.delivery.delivery_config(),
    )
    .with_metrics(DeliveryMetrics::new(registry));
    tracing::info!(
        worker = %worker.config().worker_id,
        smtp = args.delivery.smtp_url.is_some(),
        "alert delivery on (webhook, Slack{})",
        if args.delivery.smtp_url.is_some() { ", e-mail" } else { "; e-mail off without SMTP_URL" }
    );
    spawn_delivery_worker(worker);
    match &ingest.brokers {
        Some(brokers) => {
            spawn_rule_publisher(
                alerts.clone(),
                producer_config(ingest, brokers.clone(), kafka),
                args.alert_rules_topic.clone(),
            )
            .context("the Kafka producer of the rule publisher")?;
            spawn_store_consumer(
                alerts.metadata.clone(),
                &StoreConsumerConfig {
                    brokers: brokers.clone(),
                    topic: args.alerts_topic.clone(),
                    group: args.alert_store_group.clone(),
                    properties: kafka.clone(),
                },
            )
            .context("the Kafka consumer of the alert store")?;
            tracing::info!(
                %brokers,
                rules_topic = %args.alert_rules_topic,
                alerts_topic = %args.alerts_topic,
                group = %args.alert_store_group,
                "alerts on: rule publisher and alert store started"
            );
        }
        None => tracing::warn!(
            "alerts on without KAFKA_BROKERS / --kafka-brokers: rule changes are not published \
             to the processors and their alerts are not stored until the server has brokers"
        ),
    }
    Ok(Some(alerts))
}

/// Scheduled reports, on the metadata database of the alerts: the file
/// store opened and the signing secret set now (a bad setting stops the
/// start).
fn reports(
    args: &ReportArgs,
    settings: ReportSettings,
    alerts: &Alerts,
    state: &AppState<ClickHouseReader>,
) -> anyhow::Result<Arc<Reports>> {
    let location = StoreLocation::parse(&args.report_storage)
        .map_err(anyhow::Error::msg)
        .context("REPORT_STORAGE")?;
    let store = FileStore::open(&location)
        .map_err(anyhow::Error::msg)
        .context("REPORT_STORAGE")?;
    let secret = match args.link_secret().map_err(anyhow::Error::msg)? {
        Some(secret) => secret,
        None => {
            tracing::warn!(
                "REPORT_LINK_SECRET is not set: download links are signed with a random secret \
                 and work on this instance until it restarts; set the same secret on every \
                 instance"
            );
            uuid::Uuid::new_v4().as_bytes().to_vec()
        }
    };
    tracing::info!(
        storage = ?location, workers = settings.workers, scheduler = settings.scheduler,
        public_url = %settings.public_url, "scheduled reports on"
    );
    Ok(Arc::new(Reports {
        metadata: alerts.metadata.clone(),
        store,
        links: LinkSigner::new(secret),
        zones: state.zones.clone(),
        senders: alerts.senders.clone(),
        metrics: ReportMetrics::new(&state.metrics.registry),
        settings,
    }))
}

/// The tenants registry, on the metadata database of the alerts: the
/// `TENANT_TIMEZONES` seeds added, the registry read into the state's
/// calendars now (before the first request), then kept in step; with
/// Kafka brokers, its changes published to the processors.
async fn tenants(
    args: &ServeArgs,
    alerts: &Alerts,
    state: &AppState<ClickHouseReader>,
    kafka: &KafkaProperties,
) -> anyhow::Result<Arc<Tenants>> {
    let seeds: Vec<(String, String)> = state
        .zones
        .current()
        .seeds()
        .into_iter()
        .map(|(tenant, zone)| (tenant, zone.name().to_string()))
        .collect();
    let added = alerts
        .metadata
        .seed_tenants(&seeds)
        .await
        .context("seeding the tenants registry from TENANT_TIMEZONES")?;
    let tenants = Arc::new(Tenants::new(
        alerts.metadata.clone(),
        state.zones.clone(),
        chrono::TimeDelta::seconds(i64::from(args.tenant_zone_change_delay_seconds)),
        state.limiter.clone(),
    ));
    tenants
        .sync()
        .await
        .context("reading the tenants registry")?;
    spawn_sync(tenants.clone());
    match &args.ingest.brokers {
        Some(brokers) => {
            spawn_publisher(
                Arc::new(TenantOutbox::of(&tenants)),
                producer_config(&args.ingest, brokers.clone(), kafka),
                args.tenants_topic.clone(),
            )
            .context("the Kafka producer of the tenants registry")?;
        }
        None => tracing::warn!(
            "tenants registry on without KAFKA_BROKERS / --kafka-brokers: its changes reach \
             the processors once the server has brokers"
        ),
    }
    tracing::info!(
        tenants = state.zones.registered(),
        seeded = added,
        topic = %args.tenants_topic,
        "tenants registry on"
    );
    Ok(tenants)
}

async fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    runtime::logging::init(&args.log_format);
    // An empty KAFKA_BROKERS (e.g. `kafka_brokers = ""` in the file's
    // [query-api] section over [common]'s) turns Kafka off.
    args.ingest.brokers = args.ingest.brokers.filter(|b| !b.trim().is_empty());
    let path = args
        .api_keys
        .take()
        .context("--api-keys (or API_KEYS_FILE) is required: the TOML file of API key hashes")?;
    let keys = KeyStore::load(&path)?;
    let zones = TenantZones::parse(&args.default_timezone, &args.tenant_timezones)?;
    let reader = ClickHouseReader::new(args.clickhouse.client()?);
    let kafka = kafka_client(&args.ingest).await?;
    let ingest = ingest(&args.ingest, &kafka, args.request_timeout_ms)?;
    let report_settings = args
        .reports
        .settings(args.listen, query_api::alerts::delivery::worker_id());
    let mut state = AppState::new(
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
            live_buffer: usize::try_from(args.live_buffer).unwrap_or(usize::MAX),
        },
    );
    let alerts = alerts(&args.alerts, &args.ingest, &kafka, &state.metrics.registry).await?;
    query_api::live::spawn_poller(
        state.live.clone(),
        state.reader.clone(),
        std::time::Duration::from_millis(args.live_poll_ms),
    );
    if let Some(ingest) = ingest {
        state = state.with_ingest(ingest);
    }
    if let Some(alerts) = alerts {
        let reports = reports(&args.reports, report_settings, &alerts, &state)?;
        reports.spawn_tasks(state.reader.clone());
        let tenants = tenants(&args, &alerts, &state, &kafka).await?;
        // Before serving: a key an admin demoted must not get its file's
        // role back for a moment at start.
        state.roles.replace(
            &alerts
                .metadata
                .key_roles()
                .await
                .context("reading the keys' roles from the metadata database")?,
        );
        query_api::key_roles::spawn_sync(alerts.metadata.clone(), state.roles.clone());
        state = state
            .with_alerts(alerts)
            .with_reports(reports)
            .with_tenants(tenants);
    }
    let listener = listen(args.listen).with_context(|| format!("listening on {}", args.listen))?;
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

fn main() -> anyhow::Result<()> {
    // First, while no other thread runs: the configuration file, then the
    // secrets given as NAME_FILE, become the variables clap reads.
    let file = config_file::load_with_secrets("query-api", &Cli::command())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_cli(file))
}

/// `query-api config check`.
fn config_check(file: &FileSettings) -> anyhow::Result<()> {
    let cmd = Cli::command();
    let (matches, text) =
        config_file::check(&cmd, "query-api", "serve", file).map_err(anyhow::Error::msg)?;
    print!("{text}");
    let Some(Command::Serve(args)) = Cli::from_arg_matches(&matches)?.command else {
        anyhow::bail!("internal: `query-api serve` did not parse as serve");
    };
    print!("{}", args.ingest.client.resolve()?.describe());
    let path = args
        .api_keys
        .as_deref()
        .context("API_KEYS_FILE (--api-keys) is required: the TOML file of API key hashes")?;
    let keys = KeyStore::load(path)?;
    println!("API keys: {} in {}", keys.keys().len(), path.display());
    args.clickhouse.client()?;
    if let Some(metadata) = args.alerts.metadata() {
        let sslmode = metadata.check()?;
        println!("metadata database: sslmode {sslmode:?}");
    }
    TenantZones::parse(&args.default_timezone, &args.tenant_timezones)?;
    println!("OK: the settings are valid (Kafka, ClickHouse and PostgreSQL not contacted)");
    Ok(())
}

async fn run_cli(file: FileSettings) -> anyhow::Result<()> {
    let cli: Cli = config_file::parse_or_exit(&file);
    match cli.command {
        Some(Command::Config {
            command: ConfigCommand::Check,
        }) => config_check(&file),
        Some(Command::HashKey { key }) => {
            if let Some(why) = unusable_key(&key) {
                anyhow::bail!("{why}");
            }
            println!("{}", hash_key(&key));
            Ok(())
        }
        Some(Command::Tenant {
            command: TenantCommand::RebuildRollups(args),
        }) => rebuild_rollups(*args).await,
        Some(Command::Serve(args)) => run(*args).await,
        None => run(cli.serve).await,
    }
}

/// The metadata database, connected and migrated.
async fn metadata_at(config: &metadata::MetadataConfig) -> anyhow::Result<Metadata> {
    let metadata = Metadata::connect(config).await.context(
        "connecting to the metadata database (DATABASE_URL): is PostgreSQL running (`make up`)?",
    )?;
    metadata
        .migrate()
        .await
        .context("migrating the metadata database (DATABASE_URL)")?;
    Ok(metadata)
}

/// `query-api tenant rebuild-rollups`.
async fn rebuild_rollups(args: RebuildRollupsArgs) -> anyhow::Result<()> {
    let RebuildRollupsArgs { options, serve } = args;
    runtime::logging::init(&serve.log_format);
    let config = serve.alerts.metadata().context(
        "the tenants registry is in the metadata database: set DATABASE_URL (--database-url)",
    )?;
    let metadata = metadata_at(&config).await?;
    let clickhouse = serve.clickhouse.client()?;
    let kafka = serve
        .ingest
        .client
        .resolve()
        .context("the Kafka client settings")?;
    let brokers = serve.ingest.brokers.as_deref().map(str::trim);
    let producer: Option<FutureProducer> = match brokers.filter(|b| !b.is_empty()) {
        Some(brokers) => Some(
            producer_config(&serve.ingest, brokers.to_string(), &kafka)
                .client_config()
                .create()
                .context("the Kafka producer of the tenants registry")?,
        ),
        None => None,
    };
    let principal = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".into())
    );
    let done = rebuild(
        &metadata,
        &clickhouse,
        producer.as_ref().map(|p| (p, serve.tenants_topic.as_str())),
        &principal,
        &options,
        &mut |line| println!("{line}"),
    )
    .await?;
    println!(
        "done: {}'s rollups are in {}{} ({} rows, {} status changes, {} attempt{})",
        options.tenant,
        done.zone,
        done.from.map_or(String::new(), |f| format!(" from {f} on")),
        done.rows,
        done.status_changes,
        done.attempts,
        if done.attempts == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Connections the kernel completes before the server accepts them. A
/// reconnect storm (thousands of live clients after a deploy) overflows
/// the usual 128: the overflowing clients believe they are connected and
/// hang until their handshake is retried (the kernel caps it at
/// `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// The listening socket (address reuse on, as with `TcpListener::bind`).
fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
