//! The command line of `pipeline-bench` (its doc comments are `--help`).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use super::fill::FillOptions;

/// End-to-end benchmarks of the processor against the running local stack
/// (tansu at KAFKA_BROKERS, ClickHouse at CLICKHOUSE_URL; `make bench`
/// starts them with memory storage). Every case fills uniquely named topics
/// with loadgen (flat out), then times readers from the beginning of the
/// topics; the processor (`processor run`, the build next to this binary)
/// always starts on a fresh ClickHouse database with snapshots on, and its
/// figures are compared with loadgen's expected figures afterwards.
///
/// Scenarios:
///
/// catchup: `--events` records already on `--partitions` partitions. Per
/// repeat, in the same run: a bare rdkafka consumer (the processor's fetch
/// settings, counting records only) and the processor, each from the first
/// record until caught up (the processor: until its checkpoints cover every
/// record). Reports both rates and their ratio (target: ≥ 0.9).
///
/// recovery: traffic with at least `--journeys` journeys; the processor
/// catches up, then per repeat is stopped with SIGTERM (final snapshot),
/// one duplicate record per partition is produced past the checkpoint, and
/// a new processor is spawned: the time from spawn until it reads a record
/// past its checkpoint is "consuming again" (target: ≤ 10 s), split into
/// start-up, group join, restore and first fetch from its log. Then, per
/// factor of `--history`, completed and evicted campaigns (tenant
/// `history`, factor × the live journeys) are written straight into the
/// processor's database and the restarts are repeated: the restore with
/// the same live state behind 1x and 10x history (targets: ratio ≤ 1.2,
/// restore ≤ 5 s at 1 M live journeys).
///
/// scaling: the catchup case for every combination of
/// `--scaling-partitions` (partitions per instance) and `--scaling-events`.
///
/// freshness: per repeat, new topics on `--partitions` partitions, the
/// processor and the release query API (`query-api serve`, next to this
/// binary) live; loadgen traffic of `--freshness-rate` × `--freshness-seconds`
/// records is generated in this process, then produced at a steady
/// `--freshness-rate` records/s. Meanwhile a probe event (a first message
/// of a campaign of tenant `freshness-probe`) is produced every 150 ms and
/// one poller reads that campaign's report through the query API every
/// 20 ms: a probe's latency is from its production until the first
/// response that counts it. Reports p50, p99 and max (target: p99 ≤
/// `--snapshot-interval-ms` + 1 s), the achieved produce rate and the
/// processor's consumed rate, each probe's time split at the snapshot
/// that took it in (from the snapshot versions in ClickHouse), the
/// snapshot writes and the API's answer times; afterwards every loadgen
/// figure is compared and the probe count must equal the probes produced.
///
/// alert-latency: per repeat, new topics on `--partitions` partitions
/// (and new alert-rules and alerts topics), a fresh ClickHouse and a fresh
/// PostgreSQL database (on the server of DATABASE_URL), the processor with
/// ALERTING=true and the release query API as the alert service (rule
/// publisher, alert store, SSE). One rule of tenant `alert-probe` (status
/// ERROR, every campaign) is created through `POST /v1/alert-rules` and a
/// warm-up probe awaited; then loadgen traffic of `--freshness-rate` ×
/// `--freshness-seconds` records is produced at a steady `--freshness-rate`
/// records/s while a probe (a new campaign: CREATED, then STATUS_CHANGED to
/// ERROR) is produced every 200 ms. A probe's latency is from its ERROR
/// event's production until the first `GET /v1/alerts` (polled every 50
/// ms) listing its alert, and until its `fired` event on
/// `/v1/alerts/stream` (one SSE client, connected before the rule). Reports
/// p50, p99 and max of both (target: p99 ≤ `--snapshot-interval-ms` +
/// 1 s), the produce and consumed rates and where the time goes (the
/// alert's `fired_at`); afterwards the store must hold one alert per probe
/// campaign, each fired once (on SSE too), and every loadgen figure must
/// be exact.
///
/// query: latency of the release query API (`query-api serve`, next to
/// this binary) with wrk (Debian's; deploy/local/install.sh installs it).
/// Data: loadgen traffic of `--query-campaigns` campaigns (4 tenants) and
/// about `--query-journeys` journeys on `--partitions` partitions, through
/// the processor into a fresh database (figures compared; the processor
/// is stopped before measuring), or the database of an earlier `--keep`
/// run (`--query-database`). Per endpoint (campaign report, one journey,
/// campaign list page, 90-day daily overview) a list of paths over many
/// campaigns, users, pages and ranges, a sample of them checked (200, the
/// expected content), then wrk paced to `--query-rate` requests/s
/// (`--query-overview-rate` for the overview; benches/wrk/paced.lua) for a
/// warm-up and `--repeat` runs of `--query-seconds`: achieved rate, p50,
/// p90, p99, max (targets: report and journey p99 ≤ 25 ms at 500
/// requests/s, overview p99 ≤ 100 ms).
///
/// dlq: per repeat, new topics on `--partitions` partitions with about
/// `--dlq-events` records of loadgen traffic; the bare consumer and the
/// processor (fresh database) catch up on them, and the processor is
/// stopped. Then a burst of `--dlq-poison` poison records (loadgen's kinds,
/// keyed by the traffic's campaigns) is produced to the input topics, and
/// a new processor resumes from the checkpoint and reads only the burst.
/// Reports the dead letters acknowledged per second (its metric, sampled
/// every 100 ms) next to the records per second the processor read in its
/// catch-up, and their ratio (target: ≥ 0.5); checks the figures and that
/// the dead-letter topic holds every poison record (by source topic and
/// key) and nothing else.
///
/// rules: loadgen traffic of `--rules-campaigns` campaigns (10 tenants)
/// and about `--rules-events` records on `--partitions` partitions; per
/// repeat, in alternating order, the processor without alerting and the
/// processor with `--rules` rules on a rules topic (an equal share per
/// tenant, each in scope of every campaign of its tenant: thresholds,
/// funnel steps, statuses, inactivity) catch up from the beginning on
/// fresh databases. Reports both catch-up rates and their ratio (issue 12:
/// what rules cost), and the transitions published; both runs' figures
/// must be exact.
///
/// ingest: HTTP ingestion into Kafka through the release query API
/// (`query-api serve` with KAFKA_BROKERS; benches/src/e2e/ingest.rs): loadgen
/// traffic of about `--ingest-events` events (no poison) as JSON, posted in
/// batches of `--ingest-batch` events by `--ingest-concurrency` clients as
/// fast as answered (events/s; target ≥ 50,000), then single events with
/// wrk paced to `--ingest-rate` requests/s for `--ingest-seconds` per
/// repeat (p50, p95, p99; target p95 ≤ 50 ms at 1,000 requests/s); the
/// topics must hold exactly the events accepted.
#[derive(Debug, Clone, Parser)]
#[command(name = "pipeline-bench", version, verbatim_doc_comment)]
pub struct Options {
    /// Which scenario to run.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    pub scenario: Scenario,

    /// Records of the catchup scenario (approximate: loadgen's users per job
    /// are scaled to it).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,

    /// Partitions of the catchup and recovery topics.
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,

    /// Repeats of each measurement; figures are medians over them.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,

    /// Journeys the recovery scenario's checkpoint must hold (approximate:
    /// loadgen's users per job are scaled to it; about 5 records each).
    #[arg(long, default_value_t = 1_000_000)]
    pub journeys: u64,

    /// History levels of the recovery scenario, comma-separated: after the
    /// restarts with the live state alone, per factor (increasing), the
    /// database gets completed, evicted campaigns until it holds factor ×
    /// the live journeys of them, and the restarts are repeated (issue 11:
    /// the restore at 10x may take at most 1.2 times the one at 1x). 0: no
    /// history.
    #[arg(long, value_delimiter = ',', default_value = "1,10")]
    pub history: Vec<u32>,

    /// Records of the scaling grid, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,5000000")]
    pub scaling_events: Vec<u64>,

    /// Partitions per instance of the scaling grid, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub scaling_partitions: Vec<i32>,

    /// Repeats of scaling cells with more records than 1 M (their fill
    /// and catch-up take minutes).
    #[arg(long, default_value_t = 1)]
    pub scaling_large_repeat: usize,

    /// loadgen's --rate when filling the topics, records/s (0: flat out).
    /// The fill is not measured; a fill that fails (tansu with sqlite
    /// storage left produce requests of a 5 M-record fill unanswered past
    /// the producer's timeouts) is tried once more on new topics.
    #[arg(long, default_value_t = 0)]
    pub fill_rate: u64,

    /// What the broker is, for RESULTS.md (`make bench` says which tansu
    /// and storage it started).
    #[arg(
        long,
        env = "BENCH_BROKER_LABEL",
        default_value = "the broker at KAFKA_BROKERS"
    )]
    pub broker_label: String,

    /// Records of the dlq scenario's traffic (approximate, as --events).
    #[arg(long, default_value_t = 400_000)]
    pub dlq_events: u64,

    /// Poison records of the dlq scenario's burst.
    #[arg(long, default_value_t = 100_000)]
    pub dlq_poison: u32,

    /// Alert rules of the rules scenario.
    #[arg(long, default_value_t = 1_000)]
    pub rules: usize,

    /// Campaigns of the rules scenario's traffic (over 10 tenants).
    #[arg(long, default_value_t = 10_000)]
    pub rules_campaigns: u32,

    /// Records of the rules scenario's traffic (approximate, as --events).
    #[arg(long, default_value_t = 1_000_000)]
    pub rules_events: u64,

    /// Events of the ingest scenario (approximate, as --events).
    #[arg(long, default_value_t = 200_000)]
    pub ingest_events: u64,

    /// Events per batch of the ingest scenario (at most 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub ingest_batch: u64,

    /// Clients posting batches at once in the ingest scenario.
    #[arg(long, default_value_t = 4)]
    pub ingest_concurrency: usize,

    /// Requests/s wrk is paced to for single events (ingest scenario).
    #[arg(long, default_value_t = 1000)]
    pub ingest_rate: u64,

    /// Seconds of each wrk run of single events (ingest scenario).
    #[arg(long, default_value_t = 20)]
    pub ingest_seconds: u64,

    /// Steady produce rate of the freshness and alert-latency scenarios'
    /// load, records/s.
    #[arg(long, default_value_t = 50_000)]
    pub freshness_rate: u64,

    /// How long the freshness and alert-latency scenarios' load runs,
    /// seconds (their traffic is sized to rate × seconds records).
    #[arg(long, default_value_t = 60)]
    pub freshness_seconds: u64,

    /// Campaigns of the query scenario's data (over 4 tenants).
    #[arg(long, default_value_t = 10_000)]
    pub query_campaigns: u64,

    /// Journeys of the query scenario's data (approximate: loadgen's users
    /// per job are scaled to it).
    #[arg(long, default_value_t = 1_000_000)]
    pub query_journeys: u64,

    /// Requests/s wrk is paced to for the report, journey and list
    /// endpoints of the query scenario.
    #[arg(long, default_value_t = 500)]
    pub query_rate: u64,

    /// Requests/s wrk is paced to for the query scenario's overview (the
    /// issue sets it no rate; one costs about 150 ms of ClickHouse CPU at
    /// 10 000 campaigns, so 500/s would only measure a queue).
    #[arg(long, default_value_t = 5)]
    pub query_overview_rate: u64,

    /// Seconds of each wrk run of the query scenario.
    #[arg(long, default_value_t = 20)]
    pub query_seconds: u64,

    /// Measure the query scenario on this database of an earlier run
    /// (kept with `--keep`) instead of filling a new one.
    #[arg(long, value_name = "DATABASE")]
    pub query_database: Option<String>,

    /// The processor's SNAPSHOT_INTERVAL_MS (its default is 1000).
    #[arg(long, default_value_t = 1000)]
    pub snapshot_interval_ms: u64,

    /// Do not compute and compare journeys (reports and rollups still are);
    /// for runs too big for the expected file in memory.
    #[arg(long)]
    pub no_journeys: bool,

    /// Tiny inputs (a few thousand records, 2 partitions, one repeat) for a
    /// smoke test; overrides the sizes above.
    #[arg(long)]
    pub tiny: bool,

    /// Insert the run's section into this Markdown file (benches/RESULTS.md),
    /// under its "End-to-end runs" heading, newest first.
    #[arg(long, value_name = "PATH")]
    pub results: Option<PathBuf>,

    /// Text to quote in the run's section (`make bench` puts the apply
    /// and memory benchmarks' result lines there).
    #[arg(long, value_name = "PATH")]
    pub quote: Option<PathBuf>,

    /// Keep the ClickHouse databases, topics and expected-figure files of
    /// the run (default: drop them once checked).
    #[arg(long)]
    pub keep: bool,

    /// Child output to log files only, no progress lines.
    #[arg(long)]
    pub quiet: bool,

    /// The command line as typed, for RESULTS.md (set by the binary).
    #[arg(skip)]
    pub command_line: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Catchup,
    Recovery,
    Scaling,
    Freshness,
    AlertLatency,
    Query,
    Ingest,
    Dlq,
    Rules,
    All,
}

impl Scenario {
    pub fn includes(self, other: Scenario) -> bool {
        self == Scenario::All || self == other
    }
}

impl Options {
    /// The sizes `--tiny` stands for.
    pub fn apply_tiny(&mut self) {
        if !self.tiny {
            return;
        }
        self.events = 3_000;
        self.partitions = 2;
        self.repeat = 1;
        self.journeys = 500;
        self.scaling_events = vec![2_000];
        self.scaling_partitions = vec![1, 2];
        self.scaling_large_repeat = 1;
        self.query_campaigns = 40;
        self.query_journeys = 1_000;
        self.query_rate = 100;
        self.query_overview_rate = 20;
        self.query_seconds = 2;
        self.snapshot_interval_ms = self.snapshot_interval_ms.min(300);
        self.freshness_rate = 2_000;
        self.freshness_seconds = 4;
        self.ingest_events = 3_000;
        self.ingest_rate = 100;
        self.ingest_seconds = 2;
        self.dlq_events = 3_000;
        self.dlq_poison = 1_000;
        self.rules = 20;
        self.rules_campaigns = 20;
        self.rules_events = 3_000;
    }

    pub fn fill_options(&self) -> FillOptions {
        FillOptions {
            journeys: !self.no_journeys,
            rate: self.fill_rate,
            keep_file: self.keep,
        }
    }

    /// Whether a case deletes its topics once measured: not with `--keep`,
    /// and not with `--tiny` (tiny topics cost the broker nothing, and the
    /// smoke test runs on the shared stack, where deleting topics is the
    /// less-trodden path of tansu).
    pub fn delete_topics(&self) -> bool {
        !self.keep && !self.tiny
    }

    /// Repeats of a case with `records` records.
    pub fn repeats_for(&self, records: u64, scaling: bool) -> usize {
        if scaling && records > 1_000_000 {
            self.scaling_large_repeat.max(1)
        } else {
            self.repeat.max(1)
        }
    }
}
