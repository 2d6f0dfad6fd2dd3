//! Roles of API keys as a tenant admin changed them: a row overrides the
//! keys file's role of one key for its tenant, until it is deleted (the
//! file's role again). Every change is audited in the same transaction.
//! The keys themselves stay in the file; a key is named by its id (the
//! first 16 hex digits of its SHA-256), never by the key.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::rules::audit;
use crate::{Metadata, MetadataError};

/// The entity name of key role changes in the audit log.
const ENTITY: &str = "api_key";

/// The roles a tenant admin may give a key of its tenant.
pub const ROLES: [&str; 3] = ["viewer", "editor", "admin"];

/// One key's role as changed by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRole {
    pub tenant_id: String,
    pub key_id: String,
    /// One of [`ROLES`].
    pub role: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl Metadata {
    /// Every changed role, of every tenant.
    pub async fn key_roles(&self) -> Result<Vec<KeyRole>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant_id, key_id, role, updated_at, updated_by FROM key_roles \
                 ORDER BY tenant_id, key_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| KeyRole {
                tenant_id: r.get(0),
                key_id: r.get(1),
                role: r.get(2),
                updated_at: r.get(3),
                updated_by: r.get(4),
            })
            .collect())
    }

    /// A value that moves whenever a role changes (the count and the latest
    /// change): a cheap poll before a full read.
    pub async fn key_roles_version(&self) -> Result<(i64, Option<DateTime<Utc>>), MetadataError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*), max(updated_at) FROM key_roles", &[])
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Give key `key_id` of `tenant` the role `role` (one of [`ROLES`]), or
    /// with `None` the role the keys file gives it; audited under the
    /// tenant. `file_role` is recorded in the audit detail.
    pub async fn set_key_role(
        &self,
        principal: &str,
        tenant: &str,
        key_id: &str,
        role: Option<&str>,
        file_role: &str,
    ) -> Result<(), MetadataError> {
        if let Some(role) = role {
            if !ROLES.contains(&role) {
                return Err(MetadataError::Config(format!("unknown role {role:?}")));
            }
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let action = match role {
            Some(role) => {
                tx.execute(
                    "INSERT INTO key_roles (tenant_id, key_id, role, updated_by) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, key_id) DO UPDATE \
                     SET role = EXCLUDED.role, updated_by = EXCLUDED.updated_by, \
                         updated_at = now()",
                    &[&tenant, &key_id, &role, &principal],
                )
                .await?;
                "set_role"
            }
            None => {
                tx.execute(
                    "DELETE FROM key_roles WHERE tenant_id = $1 AND key_id = $2",
                    &[&tenant, &key_id],
                )
                .await?;
                "reset_role"
            }
        };
        let detail = json!({"role": role.unwrap_or(file_role), "file_role": file_role});
        audit(
            &tx,
            tenant,
            principal,
            action,
            ENTITY,
            key_id,
            Some(&detail),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
