//! `processor dlq replay`: what to replay and how to report it, without I/O.
//!
//! The command re-reads the dead-letter topic and re-produces each selected
//! record, unchanged (same key, same bytes), to the partition of the topic
//! it came from (headers `source-topic` and `source-partition`), once the
//! cause is fixed. The reading and producing live in
//! [`crate::kafka::replay`] (only `kafka` knows rdkafka); this module holds
//! the options, the offset ranges, the selection of records, the headers of
//! a replayed record, and the counts, progress and summary texts, so they
//! are tested without a broker.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::kafka::dlq::{
    HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, HEADER_REASON_CODE, HEADER_TOPIC,
};

/// Headers of a replayed record that say where it was replayed from. The
/// dead-letter headers themselves (`source-*`, `reason*`) are dropped, so a
/// record that fails again is dead-lettered with fresh ones only.
pub const HEADER_REPLAYED_TOPIC: &str = "replayed-from-topic";
pub const HEADER_REPLAYED_PARTITION: &str = "replayed-from-partition";
pub const HEADER_REPLAYED_OFFSET: &str = "replayed-from-offset";
pub const HEADER_REPLAYED_REASON_CODE: &str = "replayed-from-reason-code";

/// `processor dlq replay --help`: what the command does.
pub const LONG_ABOUT: &str =
    "Re-produce dead-lettered records to their source topics, once the cause
is fixed (a schema shipped, a clock corrected, a bug fixed).

Reads the dead-letter topic from the chosen start (default: its
beginning) up to the end offsets it has when the command starts (records
dead-lettered meanwhile are left for the next run, so the command always
ends), selects records by reason code and source topic, and produces each
one unchanged -- same key, same payload -- to the partition of the topic
it was read from (headers `source-topic`, `source-partition`). The
dead-letter headers are not copied; the replayed record carries
`replayed-from-topic`, `replayed-from-partition`, `replayed-from-offset`
(the dead letter's position) and `replayed-from-reason-code` instead.
Other headers are kept. The partition is the one the record was read
from, not one chosen by its key: the input topics are co-partitioned.

Safe to re-run: a replayed record keeps its event_id, so the processor
counts it once however often it arrives; a record that still fails is
dead-lettered again. The producer is idempotent with acks=all, and the
command waits for every delivery: it exits non-zero, naming the record,
if one failed (nothing is lost: run it again). Without --group every run
starts at --from-offset/--from-time or the beginning; with --group the
command commits its position to that consumer group after each batch of
confirmed deliveries, and a later run with the same --group (and no
--from-*) resumes there. Interrupting it loses nothing either: the dead
letters stay on their topic.

Reason codes (header `reason-code`; the `reason` header has details):
too_short, bad_marker, unknown_fingerprint, unknown_schema_id,
truncated_body, malformed_body, resolution_failed, empty_field,
missing_field, unknown_symbol, in_future, wrong_topic. Replay those whose
cause is fixed: a record that is wrong in itself (too_short, empty_field,
...) fails again and is dead-lettered again.

Progress (records read and replayed per second, position against the
end) goes to stderr every second; the summary (read, replayed, skipped by
each filter, counts per reason code and per source topic) to stdout.";

/// The options of `processor dlq replay` (see [`LONG_ABOUT`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Kafka bootstrap servers, comma-separated.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    #[command(flatten)]
    pub client: kafka_settings::KafkaClientArgs,

    /// What `client` resolves to (`processor dlq replay` resolves it at
    /// start).
    #[arg(skip)]
    pub properties: kafka_settings::KafkaProperties,

    /// The dead-letter topic to read.
    #[arg(long, env = "TOPIC_DLQ", default_value = "dead-letter")]
    pub topic_dlq: String,

    /// Where to start: N (every partition) or P:N (partition P), repeatable
    /// or comma-separated, e.g. `--from-offset 0:120,3:7`. Partitions not
    /// named start where they would without this option. An offset below
    /// the partition's first retained record starts there.
    #[arg(
        long,
        value_name = "N|P:N",
        value_delimiter = ',',
        value_parser = parse_offset_spec,
        conflicts_with = "from_time"
    )]
    pub from_offset: Vec<OffsetSpec>,

    /// Start at the first record written at or after this time (RFC 3339,
    /// e.g. 2026-11-29T08:00:00Z), in every partition: the broker's time
    /// index says where (offsets_for_times), and records written earlier
    /// that it still hands out (a coarse index, producers with skewed
    /// clocks) are skipped.
    #[arg(long, value_name = "RFC3339")]
    pub from_time: Option<DateTime<Utc>>,

    /// Stop each partition at its first record written at or after this
    /// time (RFC 3339). In any case at the end offsets the partitions have
    /// when the command starts.
    #[arg(long, value_name = "RFC3339")]
    pub to_time: Option<DateTime<Utc>>,

    /// Replay only records with this `reason-code` header (repeatable or
    /// comma-separated), e.g. unknown_schema_id, in_future. Default: all.
    #[arg(long = "reason-code", value_name = "CODE", value_delimiter = ',')]
    pub reason_codes: Vec<String>,

    /// Replay only records dead-lettered from this topic (repeatable or
    /// comma-separated). Default: all.
    #[arg(long = "source-topic", value_name = "TOPIC", value_delimiter = ',')]
    pub source_topics: Vec<String>,

    /// Read and count what would be replayed (per source topic and reason
    /// code); produce nothing, commit nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Consumer group to resume from and commit to. A run without --from-*
    /// starts at the group's committed offsets (the beginning where it has
    /// none) and commits after every batch of confirmed deliveries. Without
    /// it nothing is committed and every run starts afresh. Never use the
    /// processor's own group.
    #[arg(long, env = "DLQ_REPLAY_GROUP", value_name = "GROUP")]
    pub group: Option<String>,

    /// Records per produced batch (librdkafka batch.num.messages). 1 puts
    /// each record in a batch of its own, as tansu's memory storage needs
    /// for records a consumer may resume in the middle of.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_records: u32,

    /// How long the producer waits to fill a batch (librdkafka linger.ms).
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,

    /// Records produced between two waits for their deliveries (and, with
    /// --group, commits).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_records: u32,

    /// Seconds allowed for each broker request (metadata, offsets,
    /// commits): an unreachable broker fails the command after this long.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_seconds: u64,

    /// Seconds the broker has to confirm each replayed record, retries
    /// included (librdkafka message.timeout.ms); past it the command fails.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub delivery_timeout_seconds: u64,

    /// Fail when no record arrives for this many seconds while the end is
    /// not reached (a broker that went away mid-run).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_seconds: u64,

    /// Seconds between two progress lines on stderr; 0: none.
    #[arg(long, default_value_t = 1)]
    pub progress_seconds: u64,
}

impl ReplayArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }

    pub fn filter(&self) -> Filter {
        Filter {
            reason_codes: self.reason_codes.iter().cloned().collect(),
            source_topics: self.source_topics.iter().cloned().collect(),
        }
    }

    pub fn time_window(&self) -> TimeWindow {
        TimeWindow {
            from: self.from_time.map(|t| t.timestamp_millis()),
            to: self.to_time.map(|t| t.timestamp_millis()),
        }
    }

    pub fn start_offsets(&self) -> StartOffsets {
        StartOffsets::from_specs(&self.from_offset)
    }
}

/// One `--from-offset` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// `N`: every partition.
    All(i64),
    /// `P:N`: partition P.
    Partition(i32, i64),
}

/// Parse `N` or `P:N` (both non-negative).
pub fn parse_offset_spec(text: &str) -> Result<OffsetSpec, String> {
    let number = |s: &str, what: &str| -> Result<i64, String> {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{what} {s:?} is not a non-negative integer"))
    };
    match text.split_once(':') {
        None => Ok(OffsetSpec::All(number(text, "offset")?)),
        Some((p, n)) => {
            let partition = i32::try_from(number(p, "partition")?)
                .map_err(|_| format!("partition {p:?} is too large"))?;
            Ok(OffsetSpec::Partition(partition, number(n, "offset")?))
        }
    }
}

/// The `--from-offset` values: a default for every partition and overrides
/// per partition (the last one given wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOffsets {
    pub all: Option<i64>,
    pub partitions: BTreeMap<i32, i64>,
}

impl StartOffsets {
    pub fn from_specs(specs: &[OffsetSpec]) -> Self {
        let mut s = StartOffsets::default();
        for spec in specs {
            match *spec {
                OffsetSpec::All(n) => s.all = Some(n),
                OffsetSpec::Partition(p, n) => {
                    s.partitions.insert(p, n);
                }
            }
        }
        s
    }

    /// The offset asked for partition `p`, if any.
    pub fn get(&self, p: i32) -> Option<i64> {
        self.partitions.get(&p).copied().or(self.all)
    }

    /// Partitions named that the topic does not have.
    pub fn unknown_partitions(&self, count: i32) -> Vec<i32> {
        self.partitions
            .keys()
            .copied()
            .filter(|p| *p < 0 || *p >= count)
            .collect()
    }
}

/// What is known about one partition of the dead-letter topic when the
/// command starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionFacts {
    /// First retained offset.
    pub low: i64,
    /// High watermark: the offset the next record will get.
    pub high: i64,
    /// From `--from-offset`.
    pub asked: Option<i64>,
    /// From `--from-time`: `Some(None)` when no record is that recent.
    pub from_time: Option<Option<i64>>,
    /// The `--group`'s committed offset, if it has one.
    pub committed: Option<i64>,
}

/// Offsets `[start, end)` of one partition to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: i64,
    pub end: i64,
}

impl Range {
    pub fn len(&self) -> u64 {
        u64::try_from(self.end - self.start).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartitionFacts {
    /// Where to start and stop: an explicit start (offset, then time) wins
    /// over the group's committed offset, which wins over the beginning,
    /// clamped to the retained records; the end is the high watermark
    /// (`--to-time` may stop a partition earlier while it is read).
    pub fn range(&self) -> Range {
        let start = match (self.asked, self.from_time, self.committed) {
            (Some(n), _, _) => n,
            (None, Some(t), _) => t.unwrap_or(self.high),
            (None, None, Some(c)) => c,
            (None, None, None) => self.low,
        };
        Range {
            start: start.clamp(self.low, self.high),
            end: self.high,
        }
    }
}

/// `--from-time` and `--to-time`, in milliseconds since the epoch, checked
/// against each record's timestamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Where a record's timestamp falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Before `--from-time`: skip it.
    Before,
    Inside,
    /// At or after `--to-time`: the partition ends here.
    After,
}

impl TimeWindow {
    /// A record without a timestamp is inside.
    pub fn place(&self, timestamp_ms: Option<i64>) -> Placement {
        let Some(ts) = timestamp_ms else {
            return Placement::Inside;
        };
        if self.to.is_some_and(|to| ts >= to) {
            Placement::After
        } else if self.from.is_some_and(|from| ts < from) {
            Placement::Before
        } else {
            Placement::Inside
        }
    }
}

/// The dead-letter headers of one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterHeaders {
    pub source_topic: Option<String>,
    pub source_partition: Option<String>,
    pub source_offset: Option<String>,
    pub reason_code: Option<String>,
    /// Headers that are not dead-letter headers, kept on the replayed record.
    pub others: Vec<(String, Option<Vec<u8>>)>,
}

impl DeadLetterHeaders {
    /// From the record's headers as (key, value) pairs.
    pub fn parse<'a>(headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>) -> Self {
        let mut h = DeadLetterHeaders::default();
        let text = |v: Option<&[u8]>| v.map(|b| String::from_utf8_lossy(b).into_owned());
        for (key, value) in headers {
            match key {
                HEADER_TOPIC => h.source_topic = text(value),
                HEADER_PARTITION => h.source_partition = text(value),
                HEADER_OFFSET => h.source_offset = text(value),
                HEADER_REASON_CODE => h.reason_code = text(value),
                HEADER_REASON => {}
                _ => h.others.push((key.to_string(), value.map(<[u8]>::to_vec))),
            }
        }
        h
    }

    /// The reason code, or `(none)` for a record without one.
    pub fn reason_label(&self) -> &str {
        self.reason_code.as_deref().unwrap_or(NO_REASON)
    }
}

/// The reason-code label of a record without a `reason-code` header.
pub const NO_REASON: &str = "(none)";

/// The `--reason-code` and `--source-topic` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub reason_codes: BTreeSet<String>,
    pub source_topics: BTreeSet<String>,
}

/// What happens to one dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Produce it to this partition of this topic.
    Replay { topic: String, partition: i32 },
    /// Its reason code is not among `--reason-code`.
    SkipReason,
    /// Its source topic is not among `--source-topic`.
    SkipSourceTopic,
    /// Selected, but it does not say where it came from.
    Unroutable(&'static str),
}

impl Filter {
    /// Decide for one dead letter of `dlq_topic`.
    pub fn decide(&self, h: &DeadLetterHeaders, dlq_topic: &str) -> Decision {
        if !self.reason_codes.is_empty()
            && !h
                .reason_code
                .as_ref()
                .is_some_and(|c| self.reason_codes.contains(c))
        {
            return Decision::SkipReason;
        }
        if !self.source_topics.is_empty()
            && !h
                .source_topic
                .as_ref()
                .is_some_and(|t| self.source_topics.contains(t))
        {
            return Decision::SkipSourceTopic;
        }
        let Some(topic) = h.source_topic.as_deref().filter(|t| !t.is_empty()) else {
            return Decision::Unroutable("no source-topic header");
        };
        if topic == dlq_topic {
            return Decision::Unroutable("source-topic is the dead-letter topic itself");
        }
        let Some(partition) = h
            .source_partition
            .as_deref()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .filter(|p| *p >= 0)
        else {
            return Decision::Unroutable("no valid source-partition header");
        };
        Decision::Replay {
            topic: topic.to_string(),
            partition,
        }
    }
}

/// The headers of the replayed record: the dead letter's non-dead-letter
/// headers, then where it was replayed from.
pub fn replayed_headers(
    h: &DeadLetterHeaders,
    dlq_topic: &str,
    dlq_partition: i32,
    dlq_offset: i64,
) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = h.others.clone();
    out.push((
        HEADER_REPLAYED_TOPIC.into(),
        Some(dlq_topic.as_bytes().to_vec()),
    ));
    out.push((
        HEADER_REPLAYED_PARTITION.into(),
        Some(dlq_partition.to_string().into_bytes()),
    ));
    out.push((
        HEADER_REPLAYED_OFFSET.into(),
        Some(dlq_offset.to_string().into_bytes()),
    ));
    if let Some(code) = &h.reason_code {
        out.push((
            HEADER_REPLAYED_REASON_CODE.into(),
            Some(code.as_bytes().to_vec()),
        ));
    }
    out
}

/// Counts of one reason code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasonCounts {
    pub read: u64,
    pub selected: u64,
    pub replayed: u64,
}

/// Everything counted during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub read: u64,
    /// Selected by the filters and routable (produced, or would be).
    pub selected: u64,
    /// Deliveries the broker confirmed.
    pub replayed: u64,
    pub skipped_reason: u64,
    pub skipped_source_topic: u64,
    /// Selected but without a usable source-topic/partition, by why.
    pub unroutable: BTreeMap<String, u64>,
    pub per_reason: BTreeMap<String, ReasonCounts>,
    /// Selected records per (source topic, reason code).
    pub per_destination: BTreeMap<(String, String), u64>,
    /// Offsets the broker skipped (compaction, or tansu's memory storage
    /// resuming inside a stored batch).
    pub gaps: u64,
    /// Records passed over because they were written before `--from-time`
    /// (not counted as read).
    pub before_from_time: u64,
}

impl Tally {
    /// Count one dead letter read and what was decided for it.
    pub fn count(&mut self, h: &DeadLetterHeaders, decision: &Decision) {
        self.read += 1;
        let reason = self.per_reason.entry(h.reason_label().into()).or_default();
        reason.read += 1;
        match decision {
            Decision::Replay { topic, .. } => {
                self.selected += 1;
                reason.selected += 1;
                *self
                    .per_destination
                    .entry((topic.clone(), h.reason_label().into()))
                    .or_default() += 1;
            }
            Decision::SkipReason => self.skipped_reason += 1,
            Decision::SkipSourceTopic => self.skipped_source_topic += 1,
            Decision::Unroutable(why) => {
                *self.unroutable.entry((*why).into()).or_default() += 1;
            }
        }
    }

    /// Count a confirmed delivery of a record with this reason code.
    pub fn delivered(&mut self, reason_label: &str) {
        self.replayed += 1;
        self.per_reason
            .entry(reason_label.into())
            .or_default()
            .replayed += 1;
    }

    pub fn unroutable_total(&self) -> u64 {
        self.unroutable.values().sum()
    }
}

/// The final report of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub dlq_topic: String,
    pub dry_run: bool,
    /// Partition -> range read.
    pub ranges: BTreeMap<i32, Range>,
    pub tally: Tally,
    /// Reason codes asked for with `--reason-code` that no record had.
    pub unmatched_reason_codes: Vec<String>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn new(dlq_topic: &str, dry_run: bool) -> Self {
        Summary {
            dlq_topic: dlq_topic.into(),
            dry_run,
            ranges: BTreeMap::new(),
            tally: Tally::default(),
            unmatched_reason_codes: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Note the `--reason-code` values no record had (a typo, or nothing
    /// of that kind in the range).
    pub fn finish(&mut self, filter: &Filter, elapsed: Duration) {
        self.elapsed = elapsed;
        self.unmatched_reason_codes = filter
            .reason_codes
            .iter()
            .filter(|c| !self.tally.per_reason.contains_key(c.as_str()))
            .cloned()
            .collect();
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tally;
        let verb = if self.dry_run {
            "would replay"
        } else {
            "replayed"
        };
        let total: u64 = self.ranges.values().map(Range::len).sum();
        writeln!(
            f,
            "dead-letter topic {}: read {} of {} records in {} partitions in {:.1} s{}",
            self.dlq_topic,
            t.read,
            total,
            self.ranges.len(),
            self.elapsed.as_secs_f64(),
            if self.dry_run { " (dry run)" } else { "" }
        )?;
        let count = if self.dry_run { t.selected } else { t.replayed };
        writeln!(
            f,
            "{verb} {count}; skipped {} by --reason-code, {} by --source-topic, {} unroutable",
            t.skipped_reason,
            t.skipped_source_topic,
            t.unroutable_total()
        )?;
        for (why, n) in &t.unroutable {
            writeln!(f, "  unroutable ({why}): {n}")?;
        }
        if t.before_from_time > 0 {
            writeln!(
                f,
                "passed over {} records written before --from-time",
                t.before_from_time
            )?;
        }
        if t.gaps > 0 {
            writeln!(f, "offsets skipped by the broker: {}", t.gaps)?;
        }
        if !t.per_reason.is_empty() {
            let first = "reason code";
            let width = t
                .per_reason
                .keys()
                .map(String::len)
                .chain([first.len()])
                .max()
                .unwrap_or(0);
            let head = if self.dry_run { "selected" } else { "replayed" };
            writeln!(f, "  {first:width$}  {:>10}  {head:>10}", "read")?;
            for (code, c) in &t.per_reason {
                let n = if self.dry_run { c.selected } else { c.replayed };
                writeln!(f, "  {code:width$}  {:>10}  {n:>10}", c.read)?;
            }
        }
        if !t.per_destination.is_empty() {
            writeln!(f, "{verb}, per source topic and reason code:")?;
            for ((topic, code), n) in &t.per_destination {
                writeln!(f, "  {topic} {code}: {n}")?;
            }
        }
        for code in &self.unmatched_reason_codes {
            let seen: Vec<&str> = t.per_reason.keys().map(String::as_str).collect();
            writeln!(
                f,
                "note: no record has reason code {code:?} (seen: {})",
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join(", ")
                }
            )?;
        }
        Ok(())
    }
}

/// Progress between two lines on stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    read: u64,
    replayed: u64,
}

impl Progress {
    /// The line for now, given the counts so far, the offsets covered so
    /// far against all to read, and the time since the last line; then
    /// remember the counts.
    pub fn line(&mut self, t: &Tally, done: u64, total: u64, since_last: Duration) -> String {
        let secs = since_last.as_secs_f64().max(1e-3);
        let read_rate = (t.read - self.read.min(t.read)) as f64 / secs;
        let replay_rate = (t.replayed - self.replayed.min(t.replayed)) as f64 / secs;
        self.read = t.read;
        self.replayed = t.replayed;
        let pct = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        format!(
            "dlq replay: read {} ({read_rate:.0}/s), replayed {} ({replay_rate:.0}/s), skipped {}; offset {done} of {total} ({pct:.1}%)",
            t.read,
            t.replayed,
            t.skipped_reason + t.skipped_source_topic + t.unroutable_total(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> DeadLetterHeaders {
        DeadLetterHeaders::parse(pairs.iter().map(|(k, v)| (*k, Some(v.as_bytes()))))
    }

    fn dead_letter(topic: &str, partition: &str, code: &str) -> DeadLetterHeaders {
        headers(&[
            (HEADER_TOPIC, topic),
            (HEADER_PARTITION, partition),
            (HEADER_OFFSET, "17"),
            (HEADER_REASON_CODE, code),
            (HEADER_REASON, "some words"),
        ])
    }

    #[test]
    fn offset_specs_parse() {
        assert_eq!(parse_offset_spec("42"), Ok(OffsetSpec::All(42)));
        assert_eq!(parse_offset_spec("3:7"), Ok(OffsetSpec::Partition(3, 7)));
        assert_eq!(
            parse_offset_spec(" 3 : 0 "),
            Ok(OffsetSpec::Partition(3, 0))
        );
        for bad in [
            "",
            "-1",
            "x",
            "1:",
            ":5",
            "1:-2",
            "1:2:3",
            "99999999999:1",
            "1.5",
        ] {
            assert!(parse_offset_spec(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn per_partition_offsets_override_the_default() {
        let s = StartOffsets::from_specs(&[
            OffsetSpec::Partition(1, 10),
            OffsetSpec::All(5),
            OffsetSpec::Partition(1, 12),
        ]);
        assert_eq!(s.get(0), Some(5));
        assert_eq!(s.get(1), Some(12), "the last value for a partition wins");
        let only = StartOffsets::from_specs(&[OffsetSpec::Partition(2, 3)]);
        assert_eq!(only.get(0), None);
        assert_eq!(only.get(2), Some(3));
        assert_eq!(only.unknown_partitions(2), vec![2]);
        assert!(only.unknown_partitions(3).is_empty());
    }

    #[test]
    fn ranges_start_where_asked_and_end_at_the_watermark() {
        let base = PartitionFacts {
            low: 10,
            high: 100,
            ..Default::default()
        };
        assert_eq!(
            base.range(),
            Range {
                start: 10,
                end: 100
            },
            "default: the beginning"
        );
        let committed = PartitionFacts {
            committed: Some(40),
            ..base
        };
        assert_eq!(committed.range().start, 40, "a group resumes");
        let asked = PartitionFacts {
            asked: Some(50),
            ..committed
        };
        assert_eq!(
            asked.range().start,
            50,
            "an explicit offset wins over the group"
        );
        let timed = PartitionFacts {
            from_time: Some(Some(60)),
            ..committed
        };
        assert_eq!(timed.range().start, 60, "a time wins over the group");
        let too_late = PartitionFacts {
            from_time: Some(None),
            ..base
        };
        assert!(too_late.range().is_empty(), "nothing after the time");
        let below = PartitionFacts {
            asked: Some(3),
            ..base
        };
        assert_eq!(
            below.range().start,
            10,
            "deleted records start at the first kept"
        );
        let beyond = PartitionFacts {
            asked: Some(500),
            ..base
        };
        assert_eq!(
            beyond.range(),
            Range {
                start: 100,
                end: 100
            }
        );
        assert_eq!(beyond.range().len(), 0);
    }

    #[test]
    fn the_time_window_is_half_open() {
        let all = TimeWindow::default();
        assert_eq!(all.place(Some(5)), Placement::Inside);
        assert_eq!(all.place(None), Placement::Inside);
        let w = TimeWindow {
            from: Some(100),
            to: Some(200),
        };
        assert_eq!(w.place(Some(99)), Placement::Before);
        assert_eq!(w.place(Some(100)), Placement::Inside);
        assert_eq!(w.place(Some(199)), Placement::Inside);
        assert_eq!(w.place(Some(200)), Placement::After);
        assert_eq!(w.place(None), Placement::Inside, "no timestamp: kept");
        let crossed = TimeWindow {
            from: Some(300),
            to: Some(200),
        };
        assert_eq!(crossed.place(Some(250)), Placement::After, "nothing inside");
    }

    #[test]
    fn headers_split_into_dead_letter_and_others() {
        let h = DeadLetterHeaders::parse([
            (HEADER_TOPIC, Some(&b"interactions"[..])),
            (HEADER_PARTITION, Some(&b"3"[..])),
            (HEADER_OFFSET, Some(&b"99"[..])),
            (HEADER_REASON_CODE, Some(&b"in_future"[..])),
            (HEADER_REASON, Some(&b"occurred_at ..."[..])),
            ("trace-id", Some(&b"abc"[..])),
            ("empty", None),
        ]);
        assert_eq!(h.source_topic.as_deref(), Some("interactions"));
        assert_eq!(h.source_partition.as_deref(), Some("3"));
        assert_eq!(h.source_offset.as_deref(), Some("99"));
        assert_eq!(h.reason_label(), "in_future");
        assert_eq!(
            h.others,
            vec![
                ("trace-id".into(), Some(b"abc".to_vec())),
                ("empty".into(), None)
            ]
        );
        let out = replayed_headers(&h, "dead-letter", 1, 5);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "trace-id",
                "empty",
                HEADER_REPLAYED_TOPIC,
                HEADER_REPLAYED_PARTITION,
                HEADER_REPLAYED_OFFSET,
                HEADER_REPLAYED_REASON_CODE
            ]
        );
        assert!(!keys
            .iter()
            .any(|k| k.starts_with("source-") || k.starts_with("reason")));
        assert_eq!(out[4].1.as_deref(), Some(&b"5"[..]));
        assert_eq!(out[5].1.as_deref(), Some(&b"in_future"[..]));
        assert_eq!(DeadLetterHeaders::default().reason_label(), NO_REASON);
    }

    #[test]
    fn filters_select_by_reason_and_source_topic() {
        let all = Filter::default();
        let h = dead_letter("interactions", "2", "unknown_schema_id");
        assert_eq!(
            all.decide(&h, "dlq"),
            Decision::Replay {
                topic: "interactions".into(),
                partition: 2
            }
        );
        let by_reason = Filter {
            reason_codes: ["unknown_schema_id".into(), "in_future".into()].into(),
            ..Default::default()
        };
        assert!(matches!(
            by_reason.decide(&h, "dlq"),
            Decision::Replay { .. }
        ));
        let other = dead_letter("interactions", "2", "bad_marker");
        assert_eq!(by_reason.decide(&other, "dlq"), Decision::SkipReason);
        assert_eq!(
            by_reason.decide(&DeadLetterHeaders::default(), "dlq"),
            Decision::SkipReason,
            "no reason code matches no filter"
        );
        let by_topic = Filter {
            source_topics: ["notifications".into()].into(),
            ..Default::default()
        };
        assert_eq!(by_topic.decide(&h, "dlq"), Decision::SkipSourceTopic);
        let both = Filter {
            reason_codes: ["bad_marker".into()].into(),
            source_topics: ["notifications".into()].into(),
        };
        assert_eq!(both.decide(&h, "dlq"), Decision::SkipReason, "reason first");
    }

    #[test]
    fn records_that_do_not_say_where_they_came_from_are_unroutable() {
        let f = Filter::default();
        let no_topic = headers(&[(HEADER_PARTITION, "1"), (HEADER_REASON_CODE, "x")]);
        assert_eq!(
            f.decide(&no_topic, "dlq"),
            Decision::Unroutable("no source-topic header")
        );
        assert!(matches!(
            f.decide(&dead_letter("", "1", "x"), "dlq"),
            Decision::Unroutable(_)
        ));
        assert!(matches!(
            f.decide(&dead_letter("dlq", "1", "x"), "dlq"),
            Decision::Unroutable(_)
        ));
        for bad in ["", "-1", "one"] {
            assert!(matches!(
                f.decide(&dead_letter("interactions", bad, "x"), "dlq"),
                Decision::Unroutable("no valid source-partition header")
            ));
        }
    }

    #[test]
    fn tally_and_summary_count_every_record_once() {
        let f = Filter {
            reason_codes: ["in_future".into(), "unknown_schema_id".into()].into(),
            ..Default::default()
        };
        let mut s = Summary::new("dlq", false);
        s.ranges.insert(0, Range { start: 0, end: 4 });
        let records = [
            dead_letter("interactions", "0", "in_future"),
            dead_letter("interactions", "1", "in_future"),
            dead_letter("notifications", "0", "bad_marker"),
            headers(&[(HEADER_REASON_CODE, "in_future")]),
        ];
        for h in &records {
            let d = f.decide(h, "dlq");
            s.tally.count(h, &d);
            if matches!(d, Decision::Replay { .. }) {
                s.tally.delivered(h.reason_label());
            }
        }
        s.finish(&f, Duration::from_millis(1500));
        let t = &s.tally;
        assert_eq!((t.read, t.selected, t.replayed), (4, 2, 2));
        assert_eq!((t.skipped_reason, t.skipped_source_topic), (1, 0));
        assert_eq!(t.unroutable_total(), 1);
        assert_eq!(
            t.per_reason["in_future"],
            ReasonCounts {
                read: 3,
                selected: 2,
                replayed: 2
            }
        );
        assert_eq!(t.per_reason["bad_marker"].replayed, 0);
        assert_eq!(
            t.per_destination[&("interactions".to_string(), "in_future".to_string())],
            2
        );
        assert_eq!(
            s.unmatched_reason_codes,
            vec!["unknown_schema_id".to_string()]
        );
        let text = s.to_string();
        assert!(
            text.contains("read 4 of 4 records in 1 partitions"),
            "{text}"
        );
        assert!(
            text.contains(
                "replayed 2; skipped 1 by --reason-code, 0 by --source-topic, 1 unroutable"
            ),
            "{text}"
        );
        assert!(text.contains("interactions in_future: 2"), "{text}");
        assert!(
            text.contains("no record has reason code \"unknown_schema_id\""),
            "{text}"
        );

        let mut dry = s.clone();
        dry.dry_run = true;
        dry.tally.replayed = 0;
        let text = dry.to_string();
        assert!(text.contains("would replay 2;"), "{text}");
        assert!(text.contains("(dry run)"), "{text}");
    }

    #[test]
    fn progress_reports_rates_since_the_last_line() {
        let mut p = Progress::default();
        let mut t = Tally {
            read: 100,
            replayed: 50,
            skipped_reason: 10,
            ..Default::default()
        };
        let line = p.line(&t, 100, 400, Duration::from_secs(2));
        assert!(line.contains("read 100 (50/s)"), "{line}");
        assert!(line.contains("replayed 50 (25/s)"), "{line}");
        assert!(line.contains("offset 100 of 400 (25.0%)"), "{line}");
        t.read = 130;
        let line = p.line(&t, 130, 400, Duration::from_secs(1));
        assert!(line.contains("read 130 (30/s)"), "{line}");
        assert!(line.contains("replayed 50 (0/s)"), "{line}");
        assert!(p.line(&t, 0, 0, Duration::ZERO).contains("(100.0%)"));
    }
}
