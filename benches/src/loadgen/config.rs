//! Command-line options (their doc comments are `loadgen --help`) and the
//! configuration structs the rest of the generator takes.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Parser;
use schemas::EventKind;

use super::expected_json::{RunConfig, TopicNames};
use super::framing::{Framing, WireFormat};

/// Generate realistic, deterministic campaign traffic (Avro records for the
/// three topics, with duplicates, late scripts, out-of-order delivery and
/// poison records), write the figures the processor must compute from it,
/// and produce it to Kafka.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen", version)]
pub struct Args {
    /// Seed of the random generator: the same seed and generation options
    /// give the same records and the same expected figures, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Number of tenants. Tenant t0 uses UTC; the others take time zones
    /// from a fixed list (Europe/Berlin, America/New_York, Asia/Tokyo,
    /// Australia/Sydney, ...).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenants: u32,

    /// Campaigns per tenant.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub campaigns: u32,

    /// Maximum jobs (runs) per campaign; each campaign runs 1 to this many.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: u32,

    /// Users each job sends its first message to. Later jobs of a campaign
    /// sometimes target users of earlier ones again.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub users: u32,

    /// Campaign starts are spread over this many days after --start.
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,

    /// Beginning of the generated period (RFC 3339).
    #[arg(long, default_value = "2026-09-01T00:00:00Z")]
    pub start: DateTime<Utc>,

    /// Share of distinct events delivered a second time, later (same
    /// event_id, same bytes), as producers that retry do. Between 0 and 1.
    #[arg(long, default_value_t = 0.05, value_parser = ratio)]
    pub duplicate_ratio: f64,

    /// Number of poison records (undecodable or breaking the contract),
    /// spread over the three topics and keyed like real records.
    #[arg(long, default_value_t = 20)]
    pub poison: u32,

    /// Write the expected figures (JSON; the types are in
    /// benches::loadgen::expected_json) to this file. Without it they are
    /// not computed.
    #[arg(long, value_name = "PATH")]
    pub expected: Option<PathBuf>,

    /// Compute the expected figures with ZONE (IANA) as TENANT's time zone
    /// instead of its own; the records stay the same. Repeatable. These are
    /// the figures after the tenant's calendar is changed and its rollups
    /// rebuilt (`query-api tenant rebuild-rollups`).
    #[arg(long = "expected-timezone", value_name = "TENANT=ZONE", value_parser = tenant_zone)]
    pub expected_timezones: Vec<(String, chrono_tz::Tz)>,

    /// Leave the per-user journeys out of the expected figures (for huge runs).
    #[arg(long)]
    pub no_journeys: bool,

    /// Generate and write the expected figures only; connect to no broker.
    #[arg(long)]
    pub dry_run: bool,

    /// Also write every planned record as a JSON event (the form of the
    /// query API's `POST /v1/events`, `schemas::json`) to this file, one a
    /// line in production order, duplicates included. Poison records have
    /// no JSON form and are left out: with --poison 0 the file holds every
    /// record and the expected figures' counts hold for it.
    #[arg(long, value_name = "PATH")]
    pub emit_json: Option<PathBuf>,

    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    /// Topic of CampaignLifecycle records.
    #[arg(long, env = "TOPIC_LIFECYCLE", default_value = EventKind::Lifecycle.default_topic())]
    pub topic_lifecycle: String,

    /// Topic of NotificationSent records.
    #[arg(long, env = "TOPIC_NOTIFICATIONS", default_value = EventKind::Notification.default_topic())]
    pub topic_notifications: String,

    /// Topic of UserInteraction records.
    #[arg(long, env = "TOPIC_INTERACTIONS", default_value = EventKind::Interaction.default_topic())]
    pub topic_interactions: String,

    /// Create the three topics with this many partitions before producing
    /// (topics that already exist are left alone).
    #[arg(long, value_name = "PARTITIONS")]
    pub create_topics: Option<i32>,

    /// Target rate in records per second; 0 produces as fast as the broker
    /// takes them.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,

    /// How long the producer waits to fill a batch (librdkafka linger.ms).
    #[arg(long, default_value_t = 10)]
    pub linger_ms: u64,

    /// Most records in one batch (librdkafka batch.num.messages). 1 puts
    /// every record in a batch of its own: the end-to-end tests use it,
    /// because tansu's memory storage serves fetches from whole stored
    /// batches only (a consumer resuming inside a batch would miss records).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_records: u32,

    /// librdkafka partitioner. Every producer of the three topics must use
    /// the same one, so that a campaign's records land on the same partition
    /// number in each topic; murmur2_random is the Java client's default.
    #[arg(long, default_value = "murmur2_random")]
    pub partitioner: String,

    /// Compression of record batches (none, gzip, snappy, lz4, zstd).
    #[arg(long, default_value = "none")]
    pub compression: String,

    /// Wire format of the events (poison records keep their bytes):
    /// single-object is the Avro single-object encoding, confluent the
    /// Confluent Schema Registry format with the ids of --schema-ids-file.
    #[arg(long, value_enum, default_value_t = WireFormat::SingleObject)]
    pub wire_format: WireFormat,

    /// The schema ids file of --wire-format confluent (the format of
    /// `processor run --schema-ids-file`): for each record, the id whose
    /// .avsc is the current schema is written.
    #[arg(long, value_name = "PATH")]
    pub schema_ids_file: Option<PathBuf>,
}

fn tenant_zone(text: &str) -> Result<(String, chrono_tz::Tz), String> {
    let (tenant, zone) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not TENANT=ZONE"))?;
    let zone = zone
        .parse()
        .map_err(|_| format!("{zone:?} is not an IANA time zone (Europe/Berlin, UTC, ...)"))?;
    Ok((tenant.to_string(), zone))
}

fn ratio(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{value} is not between 0 and 1"));
    }
    Ok(value)
}

/// What the generated traffic depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    pub seed: u64,
    pub tenants: u32,
    pub campaigns: u32,
    pub jobs: u32,
    pub users: u32,
    pub days: u32,
    /// Milliseconds since the epoch.
    pub start: i64,
    pub duplicate_ratio: f64,
    pub poison: u32,
}

impl Default for GenConfig {
    /// A small run: 2 tenants, 3 campaigns each.
    fn default() -> Self {
        GenConfig {
            seed: 1,
            tenants: 2,
            campaigns: 3,
            jobs: 3,
            users: 20,
            days: 75,
            start: 1_788_220_800_000, // 2026-09-01T00:00:00Z
            duplicate_ratio: 0.05,
            poison: 14,
        }
    }
}

/// Where each kind of record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub lifecycle: String,
    pub notifications: String,
    pub interactions: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            lifecycle: EventKind::Lifecycle.default_topic().to_owned(),
            notifications: EventKind::Notification.default_topic().to_owned(),
            interactions: EventKind::Interaction.default_topic().to_owned(),
        }
    }
}

impl Topics {
    pub fn of(&self, kind: EventKind) -> &str {
        match kind {
            EventKind::Lifecycle => &self.lifecycle,
            EventKind::Notification => &self.notifications,
            EventKind::Interaction => &self.interactions,
        }
    }

    pub fn all(&self) -> [&str; 3] {
        EventKind::ALL.map(|kind| self.of(kind))
    }
}

/// Producer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    pub brokers: String,
    pub topics: Topics,
    /// Records per second; 0: no limit.
    pub rate: u64,
    pub linger_ms: u64,
    pub batch_records: u32,
    pub partitioner: String,
    pub compression: String,
    /// How events are framed (poison records keep their bytes).
    pub framing: Framing,
}

impl ProducerConfig {
    /// Defaults for `brokers`: the command line's.
    pub fn new(brokers: &str, topics: Topics) -> Self {
        ProducerConfig {
            brokers: brokers.to_owned(),
            topics,
            rate: 0,
            linger_ms: 10,
            batch_records: 10_000,
            partitioner: "murmur2_random".to_owned(),
            compression: "none".to_owned(),
            framing: Framing::SingleObject,
        }
    }
}

impl Args {
    pub fn gen_config(&self) -> GenConfig {
        GenConfig {
            seed: self.seed,
            tenants: self.tenants,
            campaigns: self.campaigns,
            jobs: self.jobs,
            users: self.users,
            days: self.days,
            start: self.start.timestamp_millis(),
            duplicate_ratio: self.duplicate_ratio,
            poison: self.poison,
        }
    }

    pub fn topics(&self) -> Topics {
        Topics {
            lifecycle: self.topic_lifecycle.clone(),
            notifications: self.topic_notifications.clone(),
            interactions: self.topic_interactions.clone(),
        }
    }

    pub fn producer_config(&self) -> ProducerConfig {
        ProducerConfig {
            brokers: self.brokers.clone(),
            topics: self.topics(),
            rate: self.rate,
            linger_ms: self.linger_ms,
            batch_records: self.batch_records,
            partitioner: self.partitioner.clone(),
            compression: self.compression.clone(),
            framing: Framing::SingleObject,
        }
    }
}

/// The `config` object of the expected-figures file.
pub fn run_config(cfg: &GenConfig, topics: &Topics) -> RunConfig {
    RunConfig {
        tenants: cfg.tenants,
        campaigns: cfg.campaigns,
        jobs: cfg.jobs,
        users: cfg.users,
        days: cfg.days,
        start: cfg.start,
        duplicate_ratio: cfg.duplicate_ratio,
        poison: cfg.poison,
        topics: TopicNames {
            lifecycle: topics.lifecycle.clone(),
            notifications: topics.notifications.clone(),
            interactions: topics.interactions.clone(),
        },
    }
}
