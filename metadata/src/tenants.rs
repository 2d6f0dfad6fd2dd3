//! The tenants registry: tenants with their display name, default rate
//! limits and zone history, what platform admins create, change and delete
//! (each change audited in the same transaction), and the outbox that
//! carries every change to the processors as the tenant's whole record.
//!
//! Zone histories are append-only: a change is an entry effective at
//! least the change delay after its commit, later than every entry the
//! tenant has, so no entry an event was already zoned by ever changes
//! (ARCHITECTURE.md, "Tenants registry"), but by a rebase: rebuilding
//! the tenant's rollups moves its whole history to its latest zone.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use runtime::tenant_directory::{TenantRecord, ZoneChange};
use serde_json::json;

use crate::rules::audit;
use crate::{Metadata, MetadataError};

/// The entity name of tenant rows in the audit log.
const ENTITY: &str = "tenant";

/// A tenant as stored: its record (as published) and its times.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTenant {
    pub record: TenantRecord,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A tenant to create (validated by the caller: id, zone name, limits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    pub id: String,
    pub display_name: String,
    pub timezone: String,
    pub rate_limit_per_second: Option<u32>,
    pub rate_limit_burst: Option<u32>,
}

/// A change to a tenant; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPatch {
    pub display_name: Option<String>,
    /// A new zone, from `effective_from` on.
    pub zone: Option<(String, DateTime<Utc>)>,
    /// `Some(None)` clears a limit (the server's default applies).
    pub rate_limit_per_second: Option<Option<u32>>,
    pub rate_limit_burst: Option<Option<u32>>,
}

/// What creating a tenant did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    Created(StoredTenant),
    /// The id is taken (by a live or a deleted tenant: ids are not reused,
    /// the deleted one's events still carry it).
    Taken {
        deleted: bool,
    },
}

/// What changing a tenant did.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    Updated(StoredTenant),
    NotFound,
    /// The zone change is not later than an entry already there.
    ZoneNotAfter {
        latest: DateTime<Utc>,
    },
}

fn from_column(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

fn limit(n: Option<u32>) -> Result<Option<i32>, MetadataError> {
    n.map(|n| {
        i32::try_from(n).map_err(|_| MetadataError::Config(format!("rate limit {n} too large")))
    })
    .transpose()
}

/// The zones of each of `ids`, oldest first.
async fn zones_of(
    client: &impl deadpool_postgres::GenericClient,
    ids: &[String],
) -> Result<HashMap<String, Vec<ZoneChange>>, MetadataError> {
    let rows = client
        .query(
            "SELECT tenant_id, effective_from, timezone FROM tenant_zones \
             WHERE tenant_id = ANY($1) AND superseded_at IS NULL \
             ORDER BY tenant_id, effective_from",
            &[&ids],
        )
        .await?;
    let mut out: HashMap<String, Vec<ZoneChange>> = HashMap::new();
    for row in rows {
        out.entry(row.get(0)).or_default().push(ZoneChange {
            effective_from: row.get(1),
            timezone: row.get(2),
        });
    }
    Ok(out)
}

const COLUMNS: &str = "id, display_name, rate_limit_per_second, rate_limit_burst, \
                       created_at, updated_at, revision, deleted";

/// Rows of `tenants` (selected with [`COLUMNS`]) with their zones.
async fn assemble(
    client: &impl deadpool_postgres::GenericClient,
    rows: &[tokio_postgres::Row],
) -> Result<Vec<StoredTenant>, MetadataError> {
    let ids: Vec<String> = rows.iter().map(|r| r.get("id")).collect();
    let mut zones = zones_of(client, &ids).await?;
    rows.iter()
        .map(|row| {
            let id: String = row.get("id");
            let zones = zones.remove(&id).unwrap_or_default();
            if zones.is_empty() {
                return Err(MetadataError::Corrupt(format!("tenant {id} has no zone")));
            }
            Ok(StoredTenant {
                record: TenantRecord {
                    display_name: row.get("display_name"),
                    revision: u64::try_from(row.get::<_, i64>("revision")).unwrap_or(0),
                    zones,
                    rate_limit_per_second: from_column(row.get("rate_limit_per_second")),
                    rate_limit_burst: from_column(row.get("rate_limit_burst")),
                    deleted: row.get("deleted"),
                    id,
                },
                created_at: row.get("created_at"),
                updated_at: row.get("updated_at"),
            })
        })
        .collect()
}

fn detail(record: &TenantRecord) -> serde_json::Value {
    json!(record)
}

impl Metadata {
    /// Create a tenant; its zone applies from the beginning of time.
    pub async fn create_tenant(
        &self,
        principal: &str,
        tenant: NewTenant,
    ) -> Result<Created, MetadataError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(row) = tx
            .query_opt("SELECT deleted FROM tenants WHERE id = $1", &[&tenant.id])
            .await?
        {
            return Ok(Created::Taken {
                deleted: row.get(0),
            });
        }
        let inserted = tx
            .execute(
                "INSERT INTO tenants (id, display_name, rate_limit_per_second, rate_limit_burst) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                &[
                    &tenant.id,
                    &tenant.display_name,
                    &limit(tenant.rate_limit_per_second)?,
                    &limit(tenant.rate_limit_burst)?,
                ],
            )
            .await?;
        if inserted == 0 {
            // Created by another request since the check above.
            return Ok(Created::Taken { deleted: false });
        }
        tx.execute(
            "INSERT INTO tenant_zones (tenant_id, effective_from, timezone) \
             VALUES ($1, 'epoch', $2)",
            &[&tenant.id, &tenant.timezone],
        )
        .await?;
        let stored = one(&tx, &tenant.id, true).await?.ok_or_else(|| {
            MetadataError::Corrupt(format!("tenant {} vanished in its transaction", tenant.id))
        })?;
        audit(
            &tx,
            &tenant.id,
            principal,
            "create",
            ENTITY,
            &tenant.id,
            Some(&detail(&stored.record)),
        )
        .await?;
        tx.commit().await?;
        Ok(Created::Created(stored))
    }

    /// Add every `(tenant, zone)` seed whose tenant does not exist yet (the
    /// `TENANT_TIMEZONES` of older deployments), its zone from the
    /// beginning of time. Returns the tenants added.
    pub async fn seed_tenants(&self, seeds: &[(String, String)]) -> Result<usize, MetadataError> {
        let mut added = 0;
        for (id, zone) in seeds {
            let created = self
                .create_tenant(
                    "seed:TENANT_TIMEZONES",
                    NewTenant {
                        id: id.clone(),
                        display_name: id.clone(),
                        timezone: zone.clone(),
                        rate_limit_per_second: None,
                        rate_limit_burst: None,
                    },
                )
                .await?;
            if matches!(created, Created::Created(_)) {
                added += 1;
            }
        }
        Ok(added)
    }

    /// One live tenant.
    pub async fn tenant(&self, id: &str) -> Result<Option<StoredTenant>, MetadataError> {
        let client = self.client().await?;
        one(&client, id, false).await
    }

    /// Live tenants by id, after `after`, at most `limit`.
    pub async fn list_tenants(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredTenant>, MetadataError> {
        let client = self.client().await?;
        select(
            &client,
            "WHERE NOT deleted AND id > $1 ORDER BY id LIMIT $2",
            &[&after.unwrap_or(""), &limit],
        )
        .await
    }

    /// Every tenant, deleted ones too (their calendars still apply).
    pub async fn all_tenant_records(&self) -> Result<Vec<TenantRecord>, MetadataError> {
        let client = self.client().await?;
        Ok(records(select(&client, "ORDER BY id", &[]).await?))
    }

    /// Change a live tenant. A zone change must be later than every entry
    /// of its history.
    pub async fn update_tenant(
        &self,
        principal: &str,
        id: &str,
        patch: TenantPatch,
    ) -> Result<Updated, MetadataError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT rate_limit_per_second, rate_limit_burst FROM tenants \
                 WHERE id = $1 AND NOT deleted FOR UPDATE",
                &[&id],
            )
            .await?
        else {
            return Ok(Updated::NotFound);
        };
        if let Some((timezone, from)) = &patch.zone {
            let latest: DateTime<Utc> = tx
                .query_one(
                    "SELECT max(effective_from) FROM tenant_zones WHERE tenant_id = $1",
                    &[&id],
                )
                .await?
                .get(0);
            if *from <= latest {
                return Ok(Updated::ZoneNotAfter { latest });
            }
            tx.execute(
                "INSERT INTO tenant_zones (tenant_id, effective_from, timezone) VALUES ($1, $2, $3)",
                &[&id, from, timezone],
            )
            .await?;
        }
        let per_second = match patch.rate_limit_per_second {
            Some(v) => limit(v)?,
            None => row.get(0),
        };
        let burst = match patch.rate_limit_burst {
            Some(v) => limit(v)?,
            None => row.get(1),
        };
        tx.execute(
            "UPDATE tenants SET display_name = coalesce($2, display_name), \
             rate_limit_per_second = $3, rate_limit_burst = $4, \
             revision = revision + 1, updated_at = now() WHERE id = $1",
            &[&id, &patch.display_name, &per_second, &burst],
        )
        .await?;
        let stored = one(&tx, id, false)
            .await?
            .ok_or_else(|| MetadataError::Corrupt(format!("tenant {id} vanished")))?;
        audit(
            &tx,
            id,
            principal,
            "update",
            ENTITY,
            id,
            Some(&detail(&stored.record)),
        )
        .await?;
        tx.commit().await?;
        Ok(Updated::Updated(stored))
    }

    /// Rebase a live tenant's calendar on its latest zone, which then
    /// applies from the beginning of time (to events already written, once
    /// their rollups are rebuilt, and to late ones); the earlier entries
    /// are kept, superseded. `Some((record, true))`: rebased (a new
    /// revision, audited); `Some((record, false))`: the history had one
    /// zone already; `None`: no such tenant.
    pub async fn rebase_tenant_calendar(
        &self,
        principal: &str,
        id: &str,
    ) -> Result<Option<(TenantRecord, bool)>, MetadataError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if tx
            .query_opt(
                "SELECT 1 FROM tenants WHERE id = $1 AND NOT deleted FOR UPDATE",
                &[&id],
            )
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let superseded = tx
            .execute(
                "UPDATE tenant_zones SET superseded_at = now() \
                 WHERE tenant_id = $1 AND superseded_at IS NULL AND effective_from < \
                   (SELECT max(effective_from) FROM tenant_zones WHERE tenant_id = $1)",
                &[&id],
            )
            .await?;
        if superseded > 0 {
            tx.execute(
                "UPDATE tenants SET revision = revision + 1, updated_at = now() WHERE id = $1",
                &[&id],
            )
            .await?;
        }
        let stored = one(&tx, id, false)
            .await?
            .ok_or_else(|| MetadataError::Corrupt(format!("tenant {id} vanished")))?;
        if superseded > 0 {
            audit(
                &tx,
                id,
                principal,
                "rebase_calendar",
                ENTITY,
                id,
                Some(&detail(&stored.record)),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some((stored.record, superseded > 0)))
    }

    /// Delete a live tenant (it stays in the registry, marked deleted:
    /// its calendar still applies to its events); its record as deleted,
    /// `None`: no such tenant.
    pub async fn delete_tenant(
        &self,
        principal: &str,
        id: &str,
    ) -> Result<Option<TenantRecord>, MetadataError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE tenants SET deleted = true, revision = revision + 1, updated_at = now() \
                 WHERE id = $1 AND NOT deleted",
                &[&id],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        audit(&tx, id, principal, "delete", ENTITY, id, None).await?;
        let record = one(&tx, id, true).await?.map(|t| t.record);
        tx.commit().await?;
        Ok(record)
    }

    /// A number that moves whenever any tenant changes (the sum of the
    /// revisions, and the count): a cheap poll before a full read.
    pub async fn tenants_version(&self) -> Result<(i64, i64), MetadataError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce(sum(revision), 0)::bigint, count(*) FROM tenants",
                &[],
            )
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Tenants whose latest revision is not on the tenants topic yet,
    /// oldest change first.
    pub async fn unpublished_tenants(
        &self,
        limit: i64,
    ) -> Result<Vec<TenantRecord>, MetadataError> {
        let client = self.client().await?;
        let unpublished = select(
            &client,
            "WHERE published_revision < revision ORDER BY updated_at, id LIMIT $1",
            &[&limit],
        )
        .await?;
        Ok(records(unpublished))
    }

    /// Mark a tenant's revision published (a later one stays unpublished).
    pub async fn mark_tenant_published(
        &self,
        id: &str,
        revision: u64,
    ) -> Result<(), MetadataError> {
        let revision = i64::try_from(revision).unwrap_or(i64::MAX);
        let client = self.client().await?;
        client
            .execute(
                "UPDATE tenants SET published_revision = greatest(published_revision, $2) \
                 WHERE id = $1",
                &[&id, &revision],
            )
            .await?;
        Ok(())
    }
}

/// The tenants `SELECT {COLUMNS} FROM tenants {tail}` finds, with their
/// zones.
async fn select(
    client: &impl deadpool_postgres::GenericClient,
    tail: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<StoredTenant>, MetadataError> {
    let rows = client
        .query(&format!("SELECT {COLUMNS} FROM tenants {tail}"), params)
        .await?;
    assemble(client, &rows).await
}

/// The records of stored tenants.
fn records(tenants: Vec<StoredTenant>) -> Vec<TenantRecord> {
    tenants.into_iter().map(|t| t.record).collect()
}

/// One tenant (`deleted`: deleted ones too).
async fn one(
    client: &impl deadpool_postgres::GenericClient,
    id: &str,
    deleted: bool,
) -> Result<Option<StoredTenant>, MetadataError> {
    let mut found = select(
        client,
        "WHERE id = $1 AND (NOT deleted OR $2)",
        &[&id, &deleted],
    )
    .await?;
    Ok(found.pop())
}
