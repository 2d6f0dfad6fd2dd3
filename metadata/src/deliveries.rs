//! Deliveries: one per (stored transition, channel of its rule), enqueued
//! by the transaction that stores the transition, claimed by the delivery
//! workers of the API with a lease, finished with an attempt logged.
//!
//! Claiming is `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`
//! with a lease: several workers (instances) take disjoint rows, and a row
//! whose worker died is claimed again once its lease ran out. Finishing is
//! fenced by the lease holder: a worker that lost its lease logs its
//! attempt but does not change the row.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::alerts::{alert_of, ALERT_COLUMNS};
use crate::channels::{Channel, ChannelConfig};
use crate::{Alert, Metadata, MetadataError};

/// The NOTIFY channel raised when deliveries are enqueued.
pub const DELIVERIES_CHANNEL: &str = "deliveries";

/// A delivery claimed by a worker: what to send, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub tenant_id: String,
    /// `fired`, `resolved` or `repeated`.
    pub event_kind: String,
    pub idempotency_key: String,
    /// The alert as it is now (nobody's read state).
    pub alert: Alert,
    /// The channel; `None` when it was deleted since.
    pub channel: Option<Channel>,
    /// Sends tried before this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// How an attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Ok,
    Error,
    Suppressed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Error => "error",
            AttemptOutcome::Suppressed => "suppressed",
        }
    }
}

/// One attempt, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub outcome: AttemptOutcome,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub duration: Duration,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    Suppressed,
    Failed,
    /// Try again after `after`, unless the delivery was created `give_up`
    /// ago or more (then it fails).
    Retry {
        after: Duration,
        give_up: Duration,
    },
}

/// An attempt as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub outcome: String,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery of an alert as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub channel_id: String,
    pub channel_name: String,
    pub channel_kind: String,
    pub event_kind: String,
    pub idempotency_key: String,
    pub state: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub attempts: Vec<Attempt>,
}

/// A duration in whole milliseconds (for `interval` arithmetic in SQL).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The attempts of some deliveries, in order, from `table` (the alert or
/// the report attempt log; both have the same columns).
pub(crate) async fn attempts_of(
    client: &deadpool_postgres::Object,
    table: &'static str,
    ids: &[i64],
) -> Result<Vec<(i64, Attempt)>, MetadataError> {
    let rows = client
        .query(
            &format!(
                "SELECT delivery_id, at, outcome, http_status, error, duration_ms \
                 FROM {table} WHERE delivery_id = ANY($1) ORDER BY id"
            ),
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let attempt = Attempt {
                at: row.get("at"),
                outcome: row.get("outcome"),
                http_status: row.get("http_status"),
                error: row.get("error"),
                duration_ms: row.get("duration_ms"),
            };
            (row.get("delivery_id"), attempt)
        })
        .collect())
}

/// Enqueue the deliveries of a stored transition: one per channel id of
/// its rule (as stored, deleted or not: a deleted rule's resolutions are
/// delivered too) that is a live channel of the tenant. Returns how many.
pub(crate) async fn enqueue(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    seq: i64,
    alert_id: Uuid,
    rule_id: Uuid,
    key: &str,
) -> Result<u64, MetadataError> {
    let n = tx
        .execute(
            "INSERT INTO deliveries (tenant_id, event_seq, alert_id, channel_id, idempotency_key) \
             SELECT DISTINCT $1::text, $2::bigint, $3::uuid, c.id, $4::text \
             FROM alert_rules r \
             CROSS JOIN LATERAL jsonb_array_elements_text(CASE \
                 WHEN jsonb_typeof(r.body -> 'channels') = 'array' THEN r.body -> 'channels' \
                 ELSE '[]'::jsonb END) AS ch(id) \
             JOIN channels c ON c.tenant_id = r.tenant_id AND NOT c.deleted \
                 AND c.id::text = lower(ch.id) \
             WHERE r.id = $5 AND r.tenant_id = $1 \
             ON CONFLICT (event_seq, channel_id) DO NOTHING",
            &[&tenant, &seq, &alert_id, &key, &rule_id],
        )
        .await?;
    if n > 0 {
        tx.execute(&format!("NOTIFY {DELIVERIES_CHANNEL}"), &[])
            .await?;
    }
    Ok(n)
}

impl Metadata {
    /// Claim up to `limit` due deliveries for `worker` for `lease`, oldest
    /// first. Rows other workers hold (locked or leased) are skipped.
    pub async fn claim_deliveries(
        &self,
        worker: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "WITH claimed AS ( \
                       UPDATE deliveries SET leased_by = $1, \
                         lease_until = now() + $2::bigint * interval '1 millisecond', \
                         updated_at = now() \
                       WHERE id IN ( \
                         SELECT id FROM deliveries \
                         WHERE state = 'pending' AND next_attempt_at <= now() \
                           AND (lease_until IS NULL OR lease_until < now()) \
                         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                       RETURNING id, event_seq, channel_id, idempotency_key, attempts, created_at) \
                     SELECT d.id AS delivery_id, d.idempotency_key, d.attempts, \
                       d.created_at AS delivery_created_at, e.kind AS event_kind, {ALERT_COLUMNS}, \
                       c.id AS channel_id, c.tenant_id AS channel_tenant, c.name AS channel_name, \
                       c.kind AS channel_kind, c.config AS channel_config, \
                       c.created_at AS channel_created_at, c.deleted AS channel_deleted \
                     FROM claimed d \
                     JOIN alert_events e ON e.seq = d.event_seq \
                     JOIN alerts a ON a.id = e.alert_id \
                     LEFT JOIN alert_reads r ON false \
                     JOIN channels c ON c.id = d.channel_id \
                     ORDER BY d.id"
                ),
                &[&worker, &millis(lease), &limit],
            )
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let deleted: bool = row.get("channel_deleted");
            let channel = if deleted {
                None
            } else {
                Some(channel_of_prefixed(row)?)
            };
            let alert = alert_of(row);
            claimed.push(ClaimedDelivery {
                id: row.get("delivery_id"),
                tenant_id: alert.tenant_id.clone(),
                event_kind: row.get("event_kind"),
                idempotency_key: row.get("idempotency_key"),
                alert,
                channel,
                attempts: row.get("attempts"),
                created_at: row.get("delivery_created_at"),
            });
        }
        Ok(claimed)
    }

    /// Log an attempt of a delivery that `worker` holds and move it on.
    /// Returns false when the worker no longer held it (its lease ran out
    /// and another worker claimed it): the attempt is logged all the same,
    /// the row is left to its new holder.
    pub async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        attempt: &AttemptRecord,
        next: NextState,
    ) -> Result<bool, MetadataError> {
        let counts = i32::from(attempt.outcome != AttemptOutcome::Suppressed);
        let (state, after, give_up) = match next {
            NextState::Delivered => ("delivered", 0, 0),
            NextState::Suppressed => ("suppressed", 0, 0),
            NextState::Failed => ("failed", 0, 0),
            NextState::Retry { after, give_up } => ("pending", millis(after), millis(give_up)),
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO delivery_attempts (delivery_id, outcome, http_status, error, duration_ms, worker) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &id,
                &attempt.outcome.as_str(),
                &attempt.http_status.map(i32::from),
                &attempt.error,
                &millis(attempt.duration),
                &worker,
            ],
        )
        .await?;
        // A retry past the give-up age fails instead (the database's clock
        // decides, as it does for claims).
        let n = tx
            .execute(
                "UPDATE deliveries SET \
                   state = CASE WHEN $3::text = 'pending' \
                     AND created_at + $5::bigint * interval '1 millisecond' <= now() \
                     THEN 'failed' ELSE $3::text END, \
                   attempts = attempts + $6::integer, \
                   next_attempt_at = now() + $4::bigint * interval '1 millisecond', \
                   lease_until = NULL, leased_by = NULL, \
                   last_error = CASE WHEN $3::text = 'delivered' THEN NULL \
                     ELSE coalesce($7::text, last_error) END, \
                   updated_at = now() \
                 WHERE id = $1 AND leased_by = $2 AND state = 'pending'",
                &[
                    &id,
                    &worker,
                    &state,
                    &after,
                    &give_up,
                    &counts,
                    &attempt.error,
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The deliveries of one alert of `tenant` with their attempts, in
    /// transition order then channel.
    pub async fn deliveries_of_alert(
        &self,
        tenant: &str,
        alert_id: &str,
    ) -> Result<Vec<Delivery>, MetadataError> {
        let Ok(uuid) = Uuid::parse_str(alert_id) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT d.id, d.channel_id, c.name, c.kind, e.kind AS event_kind, \
                   d.idempotency_key, d.state, d.next_attempt_at, d.created_at \
                 FROM deliveries d \
                 JOIN channels c ON c.id = d.channel_id \
                 JOIN alert_events e ON e.seq = d.event_seq \
                 WHERE d.tenant_id = $1 AND d.alert_id = $2 \
                 ORDER BY d.event_seq, c.name, d.id",
                &[&tenant, &uuid],
            )
            .await?;
        let mut deliveries: Vec<Delivery> = rows
            .iter()
            .map(|row| {
                let state: String = row.get("state");
                Delivery {
                    id: row.get("id"),
                    channel_id: row.get::<_, Uuid>("channel_id").to_string(),
                    channel_name: row.get("name"),
                    channel_kind: row.get("kind"),
                    event_kind: row.get("event_kind"),
                    idempotency_key: row.get("idempotency_key"),
                    next_attempt_at: (state == "pending").then(|| row.get("next_attempt_at")),
                    state,
                    created_at: row.get("created_at"),
                    attempts: Vec::new(),
                }
            })
            .collect();
        let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
        for (id, attempt) in attempts_of(&client, "delivery_attempts", &ids).await? {
            if let Some(d) = deliveries.iter_mut().find(|d| d.id == id) {
                d.attempts.push(attempt);
            }
        }
        Ok(deliveries)
    }

    /// Wake-ups after enqueued deliveries (LISTEN on
    /// [`DELIVERIES_CHANNEL`]); see [`Metadata::listen_events`].
    pub async fn listen_deliveries(&self) -> Result<crate::EventListener, MetadataError> {
        self.listen(DELIVERIES_CHANNEL).await
    }
}

/// The channel of a claim row (columns prefixed `channel_`).
fn channel_of_prefixed(row: &tokio_postgres::Row) -> Result<Channel, MetadataError> {
    let kind: String = row.get("channel_kind");
    Ok(Channel {
        id: row.get::<_, Uuid>("channel_id").to_string(),
        tenant_id: row.get("channel_tenant"),
        name: row.get("channel_name"),
        config: ChannelConfig::from_columns(&kind, row.get("channel_config"))?,
        created_at: row.get("channel_created_at"),
    })
}
