//! Live reports: what each commit changed, pushed to subscribed clients
//! (`GET /v1/campaigns/stream`, `GET /v1/campaigns/{id}/report/stream`,
//! subscriptions on `GET /v1/ws`). ARCHITECTURE.md, "Live streams".
//!
//! One poller per API process reads the checkpoints table every
//! `LIVE_POLL_MS`; when a partition's checkpoint moved, it reads the
//! reports that partition's snapshots wrote in between (greatest version
//! per key) and hands them to every connection as one [`Tick`] on a
//! bounded broadcast channel. The cost of a poll is one small query, plus
//! one for what changed: it does not grow with the number of clients, and
//! each API instance serves its own. A connection that falls more than
//! `LIVE_BUFFER` ticks behind is closed with a reason (it holds up no one:
//! the channel never waits for a receiver).
//!
//! - [`cursor`]: where a stream stands (the `Last-Event-ID`).
//! - [`subscription`]: what a subscription sends (pure).
//! - [`catch_up`]: catch-up reads shared by the subscriptions that need
//!   the same reports.
//! - [`feed`]: a subscription's catch-up read, then the ticks.

pub mod catch_up;
pub mod cursor;
pub mod doc;
pub mod feed;
pub mod subscription;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

pub use catch_up::CatchUps;
pub use cursor::Cursor;
pub use feed::Feed;
pub use subscription::{LiveReport, Out, Stream, Subscription, Tick};

use crate::metrics::Metrics;
use crate::read::{ReadError, Reader, ReportScope};

/// Default poll period of the checkpoints.
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);
/// Default ticks a connection may fall behind before it is closed.
pub const DEFAULT_BUFFER: usize = 256;
/// Catch-up reads a process runs at once; more wait their turn (a reconnect
/// storm must not run thousands of queries at once: ClickHouse refuses past
/// `max_concurrent_queries`). Subscriptions that need the same reports
/// share one read ([`catch_up`]).
pub const CATCH_UP_READS: usize = 8;

/// The hub of one process: the cursor of the last tick and the channel of
/// the ticks, changed together under one lock so that a subscriber gets
/// every tick after the cursor it is given.
#[derive(Debug)]
pub struct Live {
    inner: Mutex<Inner>,
    /// `true` once the poller has read the checkpoints: before that a
    /// subscription would have no cursor to start from.
    ready: watch::Sender<bool>,
    buffer: usize,
    /// The catch-up reads, shared and bounded.
    catch_ups: CatchUps,
    metrics: Metrics,
}

#[derive(Debug)]
struct Inner {
    cursor: Cursor,
    ticks: broadcast::Sender<Arc<Tick>>,
}

impl Live {
    pub fn new(buffer: usize, metrics: Metrics) -> Self {
        let buffer = buffer.max(1);
        let (ticks, _) = broadcast::channel(buffer);
        Live {
            inner: Mutex::new(Inner {
                cursor: Cursor::default(),
                ticks,
            }),
            ready: watch::Sender::new(false),
            buffer,
            catch_ups: CatchUps::new(CATCH_UP_READS, metrics.live_catch_up_reads.clone()),
            metrics,
        }
    }

    pub fn buffer(&self) -> usize {
        self.buffer
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The catch-up reads of the process.
    pub fn catch_ups(&self) -> &CatchUps {
        &self.catch_ups
    }

    /// The cursor of the last tick.
    pub fn cursor(&self) -> Cursor {
        self.lock().cursor.clone()
    }

    /// A receiver of every tick after the returned cursor; waits (up to
    /// `wait`) for the poller's first read of the checkpoints.
    pub async fn subscribe(
        &self,
        wait: Duration,
    ) -> Option<(broadcast::Receiver<Arc<Tick>>, Cursor)> {
        let mut ready = self.ready.subscribe();
        let waited = tokio::time::timeout(wait, ready.wait_for(|r| *r)).await;
        if !matches!(waited, Ok(Ok(_))) {
            return None;
        }
        let inner = self.lock();
        Some((inner.ticks.subscribe(), inner.cursor.clone()))
    }

    /// The first read of the checkpoints: where every stream starts.
    fn start_at(&self, cursor: Cursor) {
        self.lock().cursor = cursor;
        self.ready.send_replace(true);
    }

    /// Hand a tick to every connection and move the cursor.
    fn publish(&self, tick: Tick) {
        let mut inner = self.lock();
        inner.cursor.advance(&tick.to);
        // No receiver is not an error: nobody is listening.
        let _ = inner.ticks.send(Arc::new(tick));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The lock guards two plain values and no code under it panics.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the poller of the process.
pub fn spawn_poller<R: Reader>(live: Arc<Live>, reader: R, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures: u64 = 0;
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let started = Instant::now();
            match poll_once(&live, &reader).await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(failures, "live streams: ClickHouse answers again");
                    }
                    failures = 0;
                }
                Err(e) => {
                    live.metrics.live_poll_errors.inc();
                    if failures % 60 == 0 {
                        tracing::warn!(error = %e, failures, "live streams: reading the checkpoints failed; retrying (clients wait, nothing is skipped)");
                    }
                    failures += 1;
                }
            }
            live.metrics
                .live_poll_duration
                .observe(started.elapsed().as_secs_f64());
        }
    })
}

/// One poll: the checkpoints, then what the partitions that moved wrote.
pub async fn poll_once<R: Reader>(live: &Live, reader: &R) -> Result<(), ReadError> {
    let now = Cursor::from_pairs(reader.checkpoints().await?);
    if !*live.ready.borrow() {
        live.start_at(now);
        return Ok(());
    }
    let from = live.cursor();
    let ranges = from.ranges_to(&now);
    if ranges.is_empty() {
        return Ok(());
    }
    let rows = reader
        .reports_between(&ReportScope::default(), &ranges)
        .await?;
    let reports = subscription::live_reports(&rows);
    live.metrics.live_ticks.inc();
    live.metrics.live_reports.inc_by(reports.len() as u64);
    live.publish(Tick { to: now, reports });
    Ok(())
}
