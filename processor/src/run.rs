//! `processor run`: wire the consumer, the engine, ClickHouse and the
//! metrics port together, and shut down gracefully.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use schemas::Codec;
use tokio::runtime::Handle;

use crate::alerts::RuleBoard;
use crate::clickhouse::ClickHouseStore;
use crate::engine::{Attempt, DeadLetterSink, Engine, EngineConfig};
use crate::kafka::alert_publisher::AlertPublisher;
use crate::kafka::dlq::Rejected;
use crate::kafka::source::check_topics;
use crate::kafka::table_reader::{TableReader, TenantTable};
use crate::kafka::{DeadLetters, KafkaConfig, Source};
use crate::metrics::Metrics;
use crate::schema_source::{SchemaIds, SchemaSourceConfig};
use runtime::tenants::TenantZones;
use runtime::TenantDirectory;

/// How the processor runs (besides where Kafka and ClickHouse are).
#[derive(Debug, Clone, clap::Args)]
pub struct RunConfig {
    #[command(flatten)]
    pub kafka: KafkaConfig,

    #[command(flatten)]
    pub schemas: SchemaSourceConfig,

    /// Snapshot interval in milliseconds: how often changed reports,
    /// journeys, raw events and checkpoints are written to ClickHouse.
    #[arg(long, env = "SNAPSHOT_INTERVAL_MS", default_value_t = 1000)]
    pub snapshot_interval_ms: u64,

    /// With ALERTING: once an applied event makes an alert fire or resolve,
    /// the snapshot that commits it is taken right away instead of on the
    /// interval, at least this many milliseconds after the previous one
    /// (a transition then waits for one write, not for the interval).
    /// 0 keeps every snapshot on the interval.
    #[arg(long, env = "ALERT_SNAPSHOT_GAP_MS", default_value_t = 250)]
    pub alert_snapshot_gap_ms: u64,

    /// Raw event rows buffered in memory before consumption pauses (when
    /// ClickHouse is slow or down).
    #[arg(long, env = "MAX_BUFFERED_ROWS", default_value_t = 500_000)]
    pub max_buffered_rows: usize,

    /// Dead letters enqueued to the dead-letter topic and not yet
    /// acknowledged before consumption pauses (when that topic is slow or
    /// unavailable); they are produced in batches, without waiting for
    /// each.
    #[arg(long, env = "MAX_DEAD_LETTERS_IN_FLIGHT", default_value_t = 20_000)]
    pub max_dead_letters_in_flight: usize,

    /// Events more than this many seconds in the future are dead-lettered.
    #[arg(long, env = "MAX_CLOCK_SKEW_SECONDS", default_value_t = 300)]
    pub max_clock_skew_seconds: i64,

    /// Time zone (IANA) of tenants not listed in --tenant-timezone.
    #[arg(long, env = "DEFAULT_TIMEZONE", default_value = "UTC")]
    pub default_timezone: String,

    /// A tenant's time zone as tenant=Zone (repeatable, or comma-separated
    /// in TENANT_TIMEZONES), e.g. acme=Europe/Berlin. With
    /// TENANT_REGISTRY=true the registry's zone of a tenant wins.
    #[arg(
        long = "tenant-timezone",
        env = "TENANT_TIMEZONES",
        value_delimiter = ','
    )]
    pub tenant_timezones: Vec<String>,

    /// Drop completed campaigns from memory once their last event is this
    /// many seconds old (event time), no event reached them for as long
    /// (processing time, counted in snapshots) and all is written; a late
    /// event reloads them from ClickHouse. 0 keeps everything in memory.
    #[arg(long, env = "EVICT_COMPLETED_AFTER_SECONDS", default_value_t = 86_400)]
    pub evict_completed_after_seconds: i64,
    /// The state of revoked partitions is kept in memory, up to this many
    /// bytes in all, in case they are assigned back (then they need no
    /// restore); beyond it the oldest revoked state is dropped. 0 keeps
    /// none.
    #[arg(long, env = "MAX_RETAINED_STATE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_retained_state_bytes: usize,
    /// Keep raw events and snapshot rows for this many days, then drop them
    /// by whole months (checked hourly; safe with several processors). A
    /// campaign idle and evicted longer than this is forgotten: a late
    /// event starts it again. Rollups are kept. 0 (default) keeps
    /// everything. See `processor retention --help`.
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 0)]
    pub retention_days: u32,

    /// Address of the /metrics and /healthz HTTP port.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,

    /// Records read ahead of the engine.
    #[arg(long, env = "READ_AHEAD", default_value_t = 20_000)]
    pub read_ahead: usize,

    /// Evaluate alert rules (alerts.md): read every rule from
    /// --alert-rules-topic (written by the API), evaluate them at each
    /// snapshot, and publish committed transitions to --alerts-topic.
    #[arg(long, env = "ALERTING", default_value_t = false,
          action = clap::ArgAction::Set, value_name = "true|false")]
    pub alerting: bool,

    /// Topic of alert rules (one partition, compacted; keyed by rule id).
    #[arg(long, env = "TOPIC_ALERT_RULES", default_value = "alert-rules")]
    pub alert_rules_topic: String,

    /// Topic of alert transitions (keyed by alert id; read by the API's
    /// alert store).
    #[arg(long, env = "TOPIC_ALERTS", default_value = "alerts")]
    pub alerts_topic: String,

    /// Follow the tenants registry (written by the API from /v1/tenants):
    /// read --tenants-topic in full before consuming, then follow it; an
    /// event falls on the day of its tenant's zone in effect when it
    /// occurred. Off: every tenant's zone comes from TENANT_TIMEZONES.
    #[arg(long, env = "TENANT_REGISTRY", default_value_t = false,
          action = clap::ArgAction::Set, value_name = "true|false")]
    pub tenant_registry: bool,

    /// Topic of the tenants registry (one partition, compacted; keyed by
    /// tenant id).
    #[arg(long, env = "TOPIC_TENANTS", default_value = "tenants")]
    pub tenants_topic: String,
}

impl DeadLetterSink for DeadLetters<Attempt> {
    fn enqueue(&self, rejected: &Rejected, attempt: Attempt) {
        DeadLetters::enqueue(self, rejected, attempt);
    }
}

/// How often a processor with `--retention-days` runs the retention job.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// `--retention-days` in milliseconds; `None` for 0.
pub fn retention_ms(days: u32) -> Option<i64> {
    (days > 0).then(|| i64::from(days) * 86_400_000)
}

/// Run until `shutdown` resolves: consume, apply, snapshot; then write a
/// final snapshot and leave the group.
pub async fn run(
    mut cfg: RunConfig,
    client: clickhouse::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let zones = TenantZones::parse(&cfg.default_timezone, &cfg.tenant_timezones)?;
    cfg.kafka.resolve()?;
    let kafka = cfg.kafka.clone();
    let partitions = tokio::task::spawn_blocking(move || check_topics(&kafka)).await??;
    tracing::info!(partitions, topics = ?cfg.kafka.topics(), "input topics are co-partitioned");
    crate::clickhouse::topology::check_partition_count(&client, partitions).await?;

    let metrics = Metrics::new();
    let healthy = Arc::new(AtomicBool::new(true));
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(crate::http::serve(
        cfg.metrics_addr,
        metrics.clone(),
        healthy.clone(),
        async {
            let _ = http_stopped.await;
        },
    ));

    let schema_ids = SchemaIds::new(cfg.schemas.sources()?, metrics.schema_lookups.clone());
    let dead_letters = Arc::new(DeadLetters::new(
        &cfg.kafka,
        Box::new(|attempt: Attempt, report| match report {
            Ok(()) => attempt.delivered(),
            Err((error, rejected)) => attempt.failed(&error, rejected),
        }),
    )?);
    // The tenants registry first: the first event applied must be zoned
    // by every zone change already made.
    let tenants = if cfg.tenant_registry {
        let directory = Arc::new(TenantDirectory::new(zones.clone()));
        let (kafka, topic) = (cfg.kafka.clone(), cfg.tenants_topic.clone());
        let table = Arc::new(TenantTable(directory.clone()));
        let reader = tokio::task::spawn_blocking(move || {
            TableReader::start(
                &kafka,
                &topic,
                "campaign-analytics-tenants-reader",
                table,
                Duration::from_secs(60),
            )
        })
        .await??;
        tracing::info!(tenants = directory.registered(), topic = %cfg.tenants_topic,
            "tenants registry followed");
        Some((directory, reader))
    } else {
        tracing::info!(
            "tenants registry off: zones from TENANT_TIMEZONES (TENANT_REGISTRY=true follows it)"
        );
        None
    };
    // Rules first: the first snapshot must see them all.
    let alerting = if cfg.alerting {
        let board = Arc::new(RuleBoard::new());
        let (kafka, topic) = (cfg.kafka.clone(), cfg.alert_rules_topic.clone());
        let reading = board.clone();
        let reader = tokio::task::spawn_blocking(move || {
            TableReader::start(
                &kafka,
                &topic,
                "campaign-analytics-rules-reader",
                reading,
                Duration::from_secs(60),
            )
        })
        .await??;
        let publisher = Arc::new(AlertPublisher::new(
            &cfg.kafka,
            &cfg.alerts_topic,
            metrics.clone(),
            Handle::current(),
        )?);
        let checking = publisher.clone();
        tokio::task::spawn_blocking(move || checking.check_topic(Duration::from_secs(30)))
            .await??;
        tracing::info!(rules = board.len(), rules_topic = %cfg.alert_rules_topic,
            alerts_topic = %cfg.alerts_topic, "alerting on");
        Some((board, reader, publisher))
    } else {
        tracing::info!("alerting off (ALERTING=true turns it on)");
        None
    };
    let (source, events) = Source::start(&cfg.kafka, cfg.read_ahead, metrics.clone())?;
    let mut engine = Engine::new(
        EngineConfig {
            topics: cfg.kafka.topics().map(str::to_string),
            snapshot_interval: Duration::from_millis(cfg.snapshot_interval_ms),
            max_buffered_rows: cfg.max_buffered_rows,
            max_dead_letters_in_flight: cfg.max_dead_letters_in_flight,
            max_skew_ms: cfg.max_clock_skew_seconds.saturating_mul(1000),
            evict_completed_after_ms: (cfg.evict_completed_after_seconds > 0)
                .then(|| cfg.evict_completed_after_seconds.saturating_mul(1000)),
            max_retained_bytes: cfg.max_retained_state_bytes,
            retention_ms: retention_ms(cfg.retention_days),
            alert_snapshot_gap: (cfg.alert_snapshot_gap_ms > 0)
                .then(|| Duration::from_millis(cfg.alert_snapshot_gap_ms)),
        },
        Arc::new(
            ClickHouseStore::new(client.clone()).with_step_metrics(metrics.snapshot_steps.clone()),
        ),
        Codec::new()?,
        zones,
        metrics,
        Handle::current(),
        dead_letters.clone(),
        source.control.clone(),
    )
    .with_schema_ids(schema_ids);
    if let Some((board, _, publisher)) = &alerting {
        engine = engine.with_alerts(board.clone(), publisher.clone());
    }
    if let Some((directory, _)) = &tenants {
        engine = engine.with_tenants(directory.clone());
    }
    let retention = retention_ms(cfg.retention_days).map(|horizon| {
        tokio::spawn(crate::clickhouse::retention::every(
            client,
            horizon,
            RETENTION_EVERY,
        ))
    });
    let engine_done = healthy.clone();
    let engine_thread = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            engine.run(events);
            engine_done.store(false, Ordering::SeqCst);
        })?;

    let engine_alive = healthy.clone();
    tokio::select! {
        () = shutdown => tracing::info!("shutting down: final snapshot, then leaving the group"),
        () = async {
            while engine_alive.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } => tracing::error!("engine stopped unexpectedly"),
    }
    tokio::task::spawn_blocking(move || {
        source.stop();
        let _ = engine_thread.join();
    })
    .await?;
    dead_letters.flush();
    drop(tenants);
    if let Some((_, reader, publisher)) = alerting {
        drop(reader);
        tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(10))).await?;
    }
    if let Some(r) = retention {
        r.abort();
    }
    let _ = stop_http.send(());
    if let Ok(Err(e)) = http.await {
        tracing::warn!(error = %e, "metrics port failed");
    }
    tracing::info!("processor stopped");
    Ok(())
}
