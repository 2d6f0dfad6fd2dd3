//! Alerts (`alerts.md`): what the API shares with the processor through the
//! metadata database and Kafka, and the live stream.
//!
//! - [`Alerts`]: the metadata database, the wake-up of the rule publisher
//!   and the fan-out of stored transitions to the live streams; in
//!   [`crate::app::AppState`] when the server has `DATABASE_URL`.
//! - [`publisher`]: the outbox of rule changes, produced to the rules topic
//!   (rule JSON, or a tombstone for a deleted rule) and marked published
//!   once the broker acknowledged them.
//! - [`store_consumer`]: the processor's transitions, read from the alerts
//!   topic and stored once each.
//! - [`stream`]: the one LISTEN of the process and the per-connection feed
//!   that the SSE and WebSocket routes follow.
//! - [`delivery`]: the delivery worker (deliveries of stored transitions
//!   to the rules' channels: leases, silences, retries with backoff, the
//!   attempt log), sending through [`senders`] (webhook, Slack, e-mail).
//! - [`preview`]: a rule evaluated against the current reports.
//! - [`model`]: the JSON of the alert routes (and the OpenAPI description
//!   of the rule bodies).

pub mod delivery;
pub mod metrics;
pub mod model;
pub mod preview;
pub mod publisher;
pub mod senders;
pub mod store_consumer;
pub mod stream;

use metadata::Metadata;
use tokio::sync::{watch, Notify};

use senders::Senders;

/// What the alert routes and the background tasks share.
#[derive(Debug)]
pub struct Alerts {
    /// The metadata database.
    pub metadata: Metadata,
    /// The channel senders (the test route of a channel uses them).
    pub senders: Senders,
    /// Wakes the rule publisher after a rule change was committed.
    rules_changed: Notify,
    /// The greatest stored transition number known to be committed: the
    /// live streams read their tenant's transitions up to it when it moves.
    latest_event: watch::Sender<i64>,
}

impl Alerts {
    /// Alerts over `metadata` (migrated), with the default senders (no
    /// SMTP). The background tasks are started apart:
    /// [`stream::spawn_fanout`], [`publisher::spawn_rule_publisher`],
    /// [`store_consumer::spawn_store_consumer`],
    /// [`delivery::spawn_delivery_worker`].
    pub fn new(metadata: Metadata) -> Self {
        let (latest_event, _) = watch::channel(0);
        Alerts {
            metadata,
            senders: Senders::default(),
            rules_changed: Notify::new(),
            latest_event,
        }
    }

    /// The same with these senders.
    pub fn with_senders(mut self, senders: Senders) -> Self {
        self.senders = senders;
        self
    }

    /// A rule changed (and the change is committed): publish it now rather
    /// than at the next poll.
    pub fn rules_changed(&self) {
        self.rules_changed.notify_one();
    }

    /// Completes after [`Alerts::rules_changed`] (a call made while nobody
    /// waited counts for the next wait).
    pub async fn rule_change(&self) {
        self.rules_changed.notified().await;
    }

    /// Follows the greatest committed transition number.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.latest_event.subscribe()
    }

    /// Transitions up to `seq` are committed: wakes the streams when it is
    /// news.
    pub fn announce(&self, seq: i64) {
        self.latest_event.send_if_modified(|latest| {
            if seq > *latest {
                *latest = seq;
                true
            } else {
                false
            }
        });
    }
}
