//! The live stream of stored transitions (`GET /v1/alerts/stream`,
//! `GET /v1/ws`).
//!
//! One task per process ([`spawn_fanout`]) LISTENs on the metadata
//! database (reconnecting when the connection drops) and also polls every
//! second, and announces the greatest committed transition number through
//! [`Alerts::announce`]. Each connection follows it with an [`EventFeed`]:
//! on every wake-up it reads its tenant's transitions after the last one it
//! sent (`events_after`, in pages). Nothing is pushed to a connection, so
//! none is missed and a slow client only lags; stored transitions are
//! numbered in commit order, so reading "after n" never skips one that
//! commits later.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use metadata::{EventListener, MetadataError, StoredEvent};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Alerts;

/// The fan-out's poll, when no NOTIFY arrives (or LISTEN is down).
pub const POLL: Duration = Duration::from_secs(1);
/// Transitions read at once by a connection.
pub const PAGE: i64 = 200;
/// How long a connection waits before reading again after a failed read.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the fan-out task of the process.
pub fn spawn_fanout(alerts: Arc<Alerts>) -> JoinHandle<()> {
    tokio::spawn(fanout(alerts))
}

async fn fanout(alerts: Arc<Alerts>) {
    let mut listener: Option<EventListener> = None;
    let mut listen_failures: u32 = 0;
    let mut poll_failures: u32 = 0;
    loop {
        if listener.is_none() {
            match alerts.metadata.listen_events().await {
                Ok(l) => {
                    if listen_failures > 0 {
                        tracing::info!("alert stream: LISTEN on the metadata database again");
                    }
                    listen_failures = 0;
                    listener = Some(l);
                }
                Err(e) => {
                    if listen_failures == 0 {
                        tracing::warn!(error = %e, "alert stream: cannot LISTEN on the metadata database; polling every second meanwhile");
                    }
                    listen_failures = listen_failures.saturating_add(1);
                }
            }
        }
        match alerts.metadata.latest_event_seq().await {
            Ok(seq) => {
                poll_failures = 0;
                alerts.announce(seq);
            }
            Err(e) => {
                if poll_failures == 0 {
                    tracing::warn!(error = %e, "alert stream: the metadata database does not answer");
                }
                poll_failures = poll_failures.saturating_add(1);
            }
        }
        let tick = tokio::time::sleep(POLL);
        match listener.as_mut() {
            Some(l) => tokio::select! {
                woke = l.wakeups.recv() => {
                    if woke.is_none() {
                        // The LISTEN connection dropped: reconnect.
                        listener = None;
                    }
                }
                () = tick => {}
            },
            None => tick.await,
        }
    }
}

/// The transitions of one tenant after a number, as one principal sees
/// them: every stored one, in order, then each new one as it is stored.
#[derive(Debug)]
pub struct EventFeed {
    alerts: Arc<Alerts>,
    tenant: String,
    principal: String,
    /// The last transition number read (or known to hold nothing of the
    /// tenant up to it).
    after: i64,
    buffer: VecDeque<StoredEvent>,
    wake: watch::Receiver<i64>,
    /// Everything committed up to the last wake-up has been read: wait for
    /// the next one.
    caught_up: bool,
}

impl EventFeed {
    /// A feed of the transitions after `after`, or (`None`) of those
    /// stored from now on.
    pub async fn start(
        alerts: Arc<Alerts>,
        tenant: String,
        principal: String,
        after: Option<i64>,
    ) -> Result<Self, MetadataError> {
        // Subscribe first: a transition stored while the start is read
        // wakes the feed.
        let wake = alerts.subscribe();
        let after = match after {
            Some(seq) => seq,
            None => alerts.metadata.latest_event_seq().await?,
        };
        Ok(EventFeed {
            alerts,
            tenant,
            principal,
            after,
            buffer: VecDeque::new(),
            wake,
            caught_up: false,
        })
    }

    /// The next transition, waiting for it; `None` when the process stops
    /// announcing. Cancel-safe: a call dropped while waiting loses nothing.
    pub async fn next(&mut self) -> Option<StoredEvent> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(event);
            }
            if self.caught_up {
                if self.wake.changed().await.is_err() {
                    return None;
                }
                self.caught_up = false;
            }
            // Everything up to `announced` is committed: once a read returns
            // less than a page, nothing of the tenant is left up to it.
            let announced = *self.wake.borrow_and_update();
            match self
                .alerts
                .metadata
                .events_after(&self.tenant, &self.principal, self.after, PAGE)
                .await
            {
                Ok(page) => {
                    let full = page.len() as i64 >= PAGE;
                    if let Some(last) = page.last() {
                        self.after = self.after.max(last.seq);
                    }
                    if !full {
                        self.after = self.after.max(announced);
                        self.caught_up = true;
                    }
                    self.buffer.extend(page);
                }
                Err(e) => {
                    tracing::warn!(error = %e, tenant = %self.tenant, "alert stream: reading transitions failed; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}
