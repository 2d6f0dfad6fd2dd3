//! A tenant's report templates: a definition body without the tenant's
//! data (`body`, as the API validated it), versioned on update, soft
//! deleted. System templates live in the `reporting` crate, not here.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::definitions::parse_uuid;
use crate::rules::audit;
use crate::{Metadata, MetadataError};

/// A stored tenant template.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: Option<String>,
    pub body: Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

const COLUMNS: &str =
    "id, tenant_id, name, description, body, created_by, created_at, updated_at, version";

fn template_of(row: &tokio_postgres::Row) -> StoredTemplate {
    StoredTemplate {
        id: row.get::<_, Uuid>("id").to_string(),
        tenant_id: row.get("tenant_id"),
        name: row.get("name"),
        description: row.get("description"),
        body: row.get("body"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        version: row.get("version"),
    }
}

impl Metadata {
    /// Create a template of `tenant`.
    pub async fn create_template(
        &self,
        tenant: &str,
        principal: &str,
        name: &str,
        description: Option<&str>,
        body: &Value,
    ) -> Result<StoredTemplate, MetadataError> {
        let id = Uuid::new_v4();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO report_templates (id, tenant_id, name, description, body, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
                ),
                &[&id, &tenant, &name, &description, body, &principal],
            )
            .await?;
        audit(
            &tx,
            tenant,
            principal,
            "create",
            "report_template",
            &id.to_string(),
            Some(body),
        )
        .await?;
        tx.commit().await?;
        Ok(template_of(&row))
    }

    /// One live template of `tenant`.
    pub async fn template(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<StoredTemplate>, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM report_templates \
                     WHERE tenant_id = $1 AND id = $2 AND NOT deleted"
                ),
                &[&tenant, &uuid],
            )
            .await?;
        Ok(row.as_ref().map(template_of))
    }

    /// The live templates of `tenant`, by name.
    pub async fn list_templates(&self, tenant: &str) -> Result<Vec<StoredTemplate>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM report_templates WHERE tenant_id = $1 AND NOT deleted \
                     ORDER BY name, id"
                ),
                &[&tenant],
            )
            .await?;
        Ok(rows.iter().map(template_of).collect())
    }

    /// Replace a template; its version grows by one.
    pub async fn update_template(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
        name: &str,
        description: Option<&str>,
        body: &Value,
    ) -> Result<Option<StoredTemplate>, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(None);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE report_templates SET name = $3, description = $4, body = $5, \
                       version = version + 1, updated_at = now() \
                     WHERE tenant_id = $1 AND id = $2 AND NOT deleted RETURNING {COLUMNS}"
                ),
                &[&tenant, &uuid, &name, &description, body],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        audit(
            &tx,
            tenant,
            principal,
            "update",
            "report_template",
            id,
            Some(body),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(template_of(&row)))
    }

    /// Soft-delete a template. False when there was no such live template.
    pub async fn delete_template(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<bool, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(false);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE report_templates SET deleted = true, updated_at = now() \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted",
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
            "report_template",
            id,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
