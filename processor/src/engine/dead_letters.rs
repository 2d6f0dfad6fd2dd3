//! Dead letters on their way out: records that cannot be applied are handed
//! to the [`DeadLetterSink`] without waiting (the Kafka producer batches
//! them), and the engine goes on with the next record. The sink reports how
//! each attempt ended through its [`Attempt`], from whatever thread it
//! learns it on (the producer's polling thread).
//!
//! Invariants:
//! - A checkpoint never passes a record whose dead-letter copy is not
//!   acknowledged: the dead letters sent since the last snapshot was taken
//!   are handed to the next snapshot ([`Outbox::take_acks`]), which waits
//!   for every one of them ([`Acks::wait`]) before it writes anything.
//! - A failed attempt is enqueued again (with backoff) until the broker
//!   acknowledges the record, never dropped. If the process dies first, no
//!   checkpoint covers the record: it is read and dead-lettered again (a
//!   duplicate on the dead-letter topic, never a loss).
//! - At most `cap` dead letters are unacknowledged at a time; the engine
//!   waits for room ([`Outbox::wait_for_room`]) and pauses consumption
//!   instead of queueing without bound while the topic is unavailable.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntCounterVec, IntGauge};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Notify};

use crate::kafka::dlq::Rejected;
use crate::metrics::Metrics;

/// Where records that cannot be applied go.
pub trait DeadLetterSink: Send + Sync + 'static {
    /// Hand one record over for delivery without waiting for it, and
    /// report how this attempt ends through `attempt`, exactly once and
    /// from any thread: [`Attempt::delivered`] once the dead-letter topic
    /// acknowledged the record, [`Attempt::failed`] otherwise.
    fn enqueue(&self, rejected: &Rejected, attempt: Attempt);
}

/// First wait before a failed attempt is enqueued again; doubles up to
/// [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Log lines about dead letters (one per record, one per failed attempt)
/// are written at most this often; the others are counted in the next.
const LOG_EVERY_MS: i64 = 1_000;

/// A log line at most every [`LOG_EVERY_MS`], shared between threads.
#[derive(Debug, Default)]
struct Throttle {
    last_ms: AtomicI64,
    skipped: AtomicU64,
}

impl Throttle {
    /// `Some(lines skipped since the last one)` when a line may be written.
    fn allow(&self) -> Option<u64> {
        self.allow_at(chrono::Utc::now().timestamp_millis())
    }

    /// [`Throttle::allow`] at `now` (ms).
    fn allow_at(&self, now: i64) -> Option<u64> {
        let last = self.last_ms.load(Ordering::Relaxed);
        if now - last >= LOG_EVERY_MS
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.skipped.swap(0, Ordering::Relaxed));
        }
        self.skipped.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Dead letters unacknowledged, at most `cap`: taken by the engine's
/// thread only, given back from any.
struct Room {
    used: AtomicUsize,
    cap: usize,
    /// Set while the engine waits for room: only then does a give wake it.
    waiting: AtomicBool,
    freed: Notify,
}

impl Room {
    fn has_room(&self) -> bool {
        self.used.load(Ordering::SeqCst) < self.cap
    }

    fn take(&self) {
        self.used.fetch_add(1, Ordering::SeqCst);
    }

    fn give(&self) {
        self.used.fetch_sub(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) {
            // Stored when the engine is not parked yet: no lost wake-up.
            self.freed.notify_one();
        }
    }
}

/// What every attempt needs.
struct Shared {
    /// Weak: an attempt (held by the sink until it reports) must not keep
    /// the sink alive, or the last one could drop the sink from the sink's
    /// own thread. Gone: the process is ending, and the attempt with it.
    sink: Weak<dyn DeadLetterSink>,
    /// Where retries wait for their turn.
    handle: Handle,
    room: Room,
    retries: IntCounter,
    in_flight: IntGauge,
    retry_log: Throttle,
}

/// The dead letters sent since the last snapshot was taken.
struct Batch {
    /// Every dead letter holds a clone until it is acknowledged (or
    /// dropped); the receiver sees the channel close when the last is gone.
    open: mpsc::Sender<()>,
    closed: mpsc::Receiver<()>,
    sent: usize,
    acked: Arc<AtomicUsize>,
}

impl Batch {
    fn new() -> Self {
        let (open, closed) = mpsc::channel(1);
        Batch {
            open,
            closed,
            sent: 0,
            acked: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// The dead letters a snapshot waits for before it writes.
#[derive(Debug)]
pub(super) struct Acks {
    closed: mpsc::Receiver<()>,
    sent: usize,
    acked: Arc<AtomicUsize>,
}

/// Some dead letters of a snapshot ended without an acknowledgement (the
/// sink dropped them: the process is shutting down). The snapshot is not
/// written; its records are read again by the next owner.
#[derive(Debug, thiserror::Error)]
#[error("{missing} of {sent} dead letters were not acknowledged; the snapshot is not written")]
pub struct Unacknowledged {
    missing: usize,
    sent: usize,
}

impl Acks {
    /// Wait until every dead letter of the snapshot is acknowledged.
    pub(super) async fn wait(mut self) -> Result<(), Unacknowledged> {
        // Nothing is ever sent on the channel: `recv` returns `None` once
        // every dead letter has dropped its sender.
        while self.closed.recv().await.is_some() {}
        let acked = self.acked.load(Ordering::SeqCst);
        if acked < self.sent {
            return Err(Unacknowledged {
                missing: self.sent - acked,
                sent: self.sent,
            });
        }
        Ok(())
    }
}

/// One delivery attempt of one dead letter, from its enqueue until the sink
/// reports how it ended. Holds the dead letter's place among the `cap`
/// unacknowledged and in its snapshot's batch; dropped without a report,
/// the dead letter counts as unacknowledged.
pub struct Attempt {
    shared: Arc<Shared>,
    _batch: mpsc::Sender<()>,
    acked: Arc<AtomicUsize>,
    /// `processor_dead_lettered_total` of its topic and reason.
    dead_lettered: IntCounter,
    /// The wait before the next attempt, should this one fail.
    backoff: Duration,
    failing_since: Option<Instant>,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl Attempt {
    /// The dead-letter topic acknowledged the record.
    pub fn delivered(self) {
        self.dead_lettered.inc();
        // Counted before the batch's sender is dropped (with `self`).
        self.acked.fetch_add(1, Ordering::SeqCst);
    }

    /// The attempt failed: `rejected` is enqueued again after a backoff.
    pub fn failed(mut self, error: &dyn Display, rejected: Rejected) {
        let shared = self.shared.clone();
        shared.retries.inc();
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if let Some(skipped) = shared.retry_log.allow() {
            tracing::error!(
                %error, in_flight = shared.in_flight.get(), other_failures_since_last_line = skipped,
                failing_for_seconds = since.elapsed().as_secs_f64(),
                "dead-letter delivery failed; enqueueing it again"
            );
        }
        let wait = self.backoff;
        self.backoff = (wait * 2).min(RETRY_MAX);
        shared.handle.spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(sink) = self.shared.sink.upgrade() {
                sink.enqueue(&rejected, self);
            }
        });
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.shared.in_flight.dec();
        self.shared.room.give();
    }
}

/// The engine's side of the dead-letter topic.
pub(super) struct Outbox {
    sink: Arc<dyn DeadLetterSink>,
    shared: Arc<Shared>,
    cap: usize,
    batch: Batch,
    /// `processor_dead_lettered_total` by (topic index, reason), resolved
    /// once.
    dead_lettered: IntCounterVec,
    counters: Vec<(usize, &'static str, IntCounter)>,
    record_log: Throttle,
}

impl Outbox {
    pub(super) fn new(
        sink: Arc<dyn DeadLetterSink>,
        cap: usize,
        metrics: &Metrics,
        handle: Handle,
    ) -> Self {
        let cap = cap.max(1);
        Outbox {
            shared: Arc::new(Shared {
                sink: Arc::downgrade(&sink),
                handle,
                room: Room {
                    used: AtomicUsize::new(0),
                    cap,
                    waiting: AtomicBool::new(false),
                    freed: Notify::new(),
                },
                retries: metrics.dead_letter_retries.clone(),
                in_flight: metrics.dead_letters_in_flight.clone(),
                retry_log: Throttle::default(),
            }),
            cap,
            batch: Batch::new(),
            dead_lettered: metrics.dead_lettered.clone(),
            counters: Vec::new(),
            record_log: Throttle::default(),
            sink,
        }
    }

    /// The most dead letters unacknowledged at a time.
    pub(super) fn cap(&self) -> usize {
        self.cap
    }

    /// Dead letters enqueued and not yet acknowledged.
    pub(super) fn in_flight(&self) -> usize {
        self.shared.room.used.load(Ordering::SeqCst)
    }

    /// Whether [`Outbox::send`] can enqueue another without exceeding the
    /// cap.
    pub(super) fn has_room(&self) -> bool {
        self.shared.room.has_room()
    }

    /// Block until there is room for another dead letter, at most
    /// `timeout`; true when there is. (Only the engine's thread takes
    /// room, so it stays there until its next `send`.)
    pub(super) fn wait_for_room(&self, timeout: Duration) -> bool {
        let room = &self.shared.room;
        if room.has_room() {
            return true;
        }
        room.waiting.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        let has_room = self.shared.handle.block_on(async {
            loop {
                let freed = room.freed.notified();
                if room.has_room() {
                    return true;
                }
                if tokio::time::timeout_at(deadline, freed).await.is_err() {
                    return room.has_room();
                }
            }
        });
        room.waiting.store(false, Ordering::SeqCst);
        has_room
    }

    /// Enqueue one dead letter (`topic`: the index of its topic; `now`:
    /// the wall clock, ms). Never waits: call [`Outbox::wait_for_room`]
    /// first to keep within the cap.
    pub(super) fn send(&mut self, topic: usize, rejected: Rejected, now: i64) {
        if let Some(skipped) = self.record_log.allow_at(now) {
            tracing::warn!(
                topic = %rejected.topic, partition = rejected.partition, offset = rejected.offset,
                reason = %rejected.reason, others_since_last_line = skipped,
                "record dead-lettered"
            );
        } else {
            tracing::debug!(
                topic = %rejected.topic, partition = rejected.partition, offset = rejected.offset,
                reason = %rejected.reason, "record dead-lettered"
            );
        }
        // Given back when the attempt is dropped (acknowledged or not).
        self.shared.room.take();
        self.shared.in_flight.inc();
        let dead_lettered = self.counter(topic, &rejected);
        let attempt = Attempt {
            shared: self.shared.clone(),
            _batch: self.batch.open.clone(),
            acked: self.batch.acked.clone(),
            dead_lettered,
            backoff: RETRY_FIRST,
            failing_since: None,
        };
        self.batch.sent += 1;
        // Enqueued here, on the engine's thread, so the dead-letter topic
        // gets the records in the order they were read.
        self.sink.enqueue(&rejected, attempt);
    }

    /// `processor_dead_lettered_total` of a dead letter's topic and reason.
    fn counter(&mut self, topic: usize, rejected: &Rejected) -> IntCounter {
        let code: &'static str = match &rejected.reason_code {
            std::borrow::Cow::Borrowed(code) => code,
            // Codes are static; an owned one is not cached.
            std::borrow::Cow::Owned(code) => {
                return self
                    .dead_lettered
                    .with_label_values(&[rejected.topic.as_str(), code.as_str()])
            }
        };
        // A handful of (topic, reason) pairs: a scan beats hashing.
        if let Some((_, _, counter)) = self
            .counters
            .iter()
            .find(|(t, c, _)| *t == topic && *c == code)
        {
            return counter.clone();
        }
        let counter = self
            .dead_lettered
            .with_label_values(&[rejected.topic.as_str(), code]);
        self.counters.push((topic, code, counter.clone()));
        counter
    }

    /// The dead letters sent since the last call, for the snapshot being
    /// taken: it must not write its checkpoints before they are all
    /// acknowledged.
    pub(super) fn take_acks(&mut self) -> Acks {
        let Batch {
            open,
            closed,
            sent,
            acked,
        } = std::mem::replace(&mut self.batch, Batch::new());
        drop(open);
        Acks {
            closed,
            sent,
            acked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_lets_one_line_through_per_period_and_counts_the_others() {
        let t = Throttle::default();
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        // As if the period had passed.
        t.last_ms.store(0, Ordering::Relaxed);
        assert_eq!(t.allow(), Some(2));
    }
}
