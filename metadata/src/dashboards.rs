//! Saved dashboards: created, replaced (the version grows; a caller may
//! insist on the version it read), listed by name and soft-deleted by the
//! API, each change audited in its transaction. The widgets are what the
//! API validated with `reporting::ValidDashboard`; this module stores them
//! as given.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::reports::definitions::{like_pattern, parse_uuid};
use crate::rules::audit;
use crate::{Metadata, MetadataError};

/// A dashboard's content, as the API validated it.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardBody {
    pub name: String,
    pub description: Option<String>,
    /// A JSON array of widgets.
    pub widgets: Value,
}

impl DashboardBody {
    /// As the audit log keeps it.
    fn to_json(&self) -> Value {
        json!({"name": self.name, "description": self.description, "widgets": self.widgets})
    }
}

/// A stored dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDashboard {
    pub id: String,
    pub tenant_id: String,
    pub body: DashboardBody,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// What a replace did.
#[derive(Debug, Clone, PartialEq)]
pub enum Replaced {
    Done(StoredDashboard),
    /// No live dashboard of the tenant has that id.
    NotFound,
    /// The dashboard is at another version than the caller expected.
    VersionMismatch {
        current: i32,
    },
}

/// A page of dashboards, by name then id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DashboardFilter {
    /// Case-insensitive substring of the name or the description.
    pub search: Option<String>,
    /// The id of the last row of the previous page: the page starts after
    /// its (name, id). An id no dashboard of the tenant has gives an empty
    /// page.
    pub after: Option<String>,
    pub limit: i64,
}

const COLUMNS: &str =
    "id, tenant_id, name, description, widgets, created_by, created_at, updated_at, version";

fn dashboard_of(row: &tokio_postgres::Row) -> StoredDashboard {
    StoredDashboard {
        id: row.get::<_, Uuid>("id").to_string(),
        tenant_id: row.get("tenant_id"),
        body: DashboardBody {
            name: row.get("name"),
            description: row.get("description"),
            widgets: row.get("widgets"),
        },
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        version: row.get("version"),
    }
}

fn select_one_sql() -> String {
    format!("SELECT {COLUMNS} FROM dashboards WHERE tenant_id = $1 AND id = $2 AND NOT deleted")
}

impl Metadata {
    /// Create a dashboard of `tenant`.
    pub async fn create_dashboard(
        &self,
        tenant: &str,
        principal: &str,
        body: &DashboardBody,
    ) -> Result<StoredDashboard, MetadataError> {
        let id = Uuid::new_v4();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO dashboards (id, tenant_id, name, description, widgets, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
                ),
                &[
                    &id,
                    &tenant,
                    &body.name,
                    &body.description,
                    &body.widgets,
                    &principal,
                ],
            )
            .await?;
        let detail = body.to_json();
        audit(
            &tx,
            tenant,
            principal,
            "create",
            "dashboard",
            &id.to_string(),
            Some(&detail),
        )
        .await?;
        tx.commit().await?;
        Ok(dashboard_of(&row))
    }

    /// One live dashboard of `tenant`.
    pub async fn dashboard(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<StoredDashboard>, MetadataError> {
        let Some(id) = parse_uuid(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client.query_opt(&select_one_sql(), &[&tenant, &id]).await?;
        Ok(row.as_ref().map(dashboard_of))
    }

    /// Replace a live dashboard's body; its version grows by one. With
    /// `expected`, only if the dashboard is at that version.
    pub async fn replace_dashboard(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
        body: &DashboardBody,
        expected: Option<i32>,
    ) -> Result<Replaced, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(Replaced::NotFound);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let current = tx
            .query_opt(
                "SELECT version FROM dashboards \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted FOR UPDATE",
                &[&tenant, &uuid],
            )
            .await?;
        let Some(current) = current.map(|row| row.get::<_, i32>("version")) else {
            return Ok(Replaced::NotFound);
        };
        if expected.is_some_and(|v| v != current) {
            return Ok(Replaced::VersionMismatch { current });
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE dashboards SET name = $3, description = $4, widgets = $5, \
                       version = version + 1, updated_at = now() \
                     WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                &[&tenant, &uuid, &body.name, &body.description, &body.widgets],
            )
            .await?;
        let detail = body.to_json();
        audit(
            &tx,
            tenant,
            principal,
            "update",
            "dashboard",
            id,
            Some(&detail),
        )
        .await?;
        tx.commit().await?;
        Ok(Replaced::Done(dashboard_of(&row)))
    }

    /// Soft-delete a dashboard. False when there was no such live
    /// dashboard.
    pub async fn delete_dashboard(
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
                "UPDATE dashboards SET deleted = true, updated_at = now() \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted",
                &[&tenant, &uuid],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        audit(&tx, tenant, principal, "delete", "dashboard", id, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A page of live dashboards of `tenant`, by name then id (`limit` + 1
    /// rows are asked for by callers who want to know whether there is
    /// more).
    pub async fn list_dashboards(
        &self,
        tenant: &str,
        filter: &DashboardFilter,
    ) -> Result<Vec<StoredDashboard>, MetadataError> {
        let after = match &filter.after {
            Some(id) => match parse_uuid(id) {
                Some(uuid) => Some(uuid),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let search = filter.search.as_deref().map(like_pattern);
        let sql = format!(
            "SELECT {COLUMNS} FROM dashboards d \
             WHERE tenant_id = $1 AND NOT deleted \
               AND ($2::text IS NULL OR name ILIKE $2 OR coalesce(description, '') ILIKE $2) \
               AND ($3::uuid IS NULL OR (name, id) > \
                 ((SELECT x.name FROM dashboards x WHERE x.id = $3 AND x.tenant_id = $1), $3::uuid)) \
             ORDER BY name, id LIMIT $4"
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &[&tenant, &search, &after, &filter.limit])
            .await?;
        Ok(rows.iter().map(dashboard_of).collect())
    }
}
