//! Schedules: at most one per definition, set, paused, resumed and
//! cancelled by the API (audited), and the scheduler's step: due schedules
//! are locked (`FOR UPDATE SKIP LOCKED`, so instances share the work),
//! each gets at most one run per scheduled instant (the unique key
//! `(definition_id, scheduled_for)` holds even if two steps raced), and
//! its next instant, in one transaction.
//!
//! When a schedule runs and what its next instant is are decided by the
//! caller (the pure `reporting` crate); the database's clock is the one
//! every instance uses.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::definitions::parse_uuid;
use crate::rules::audit;
use crate::{Metadata, MetadataError};

/// A stored schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchedule {
    pub definition_id: String,
    /// The schedule as the API took it (cron or preset, time zone,
    /// recipients, missed-run policy).
    pub spec: Value,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_scheduled_for: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// The schedule columns of a join with `report_schedules s`.
pub(crate) const SCHEDULE_COLUMNS: &str = "s.definition_id AS s_definition_id, s.spec AS s_spec, \
     s.enabled AS s_enabled, s.next_run_at AS s_next_run_at, \
     s.last_scheduled_for AS s_last_scheduled_for, s.created_at AS s_created_at, \
     s.updated_at AS s_updated_at, s.version AS s_version";

pub(crate) fn schedule_of(row: &tokio_postgres::Row) -> StoredSchedule {
    StoredSchedule {
        definition_id: row.get::<_, Uuid>("s_definition_id").to_string(),
        spec: row.get("s_spec"),
        enabled: row.get("s_enabled"),
        next_run_at: row.get("s_next_run_at"),
        last_scheduled_for: row.get("s_last_scheduled_for"),
        created_at: row.get("s_created_at"),
        updated_at: row.get("s_updated_at"),
        version: row.get("s_version"),
    }
}

/// A due schedule, locked for the step.
#[derive(Debug, Clone, PartialEq)]
pub struct DueSchedule {
    pub definition_id: String,
    pub tenant_id: String,
    pub spec: Value,
    /// The instant it was due at (`next_run_at`).
    pub due_at: DateTime<Utc>,
    pub last_scheduled_for: Option<DateTime<Utc>>,
}

/// What the scheduler decided for a due schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleStep {
    /// Create the run of this scheduled instant (none: skipped).
    pub run_for: Option<DateTime<Utc>>,
    /// The next instant (none: never again).
    pub next_run_at: Option<DateTime<Utc>>,
}

impl Metadata {
    /// Set (create or replace) the schedule of a live definition;
    /// `next_run_at` computed by the caller. `None` when there is no such
    /// definition.
    pub async fn put_schedule(
        &self,
        tenant: &str,
        principal: &str,
        definition_id: &str,
        spec: &Value,
        enabled: bool,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<Option<StoredSchedule>, MetadataError> {
        let Some(uuid) = parse_uuid(definition_id) else {
            return Ok(None);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let live = tx
            .query_opt(
                "SELECT 1 FROM report_definitions WHERE tenant_id = $1 AND id = $2 AND NOT deleted \
                 FOR UPDATE",
                &[&tenant, &uuid],
            )
            .await?;
        if live.is_none() {
            return Ok(None);
        }
        let row = tx
            .query_one(
                "INSERT INTO report_schedules AS s \
                   (definition_id, tenant_id, spec, enabled, next_run_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (definition_id) DO UPDATE SET spec = EXCLUDED.spec, \
                   enabled = EXCLUDED.enabled, next_run_at = EXCLUDED.next_run_at, \
                   updated_at = now(), version = s.version + 1 \
                 RETURNING s.definition_id AS s_definition_id, s.spec AS s_spec, \
                   s.enabled AS s_enabled, s.next_run_at AS s_next_run_at, \
                   s.last_scheduled_for AS s_last_scheduled_for, s.created_at AS s_created_at, \
                   s.updated_at AS s_updated_at, s.version AS s_version",
                &[&uuid, &tenant, spec, &enabled, &next_run_at, &principal],
            )
            .await?;
        audit(
            &tx,
            tenant,
            principal,
            "put",
            "report_schedule",
            definition_id,
            Some(spec),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(schedule_of(&row)))
    }

    /// The schedule of a live definition.
    pub async fn schedule(
        &self,
        tenant: &str,
        definition_id: &str,
    ) -> Result<Option<StoredSchedule>, MetadataError> {
        let Some(uuid) = parse_uuid(definition_id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {SCHEDULE_COLUMNS} FROM report_schedules s \
                     JOIN report_definitions d ON d.id = s.definition_id AND NOT d.deleted \
                     WHERE s.tenant_id = $1 AND s.definition_id = $2"
                ),
                &[&tenant, &uuid],
            )
            .await?;
        Ok(row.as_ref().map(schedule_of))
    }

    /// Pause (`enabled` false, no next instant) or resume (`enabled` true
    /// with the next instant the caller computed from now).
    pub async fn set_schedule_enabled(
        &self,
        tenant: &str,
        principal: &str,
        definition_id: &str,
        enabled: bool,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<Option<StoredSchedule>, MetadataError> {
        let Some(uuid) = parse_uuid(definition_id) else {
            return Ok(None);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "UPDATE report_schedules s SET enabled = $3, next_run_at = $4, updated_at = now(), \
                   version = s.version + 1 \
                 FROM report_definitions d \
                 WHERE d.id = s.definition_id AND NOT d.deleted \
                   AND s.tenant_id = $1 AND s.definition_id = $2 \
                 RETURNING s.definition_id AS s_definition_id, s.spec AS s_spec, \
                   s.enabled AS s_enabled, s.next_run_at AS s_next_run_at, \
                   s.last_scheduled_for AS s_last_scheduled_for, s.created_at AS s_created_at, \
                   s.updated_at AS s_updated_at, s.version AS s_version",
                &[&tenant, &uuid, &enabled, &next_run_at],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let action = if enabled { "resume" } else { "pause" };
        audit(
            &tx,
            tenant,
            principal,
            action,
            "report_schedule",
            definition_id,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(schedule_of(&row)))
    }

    /// Cancel (remove) a definition's schedule; runs already created stay.
    pub async fn delete_schedule(
        &self,
        tenant: &str,
        principal: &str,
        definition_id: &str,
    ) -> Result<bool, MetadataError> {
        let Some(uuid) = parse_uuid(definition_id) else {
            return Ok(false);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "DELETE FROM report_schedules WHERE tenant_id = $1 AND definition_id = $2",
                &[&tenant, &uuid],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        audit(
            &tx,
            tenant,
            principal,
            "delete",
            "report_schedule",
            definition_id,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The schedules of `tenant` with their definitions' names, by next
    /// instant (paused last).
    pub async fn list_schedules(
        &self,
        tenant: &str,
    ) -> Result<Vec<(StoredSchedule, String)>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {SCHEDULE_COLUMNS}, d.name FROM report_schedules s \
                     JOIN report_definitions d ON d.id = s.definition_id AND NOT d.deleted \
                     WHERE s.tenant_id = $1 \
                     ORDER BY s.next_run_at NULLS LAST, s.definition_id"
                ),
                &[&tenant],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (schedule_of(row), row.get("name")))
            .collect())
    }

    /// One scheduler step over at most `limit` due schedules: each is
    /// locked, `decide(schedule, now)` says which instant to run and the
    /// next one, and the run (trigger `schedule`, the schedule's
    /// recipients, the definition as it is now) and the new `next_run_at`
    /// are written in one transaction. Returns the runs created (a run the
    /// unique key already had is not created again).
    pub async fn step_schedules(
        &self,
        limit: i64,
        mut decide: impl FnMut(&DueSchedule, DateTime<Utc>) -> ScheduleStep,
    ) -> Result<Vec<String>, MetadataError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let now: DateTime<Utc> = tx.query_one("SELECT now()", &[]).await?.get(0);
        let rows = tx
            .query(
                "SELECT s.definition_id, s.tenant_id, s.spec, s.next_run_at, s.last_scheduled_for \
                 FROM report_schedules s \
                 JOIN report_definitions d ON d.id = s.definition_id AND NOT d.deleted \
                 WHERE s.enabled AND s.next_run_at <= now() \
                 ORDER BY s.next_run_at LIMIT $1 \
                 FOR UPDATE OF s SKIP LOCKED",
                &[&limit],
            )
            .await?;
        let mut created = Vec::new();
        for row in &rows {
            let due = DueSchedule {
                definition_id: row.get::<_, Uuid>("definition_id").to_string(),
                tenant_id: row.get("tenant_id"),
                spec: row.get("spec"),
                due_at: row.get("next_run_at"),
                last_scheduled_for: row.get("last_scheduled_for"),
            };
            let step = decide(&due, now);
            let uuid: Uuid = row.get("definition_id");
            if let Some(run_for) = step.run_for {
                let recipients = due
                    .spec
                    .get("recipients")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new()));
                let run = Uuid::new_v4();
                let n = tx
                    .execute(
                        "INSERT INTO report_runs (id, tenant_id, definition_id, definition_version, \
                           definition, trigger, scheduled_for, recipients, created_by) \
                         SELECT $1, d.tenant_id, d.id, d.version, \
                           jsonb_build_object('name', d.name, 'description', d.description, \
                             'tags', to_jsonb(d.tags), 'kind', d.kind, 'parameters', d.parameters, \
                             'formats', to_jsonb(d.formats)), \
                           'schedule', $3, $4, 'scheduler' \
                         FROM report_definitions d WHERE d.id = $2 \
                         ON CONFLICT (definition_id, scheduled_for) DO NOTHING",
                        &[&run, &uuid, &run_for, &recipients],
                    )
                    .await?;
                if n == 1 {
                    created.push(run.to_string());
                }
            }
            tx.execute(
                "UPDATE report_schedules SET next_run_at = $2, \
                   last_scheduled_for = coalesce($3, last_scheduled_for) \
                 WHERE definition_id = $1",
                &[&uuid, &step.next_run_at, &step.run_for],
            )
            .await?;
        }
        if !created.is_empty() {
            tx.execute(&format!("NOTIFY {}", super::RUNS_CHANNEL), &[])
                .await?;
        }
        tx.commit().await?;
        Ok(created)
    }
}
