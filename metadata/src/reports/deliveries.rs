//! Deliveries of succeeded runs: one per (run, recipient), enqueued by the
//! transaction that finishes the run, claimed by workers with a lease
//! (`FOR UPDATE SKIP LOCKED`) and finished by the lease holder with an
//! attempt logged: like alert deliveries ([`crate::deliveries`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::definitions::parse_uuid;
use super::REPORT_DELIVERIES_CHANNEL;
use crate::deliveries::{attempts_of, millis, Attempt, AttemptRecord, NextState};
use crate::{Metadata, MetadataError};

/// A delivery claimed by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedReportDelivery {
    pub id: i64,
    pub tenant_id: String,
    pub run_id: String,
    pub recipient: String,
    /// `email` or `webhook`.
    pub kind: String,
    /// Sends tried before this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// A delivery of a run as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportDelivery {
    pub id: i64,
    pub recipient: String,
    pub kind: String,
    pub state: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub attempts: Vec<Attempt>,
}

impl Metadata {
    /// Claim up to `limit` due report deliveries for `worker`.
    pub async fn claim_report_deliveries(
        &self,
        worker: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<ClaimedReportDelivery>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE report_deliveries SET leased_by = $1, \
                   lease_until = now() + $2::bigint * interval '1 millisecond', updated_at = now() \
                 WHERE id IN ( \
                   SELECT id FROM report_deliveries \
                   WHERE state = 'pending' AND next_attempt_at <= now() \
                     AND (lease_until IS NULL OR lease_until < now()) \
                   ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, tenant_id, run_id, recipient, kind, attempts, created_at",
                &[&worker, &millis(lease), &limit],
            )
            .await?;
        let mut claimed: Vec<ClaimedReportDelivery> = rows
            .iter()
            .map(|row| ClaimedReportDelivery {
                id: row.get("id"),
                tenant_id: row.get("tenant_id"),
                run_id: row.get::<_, Uuid>("run_id").to_string(),
                recipient: row.get("recipient"),
                kind: row.get("kind"),
                attempts: row.get("attempts"),
                created_at: row.get("created_at"),
            })
            .collect();
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    /// Log an attempt of a delivery `worker` holds and move it on. False
    /// when the worker no longer held it (the attempt is logged anyway).
    pub async fn finish_report_delivery(
        &self,
        id: i64,
        worker: &str,
        attempt: &AttemptRecord,
        next: NextState,
    ) -> Result<bool, MetadataError> {
        let (state, after, give_up) = match next {
            NextState::Delivered => ("delivered", 0, 0),
            NextState::Suppressed | NextState::Failed => ("failed", 0, 0),
            NextState::Retry { after, give_up } => ("pending", millis(after), millis(give_up)),
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO report_delivery_attempts \
               (delivery_id, outcome, http_status, error, duration_ms, worker) \
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
        let n = tx
            .execute(
                "UPDATE report_deliveries SET \
                   state = CASE WHEN $3::text = 'pending' \
                     AND created_at + $5::bigint * interval '1 millisecond' <= now() \
                     THEN 'failed' ELSE $3::text END, \
                   attempts = attempts + 1, \
                   next_attempt_at = now() + $4::bigint * interval '1 millisecond', \
                   lease_until = NULL, leased_by = NULL, \
                   last_error = CASE WHEN $3::text = 'delivered' THEN NULL \
                     ELSE coalesce($6::text, last_error) END, \
                   updated_at = now() \
                 WHERE id = $1 AND leased_by = $2 AND state = 'pending'",
                &[&id, &worker, &state, &after, &give_up, &attempt.error],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The deliveries of a run of `tenant` with their attempts.
    pub async fn deliveries_of_run(
        &self,
        tenant: &str,
        run_id: &str,
    ) -> Result<Vec<ReportDelivery>, MetadataError> {
        let Some(uuid) = parse_uuid(run_id) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, recipient, kind, state, next_attempt_at, last_error \
                 FROM report_deliveries WHERE tenant_id = $1 AND run_id = $2 ORDER BY id",
                &[&tenant, &uuid],
            )
            .await?;
        let mut deliveries: Vec<ReportDelivery> = rows
            .iter()
            .map(|row| {
                let state: String = row.get("state");
                ReportDelivery {
                    id: row.get("id"),
                    recipient: row.get("recipient"),
                    kind: row.get("kind"),
                    next_attempt_at: (state == "pending").then(|| row.get("next_attempt_at")),
                    state,
                    last_error: row.get("last_error"),
                    attempts: Vec::new(),
                }
            })
            .collect();
        let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
        for (id, attempt) in attempts_of(&client, "report_delivery_attempts", &ids).await? {
            if let Some(d) = deliveries.iter_mut().find(|d| d.id == id) {
                d.attempts.push(attempt);
            }
        }
        Ok(deliveries)
    }

    /// Wake-ups after report deliveries are enqueued.
    pub async fn listen_report_deliveries(&self) -> Result<crate::EventListener, MetadataError> {
        self.listen(REPORT_DELIVERIES_CHANNEL).await
    }
}
