//! A subscription's messages: its catch-up read (what committed between the
//! client's cursor and the hub's), then every tick of the hub.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use tokio::sync::broadcast::{self, error::RecvError};

use super::subscription::{Out, Subscription, Tick};
use super::Live;
use crate::read::{ReadError, Reader};

/// How long a new subscription waits for the poller's first read.
const READY_WAIT: Duration = Duration::from_secs(5);

/// Why a feed could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the live stream has not read the checkpoints yet (is ClickHouse up?): retry shortly")]
    NotReady,
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// One connection's subscription, counted in `query_api_live_subscriptions`
/// while it lives.
#[derive(Debug)]
pub struct Feed {
    sub: Subscription,
    ticks: broadcast::Receiver<Arc<Tick>>,
    queue: VecDeque<Out>,
    buffer: usize,
    ended: bool,
    messages: IntCounter,
    closed_slow: IntCounter,
    _gauge: GaugeGuard,
}

impl Feed {
    /// Subscribe, then read what the subscription is owed up to the hub's
    /// cursor (ticks after it are already in the receiver).
    pub async fn start<R: Reader>(
        live: &Live,
        reader: &R,
        mut sub: Subscription,
    ) -> Result<Feed, StartError> {
        let (ticks, now) = live
            .subscribe(READY_WAIT)
            .await
            .ok_or(StartError::NotReady)?;
        let ranges = sub.cursor().ranges_to(&now);
        let reports = live
            .catch_ups()
            .read(reader, sub.scope(), ranges, &now)
            .await?;
        let queue = sub.catch_up(reports.to_vec(), &now).into();
        let kind = [sub.stream().kind()];
        let metrics = live.metrics();
        let gauge = metrics.live_subscriptions.with_label_values(&kind);
        Ok(Feed {
            sub,
            ticks,
            queue,
            buffer: live.buffer(),
            ended: false,
            messages: metrics.live_messages.with_label_values(&kind),
            closed_slow: metrics.live_closed_slow.clone(),
            _gauge: GaugeGuard::new(gauge),
        })
    }

    pub fn subscription(&self) -> &Subscription {
        &self.sub
    }

    /// The next message, waiting for it; after a `Close`, or when the hub
    /// is gone, `None`. Cancel-safe: a call dropped while waiting loses
    /// nothing.
    pub async fn next(&mut self) -> Option<Out> {
        loop {
            if let Some(out) = self.queue.pop_front() {
                self.messages.inc();
                return Some(out);
            }
            if self.ended {
                return None;
            }
            match self.ticks.recv().await {
                Ok(tick) => self.queue.extend(self.sub.apply(&tick)),
                Err(RecvError::Lagged(missed)) => {
                    self.ended = true;
                    self.closed_slow.inc();
                    return Some(Out::Close {
                        code: "too_slow",
                        message: format!(
                            "this client fell {missed} commits behind (the server keeps {} per \
                             connection): reconnect with the last event id to resume where it \
                             stopped",
                            self.buffer
                        ),
                    });
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[derive(Debug)]
struct GaugeGuard(IntGauge);

impl GaugeGuard {
    fn new(gauge: IntGauge) -> Self {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
