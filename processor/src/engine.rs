//! The engine: owns the state of every assigned partition, applies records
//! in order, and writes periodic snapshots through the [`Store`] seam.
//!
//! It runs on a thread of its own (applying is CPU work) and blocks on the
//! async store through a runtime handle. At most one snapshot is in flight;
//! while it is, records keep being applied into the next one, and on the
//! interval's grid the reports changed since are written ahead of it
//! (ARCHITECTURE.md, "Reports ahead"). When the
//! buffered rows exceed the budget (ClickHouse slow or down), it asks the
//! consumer to pause instead of growing without bound.
//!
//! Invariants:
//! - A partition's checkpoint (offsets + version) is written only after the
//!   raw events, reports and journeys it covers are written.
//! - Restored state = the latest state rows of the partition's live
//!   campaigns, plus the raw events found beyond the checkpoint (an
//!   interrupted snapshot's), folded in; replayed records are then
//!   duplicates (same event_id) and are neither applied nor written again.
//!   The raw events beyond the checkpoint mark what they touch as changed,
//!   so the next snapshot rewrites it. (A checkpoint of a release without
//!   state rows is restored once from every raw event.)
//! - Versions only grow: a new version is greater than the partition's
//!   newest intent, which every snapshot writes before its rows.
//! - A checkpoint is written only after every dead letter it passes is
//!   acknowledged ([`dead_letters`]).
//! - Every assignment claims its partitions (a new epoch) before it reads
//!   them; every row carries the epoch, and the store drops rows of an
//!   epoch that is no longer the partition's.

mod alert_trigger;
use alert_trigger::AlertTrigger;
mod calendars;
mod dead_letters;
mod memory;
use memory::Evicted;
mod restore;
mod rule_sweep;
use rule_sweep::RuleSweeps;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use schemas::{Codec, EventKind};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::alerts::{AlertSink, RuleBoard};
use crate::kafka::dlq::Rejected;
use crate::kafka::source::{SourceControl, SourceEvent, SourceRecord};
use crate::metrics::{KindCounters, Metrics};
use crate::schema_source::SchemaIds;
use crate::state::{AlertPass, Applied, PartitionState};
use crate::store::{
    next_version, Checkpoint, HeaderRow, Intent, Offsets, RawEvent, Snapshot, Store, StoreError,
    STATE_FORMAT,
};
use runtime::tenants::TenantZones;
use runtime::TenantDirectory;

use calendars::Calendars;

use dead_letters::Outbox;
pub use dead_letters::{Attempt, DeadLetterSink, Unacknowledged};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub topics: [String; 3],
    pub snapshot_interval: Duration,
    /// Raw rows buffered before the consumer is paused.
    pub max_buffered_rows: usize,
    /// Dead letters enqueued and not yet acknowledged before the engine
    /// waits (and the consumer is paused).
    pub max_dead_letters_in_flight: usize,
    /// Events further than this in the future are rejected.
    pub max_skew_ms: i64,
    /// Completed campaigns whose last event is older than this are dropped
    /// from memory once written; a late event reloads them from the store.
    /// `None`: keep everything.
    pub evict_completed_after_ms: Option<i64>,
    /// Heap bytes of revoked partitions' state kept for their return, in
    /// all; the oldest revoked beyond it are dropped.
    pub max_retained_bytes: usize,
    /// Retention horizon of the stored rows (`--retention-days`): every
    /// campaign in memory is written in full at least every quarter of it,
    /// so that retention drops none of its rows. `None`: no retention.
    pub retention_ms: Option<i64>,
    /// With alerting: a snapshot is taken ahead of the interval once an
    /// event makes an alert transition due, at least this long after the
    /// previous snapshot was taken; `None`: snapshots keep to the interval.
    pub alert_snapshot_gap: Option<Duration>,
}

/// How often the engine looks for campaigns due a full write.
const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// The kind of record each input topic carries, in topic-index order.
const KINDS: [EventKind; 3] = [
    EventKind::Lifecycle,
    EventKind::Notification,
    EventKind::Interaction,
];

/// The state of one partition and where it stands.
#[derive(Debug, Default)]
struct Shard {
    state: PartitionState,
    next: Offsets,
    /// Version of the latest snapshot taken (written or in flight).
    version: u64,
    /// Offsets of the latest snapshot taken.
    checkpointed: Offsets,
    pending: Vec<RawEvent>,
    /// Campaigns dropped from memory.
    evicted: Evicted,
    /// Campaigns of raw events found beyond the checkpoint at restore:
    /// named in every intent until a checkpoint covers them.
    tail_campaigns: BTreeSet<(String, String)>,
    /// The epoch claimed for this ownership of the partition (fencing).
    epoch: u64,
    /// Its checkpoint is of a release without state rows: the next
    /// snapshot writes one in this format even if nothing moved (a
    /// partition without traffic would otherwise keep the old checkpoint,
    /// be restored from its history at every start, and hold retention
    /// back).
    upgrade_checkpoint: bool,
    /// The rules-topic offset up to which every rule change has reached
    /// the partition's evicted campaigns ("Rules and evicted campaigns");
    /// -1: unknown.
    rules_swept: i64,
    /// The same, as the latest snapshot taken checkpoints it.
    rules_checkpointed: i64,
}

/// How often the state's size gauges (a walk over the whole state) are
/// refreshed after snapshots; assignments and revocations refresh them too.
const STATE_METRICS_EVERY: Duration = Duration::from_secs(10);

/// How long an assignment waits after claiming its partitions before it
/// reads their state (see [`Engine::assign`]).
const FENCE_SETTLE: Duration = Duration::from_millis(200);

/// Who claims partitions: host and process, for operators.
fn owner_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}:{}", std::process::id())
}

struct InFlight {
    /// Resolves to the partitions claimed by another owner while it was
    /// written (their transitions stay here).
    task: JoinHandle<Result<BTreeSet<i32>, Unacknowledged>>,
    commits: Vec<(usize, i32, i64)>,
    /// Alert transitions the snapshot carries, by partition: published
    /// once it commits.
    transitions: Vec<(i32, alerting::Transition)>,
    /// Partitions the snapshot checkpoints.
    partitions: Vec<i32>,
    oldest_event_ms: Option<i64>,
    started: Instant,
}

pub struct Engine<S: Store> {
    cfg: EngineConfig,
    store: Arc<S>,
    codec: Codec,
    /// Writer schemas of Confluent-framed records, looked up as they appear.
    schema_ids: SchemaIds,
    /// Tenants' calendars: which day an event falls on.
    zones: Calendars,
    metrics: Metrics,
    /// `events_applied` and `duplicates_dropped` by kind, resolved once.
    applied: KindCounters,
    duplicates: KindCounters,
    handle: Handle,
    dead_letters: Outbox,
    control: Arc<SourceControl>,
    /// Why consumption is paused: too many rows waiting for ClickHouse,
    /// too many dead letters waiting for the broker.
    rows_pressure: bool,
    dead_letter_pressure: bool,
    shards: BTreeMap<i32, Shard>,
    /// Shards revoked with a final snapshot, kept in case they come back,
    /// with their size and in the order they were revoked (bounded by
    /// `max_retained_bytes`).
    retained: BTreeMap<i32, (u64, usize, Shard)>,
    revocations: u64,
    in_flight: Option<InFlight>,
    next_snapshot: Instant,
    /// Reports written ahead of the next snapshot (at most one write).
    reports_ahead: Option<JoinHandle<()>>,
    /// When the reports are next written ahead, if a snapshot is still in
    /// flight then.
    reports_ahead_due: Instant,
    /// When the state's size gauges are next refreshed after a snapshot.
    state_metrics_due: Instant,
    /// When to look next for campaigns due a full write (retention).
    refresh_due: Instant,
    /// Who this process is, in the partition claims.
    owner: String,
    /// Alert rules and where transitions go; `None`: no alerting.
    alerts: Option<Alerting>,
    /// Publications of committed transitions not yet acknowledged: the
    /// next snapshot waits for them before it writes its checkpoints.
    publishing: Vec<JoinHandle<()>>,
    /// Rule changes on their way to evicted campaigns.
    sweeps: RuleSweeps,
    /// When a due alert transition may start a snapshot early.
    trigger: AlertTrigger,
}

/// The engine's alerting: the rules it evaluates, where transitions go.
struct Alerting {
    board: Arc<RuleBoard>,
    sink: Arc<dyn AlertSink>,
}

impl<S: Store> std::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("partitions", &self.shards.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl<S: Store> Engine<S> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: EngineConfig,
        store: Arc<S>,
        codec: Codec,
        zones: TenantZones,
        metrics: Metrics,
        handle: Handle,
        dead_letters: Arc<dyn DeadLetterSink>,
        control: Arc<SourceControl>,
    ) -> Self {
        let next_snapshot = Instant::now() + cfg.snapshot_interval;
        let cfg_gap = cfg.alert_snapshot_gap;
        let dead_letters = Outbox::new(
            dead_letters,
            cfg.max_dead_letters_in_flight,
            &metrics,
            handle.clone(),
        );
        Engine {
            cfg,
            store,
            codec,
            schema_ids: SchemaIds::new(Vec::new(), metrics.schema_lookups.clone()),
            zones: Calendars::fixed(zones),
            applied: KindCounters::of(&metrics.events_applied),
            duplicates: KindCounters::of(&metrics.duplicates_dropped),
            metrics,
            handle,
            dead_letters,
            control,
            rows_pressure: false,
            dead_letter_pressure: false,
            shards: BTreeMap::new(),
            retained: BTreeMap::new(),
            revocations: 0,
            in_flight: None,
            reports_ahead: None,
            reports_ahead_due: next_snapshot,
            next_snapshot,
            state_metrics_due: Instant::now(),
            refresh_due: Instant::now(),
            owner: owner_name(),
            alerts: None,
            publishing: Vec::new(),
            sweeps: RuleSweeps::default(),
            trigger: AlertTrigger::new(cfg_gap, Instant::now()),
        }
    }

    /// Zone events by the tenants registry's calendars as `directory`
    /// holds them at each event (instead of the fixed zones given to
    /// [`Engine::new`]).
    pub fn with_tenants(mut self, directory: Arc<TenantDirectory>) -> Self {
        self.zones = Calendars::following(directory);
        self
    }

    /// Evaluate the rules of `board` at every snapshot and hand committed
    /// transitions to `sink`.
    pub fn with_alerts(mut self, board: Arc<RuleBoard>, sink: Arc<dyn AlertSink>) -> Self {
        self.alerts = Some(Alerting { board, sink });
        self
    }

    /// Where the writer schemas of Confluent-framed records come from (by
    /// default nowhere: their records are dead-lettered as unknown).
    pub fn with_schema_ids(mut self, schema_ids: SchemaIds) -> Self {
        self.schema_ids = schema_ids;
        self
    }

    /// Run until the source disconnects, then write a final snapshot.
    pub fn run(mut self, events: Receiver<SourceEvent>) {
        loop {
            // While a snapshot is written the next one cannot start: check
            // back on it now and then. (Waiting for an overdue snapshot
            // with a zero timeout would spin a core that ClickHouse needs.)
            let wait = if self.in_flight.is_some() {
                Duration::from_millis(5)
            } else {
                self.next_snapshot
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), Duration::from_millis(50))
            };
            match events.recv_timeout(wait) {
                Ok(SourceEvent::Records(records)) => self.on_records(records),
                Ok(SourceEvent::Assigned { partitions, reply }) => {
                    let offsets = self.assign(&partitions);
                    let _ = reply.send(offsets);
                }
                Ok(SourceEvent::Revoked { partitions, reply }) => {
                    self.revoke(&partitions);
                    let _ = reply.send(());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.tick();
        }
        self.flush();
        self.wait_for_publications(Duration::from_secs(10));
        tracing::info!("engine stopped");
    }

    /// Decode, validate and apply a batch of records, in order.
    pub fn on_records(&mut self, records: Vec<SourceRecord>) {
        let now = now_ms();
        for r in records {
            self.on_record_at(r, now);
        }
    }

    /// Decode, validate and apply one record (or dead-letter it).
    pub fn on_record(&mut self, r: SourceRecord) {
        self.on_record_at(r, now_ms());
    }

    /// [`Engine::on_record`] with the wall clock read by the caller.
    fn on_record_at(&mut self, r: SourceRecord, now: i64) {
        if !self.shards.contains_key(&r.partition) {
            // A record fetched before its partition was revoked.
            return;
        }
        let topic = self.cfg.topics[r.topic].clone();
        let decoded = self
            .schema_ids
            .decode_expecting(&mut self.codec, &r.payload, KINDS[r.topic])
            .and_then(|e| {
                schemas::check_not_in_future(&e, now, self.cfg.max_skew_ms)?;
                Ok(e)
            });
        match decoded {
            Err(err) => {
                if !self.dead_letters.has_room() {
                    self.wait_for_dead_letter_room();
                }
                // Sized for the longest reasons: `to_string` grows it
                // piece by piece, a realloc each.
                let mut reason = String::with_capacity(192);
                let _ = write!(reason, "{err}");
                self.dead_letters.send(
                    r.topic,
                    Rejected {
                        topic,
                        partition: r.partition,
                        offset: r.offset,
                        key: r.key,
                        payload: r.payload,
                        reason_code: Cow::Borrowed(err.code()),
                        reason,
                    },
                    now,
                );
            }
            Ok(event) => {
                // Looked up without allocating: after a restart with history
                // this runs for every event.
                let evicted = self
                    .shards
                    .get(&r.partition)
                    .is_some_and(|s| s.evicted.contains(event.tenant_id(), event.campaign_id()));
                if evicted {
                    let key = (
                        event.tenant_id().to_string(),
                        event.campaign_id().to_string(),
                    );
                    self.reload(r.partition, &key);
                }
                let Some(shard) = self.shards.get_mut(&r.partition) else {
                    return;
                };
                let kind = event.kind();
                match shard.state.apply(&event) {
                    Applied::Duplicate => self.duplicates.get(kind).inc(),
                    Applied::New => {
                        self.applied.get(kind).inc();
                        let local_date = self
                            .zones
                            .get()
                            .local_date(event.tenant_id(), event.occurred_at());
                        shard.pending.push(RawEvent {
                            event,
                            topic,
                            partition: r.partition,
                            offset: r.offset,
                            local_date,
                        });
                    }
                }
            }
        }
        if let Some(shard) = self.shards.get_mut(&r.partition) {
            shard.next[r.topic] = Some(r.offset + 1);
        }
    }

    /// Too many dead letters unacknowledged (the dead-letter topic is slow
    /// or unavailable): pause consumption and wait until one more fits.
    /// Snapshots whose dead letters are acknowledged still finish.
    fn wait_for_dead_letter_room(&mut self) {
        self.dead_letter_pressure = true;
        self.update_pause();
        let started = Instant::now();
        let mut logged = started;
        while !self.dead_letters.wait_for_room(Duration::from_millis(200)) {
            self.poll_in_flight();
            if logged.elapsed() >= Duration::from_secs(5) {
                logged = Instant::now();
                tracing::warn!(
                    in_flight = self.dead_letters.in_flight(),
                    waiting_seconds = started.elapsed().as_secs_f64(),
                    "dead letters not acknowledged; consumption paused until they are"
                );
            }
        }
    }

    /// Pause consumption while either budget is exceeded.
    fn update_pause(&self) {
        let pause = self.rows_pressure || self.dead_letter_pressure;
        if self.control.pause.load(Ordering::Relaxed) != pause {
            self.control.pause.store(pause, Ordering::SeqCst);
        }
    }

    fn buffered(&self) -> usize {
        self.shards.values().map(|s| s.pending.len()).sum()
    }

    /// Housekeeping after every event: finish a written snapshot, start the
    /// next one when due, and apply back-pressure.
    pub fn tick(&mut self) {
        self.poll_in_flight();
        self.poll_rule_sweeps();
        let buffered = self.buffered();
        self.metrics.buffered_rows.set(buffered as i64);
        let over_budget = buffered >= self.cfg.max_buffered_rows;
        // Pause at a budget; resume once half of it has drained.
        if over_budget || buffered < self.cfg.max_buffered_rows / 2 {
            self.rows_pressure = over_budget;
        }
        let dead_letters = self.dead_letters.in_flight();
        let cap = self.dead_letters.cap();
        if dead_letters >= cap || dead_letters <= cap / 2 {
            self.dead_letter_pressure = dead_letters >= cap;
        }
        self.update_pause();
        let now = Instant::now();
        let due = now >= self.next_snapshot;
        let early = !due && !over_budget && self.in_flight.is_none() && self.transition_due(now);
        if (due || over_budget || early) && self.in_flight.is_none() {
            self.start_snapshot();
            self.trigger.taken(now);
            if early {
                self.metrics.alert_snapshots.inc();
            }
            // Keep to the interval's grid: counting from when the snapshot
            // was taken would add its engine-side work to every interval.
            // A late snapshot (the previous write was slow) moves the grid.
            self.next_snapshot = if due {
                (self.next_snapshot + self.cfg.snapshot_interval).max(now)
            } else {
                now + self.cfg.snapshot_interval
            };
            self.reports_ahead_due = self.next_snapshot;
        } else if self.in_flight.is_some() && now >= self.reports_ahead_due {
            // The write runs past the interval: the changed reports go
            // now, the rest with the next snapshot.
            self.write_reports_ahead();
            self.reports_ahead_due = (self.reports_ahead_due + self.cfg.snapshot_interval).max(now);
        }
    }

    /// Whether an event applied since the last look makes an alert
    /// transition due (a dry run over the changed campaigns of tenants
    /// with rules): then the snapshot is taken now, not on the interval.
    fn transition_due(&mut self, now: Instant) -> bool {
        let Some(alerts) = &self.alerts else {
            return false;
        };
        if !self.trigger.may_look(now) {
            return false;
        }
        let rules = alerts.board.index();
        let no_changes = HashSet::new();
        let pass = AlertPass {
            rules: &rules,
            changed_tenants: &no_changes,
            now_ms: now_ms(),
        };
        let due = !rules.is_empty()
            && self
                .shards
                .values_mut()
                .any(|s| s.state.transition_due(&pass));
        self.trigger.looked(now, now.elapsed());
        due
    }

    /// Write the reports changed since the snapshot in flight was taken,
    /// ahead of the snapshot that will take them (which writes them again,
    /// at a greater version). No restore reads reports, so they need no
    /// order with the snapshot's other rows; best effort: a failure is
    /// only logged. One such write at a time.
    fn write_reports_ahead(&mut self) {
        if self
            .reports_ahead
            .as_ref()
            .is_some_and(|h| !h.is_finished())
        {
            return;
        }
        let now = now_ms();
        let mut rows = Vec::new();
        for (&p, shard) in &mut self.shards {
            let reports = shard.state.changed_reports();
            if reports.is_empty() {
                continue;
            }
            // Above the snapshot in flight, below the next one.
            let version = next_version(shard.epoch, shard.version, now);
            shard.version = version;
            rows.extend(reports.into_iter().map(|r| (p, version, r)));
        }
        if rows.is_empty() {
            return;
        }
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        self.reports_ahead = Some(self.handle.spawn(async move {
            match store.write_reports(&rows).await {
                Ok(()) => metrics
                    .snapshot_rows
                    .with_label_values(&["campaign_reports_ahead"])
                    .inc_by(rows.len() as u64),
                Err(e) => {
                    metrics
                        .clickhouse_errors
                        .with_label_values(&[e.operation])
                        .inc();
                    tracing::warn!(error = %e, "reports written ahead failed; their snapshot writes them");
                }
            }
        }));
    }

    fn poll_in_flight(&mut self) {
        let finished = self
            .in_flight
            .as_ref()
            .is_some_and(|f| f.task.is_finished());
        if finished {
            self.finish_in_flight();
        }
    }

    /// Wait for the snapshot in flight, if any, and account for it.
    fn finish_in_flight(&mut self) {
        let Some(f) = self.in_flight.take() else {
            return;
        };
        match self.handle.block_on(f.task) {
            Ok(Ok(claimed)) => {
                self.metrics
                    .snapshot_duration
                    .observe(f.started.elapsed().as_secs_f64());
                if let Some(oldest) = f.oldest_event_ms {
                    let lag = (now_ms() - oldest).max(0) as f64 / 1000.0;
                    self.metrics.event_to_snapshot_latency.observe(lag);
                }
                self.control.commit_later(f.commits);
                let mut transitions = f.transitions;
                if !claimed.is_empty() {
                    // Their checkpoints may have been refused: the new
                    // owner evaluates those campaigns itself (and carries
                    // these transitions, from the headers, if they landed).
                    let before = transitions.len();
                    transitions.retain(|(p, _)| !claimed.contains(p));
                    self.metrics
                        .alert_transitions_withheld
                        .inc_by((before - transitions.len()) as u64);
                    tracing::warn!(
                        partitions = ?claimed,
                        withheld = before - transitions.len(),
                        "partitions claimed by another owner while this snapshot was written; \
                         their alert transitions are left to it"
                    );
                }
                self.publish(transitions);
                for p in &f.partitions {
                    if let Some(shard) = self.shards.get_mut(p) {
                        shard.tail_campaigns.clear();
                    }
                }
                // Everything taken before this snapshot is written now.
                self.evict_idle();
            }
            Ok(Err(e)) => {
                tracing::error!(
                    error = %e,
                    "snapshot abandoned; its partitions are written in full by the next one"
                );
                // What it took is not in the store: the next snapshot
                // writes every campaign of its partitions (which also makes
                // their full-write times true), and campaigns it was to
                // write marked evicted stay in memory until then.
                for p in &f.partitions {
                    if let Some(shard) = self.shards.get_mut(p) {
                        shard.state.mark_all_changed();
                        shard.state.retake_evictions();
                        let mine = f
                            .transitions
                            .iter()
                            .filter(|(q, _)| q == p)
                            .map(|(_, t)| t.clone())
                            .collect();
                        shard.state.requeue_transitions(mine);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "snapshot task cancelled"),
        }
        // Walking the whole state is O(state): not after every snapshot.
        if Instant::now() >= self.state_metrics_due {
            self.update_state_metrics();
        }
    }

    /// Wait (at most `limit`) until every committed transition is
    /// published (at shutdown: what is not is published again after the
    /// restart, from the headers).
    pub fn wait_for_publications(&mut self, limit: Duration) {
        let pending = std::mem::take(&mut self.publishing);
        if pending.is_empty() {
            return;
        }
        let all = futures_util::future::join_all(pending);
        if self
            .handle
            .block_on(async { tokio::time::timeout(limit, all).await })
            .is_err()
        {
            tracing::warn!("alert transitions not all published at shutdown; the next start publishes them again");
        }
    }

    /// Hand a committed snapshot's transitions to the alert sink.
    fn publish(&mut self, transitions: Vec<(i32, alerting::Transition)>) {
        let Some(alerts) = &self.alerts else {
            return;
        };
        self.publishing.retain(|h| !h.is_finished());
        if transitions.is_empty() {
            return;
        }
        for (_, t) in &transitions {
            self.metrics
                .alert_transitions
                .with_label_values(&[t.kind.as_str()])
                .inc();
        }
        let batch = transitions.into_iter().map(|(_, t)| t).collect();
        self.publishing.push(alerts.sink.publish(batch));
    }

    fn update_state_metrics(&mut self) {
        self.state_metrics_due = Instant::now() + STATE_METRICS_EVERY;
        let (mut campaigns, mut users, mut bytes) = (0, 0, 0);
        for s in self.shards.values() {
            campaigns += s.state.campaign_count();
            users += s.state.user_entries();
            bytes += s.state.heap_bytes();
        }
        self.metrics.state_campaigns.set(campaigns as i64);
        self.metrics.state_user_entries.set(users as i64);
        self.metrics.state_bytes.set(bytes as i64);
        self.metrics
            .assigned_partitions
            .set(self.shards.len() as i64);
        self.metrics
            .retained_partitions
            .set(self.retained.len() as i64);
        self.metrics
            .retained_bytes
            .set(self.retained.values().map(|(_, b, _)| *b).sum::<usize>() as i64);
    }

    /// Take a snapshot of every shard and start writing it.
    fn start_snapshot(&mut self) {
        let taking = Instant::now();
        let mut snapshot = Snapshot::default();
        let mut commits = Vec::new();
        let mut partitions = Vec::new();
        let mut oldest_event_ms: Option<i64> = None;
        let now = now_ms();
        let refresh_older_than = self.refresh_cutoff(now);
        let rules = self.alerts.as_ref().map(|a| a.board.take());
        if let Some((index, _)) = &rules {
            self.metrics.alert_rules.set(index.len() as i64);
            self.plan_rule_sweeps();
        }
        let mut transitions = Vec::new();
        for (&p, shard) in &mut self.shards {
            if let Some(cutoff) = refresh_older_than {
                let n = shard.state.refresh(cutoff, now);
                if n > 0 {
                    self.metrics.campaigns_refreshed.inc_by(n as u64);
                    tracing::debug!(
                        partition = p,
                        campaigns = n,
                        "campaigns due a full write (retention)"
                    );
                }
            }
            shard.state.stamp_new(now);
            let mut changes = match &rules {
                Some((index, changed)) => shard.state.take_changes_with(Some(&AlertPass {
                    rules: index,
                    changed_tenants: changed,
                    now_ms: now,
                })),
                None => shard.state.take_changes(),
            };
            transitions.extend(changes.transitions.drain(..).map(|t| (p, t)));
            let moved = !shard.pending.is_empty()
                || !changes.reports.is_empty()
                || !changes.journeys.is_empty()
                || shard.next != shard.checkpointed
                || shard.upgrade_checkpoint
                || shard.rules_swept != shard.rules_checkpointed;
            if !moved && shard.version > 0 {
                continue;
            }
            shard.upgrade_checkpoint = false;
            shard.rules_checkpointed = shard.rules_swept;
            let version = next_version(shard.epoch, shard.version, now);
            snapshot.epochs.insert(p, shard.epoch);
            shard.version = version;
            shard.checkpointed = shard.next;
            let mut touched: HashSet<(&str, &str)> = shard
                .tail_campaigns
                .iter()
                .map(|(t, c)| (t.as_str(), c.as_str()))
                .collect();
            for r in &shard.pending {
                let at = r.event.occurred_at();
                oldest_event_ms = Some(oldest_event_ms.map_or(at, |o: i64| o.min(at)));
                touched.insert((r.event.tenant_id(), r.event.campaign_id()));
            }
            snapshot.intents.push(Intent {
                partition: p,
                version,
                campaigns: touched
                    .into_iter()
                    .map(|(t, c)| (t.to_string(), c.to_string()))
                    .collect(),
            });
            snapshot.raw.append(&mut shard.pending);
            snapshot
                .headers
                .extend(changes.headers.into_iter().map(|header| HeaderRow {
                    partition: p,
                    version,
                    evicted: false,
                    header,
                }));
            snapshot
                .headers
                .extend(changes.evicted_headers.into_iter().map(|header| HeaderRow {
                    partition: p,
                    version,
                    evicted: true,
                    header,
                }));
            partitions.push(p);
            snapshot
                .reports
                .extend(changes.reports.into_iter().map(|r| (p, version, r)));
            snapshot
                .journeys
                .extend(changes.journeys.into_iter().map(|j| (p, version, j)));
            snapshot.checkpoints.push(Checkpoint {
                partition: p,
                version,
                offsets: shard.next,
                format: STATE_FORMAT,
                retained_from_ms: shard.state.retained_from(now),
                rules_offset: shard.rules_swept,
            });
            for (t, next) in shard.next.iter().enumerate() {
                if let Some(o) = next {
                    commits.push((t, p, *o));
                }
            }
        }
        // Dead letters sent so far are behind the offsets taken above.
        let acks = self.dead_letters.take_acks();
        if snapshot.checkpoints.is_empty() {
            // Nothing to write, and no write in flight: all is written.
            // (Every dead letter moves its shard's offsets: `acks` is empty.)
            self.evict_idle();
            return;
        }
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let publishing = std::mem::take(&mut self.publishing);
        // The epochs the transitions were evaluated under: checked again
        // once the checkpoints are written, before anything leaves.
        let alerting: BTreeMap<i32, u64> = transitions
            .iter()
            .filter_map(|(p, _)| snapshot.epochs.get(p).map(|e| (*p, *e)))
            .collect();
        let task = self.handle.spawn(async move {
            // The checkpoints pass these records: not before the broker
            // has their dead-letter copies.
            acks.wait().await?;
            // Nor before the transitions of the snapshots before it are
            // published: a restore from these checkpoints would not
            // publish them again.
            for p in publishing {
                let _ = p.await;
            }
            write_with_retry(store.as_ref(), &snapshot, &metrics).await;
            Ok(claimed_meanwhile(store.as_ref(), &alerting, &metrics).await)
        });
        // The engine's part: evaluation and rows, while nothing is consumed.
        self.metrics
            .snapshot_steps
            .with_label_values(&["take"])
            .observe(taking.elapsed().as_secs_f64());
        self.in_flight = Some(InFlight {
            task,
            commits,
            transitions,
            partitions,
            oldest_event_ms,
            started: Instant::now(),
        });
    }

    /// With retention, once every [`REFRESH_EVERY`]: campaigns whose latest
    /// full write is older than this are written in full again (a quarter
    /// of the horizon: a row is rewritten long before retention may drop
    /// it).
    fn refresh_cutoff(&mut self, now: i64) -> Option<i64> {
        let horizon = self.cfg.retention_ms?;
        if Instant::now() < self.refresh_due {
            return None;
        }
        self.refresh_due = Instant::now() + REFRESH_EVERY;
        Some(now - horizon / 4)
    }

    /// Write everything applied so far and wait until it is durable.
    pub fn flush(&mut self) {
        self.finish_in_flight();
        self.start_snapshot();
        self.finish_in_flight();
    }

    /// Restore newly assigned partitions; returns where to resume each.
    pub fn assign(&mut self, partitions: &BTreeSet<i32>) -> BTreeMap<i32, Offsets> {
        self.flush();
        let started = Instant::now();
        // Fence out earlier owners before reading anything: from the claim
        // on, the store takes no row of theirs for these partitions.
        let epochs: BTreeMap<i32, u64> = partitions
            .iter()
            .map(|&p| {
                let owner = self.owner.clone();
                let epoch = self.retry("claim partition", |s| {
                    let owner = owner.clone();
                    async move { s.claim(p, &owner).await }
                });
                (p, epoch)
            })
            .collect();
        // A write of an earlier owner that the server was already running
        // when the claim landed finishes within moments.
        std::thread::sleep(FENCE_SETTLE);
        let mut out = BTreeMap::new();
        let mut to_restore = Vec::new();
        for &p in partitions {
            let checkpoint =
                self.retry("read checkpoint", |s| async move { s.checkpoint(p).await });
            let committed = checkpoint.as_ref().map_or(0, |c| c.version);
            if let Some((_, _, mut kept)) = self.retained.remove(&p) {
                // Current only if nobody wrote anything for the partition
                // since we let it go (not even rows past a checkpoint).
                let floor =
                    self.retry(
                        "read version floor",
                        |s| async move { s.version_floor(p).await },
                    );
                if kept.version == committed && committed > 0 && floor <= kept.version {
                    tracing::info!(
                        partition = p,
                        version = committed,
                        next = ?kept.next,
                        "state kept in memory is current"
                    );
                    kept.epoch = epochs[&p];
                    // Rules may have changed while it was away.
                    kept.state.reevaluate_alerts();
                    out.insert(p, kept.next);
                    self.shards.insert(p, kept);
                    self.metrics
                        .restore_duration
                        .with_label_values(&["memory"])
                        .observe(started.elapsed().as_secs_f64());
                    continue;
                }
            }
            to_restore.push((p, checkpoint));
        }
        if !to_restore.is_empty() {
            for (p, mut shard) in self.restore(to_restore) {
                shard.epoch = epochs[&p];
                // Rules may have changed since the state was written.
                shard.state.reevaluate_alerts();
                tracing::info!(
                    partition = p,
                    version = shard.version,
                    campaigns = shard.state.campaign_count(),
                    next = ?shard.next,
                    seconds = started.elapsed().as_secs_f64(),
                    "partition restored"
                );
                self.metrics
                    .restore_duration
                    .with_label_values(&["store"])
                    .observe(started.elapsed().as_secs_f64());
                out.insert(p, shard.next);
                self.shards.insert(p, shard);
            }
        }
        self.update_state_metrics();
        out
    }

    /// Final snapshot of revoked partitions; their state is kept in memory
    /// in case they come back.
    pub fn revoke(&mut self, partitions: &BTreeSet<i32>) {
        self.flush();
        for p in partitions {
            if let Some(shard) = self.shards.remove(p) {
                tracing::info!(
                    partition = p,
                    version = shard.version,
                    next = ?shard.checkpointed,
                    "partition released after its final snapshot"
                );
                self.revocations += 1;
                let bytes = shard.state.heap_bytes();
                self.retained.insert(*p, (self.revocations, bytes, shard));
            }
        }
        self.bound_retained();
        self.update_state_metrics();
    }

    /// Run a store read, retrying with backoff until it succeeds.
    fn retry<T, F, Fut>(&self, what: &'static str, f: F) -> T
    where
        F: Fn(Arc<S>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.handle.block_on(f(self.store.clone())) {
                Ok(v) => return v,
                Err(e) => {
                    self.metrics
                        .clickhouse_errors
                        .with_label_values(&[what])
                        .inc();
                    self.metrics.clickhouse_retries.inc();
                    tracing::warn!(error = %e, "{what} failed; retrying in {backoff:?}");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Campaigns held in memory over all owned partitions.
    pub fn campaigns_in_memory(&self) -> usize {
        self.shards.values().map(|s| s.state.campaign_count()).sum()
    }

    /// Partitions currently owned.
    pub fn partitions(&self) -> Vec<i32> {
        self.shards.keys().copied().collect()
    }

    /// Revoked partitions whose state is kept in memory.
    pub fn retained_partitions(&self) -> Vec<i32> {
        self.retained.keys().copied().collect()
    }

    /// (partition, heap bytes) of the retained state, oldest revoked first.
    pub fn retained_bytes(&self) -> Vec<(i32, usize)> {
        let mut v: Vec<_> = self
            .retained
            .iter()
            .map(|(p, (order, bytes, _))| (*order, *p, *bytes))
            .collect();
        v.sort();
        v.into_iter().map(|(_, p, b)| (p, b)).collect()
    }

    /// Change the retention horizon (tests); the next snapshot looks for
    /// campaigns due a full write.
    pub fn set_retention_ms(&mut self, horizon: Option<i64>) {
        self.cfg.retention_ms = horizon;
        self.refresh_due = Instant::now();
    }

    /// Change the budget of retained state (tests).
    pub fn set_max_retained_bytes(&mut self, bytes: usize) {
        self.cfg.max_retained_bytes = bytes;
        self.bound_retained();
    }

    /// Dead letters enqueued and not yet acknowledged.
    pub fn dead_letters_in_flight(&self) -> usize {
        self.dead_letters.in_flight()
    }
}

/// The partitions of `epochs` that another owner has claimed since (a
/// frozen owner waking up after a rebalance): the store may have refused
/// their checkpoints, so their transitions must not leave. Retried until
/// the store answers: a transition withheld by mistake would be lost, one
/// published by mistake would be an alert no state knows of.
async fn claimed_meanwhile<S: Store>(
    store: &S,
    epochs: &BTreeMap<i32, u64>,
    metrics: &Metrics,
) -> BTreeSet<i32> {
    if epochs.is_empty() {
        return BTreeSet::new();
    }
    let partitions: Vec<i32> = epochs.keys().copied().collect();
    let current = until_stored("reading partition epochs", metrics, || async {
        let started = Instant::now();
        let read = store.current_epochs(&partitions).await;
        if read.is_ok() {
            metrics
                .snapshot_steps
                .with_label_values(&["epochs"])
                .observe(started.elapsed().as_secs_f64());
        }
        read
    })
    .await;
    epochs
        .iter()
        .filter(|(p, e)| current.get(*p) != Some(*e))
        .map(|(p, _)| *p)
        .collect()
}

/// Run a store operation of the snapshot task until it succeeds (the task
/// cannot go on without it), counting and logging each failure, with
/// backoff from 200 ms doubling to 5 s.
async fn until_stored<T, F, Fut>(what: &str, metrics: &Metrics, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) => {
                metrics
                    .clickhouse_errors
                    .with_label_values(&[e.operation])
                    .inc();
                metrics.clickhouse_retries.inc();
                tracing::warn!(error = %e, "{what} failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Write a snapshot, retrying with backoff until the store takes it.
async fn write_with_retry<S: Store>(store: &S, snapshot: &Snapshot, metrics: &Metrics) {
    until_stored("snapshot write", metrics, || store.write(snapshot)).await;
    for (table, rows) in [
        ("events_raw", snapshot.raw.len()),
        ("campaign_reports", snapshot.reports.len()),
        ("journeys", snapshot.journeys.len()),
        ("checkpoints", snapshot.checkpoints.len()),
    ] {
        metrics
            .snapshot_rows
            .with_label_values(&[table])
            .inc_by(rows as u64);
    }
}
