//! The delivery worker: sends the deliveries that the alert store enqueues
//! with each stored transition (one per channel of the rule), at least
//! once each, and logs every attempt.
//!
//! Every API instance with a metadata database runs one. A worker claims
//! due deliveries in batches with a lease (`FOR UPDATE SKIP LOCKED`, see
//! [`metadata::deliveries`]), so instances never send one delivery at the
//! same time; a delivery whose worker died is claimed again when its lease
//! runs out (the lease is much longer than a send may take). It polls
//! every 500 ms and wakes at once on the `deliveries` NOTIFY.
//!
//! For each delivery: a deleted channel fails it; an active silence that
//! matches the alert suppresses it (logged as suppressed, nothing sent);
//! otherwise it is sent. Success: delivered. An error that a retry may fix
//! (no answer, timeout, 429, 5xx, a transient SMTP reply): tried again
//! after the backoff (1 s doubling to 10 min by default; a longer
//! `Retry-After` wins, up to the maximum), until 24 h after it was created
//! (then failed). Any other answer (other 4xx, a refused e-mail): failed
//! at once.

use std::time::{Duration, Instant};

use metadata::{
    AttemptOutcome, AttemptRecord, ClaimedDelivery, EventListener, Metadata, MetadataError,
    NextState,
};
use tokio::task::JoinHandle;

use crate::alerts::metrics::DeliveryMetrics;
use crate::alerts::model::AlertView;
use crate::alerts::senders::{Notification, Senders};

/// Settings of a worker; the defaults are the contract's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Who holds a claimed delivery (unique per worker).
    pub worker_id: String,
    /// The wait after the first failed send; doubled after each.
    pub backoff_base: Duration,
    /// The longest wait between two sends.
    pub backoff_max: Duration,
    /// A delivery still failing this long after it was created fails.
    pub give_up_after: Duration,
    /// How long a claim holds (far longer than a send may take).
    pub lease: Duration,
    /// How often due deliveries are looked for without a wake-up.
    pub poll_interval: Duration,
    /// Deliveries claimed (and sent concurrently) at once.
    pub batch: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            worker_id: worker_id(),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            batch: 16,
        }
    }
}

/// A new worker id: process id and a random part.
pub fn worker_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("api-{}-{}", std::process::id(), &random[..8])
}

/// The wait after a failed send when `tried_before` sends failed before
/// it: `base * 2^tried_before`, at most `max`.
pub fn backoff(tried_before: i32, base: Duration, max: Duration) -> Duration {
    let doublings = u32::try_from(tried_before.clamp(0, 31)).unwrap_or(31);
    base.saturating_mul(1u32 << doublings).min(max)
}

/// What the receiver gets for a claimed delivery: the alert as it was at
/// the transition (a `fired` delivery retried after the alert resolved
/// still says firing).
pub fn notification(d: &ClaimedDelivery, senders: &Senders) -> Notification {
    let mut alert = AlertView::from(d.alert.clone());
    alert.read = false;
    if d.event_kind != "resolved" {
        alert.status = "firing".into();
        alert.resolved_at = None;
    }
    Notification {
        kind: d.event_kind.clone(),
        idempotency_key: d.idempotency_key.clone(),
        link: senders.link(&alert.id),
        alert,
    }
}

/// A worker over one metadata database.
#[derive(Debug, Clone)]
pub struct DeliveryWorker {
    metadata: Metadata,
    senders: Senders,
    config: DeliveryConfig,
    metrics: DeliveryMetrics,
}

/// Starts a worker in a task of its own.
pub fn spawn_delivery_worker(worker: DeliveryWorker) -> JoinHandle<()> {
    tokio::spawn(worker.run())
}

impl DeliveryWorker {
    pub fn new(metadata: Metadata, senders: Senders, config: DeliveryConfig) -> Self {
        DeliveryWorker {
            metadata,
            senders,
            config,
            metrics: DeliveryMetrics::new(&prometheus::Registry::new()),
        }
    }

    /// Count attempts in `metrics` (the server's registry).
    pub fn with_metrics(mut self, metrics: DeliveryMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Forever: claim and send due deliveries; between rounds, wait for
    /// the poll interval or a wake-up.
    pub async fn run(self) {
        tracing::info!(worker = %self.config.worker_id, "alert delivery worker started");
        let mut listener: Option<EventListener> = None;
        let mut failing = false;
        loop {
            if listener.is_none() {
                // Without it the worker polls.
                listener = self.metadata.listen_deliveries().await.ok();
            }
            match self.run_once().await {
                Ok(n) => {
                    failing = false;
                    if n >= self.config.batch {
                        // More may be due now.
                        continue;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "alert delivery: claiming deliveries failed; retrying");
                    }
                    failing = true;
                }
            }
            EventListener::idle(&mut listener, self.config.poll_interval).await;
        }
    }

    /// One round: claim a batch and send it (concurrently); returns how
    /// many were claimed.
    pub async fn run_once(&self) -> Result<usize, MetadataError> {
        let limit = i64::try_from(self.config.batch).unwrap_or(i64::MAX);
        let batch = self
            .metadata
            .claim_deliveries(&self.config.worker_id, limit, self.config.lease)
            .await?;
        let n = batch.len();
        futures_util::future::join_all(batch.iter().map(|d| self.deliver(d))).await;
        Ok(n)
    }

    async fn deliver(&self, d: &ClaimedDelivery) {
        let Some((attempt, next)) = self.attempt(d).await else {
            return;
        };
        let channel = d.channel.as_ref().map_or("(deleted)", |c| c.name.as_str());
        let kind = d.channel.as_ref().map_or("deleted", |c| c.config.kind());
        let sent = match attempt.outcome {
            AttemptOutcome::Suppressed => None,
            _ if d.channel.is_none() => None,
            _ => Some(attempt.duration),
        };
        self.metrics.attempt(kind, attempt.outcome.as_str(), sent);
        self.metrics.next(match next {
            NextState::Delivered => "delivered",
            NextState::Suppressed => "suppressed",
            NextState::Failed => "failed",
            NextState::Retry { .. } => "retry",
        });
        if attempt.outcome == AttemptOutcome::Error {
            tracing::warn!(
                delivery = d.id, alert_id = %d.alert.id, key = %d.idempotency_key,
                channel, http_status = attempt.http_status, next = ?next,
                error = attempt.error.as_deref().unwrap_or_default(),
                "alert delivery attempt failed"
            );
        } else {
            tracing::info!(
                delivery = d.id, alert_id = %d.alert.id, key = %d.idempotency_key,
                channel, outcome = attempt.outcome.as_str(), http_status = attempt.http_status,
                "alert delivery attempt"
            );
        }
        self.finish(d, &attempt, next).await;
    }

    /// The attempt and where it leads; `None`: the database failed before
    /// anything was sent (the lease runs out and the delivery comes back).
    async fn attempt(&self, d: &ClaimedDelivery) -> Option<(AttemptRecord, NextState)> {
        let Some(channel) = &d.channel else {
            let attempt = AttemptRecord {
                outcome: AttemptOutcome::Error,
                http_status: None,
                error: Some("the channel was deleted".into()),
                duration: Duration::ZERO,
            };
            return Some((attempt, NextState::Failed));
        };
        match self.metadata.matching_silence(&d.alert).await {
            Ok(Some(silence)) => {
                let attempt = AttemptRecord {
                    outcome: AttemptOutcome::Suppressed,
                    http_status: None,
                    error: Some(format!("suppressed by silence {silence}")),
                    duration: Duration::ZERO,
                };
                return Some((attempt, NextState::Suppressed));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(delivery = d.id, error = %e, "alert delivery: reading silences failed");
                return None;
            }
        }
        let n = notification(d, &self.senders);
        let started = Instant::now();
        let result = self.senders.send(&channel.config, &n).await;
        let duration = started.elapsed();
        Some(match result {
            Ok(sent) => (
                AttemptRecord {
                    outcome: AttemptOutcome::Ok,
                    http_status: sent.http_status,
                    error: None,
                    duration,
                },
                NextState::Delivered,
            ),
            Err(failure) => {
                let next = if failure.retryable {
                    let c = &self.config;
                    let wait = backoff(d.attempts, c.backoff_base, c.backoff_max);
                    let asked = failure.retry_after.unwrap_or_default().min(c.backoff_max);
                    NextState::Retry {
                        after: wait.max(asked),
                        give_up: c.give_up_after,
                    }
                } else {
                    NextState::Failed
                };
                let attempt = AttemptRecord {
                    outcome: AttemptOutcome::Error,
                    http_status: failure.http_status,
                    error: Some(failure.error),
                    duration,
                };
                (attempt, next)
            }
        })
    }

    /// Record the attempt, retrying a few times while the database fails
    /// (if it never answers, the lease runs out and the delivery is sent
    /// again: at least once).
    async fn finish(&self, d: &ClaimedDelivery, attempt: &AttemptRecord, next: NextState) {
        let mut wait = Duration::from_millis(200);
        for _ in 0..4 {
            match self
                .metadata
                .finish_delivery(d.id, &self.config.worker_id, attempt, next)
                .await
            {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(
                        delivery = d.id,
                        "alert delivery: the lease ran out before the attempt was recorded; \
                         another worker holds the delivery"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(delivery = d.id, error = %e, "alert delivery: recording an attempt failed");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(600);
        let waits: Vec<u64> = (0..12).map(|n| backoff(n, base, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(backoff(-3, base, max), base);
        assert_eq!(backoff(i32::MAX, base, max), max);
        assert_eq!(
            backoff(40, Duration::from_millis(20), Duration::from_millis(100)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn worker_ids_differ() {
        assert_ne!(worker_id(), worker_id());
    }
}
