//! Report definitions: created, replaced (the version grows), duplicated
//! and soft-deleted by the API, each change audited in its transaction.
//! The body (`kind`, `parameters`, `formats`) is what the API validated
//! with `reporting`; this module stores it as given.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::schedules::{schedule_of, StoredSchedule, SCHEDULE_COLUMNS};
use crate::rules::audit;
use crate::{Metadata, MetadataError};

/// A definition's content, as the API validated it.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionBody {
    pub name: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub kind: String,
    pub parameters: Value,
    pub formats: Vec<String>,
}

impl DefinitionBody {
    /// As the audit log and a run keep it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "kind": self.kind,
            "parameters": self.parameters,
            "formats": self.formats,
        })
    }
}

/// A stored definition with its schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDefinition {
    pub id: String,
    pub tenant_id: String,
    pub body: DefinitionBody,
    pub template_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
    pub schedule: Option<StoredSchedule>,
}

/// How a definition list is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefinitionSort {
    Name,
    #[default]
    CreatedAt,
    UpdatedAt,
}

impl DefinitionSort {
    fn column(self) -> &'static str {
        match self {
            DefinitionSort::Name => "d.name",
            DefinitionSort::CreatedAt => "d.created_at",
            DefinitionSort::UpdatedAt => "d.updated_at",
        }
    }
}

/// A page of definitions: filters, order and where the page starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DefinitionFilter {
    pub kind: Option<String>,
    pub tag: Option<String>,
    /// Case-insensitive substring of the name or the description.
    pub search: Option<String>,
    pub sort: DefinitionSort,
    pub descending: bool,
    /// The id of the last row of the previous page: the page starts after
    /// its (sort value, id). An id no definition has gives an empty page.
    pub after: Option<String>,
    pub limit: i64,
}

const COLUMNS: &str = "d.id, d.tenant_id, d.name, d.description, d.tags, d.kind, d.parameters, \
     d.formats, d.template_id, d.created_by, d.created_at, d.updated_at, d.version";

fn definition_of(row: &tokio_postgres::Row) -> StoredDefinition {
    let has_schedule = row
        .try_get::<_, Option<Uuid>>("s_definition_id")
        .ok()
        .flatten()
        .is_some();
    StoredDefinition {
        id: row.get::<_, Uuid>("id").to_string(),
        tenant_id: row.get("tenant_id"),
        body: DefinitionBody {
            name: row.get("name"),
            description: row.get("description"),
            tags: row.get("tags"),
            kind: row.get("kind"),
            parameters: row.get("parameters"),
            formats: row.get("formats"),
        },
        template_id: row.get("template_id"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        version: row.get("version"),
        schedule: has_schedule.then(|| schedule_of(row)),
    }
}

/// A UUID from a path; `None` (no such row) when it is not one.
pub(crate) fn parse_uuid(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id).ok()
}

/// `%` and `_` of a search term taken literally by ILIKE.
pub(crate) fn like_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Metadata {
    /// Create a definition of `tenant`.
    pub async fn create_definition(
        &self,
        tenant: &str,
        principal: &str,
        body: &DefinitionBody,
        template_id: Option<&str>,
    ) -> Result<StoredDefinition, MetadataError> {
        let id = Uuid::new_v4();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO report_definitions \
               (id, tenant_id, name, description, tags, kind, parameters, formats, template_id, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &id,
                &tenant,
                &body.name,
                &body.description,
                &body.tags,
                &body.kind,
                &body.parameters,
                &body.formats,
                &template_id,
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
            "report_definition",
            &id.to_string(),
            Some(&detail),
        )
        .await?;
        let row = tx.query_one(&select_one_sql(), &[&tenant, &id]).await?;
        tx.commit().await?;
        Ok(definition_of(&row))
    }

    /// One live definition of `tenant`.
    pub async fn definition(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<StoredDefinition>, MetadataError> {
        let Some(id) = parse_uuid(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client.query_opt(&select_one_sql(), &[&tenant, &id]).await?;
        Ok(row.as_ref().map(definition_of))
    }

    /// Replace a live definition's body; its version grows by one.
    pub async fn update_definition(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
        body: &DefinitionBody,
    ) -> Result<Option<StoredDefinition>, MetadataError> {
        let Some(uuid) = parse_uuid(id) else {
            return Ok(None);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE report_definitions SET name = $3, description = $4, tags = $5, kind = $6, \
                   parameters = $7, formats = $8, version = version + 1, updated_at = now() \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted",
                &[
                    &tenant,
                    &uuid,
                    &body.name,
                    &body.description,
                    &body.tags,
                    &body.kind,
                    &body.parameters,
                    &body.formats,
                ],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        let detail = body.to_json();
        audit(
            &tx,
            tenant,
            principal,
            "update",
            "report_definition",
            id,
            Some(&detail),
        )
        .await?;
        let row = tx.query_one(&select_one_sql(), &[&tenant, &uuid]).await?;
        tx.commit().await?;
        Ok(Some(definition_of(&row)))
    }

    /// Soft-delete a definition (its runs keep it) and drop its schedule.
    /// False when there was no such live definition.
    pub async fn delete_definition(
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
                "UPDATE report_definitions SET deleted = true, updated_at = now() \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted",
                &[&tenant, &uuid],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM report_schedules WHERE definition_id = $1",
            &[&uuid],
        )
        .await?;
        audit(
            &tx,
            tenant,
            principal,
            "delete",
            "report_definition",
            id,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A page of live definitions of `tenant` (`limit` + 1 rows are asked
    /// for by callers who want to know whether there is more).
    pub async fn list_definitions(
        &self,
        tenant: &str,
        filter: &DefinitionFilter,
    ) -> Result<Vec<StoredDefinition>, MetadataError> {
        let column = filter.sort.column();
        let (cmp, order) = if filter.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let after = match &filter.after {
            Some(id) => match parse_uuid(id) {
                Some(uuid) => Some(uuid),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let bare = column.trim_start_matches("d.");
        let sql = format!(
            "SELECT {COLUMNS}, {SCHEDULE_COLUMNS} FROM report_definitions d \
             LEFT JOIN report_schedules s ON s.definition_id = d.id \
             WHERE d.tenant_id = $1 AND NOT d.deleted \
               AND ($2::text IS NULL OR d.kind = $2) \
               AND ($3::text IS NULL OR $3 = ANY(d.tags)) \
               AND ($4::text IS NULL OR d.name ILIKE $4 OR coalesce(d.description, '') ILIKE $4) \
               AND ($5::uuid IS NULL OR ({column}, d.id) {cmp} \
                 ((SELECT x.{bare} FROM report_definitions x WHERE x.id = $5 AND x.tenant_id = $1), $5::uuid)) \
             ORDER BY {column} {order}, d.id {order} LIMIT $6"
        );
        let search = filter.search.as_deref().map(like_pattern);
        let client = self.client().await?;
        let rows = client
            .query(
                &sql,
                &[
                    &tenant,
                    &filter.kind,
                    &filter.tag,
                    &search,
                    &after,
                    &filter.limit,
                ],
            )
            .await?;
        Ok(rows.iter().map(definition_of).collect())
    }
}

fn select_one_sql() -> String {
    format!(
        "SELECT {COLUMNS}, {SCHEDULE_COLUMNS} FROM report_definitions d \
         LEFT JOIN report_schedules s ON s.definition_id = d.id \
         WHERE d.tenant_id = $1 AND d.id = $2 AND NOT d.deleted"
    )
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn search_terms_are_literal() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
