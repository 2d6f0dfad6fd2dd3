//! Every metric of the processor, named in one place. Labels are topics,
//! partitions, tables and reason codes; never a tenant, campaign or user id.

use schemas::EventKind;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Cheap to clone: every field is a handle to the same metric.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub records_consumed: IntCounterVec,
    pub offset_gaps: IntCounterVec,
    pub refused_partitions: IntGauge,
    pub events_applied: IntCounterVec,
    pub duplicates_dropped: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub schema_lookups: IntCounterVec,
    pub dead_letter_retries: IntCounter,
    pub dead_letters_in_flight: IntGauge,
    pub snapshot_duration: Histogram,
    pub snapshot_rows: IntCounterVec,
    pub snapshot_steps: HistogramVec,
    pub clickhouse_errors: IntCounterVec,
    pub clickhouse_retries: IntCounter,
    pub partition_lag: IntGaugeVec,
    pub event_to_snapshot_latency: Histogram,
    pub state_campaigns: IntGauge,
    pub state_user_entries: IntGauge,
    pub state_bytes: IntGauge,
    pub retained_partitions: IntGauge,
    pub retained_bytes: IntGauge,
    pub buffered_rows: IntGauge,
    pub paused: IntGauge,
    pub assigned_partitions: IntGauge,
    pub restore_duration: HistogramVec,
    pub campaigns_evicted: IntCounter,
    pub campaigns_reloaded: IntCounter,
    pub campaigns_refreshed: IntCounter,
    pub alert_rules: IntGauge,
    pub alert_transitions: IntCounterVec,
    pub alert_transitions_published: IntCounter,
    pub alert_transitions_withheld: IntCounter,
    pub alert_snapshots: IntCounter,
}

/// One counter of a `kind`-labelled vector per event kind, resolved once:
/// the per-record path must not look labels up.
#[derive(Debug, Clone)]
pub struct KindCounters([IntCounter; 3]);

impl KindCounters {
    pub fn of(vec: &IntCounterVec) -> Self {
        KindCounters(
            [
                EventKind::Lifecycle,
                EventKind::Notification,
                EventKind::Interaction,
            ]
            .map(|k| vec.with_label_values(&[k.as_str()])),
        )
    }

    pub fn get(&self, kind: EventKind) -> &IntCounter {
        let i = match kind {
            EventKind::Lifecycle => 0,
            EventKind::Notification => 1,
            EventKind::Interaction => 2,
        };
        &self.0[i]
    }
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let m = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let m = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let m = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let m = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered. (The names are
    /// constants: registration cannot fail except by a programming error.)
    pub fn new() -> Self {
        let r = Registry::new();
        let seconds = vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];
        let restore_duration = HistogramVec::new(
            HistogramOpts::new(
                "processor_restore_seconds",
                "Time to restore a partition's state on assignment.",
            )
            .buckets(seconds.clone()),
            &["source"],
        )
        .expect("valid metric");
        r.register(Box::new(restore_duration.clone()))
            .expect("unique metric");
        Metrics {
            records_consumed: counter_vec(
                &r,
                "processor_records_consumed_total",
                "Records read from Kafka.",
                &["topic"],
            ),
            refused_partitions: gauge(
                &r,
                "processor_refused_partitions",
                "Assigned partitions not consumed because their checkpoint lies outside the \
                 partition's log (see the error log; `processor checkpoint reset`).",
            ),
            offset_gaps: counter_vec(
                &r,
                "processor_offset_gaps_total",
                "Records the broker skipped: offsets missing between two records of a partition \
                 (never applied; should stay 0).",
                &["topic"],
            ),
            events_applied: counter_vec(
                &r,
                "processor_events_applied_total",
                "Distinct events applied to the state.",
                &["kind"],
            ),
            duplicates_dropped: counter_vec(
                &r,
                "processor_duplicates_dropped_total",
                "Records whose event_id was applied before.",
                &["kind"],
            ),
            dead_lettered: counter_vec(
                &r,
                "processor_dead_lettered_total",
                "Records sent to the dead-letter topic (acknowledged by the broker), by source \
                 topic and reason.",
                &["topic", "reason"],
            ),
            schema_lookups: counter_vec(
                &r,
                "processor_schema_id_lookups_total",
                "Lookups of Confluent schema ids in the schema ids file or registry, by outcome \
                 (found, unknown, unusable, error).",
                &["outcome"],
            ),
            dead_letter_retries: counter(
                &r,
                "processor_dead_letter_retries_total",
                "Dead-letter deliveries that failed and were enqueued again.",
            ),
            dead_letters_in_flight: gauge(
                &r,
                "processor_dead_letters_in_flight",
                "Dead letters enqueued and not yet acknowledged (at most \
                 --max-dead-letters-in-flight; consumption pauses there).",
            ),
            snapshot_duration: histogram(
                &r,
                "processor_snapshot_seconds",
                "Time to write one snapshot (raw events, reports, journeys, checkpoints).",
                seconds.clone(),
            ),
            snapshot_steps: {
                let m = HistogramVec::new(
                    HistogramOpts::new(
                        "processor_snapshot_step_seconds",
                        "Time of each step of a snapshot, in the order they run: take \
                         (the engine's part: evaluation and rows, while nothing is \
                         consumed), then the write: intent, raw_and_reports, journeys, \
                         headers, checkpoint, and epochs (with alert transitions: the \
                         partitions' current epochs, read before they are published); \
                         and the reports written ahead (reports_ahead).",
                    )
                    .buckets(seconds.clone()),
                    &["step"],
                )
                .expect("valid metric");
                r.register(Box::new(m.clone())).expect("unique metric");
                m
            },
            snapshot_rows: counter_vec(
                &r,
                "processor_snapshot_rows_total",
                "Rows written to ClickHouse by snapshots.",
                &["table"],
            ),
            clickhouse_errors: counter_vec(
                &r,
                "processor_clickhouse_errors_total",
                "Failed ClickHouse operations.",
                &["operation"],
            ),
            clickhouse_retries: {
                let m = IntCounter::new(
                    "processor_clickhouse_retries_total",
                    "ClickHouse operations retried after an error.",
                )
                .expect("valid metric");
                r.register(Box::new(m.clone())).expect("unique metric");
                m
            },
            partition_lag: {
                let m = IntGaugeVec::new(
                    Opts::new(
                        "processor_partition_lag",
                        "Records behind the high watermark, per topic and partition.",
                    ),
                    &["topic", "partition"],
                )
                .expect("valid metric");
                r.register(Box::new(m.clone())).expect("unique metric");
                m
            },
            event_to_snapshot_latency: histogram(
                &r,
                "processor_event_to_snapshot_seconds",
                "From an event's occurred_at to the checkpoint that makes it visible.",
                vec![
                    0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
                ],
            ),
            state_campaigns: gauge(&r, "processor_state_campaigns", "Campaigns held in memory."),
            state_user_entries: gauge(
                &r,
                "processor_state_user_entries",
                "(campaign, job, user) entries held in memory.",
            ),
            state_bytes: gauge(
                &r,
                "processor_state_bytes",
                "Approximate heap bytes of the in-memory state.",
            ),
            retained_partitions: gauge(
                &r,
                "processor_retained_partitions",
                "Revoked partitions whose state is kept in memory in case they come back.",
            ),
            retained_bytes: gauge(
                &r,
                "processor_retained_state_bytes",
                "Approximate heap bytes of the state of revoked partitions kept in memory \
                 (at most --max-retained-state-bytes).",
            ),
            buffered_rows: gauge(
                &r,
                "processor_buffered_rows",
                "Raw event rows waiting for ClickHouse: not taken by a snapshot yet, or in a snapshot queued behind the one being written.",
            ),
            paused: gauge(
                &r,
                "processor_paused",
                "1 while consumption is paused for back-pressure.",
            ),
            assigned_partitions: gauge(
                &r,
                "processor_assigned_partitions",
                "Partitions this instance owns.",
            ),
            restore_duration,
            campaigns_evicted: counter(
                &r,
                "processor_campaigns_evicted_total",
                "Idle completed campaigns dropped from memory.",
            ),
            campaigns_reloaded: counter(
                &r,
                "processor_campaigns_reloaded_total",
                "Evicted campaigns reloaded from ClickHouse for a late event.",
            ),
            campaigns_refreshed: counter(
                &r,
                "processor_campaigns_refreshed_total",
                "Campaigns written in full again so that retention drops none of their rows.",
            ),
            alert_rules: gauge(
                &r,
                "processor_alert_rules",
                "Alert rules held (read from the rules topic).",
            ),
            alert_transitions: counter_vec(
                &r,
                "processor_alert_transitions_total",
                "Alert transitions taken by snapshots, by kind (fired, resolved, repeated).",
                &["kind"],
            ),
            alert_transitions_published: counter(
                &r,
                "processor_alert_transitions_published_total",
                "Alert transitions acknowledged by the alerts topic (replays included).",
            ),
            alert_transitions_withheld: counter(
                &r,
                "processor_alert_transitions_withheld_total",
                "Alert transitions not published because their partition was claimed by another owner while their snapshot was written (a frozen owner waking up): the new owner evaluates those campaigns.",
            ),
            alert_snapshots: counter(
                &r,
                "processor_alert_snapshots_total",
                "Snapshots taken ahead of the interval because an applied event made an alert transition due (ALERT_SNAPSHOT_GAP_MS).",
            ),
            registry: r,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
