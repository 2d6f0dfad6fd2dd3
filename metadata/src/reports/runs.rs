//! Runs and their files. A run is created queued (by the scheduler, by
//! hand, by the API), claimed by one worker with a lease it renews while
//! it renders (`heartbeat_run`, which also reports progress and tells the
//! worker when the run was cancelled or taken over), and finished by that
//! worker only while it still holds the lease: the files and the
//! deliveries to the recipients are written in the transaction that marks
//! it succeeded. A run whose lease ran out (its worker died) is claimed
//! again, up to `max_attempts` claims; past that it fails.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::definitions::parse_uuid;
use super::RUNS_CHANNEL;
use crate::deliveries::millis;
use crate::rules::audit;
use crate::{Metadata, MetadataError};

/// A file of a succeeded run.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub run_id: String,
    pub tenant_id: String,
    pub format: String,
    pub storage_key: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A file a worker wrote, to record with the run.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFile {
    pub format: String,
    pub storage_key: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub id: String,
    pub tenant_id: String,
    pub definition_id: String,
    pub definition_version: i32,
    /// The definition's body when the run was created.
    pub definition: Value,
    /// `schedule`, `manual` or `api`.
    pub trigger: String,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub recipients: Value,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    pub progress: i32,
    pub error: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub as_of: Option<DateTime<Utc>>,
    pub rows_written: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub files: Vec<StoredFile>,
}

/// Runs of a tenant, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub definition_id: Option<String>,
    pub state: Option<String>,
    /// The id of the last run of the previous page: the page starts
    /// after its (created_at, id). An id no run has gives an empty page.
    pub before: Option<String>,
    pub limit: i64,
}

/// What became of a cancel request.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    NotFound,
    /// Cancelled now (a running run's worker stops at its next heartbeat).
    Cancelled(Box<StoredRun>),
    /// Already succeeded, failed or cancelled: unchanged.
    Finished(Box<StoredRun>),
}

/// The lease a worker holds on a claimed run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    pub run: StoredRun,
    /// This claim's number (1 for the first).
    pub attempt: i32,
}

const RUN_COLUMNS: &str =
    "r.id, r.tenant_id, r.definition_id, r.definition_version, r.definition, \
     r.trigger, r.scheduled_for, r.recipients, r.state, r.progress, r.error, r.attempts, \
     r.max_attempts, r.next_attempt_at, r.as_of, r.rows_written, r.created_by, r.created_at, \
     r.started_at, r.finished_at";

fn run_of(row: &tokio_postgres::Row) -> StoredRun {
    StoredRun {
        id: row.get::<_, Uuid>("id").to_string(),
        tenant_id: row.get("tenant_id"),
        definition_id: row.get::<_, Uuid>("definition_id").to_string(),
        definition_version: row.get("definition_version"),
        definition: row.get("definition"),
        trigger: row.get("trigger"),
        scheduled_for: row.get("scheduled_for"),
        recipients: row.get("recipients"),
        state: row.get("state"),
        progress: row.get("progress"),
        error: row.get("error"),
        attempts: row.get("attempts"),
        max_attempts: row.get("max_attempts"),
        next_attempt_at: row.get("next_attempt_at"),
        as_of: row.get("as_of"),
        rows_written: row.get("rows_written"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        files: Vec::new(),
    }
}

const FILE_COLUMNS: &str = "f.run_id, r.tenant_id, f.format, f.storage_key, f.file_name, \
     f.content_type, f.size, f.created_at, f.expires_at";

fn file_of(row: &tokio_postgres::Row) -> StoredFile {
    StoredFile {
        run_id: row.get::<_, Uuid>("run_id").to_string(),
        tenant_id: row.get("tenant_id"),
        format: row.get("format"),
        storage_key: row.get("storage_key"),
        file_name: row.get("file_name"),
        content_type: row.get("content_type"),
        size: row.get("size"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
    }
}

impl Metadata {
    /// Queue a run of a live definition of `tenant` (`manual` or `api`),
    /// to the schedule's recipients when it has one. `None` when there is
    /// no such definition.
    pub async fn create_run(
        &self,
        tenant: &str,
        principal: &str,
        definition_id: &str,
        trigger: &str,
    ) -> Result<Option<StoredRun>, MetadataError> {
        let Some(uuid) = parse_uuid(definition_id) else {
            return Ok(None);
        };
        let id = Uuid::new_v4();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "WITH r AS ( \
                       INSERT INTO report_runs (id, tenant_id, definition_id, definition_version, \
                         definition, trigger, recipients, created_by) \
                       SELECT $1, d.tenant_id, d.id, d.version, \
                         jsonb_build_object('name', d.name, 'description', d.description, \
                           'tags', to_jsonb(d.tags), 'kind', d.kind, 'parameters', d.parameters, \
                           'formats', to_jsonb(d.formats)), \
                         $4, coalesce(s.spec -> 'recipients', '[]'::jsonb), $5 \
                       FROM report_definitions d \
                       LEFT JOIN report_schedules s ON s.definition_id = d.id \
                       WHERE d.tenant_id = $2 AND d.id = $3 AND NOT d.deleted \
                       RETURNING *) \
                     SELECT {RUN_COLUMNS} FROM r"
                ),
                &[&id, &tenant, &uuid, &trigger, &principal],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        audit(
            &tx,
            tenant,
            principal,
            "run",
            "report_definition",
            definition_id,
            None,
        )
        .await?;
        tx.execute(&format!("NOTIFY {RUNS_CHANNEL}"), &[]).await?;
        tx.commit().await?;
        Ok(Some(run_of(&row)))
    }

    /// One run of `tenant` with its files.
    pub async fn run(&self, tenant: &str, id: &str) -> Result<Option<StoredRun>, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM report_runs r WHERE r.tenant_id = $1 AND r.id = $2"
                ),
                &[&tenant, &uuid],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut run = run_of(&row);
        run.files = self.files_of(&client, &[uuid]).await?;
        Ok(Some(run))
    }

    async fn files_of(
        &self,
        client: &deadpool_postgres::Object,
        runs: &[Uuid],
    ) -> Result<Vec<StoredFile>, MetadataError> {
        let rows = client
            .query(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM report_files f JOIN report_runs r ON r.id = f.run_id \
                     WHERE f.run_id = ANY($1) AND NOT f.deleted ORDER BY f.run_id, f.format"
                ),
                &[&runs],
            )
            .await?;
        Ok(rows.iter().map(file_of).collect())
    }

    /// A page of runs of `tenant`, newest first, with their files.
    pub async fn list_runs(
        &self,
        tenant: &str,
        filter: &RunFilter,
    ) -> Result<Vec<StoredRun>, MetadataError> {
        let definition = match &filter.definition_id {
            Some(id) => match parse_uuid(id) {
                Some(uuid) => Some(uuid),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let before = match &filter.before {
            Some(id) => match parse_uuid(id) {
                Some(uuid) => Some(uuid),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM report_runs r WHERE r.tenant_id = $1 \
                       AND ($2::uuid IS NULL OR r.definition_id = $2) \
                       AND ($3::text IS NULL OR r.state = $3) \
                       AND ($4::uuid IS NULL OR (r.created_at, r.id) < \
                         ((SELECT x.created_at FROM report_runs x WHERE x.id = $4 AND x.tenant_id = $1), $4::uuid)) \
                     ORDER BY r.created_at DESC, r.id DESC LIMIT $5"
                ),
                &[
                    &tenant,
                    &definition,
                    &filter.state,
                    &before,
                    &filter.limit,
                ],
            )
            .await?;
        let mut runs: Vec<StoredRun> = rows.iter().map(run_of).collect();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
        let files = self.files_of(&client, &ids).await?;
        for file in files {
            if let Some(run) = runs.iter_mut().find(|r| r.id == file.run_id) {
                run.files.push(file);
            }
        }
        Ok(runs)
    }

    /// Cancel a queued or running run of `tenant`.
    pub async fn cancel_run(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<CancelOutcome, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(CancelOutcome::NotFound);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "WITH r AS (UPDATE report_runs SET state = 'cancelled', finished_at = now(), \
                       leased_by = NULL, lease_until = NULL \
                     WHERE tenant_id = $1 AND id = $2 AND state IN ('queued', 'running') \
                     RETURNING *) SELECT {RUN_COLUMNS} FROM r"
                ),
                &[&tenant, &uuid],
            )
            .await?;
        if let Some(row) = row {
            audit(&tx, tenant, principal, "cancel", "report_run", id, None).await?;
            tx.commit().await?;
            return Ok(CancelOutcome::Cancelled(Box::new(run_of(&row))));
        }
        tx.commit().await?;
        Ok(match self.run(tenant, id).await? {
            Some(run) => CancelOutcome::Finished(Box::new(run)),
            None => CancelOutcome::NotFound,
        })
    }

    /// Claim the oldest due run for `worker` for `lease`: a queued run
    /// whose retry time has come, or a running run whose worker's lease ran
    /// out. A run out of attempts fails instead of being claimed.
    pub async fn claim_run(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedRun>, MetadataError> {
        let client = self.client().await?;
        // Runs whose worker died on their last attempt fail.
        client
            .execute(
                "UPDATE report_runs SET state = 'failed', finished_at = now(), \
                   leased_by = NULL, lease_until = NULL, \
                   error = coalesce(error || '; ', '') || 'the worker stopped ' || attempts || \
                     ' times before finishing (lease expired)' \
                 WHERE state = 'running' AND lease_until < now() AND attempts >= max_attempts",
                &[],
            )
            .await?;
        let row = client
            .query_opt(
                &format!(
                    "WITH r AS ( \
                       UPDATE report_runs SET state = 'running', leased_by = $1, \
                         lease_until = now() + $2::bigint * interval '1 millisecond', \
                         attempts = attempts + 1, progress = 0, \
                         started_at = coalesce(started_at, now()) \
                       WHERE id = ( \
                         SELECT id FROM report_runs \
                         WHERE (state = 'queued' AND next_attempt_at <= now()) \
                            OR (state = 'running' AND lease_until < now() AND attempts < max_attempts) \
                         ORDER BY next_attempt_at, created_at, id LIMIT 1 \
                         FOR UPDATE SKIP LOCKED) \
                       RETURNING *) \
                     SELECT {RUN_COLUMNS} FROM r"
                ),
                &[&worker, &millis(lease)],
            )
            .await?;
        Ok(row.map(|row| {
            let run = run_of(&row);
            ClaimedRun {
                attempt: run.attempts,
                run,
            }
        }))
    }

    /// Renew `worker`'s lease on a run and record its progress. False when
    /// the worker no longer holds it (cancelled, or taken over after its
    /// lease ran out): it must stop.
    pub async fn heartbeat_run(
        &self,
        id: &str,
        worker: &str,
        lease: Duration,
        progress: i32,
        rows_written: i64,
    ) -> Result<bool, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(false);
        };
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE report_runs SET lease_until = now() + $3::bigint * interval '1 millisecond', \
                   progress = greatest(progress, $4), rows_written = $5 \
                 WHERE id = $1 AND leased_by = $2 AND state = 'running'",
                &[&uuid, &worker, &millis(lease), &progress.clamp(0, 100), &rows_written],
            )
            .await?;
        Ok(n == 1)
    }

    /// Finish a run `worker` holds as succeeded: its files (kept until
    /// `retention` from now), `as_of`, and one delivery per recipient, in
    /// one transaction. False (nothing written) when the worker no longer
    /// held it.
    pub async fn finish_run(
        &self,
        id: &str,
        worker: &str,
        as_of: Option<DateTime<Utc>>,
        rows_written: i64,
        files: &[NewFile],
        retention: Duration,
    ) -> Result<bool, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(false);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "UPDATE report_runs SET state = 'succeeded', progress = 100, finished_at = now(), \
                   as_of = $3, rows_written = $4, leased_by = NULL, lease_until = NULL, error = NULL \
                 WHERE id = $1 AND leased_by = $2 AND state = 'running' \
                 RETURNING tenant_id, recipients",
                &[&uuid, &worker, &as_of, &rows_written],
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let tenant: String = row.get("tenant_id");
        let recipients: Value = row.get("recipients");
        for file in files {
            tx.execute(
                "INSERT INTO report_files (run_id, format, storage_key, file_name, content_type, \
                   size, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, now() + $7::bigint * interval '1 millisecond')",
                &[
                    &uuid,
                    &file.format,
                    &file.storage_key,
                    &file.file_name,
                    &file.content_type,
                    &file.size,
                    &millis(retention),
                ],
            )
            .await?;
        }
        let mut enqueued = 0;
        for recipient in recipients.as_array().into_iter().flatten() {
            let Some(recipient) = recipient.as_str() else {
                continue;
            };
            let kind = if recipient.contains("://") {
                "webhook"
            } else {
                "email"
            };
            enqueued += tx
                .execute(
                    "INSERT INTO report_deliveries (tenant_id, run_id, recipient, kind) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (run_id, recipient) DO NOTHING",
                    &[&tenant, &uuid, &recipient, &kind],
                )
                .await?;
        }
        if enqueued > 0 {
            tx.execute(&format!("NOTIFY {}", super::REPORT_DELIVERIES_CHANNEL), &[])
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A run `worker` holds failed with `error`: queued again after
    /// `retry_after` while it has attempts left, failed otherwise (or when
    /// `retry_after` is `None`: a permanent error). False when the worker
    /// no longer held it.
    pub async fn fail_run(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_after: Option<Duration>,
    ) -> Result<bool, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(false);
        };
        let retry = retry_after.map(millis);
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE report_runs SET \
                   state = CASE WHEN $4::bigint IS NOT NULL AND attempts < max_attempts \
                     THEN 'queued' ELSE 'failed' END, \
                   next_attempt_at = now() + coalesce($4::bigint, 0) * interval '1 millisecond', \
                   finished_at = CASE WHEN $4::bigint IS NOT NULL AND attempts < max_attempts \
                     THEN NULL ELSE now() END, \
                   error = $3, leased_by = NULL, lease_until = NULL \
                 WHERE id = $1 AND leased_by = $2 AND state = 'running'",
                &[&uuid, &worker, &error, &retry],
            )
            .await?;
        Ok(n == 1)
    }

    /// The live file of a run in `format`, whoever's tenant (a signed link
    /// names the run; the caller checks the signature first).
    pub async fn run_file(
        &self,
        run_id: &str,
        format: &str,
    ) -> Result<Option<StoredFile>, MetadataError> {
        let Some(uuid) = parse_uuid(run_id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM report_files f JOIN report_runs r ON r.id = f.run_id \
                     WHERE f.run_id = $1 AND f.format = $2 AND NOT f.deleted"
                ),
                &[&uuid, &format],
            )
            .await?;
        Ok(row.as_ref().map(file_of))
    }

    /// Up to `limit` files past their retention, oldest first.
    pub async fn expired_files(&self, limit: i64) -> Result<Vec<StoredFile>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM report_files f JOIN report_runs r ON r.id = f.run_id \
                     WHERE NOT f.deleted AND f.expires_at <= now() ORDER BY f.expires_at LIMIT $1"
                ),
                &[&limit],
            )
            .await?;
        Ok(rows.iter().map(file_of).collect())
    }

    /// Mark a file deleted (after the store removed it).
    pub async fn mark_file_deleted(&self, run_id: &str, format: &str) -> Result<(), MetadataError> {
        let Some(uuid) = parse_uuid(run_id) else {
            return Ok(());
        };
        let client = self.client().await?;
        client
            .execute(
                "UPDATE report_files SET deleted = true WHERE run_id = $1 AND format = $2",
                &[&uuid, &format],
            )
            .await?;
        Ok(())
    }

    /// Write an audit entry of `tenant` (e.g. a download).
    pub async fn audit(
        &self,
        tenant: &str,
        principal: &str,
        action: &str,
        entity: &str,
        entity_id: &str,
        detail: Option<&Value>,
    ) -> Result<(), MetadataError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        audit(&tx, tenant, principal, action, entity, entity_id, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Wake-ups when runs are queued (LISTEN on [`RUNS_CHANNEL`]).
    pub async fn listen_runs(&self) -> Result<crate::EventListener, MetadataError> {
        self.listen(RUNS_CHANNEL).await
    }
}
