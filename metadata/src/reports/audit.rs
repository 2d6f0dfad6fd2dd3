//! Reading the audit log (every change, and every report download).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{Metadata, MetadataError};

/// One audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub tenant_id: String,
    pub principal: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub at: DateTime<Utc>,
    pub detail: Option<Value>,
}

/// Entries of a tenant, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    /// Entries with an id below this (the previous page's last).
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Metadata {
    /// A page of `tenant`'s audit log, newest first.
    pub async fn list_audit(
        &self,
        tenant: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, tenant_id, principal, action, entity, entity_id, at, detail \
                 FROM audit_log WHERE tenant_id = $1 \
                   AND ($2::text IS NULL OR entity = $2) \
                   AND ($3::text IS NULL OR entity_id = $3) \
                   AND ($4::text IS NULL OR action = $4) \
                   AND ($5::text IS NULL OR principal = $5) \
                   AND ($6::bigint IS NULL OR id < $6) \
                 ORDER BY id DESC LIMIT $7",
                &[
                    &tenant,
                    &filter.entity,
                    &filter.entity_id,
                    &filter.action,
                    &filter.principal,
                    &filter.before_id,
                    &filter.limit,
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                id: row.get("id"),
                tenant_id: row.get("tenant_id"),
                principal: row.get("principal"),
                action: row.get("action"),
                entity: row.get("entity"),
                entity_id: row.get("entity_id"),
                at: row.get("at"),
                detail: row.get("detail"),
            })
            .collect())
    }
}
