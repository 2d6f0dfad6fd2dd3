//! Alert rules: what the API creates, replaces and deletes (each change
//! audited in the same transaction), and the outbox that carries every
//! change to the processors (committed here first, then published on the
//! rules topic, then marked published).

use alerting::{Rule, ValidRule};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::channels::lock_channels;
use crate::{Metadata, MetadataError};

/// A rule with its times.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub rule: Rule,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rule change still to publish: the rule, or `None` when deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleChange {
    pub id: String,
    pub tenant_id: String,
    pub revision: i64,
    pub rule: Option<Rule>,
}

fn decode(body: Value) -> Result<Rule, MetadataError> {
    serde_json::from_value(body).map_err(|e| MetadataError::Corrupt(format!("alert rule: {e}")))
}

fn encode(rule: &Rule) -> Result<Value, MetadataError> {
    serde_json::to_value(rule).map_err(|e| MetadataError::Corrupt(format!("alert rule: {e}")))
}

fn stored(row: &tokio_postgres::Row) -> Result<StoredRule, MetadataError> {
    Ok(StoredRule {
        rule: decode(row.get("body"))?,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

/// A rule id from a path: `None` when it is not a UUID (then no rule has it).
fn parse_id(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id).ok()
}

pub(crate) async fn audit(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    principal: &str,
    action: &str,
    entity: &str,
    entity_id: &str,
    detail: Option<&Value>,
) -> Result<(), MetadataError> {
    tx.execute(
        "INSERT INTO audit_log (tenant_id, principal, action, entity, entity_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&tenant, &principal, &action, &entity, &entity_id, &detail],
    )
    .await?;
    Ok(())
}

impl Metadata {
    /// Create a rule of `tenant`.
    pub async fn create_rule(
        &self,
        tenant: &str,
        principal: &str,
        rule: ValidRule,
    ) -> Result<StoredRule, MetadataError> {
        let id = Uuid::new_v4();
        let rule = rule.into_rule(id.to_string(), tenant.to_string(), 1);
        let body = encode(&rule)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_channels(&tx, tenant, &rule.channels).await?;
        let row = tx
            .query_one(
                "INSERT INTO alert_rules (id, tenant_id, revision, body) VALUES ($1, $2, 1, $3) \
                 RETURNING body, created_at, updated_at",
                &[&id, &tenant, &body],
            )
            .await?;
        audit(
            &tx,
            tenant,
            principal,
            "create",
            "alert_rule",
            &rule.id,
            Some(&body),
        )
        .await?;
        tx.commit().await?;
        stored(&row)
    }

    /// Every rule of `tenant`, oldest first.
    pub async fn list_rules(&self, tenant: &str) -> Result<Vec<StoredRule>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT body, created_at, updated_at FROM alert_rules \
                 WHERE tenant_id = $1 AND NOT deleted ORDER BY created_at, id",
                &[&tenant],
            )
            .await?;
        rows.iter().map(stored).collect()
    }

    /// One rule of `tenant`.
    pub async fn rule(&self, tenant: &str, id: &str) -> Result<Option<StoredRule>, MetadataError> {
        let Some(id) = parse_id(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT body, created_at, updated_at FROM alert_rules \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted",
                &[&tenant, &id],
            )
            .await?;
        row.as_ref().map(stored).transpose()
    }

    /// Replace a rule of `tenant` (a new revision); `None`: no such rule.
    pub async fn replace_rule(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
        rule: ValidRule,
    ) -> Result<Option<StoredRule>, MetadataError> {
        let Some(uuid) = parse_id(id) else {
            return Ok(None);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(current) = tx
            .query_opt(
                "SELECT revision FROM alert_rules \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted FOR UPDATE",
                &[&tenant, &uuid],
            )
            .await?
        else {
            return Ok(None);
        };
        let revision: i64 = current.get(0);
        let rule = rule.into_rule(uuid.to_string(), tenant.to_string(), revision as u64 + 1);
        lock_channels(&tx, tenant, &rule.channels).await?;
        let body = encode(&rule)?;
        let row = tx
            .query_one(
                "UPDATE alert_rules SET revision = $3, body = $4, updated_at = now() \
                 WHERE tenant_id = $1 AND id = $2 RETURNING body, created_at, updated_at",
                &[&tenant, &uuid, &(revision + 1), &body],
            )
            .await?;
        audit(
            &tx,
            tenant,
            principal,
            "replace",
            "alert_rule",
            &rule.id,
            Some(&body),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(stored(&row)?))
    }

    /// Delete a rule of `tenant` (kept as a tombstone until published);
    /// false: no such rule.
    pub async fn delete_rule(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<bool, MetadataError> {
        let Some(uuid) = parse_id(id) else {
            return Ok(false);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE alert_rules SET deleted = true, revision = revision + 1, updated_at = now() \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted",
                &[&tenant, &uuid],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        audit(&tx, tenant, principal, "delete", "alert_rule", id, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Rule changes not yet on the rules topic, oldest change first.
    pub async fn unpublished_rules(&self, limit: i64) -> Result<Vec<RuleChange>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, tenant_id, revision, deleted, body FROM alert_rules \
                 WHERE published_revision < revision ORDER BY updated_at, id LIMIT $1",
                &[&limit],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row.get("id");
                let deleted: bool = row.get("deleted");
                let mut rule = None;
                if !deleted {
                    let mut r = decode(row.get("body"))?;
                    r.revision = row.get::<_, i64>("revision") as u64;
                    rule = Some(r);
                }
                Ok(RuleChange {
                    id: id.to_string(),
                    tenant_id: row.get("tenant_id"),
                    revision: row.get("revision"),
                    rule,
                })
            })
            .collect()
    }

    /// Mark a change published (a later revision stays unpublished).
    pub async fn mark_rule_published(&self, id: &str, revision: i64) -> Result<(), MetadataError> {
        let Some(uuid) = parse_id(id) else {
            return Ok(());
        };
        let client = self.client().await?;
        client
            .execute(
                "UPDATE alert_rules SET published_revision = greatest(published_revision, $2) \
                 WHERE id = $1",
                &[&uuid, &revision],
            )
            .await?;
        Ok(())
    }

    /// The audit log of `tenant` for one entity, oldest first:
    /// (principal, action, time).
    pub async fn audit_of(
        &self,
        tenant: &str,
        entity: &str,
        entity_id: &str,
    ) -> Result<Vec<(String, String, DateTime<Utc>)>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT principal, action, at FROM audit_log \
                 WHERE tenant_id = $1 AND entity = $2 AND entity_id = $3 ORDER BY id",
                &[&tenant, &entity, &entity_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}
