//! The command line: `query-api [serve] [flags]` and `query-api hash-key KEY`.
//! Every flag has an environment variable; the doc comments are the
//! `--help` text.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use schemas::EventKind;
use storage::ClickHouseConfig;

use crate::alerts::delivery::DeliveryConfig;
use crate::alerts::senders::{SenderSettings, SmtpSettings};

/// Campaign analytics query API: tenant-isolated campaign reports, job
/// reports, user journeys and the tenant overview over HTTP, read from the
/// processor's ClickHouse tables as of their latest checkpoints.
///
/// With Kafka brokers (--kafka-brokers, KAFKA_BROKERS) it also takes events
/// over HTTP (POST /v1/events, /v1/events/batch, with a producer key) and
/// produces them to the three input topics.
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

    /// The deployment's TOML configuration file, shared by every binary:
    /// [common], [processor], [query-api] and [kafka-properties] sections
    /// whose keys are the settings' variable names in lower case
    /// (listen_addr = "..."). A flag wins over a variable, a variable over
    /// the file. Also ANALYTICS_CONFIG=PATH. `query-api config check` shows
    /// what it all comes to.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGTERM or Ctrl-C (requests in flight finish).
    Serve(Box<ServeArgs>),
    /// Print the hex SHA-256 of KEY, for the `sha256` of a keys-file entry
    /// (of any role: tenant, admin or producer).
    HashKey {
        /// The API key (printable ASCII, no spaces).
        key: String,
    },
    /// The configuration (--config, the environment, the defaults).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Administer a tenant of the registry (platform operators).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
}

/// `query-api tenant ...`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Rebuild a tenant's rollups (days, weeks, months) and status changes
    /// from events_raw in its current time zone, while the processors run:
    /// after a zone change, the periods before it move to the new calendar
    /// too. Rebases the tenant's zone history on its latest zone (which
    /// then applies to all of its events, late ones included), publishes
    /// it to the tenants topic, rewrites the rows and compares them with
    /// the raw events until they are equal. Takes the settings of `serve`
    /// (DATABASE_URL, ClickHouse with a user that may ALTER and INSERT,
    /// KAFKA_BROKERS, TOPIC_TENANTS). Prints each step.
    #[command(mut_arg("api_keys", |a| a.required(false)))]
    RebuildRollups(Box<RebuildRollupsArgs>),
}

/// Settings and options of `query-api tenant rebuild-rollups`.
#[derive(Debug, Clone, Args)]
pub struct RebuildRollupsArgs {
    #[command(flatten)]
    pub options: crate::tenants::rebuild::RebuildOptions,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `query-api config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the settings `query-api serve` would start with: the
    /// configuration file, the environment and the defaults. Prints every
    /// setting with where it came from, secrets masked; fails with the
    /// reason when one is invalid (a value, the keys file, a Kafka
    /// property, a time zone, a CA file). Does not contact Kafka,
    /// ClickHouse or PostgreSQL.
    Check,
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub clickhouse: ClickHouseConfig,

    /// TOML file of API keys ([[keys]] entries with `tenant` (reads that
    /// tenant), `role = "admin"` (reads any tenant) or `role = "producer"`
    /// and `tenant` (posts that tenant's events, reads nothing), and
    /// `sha256` = `query-api hash-key KEY`; optional `name`,
    /// `rate_limit_per_second`, `burst`). Required.
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
    /// in TENANT_TIMEZONES), e.g. acme=Europe/Berlin. With a metadata
    /// database these seed the tenants registry (a tenant it does not have
    /// yet is added with this zone) and the registry decides from then on
    /// (/v1/tenants); without one, use the processor's setting: the rollups
    /// were cut at its day boundaries.
    #[arg(
        long = "tenant-timezone",
        visible_alias = "tenant-timezones",
        value_name = "TENANT=ZONE",
        env = "TENANT_TIMEZONES",
        value_delimiter = ','
    )]
    pub tenant_timezones: Vec<String>,

    /// How far ahead a tenant's zone change takes effect at the earliest
    /// (PATCH /v1/tenants/{id}): it must exceed the processors'
    /// MAX_CLOCK_SKEW_SECONDS plus the time a change takes to reach them,
    /// so that every event is zoned the same way by every processor.
    #[arg(
        long,
        env = "TENANT_ZONE_CHANGE_DELAY_SECONDS",
        default_value_t = 3600,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u32).range(0..=31_536_000)
    )]
    pub tenant_zone_change_delay_seconds: u32,

    /// Topic the tenants registry is published to (one partition,
    /// compacted; the processors follow it with TENANT_REGISTRY=true): key
    /// the tenant id, value the tenant's JSON record.
    #[arg(long, env = "TOPIC_TENANTS", default_value = "tenants")]
    pub tenants_topic: String,

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

    /// How often the live streams read the checkpoints (milliseconds): a
    /// commit reaches subscribed clients within about this long. One small
    /// query per poll per API instance, whatever the number of clients.
    #[arg(long, env = "LIVE_POLL_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub live_poll_ms: u64,

    /// Commits a live stream's client may fall behind before the server
    /// closes it (with reason `too_slow`; it reconnects and resumes). The
    /// commits are shared by every client: this bounds memory, not per
    /// connection buffers.
    #[arg(long, env = "LIVE_BUFFER", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub live_buffer: u64,

    /// Log format: text for people, json for log pipelines.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    #[command(flatten)]
    pub ingest: IngestArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub reports: ReportArgs,
}

/// Alerts: the metadata database and the topics shared with the processor.
#[derive(Debug, Clone, Args)]
pub struct AlertArgs {
    /// PostgreSQL URL of the metadata database
    /// (postgres://USER[:PASSWORD]@HOST:PORT/DATABASE[?PARAMS]): alert rules and
    /// alerts. Without it the alert routes answer 503. The local stack's is
    /// postgres://campaign@127.0.0.1:5433/campaign_analytics. TLS as libpq:
    /// sslmode=disable|prefer|require|verify-ca|verify-full (default prefer)
    /// and sslrootcert=/path/ca.pem (or system), e.g.
    /// ?sslmode=verify-full&sslrootcert=/etc/ssl/pg-ca.pem.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// Connections kept to the metadata database (the live stream holds one
    /// more, for LISTEN).
    #[arg(long = "database-pool-size", env = "DATABASE_POOL_SIZE", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub database_pool_size: u16,

    /// Topic the rule changes are published to (the processors read it):
    /// key the rule id, value the rule JSON, no value for a deleted rule.
    #[arg(long, env = "TOPIC_ALERT_RULES", default_value = "alert-rules")]
    pub alert_rules_topic: String,

    /// Topic of the processors' alert transitions, stored in the metadata
    /// database by this API.
    #[arg(long, env = "TOPIC_ALERTS", default_value = "alerts")]
    pub alerts_topic: String,

    /// Consumer group of the alert store (every API instance shares it).
    #[arg(
        long,
        env = "ALERT_STORE_GROUP",
        default_value = "campaign-analytics-alert-store"
    )]
    pub alert_store_group: String,

    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// Scheduled reports: the workers, the scheduler, where files go and how
/// download links are signed. On whenever the metadata database is
/// (DATABASE_URL).
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Report runs this instance renders at once (0: no worker here, the
    /// routes still work and other instances render).
    #[arg(long, env = "REPORT_WORKERS", default_value_t = 1)]
    pub report_workers: usize,

    /// Whether this instance runs the scheduler (due schedules become
    /// runs) and the retention clean-up; several instances may.
    #[arg(long, env = "REPORT_SCHEDULER", default_value_t = true, action = clap::ArgAction::Set)]
    pub report_scheduler: bool,

    /// Where report files are kept: a directory, or s3://BUCKET[/PREFIX]
    /// for S3-compatible storage (credentials and endpoint from AWS_*
    /// variables: AWS_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ALLOW_HTTP).
    #[arg(
        long,
        env = "REPORT_STORAGE",
        default_value = "report-files",
        value_name = "DIR|URL"
    )]
    pub report_storage: String,

    /// Where files are rendered before they are stored (default: a
    /// directory under the system's temporary directory).
    #[arg(long, env = "REPORT_SCRATCH_DIR", value_name = "DIR")]
    pub report_scratch_dir: Option<PathBuf>,

    /// The secret download links are signed with (HMAC-SHA256). Every
    /// instance must have the same one; without it a random one is made at
    /// start (links then work on this instance, until it restarts).
    #[arg(
        long,
        env = "REPORT_LINK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub report_link_secret: Option<String>,

    /// A file holding the link secret (instead of REPORT_LINK_SECRET; the
    /// container convention for secrets).
    #[arg(
        long,
        env = "REPORT_LINK_SECRET_FILE",
        value_name = "PATH",
        conflicts_with = "report_link_secret"
    )]
    pub report_link_secret_file: Option<PathBuf>,

    /// The base URL of download links, as users reach this API (default:
    /// http://<listen address>).
    #[arg(long, env = "PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Default lifetime of a download link, in seconds (at most 7 days).
    #[arg(long, env = "REPORT_LINK_TTL_SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub report_link_ttl_seconds: u64,

    /// Days report files are kept.
    #[arg(long, env = "REPORT_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub report_retention_days: u64,

    /// Seconds a worker holds a run without renewing its lease; a run
    /// whose worker died is taken over after this.
    #[arg(long, env = "REPORT_LEASE_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(3..))]
    pub report_lease_seconds: u64,

    /// How often idle workers and the scheduler look for work, in
    /// milliseconds (NOTIFY wakes workers at once).
    #[arg(long, env = "REPORT_POLL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub report_poll_ms: u64,

    /// First wait before retrying a failed run attempt, in milliseconds
    /// (doubled each time; 3 attempts in all).
    #[arg(long, env = "REPORT_RETRY_BACKOFF_MS", default_value_t = 5000)]
    pub report_retry_backoff_ms: u64,

    /// A schedule found due longer ago than this many seconds was missed
    /// (the system was down): it runs once, or is skipped, by its policy.
    #[arg(long, env = "REPORT_MISSED_GRACE_SECONDS", default_value_t = 300)]
    pub report_missed_grace_seconds: u64,

    /// Files up to this many bytes (in all) are attached to report
    /// e-mails; larger ones are linked.
    #[arg(long, env = "REPORT_MAX_ATTACHMENT_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub report_max_attachment_bytes: u64,
}

impl ReportArgs {
    /// The link secret: given, read from its file, or `None`.
    pub fn link_secret(&self) -> Result<Option<Vec<u8>>, String> {
        if let Some(secret) = self.report_link_secret.as_ref().filter(|s| !s.is_empty()) {
            return Ok(Some(secret.clone().into_bytes()));
        }
        let Some(path) = &self.report_link_secret_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("REPORT_LINK_SECRET_FILE {}: {e}", path.display()))?;
        let secret = text.trim();
        if secret.is_empty() {
            return Err(format!(
                "REPORT_LINK_SECRET_FILE {} is empty",
                path.display()
            ));
        }
        Ok(Some(secret.as_bytes().to_vec()))
    }

    /// The settings of the reports role, for a server listening on `listen`.
    pub fn settings(
        &self,
        listen: SocketAddr,
        worker_id: String,
    ) -> crate::reports::ReportSettings {
        let lease = Duration::from_secs(self.report_lease_seconds);
        crate::reports::ReportSettings {
            worker_id,
            workers: self.report_workers,
            scheduler: self.report_scheduler,
            lease,
            heartbeat: lease / 4,
            poll_interval: Duration::from_millis(self.report_poll_ms),
            retry_backoff: Duration::from_millis(self.report_retry_backoff_ms),
            missed_grace: Duration::from_secs(self.report_missed_grace_seconds),
            retention: Duration::from_secs(self.report_retention_days.saturating_mul(86_400)),
            link_ttl: Duration::from_secs(self.report_link_ttl_seconds),
            link_ttl_max: Duration::from_secs(604_800),
            max_attachment_bytes: self.report_max_attachment_bytes,
            scratch_dir: self
                .report_scratch_dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("campaign-analytics-reports")),
            public_url: self
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{listen}")),
        }
    }
}

/// Delivery of alerts to channels (webhook, Slack, e-mail).
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// Wait before retrying a failed delivery (errors, 429, 5xx), in
    /// milliseconds; doubled after each failed try.
    #[arg(long, env = "ALERT_DELIVERY_BACKOFF_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_delivery_backoff_ms: u64,

    /// Longest wait between two tries of a delivery, in milliseconds.
    #[arg(long, env = "ALERT_DELIVERY_BACKOFF_MAX_MS", default_value_t = 600_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_delivery_backoff_max_ms: u64,

    /// A delivery still failing this many seconds after its transition was
    /// stored fails for good.
    #[arg(long, env = "ALERT_DELIVERY_GIVE_UP_SECONDS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub alert_delivery_give_up_seconds: u64,

    /// Longest HTTP request (webhook, Slack) or SMTP session of one try, in
    /// milliseconds.
    #[arg(long, env = "ALERT_DELIVERY_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub alert_delivery_timeout_ms: u64,

    /// SMTP relay of e-mail channels: smtp://HOST:PORT (no TLS),
    /// smtp://HOST:PORT?tls=required (STARTTLS) or smtps://HOST:PORT (TLS);
    /// USER:PASSWORD@ before the host authenticates. Without it e-mails are
    /// not sent (they are retried until it is set, or they expire).
    #[arg(long, env = "SMTP_URL", hide_env_values = true, value_name = "URL")]
    pub smtp_url: Option<String>,

    /// The From address of alert e-mails.
    #[arg(
        long,
        env = "SMTP_FROM",
        default_value = "Campaign analytics <alerts@localhost>"
    )]
    pub smtp_from: String,

    /// A link to an alert in the messages (Slack title, webhook `link`,
    /// e-mail): `{alert_id}` is replaced by the alert's id, e.g.
    /// https://analytics.example.com/alerts/{alert_id}.
    #[arg(long, env = "ALERT_LINK_TEMPLATE", value_name = "URL")]
    pub alert_link_template: Option<String>,

    /// Let webhooks and Slack URLs (of alert channels and report
    /// recipients) point at non-public addresses: loopback, private
    /// networks, link-local (the cloud metadata address). Off by default:
    /// a URL a tenant enters must not reach the server's own network.
    #[arg(long, env = "DELIVERY_ALLOW_PRIVATE_NETWORKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub delivery_allow_private_networks: bool,
}

impl DeliveryArgs {
    /// The settings of the senders.
    pub fn sender_settings(&self) -> SenderSettings {
        SenderSettings {
            timeout: Duration::from_millis(self.alert_delivery_timeout_ms),
            smtp: self.smtp_url.as_ref().map(|url| SmtpSettings {
                url: url.clone(),
                from: self.smtp_from.clone(),
            }),
            link_template: self.alert_link_template.clone(),
            allow_private_networks: self.delivery_allow_private_networks,
        }
    }

    /// The settings of the delivery worker: the lease outlasts a send many
    /// times over.
    pub fn delivery_config(&self) -> DeliveryConfig {
        let timeout = Duration::from_millis(self.alert_delivery_timeout_ms);
        DeliveryConfig {
            backoff_base: Duration::from_millis(self.alert_delivery_backoff_ms),
            backoff_max: Duration::from_millis(
                self.alert_delivery_backoff_max_ms
                    .max(self.alert_delivery_backoff_ms),
            ),
            give_up_after: Duration::from_secs(self.alert_delivery_give_up_seconds),
            lease: Duration::from_secs(60).max(timeout * 4),
            ..DeliveryConfig::default()
        }
    }
}

impl AlertArgs {
    /// The metadata database settings, when one is configured.
    pub fn metadata(&self) -> Option<metadata::MetadataConfig> {
        self.database_url
            .as_ref()
            .map(|url| metadata::MetadataConfig {
                database_url: url.clone(),
                pool_size: usize::from(self.database_pool_size),
            })
    }
}

/// HTTP ingestion: where events posted to /v1/events go.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Kafka bootstrap servers (comma-separated) to produce posted events
    /// to. Without it (or empty) HTTP ingestion is off (its routes answer
    /// 404); a broker that cannot be reached only fails the posts (503),
    /// never the read routes.
    #[arg(
        long = "kafka-brokers",
        env = "KAFKA_BROKERS",
        value_name = "HOST:PORT,..."
    )]
    pub brokers: Option<String>,

    /// Topic of CampaignLifecycle records (the processor's).
    #[arg(long, env = "TOPIC_LIFECYCLE", default_value = EventKind::Lifecycle.default_topic())]
    pub topic_lifecycle: String,

    /// Topic of NotificationSent records (the processor's).
    #[arg(long, env = "TOPIC_NOTIFICATIONS", default_value = EventKind::Notification.default_topic())]
    pub topic_notifications: String,

    /// Topic of UserInteraction records (the processor's).
    #[arg(long, env = "TOPIC_INTERACTIONS", default_value = EventKind::Interaction.default_topic())]
    pub topic_interactions: String,

    /// Posted events more than this many seconds in the future are
    /// rejected (`in_future`), as the processor dead-letters them: use the
    /// processor's setting.
    #[arg(long, env = "MAX_CLOCK_SKEW_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(i64).range(0..=315_360_000))]
    pub max_clock_skew_seconds: i64,

    /// How long the broker has to acknowledge a posted event
    /// (librdkafka message.timeout.ms, retries included); a request whose
    /// events are not all acknowledged by then is answered 503. Keep it
    /// below REQUEST_TIMEOUT_MS.
    #[arg(long, env = "INGEST_DELIVERY_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..=300_000))]
    pub delivery_timeout_ms: u64,

    /// The idempotent producer (enable.idempotence): retries never
    /// duplicate or reorder records. Always with acks=all. Turn it off only
    /// for a broker that does not implement InitProducerId (the answers of
    /// such a broker are then still acknowledged by all replicas; a retry
    /// may write a record twice, which counts once by its event_id).
    #[arg(long, env = "INGEST_IDEMPOTENCE", default_value_t = true,
          action = clap::ArgAction::Set, value_name = "true|false")]
    pub idempotence: bool,

    /// How long the producer waits to fill a batch (librdkafka linger.ms).
    #[arg(long, env = "INGEST_LINGER_MS", default_value_t = 5)]
    pub linger_ms: u64,

    /// Most records in one produce batch (librdkafka batch.num.messages);
    /// 1 puts each record in a batch of its own (for tansu's memory
    /// storage, which cannot serve a fetch from inside a stored batch).
    #[arg(long, env = "INGEST_BATCH_RECORDS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_records: u32,

    /// librdkafka partitioner: every producer of the three topics must use
    /// the same one, so that a campaign's records share a partition number
    /// (murmur2_random is the Java client's default, and loadgen's).
    #[arg(long, env = "INGEST_PARTITIONER", default_value = "murmur2_random")]
    pub partitioner: String,

    /// librdkafka properties of every Kafka client of the server (HTTP
    /// ingestion, rule publisher, alert store).
    #[command(flatten)]
    pub client: kafka_settings::KafkaClientArgs,
}

impl IngestArgs {
    /// The topics in [`EventKind::ALL`] order.
    pub fn topics(&self) -> [String; 3] {
        [
            self.topic_lifecycle.clone(),
            self.topic_notifications.clone(),
            self.topic_interactions.clone(),
        ]
    }
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
        assert!(cli.serve.ingest.idempotence);
        assert_eq!(cli.serve.ingest.delivery_timeout_ms, 5_000);
        let cli = Cli::try_parse_from([
            "query-api",
            "--api-keys",
            "k.toml",
            "--kafka-brokers",
            "b:9092",
            "--idempotence",
            "false",
        ])
        .unwrap();
        assert_eq!(cli.serve.ingest.brokers.as_deref(), Some("b:9092"));
        assert!(!cli.serve.ingest.idempotence);
        let cli = Cli::try_parse_from([
            "query-api",
            "--api-keys",
            "k.toml",
            "--database-url",
            "postgres://u@h:1/db",
            "--database-pool-size",
            "3",
            "--alerts-topic",
            "my-alerts",
        ])
        .unwrap();
        let alerts = &cli.serve.alerts;
        let metadata = alerts.metadata().unwrap();
        assert_eq!(
            (metadata.database_url.as_str(), metadata.pool_size),
            ("postgres://u@h:1/db", 3)
        );
        assert_eq!(alerts.alerts_topic, "my-alerts");
        if std::env::var("TOPIC_ALERT_RULES").is_err() {
            assert_eq!(alerts.alert_rules_topic, "alert-rules");
        }
        if std::env::var("ALERT_STORE_GROUP").is_err() {
            assert_eq!(alerts.alert_store_group, "campaign-analytics-alert-store");
        }
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
