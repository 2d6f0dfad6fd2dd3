//! Silences (`alerts.md`, "Delivery channels"): a silence mutes the
//! notifications of the alerts that all its given matchers match
//! (`rule_id`, `campaign_id`, `severity`; at least one) while it is active,
//! from `starts_at` (inclusive) to `ends_at` (exclusive). It never changes
//! an alert's state. Created and deleted by the API, each change audited.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::rules::audit;
use crate::{Alert, Metadata, MetadataError};

/// What a silence matches: every given field must equal the alert's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SilenceMatchers {
    pub rule_id: Option<String>,
    pub campaign_id: Option<String>,
    pub severity: Option<String>,
}

impl SilenceMatchers {
    /// Whether no matcher is given (such a silence is refused).
    pub fn is_empty(&self) -> bool {
        self.rule_id.is_none() && self.campaign_id.is_none() && self.severity.is_none()
    }

    /// Whether every given matcher matches `alert`.
    pub fn matches(&self, alert: &Alert) -> bool {
        let same = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        same(&self.rule_id, &alert.rule_id)
            && same(&self.campaign_id, &alert.campaign_id)
            && self.severity.as_ref().is_none_or(|s| *s == alert.severity)
    }
}

/// A silence to create (checked by the caller: a matcher given, a known
/// severity, `ends_at` after `starts_at`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub matchers: SilenceMatchers,
    /// `None`: now (the database's clock).
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: DateTime<Utc>,
    pub comment: Option<String>,
}

/// A silence of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub tenant_id: String,
    pub matchers: SilenceMatchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub comment: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Active when it was read.
    pub active: bool,
}

const SILENCE_COLUMNS: &str = "id, tenant_id, rule_id, campaign_id, severity, starts_at, \
     ends_at, comment, created_by, created_at, (starts_at <= now() AND now() < ends_at) AS active";

fn silence_of(row: &tokio_postgres::Row) -> Silence {
    Silence {
        id: row.get::<_, Uuid>("id").to_string(),
        tenant_id: row.get("tenant_id"),
        matchers: SilenceMatchers {
            rule_id: row.get::<_, Option<Uuid>>("rule_id").map(|u| u.to_string()),
            campaign_id: row.get("campaign_id"),
            severity: row.get("severity"),
        },
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        comment: row.get("comment"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        active: row.get("active"),
    }
}

impl Metadata {
    /// Create a silence of `tenant`. A `rule_id` that is not a UUID is
    /// refused as [`MetadataError::Corrupt`]: the caller checks it first.
    pub async fn create_silence(
        &self,
        tenant: &str,
        principal: &str,
        silence: NewSilence,
    ) -> Result<Silence, MetadataError> {
        let id = Uuid::new_v4();
        let rule_id = match &silence.matchers.rule_id {
            Some(r) => Some(
                Uuid::parse_str(r)
                    .map_err(|e| MetadataError::Corrupt(format!("silence rule id {r:?}: {e}")))?,
            ),
            None => None,
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO silences (id, tenant_id, rule_id, campaign_id, severity, \
                     starts_at, ends_at, comment, created_by) \
                     VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), $7, $8, $9) \
                     RETURNING {SILENCE_COLUMNS}"
                ),
                &[
                    &id,
                    &tenant,
                    &rule_id,
                    &silence.matchers.campaign_id,
                    &silence.matchers.severity,
                    &silence.starts_at,
                    &silence.ends_at,
                    &silence.comment,
                    &principal,
                ],
            )
            .await?;
        let created = silence_of(&row);
        let detail = json!({
            "rule_id": created.matchers.rule_id,
            "campaign_id": created.matchers.campaign_id,
            "severity": created.matchers.severity,
            "starts_at": created.starts_at,
            "ends_at": created.ends_at,
            "comment": created.comment,
        });
        audit(
            &tx,
            tenant,
            principal,
            "create",
            "silence",
            &created.id,
            Some(&detail),
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The silences of `tenant` that are active or still to come (all of
    /// them with `include_expired`), by start.
    pub async fn list_silences(
        &self,
        tenant: &str,
        include_expired: bool,
    ) -> Result<Vec<Silence>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {SILENCE_COLUMNS} FROM silences \
                     WHERE tenant_id = $1 AND NOT deleted AND ($2 OR ends_at > now()) \
                     ORDER BY starts_at, id"
                ),
                &[&tenant, &include_expired],
            )
            .await?;
        Ok(rows.iter().map(silence_of).collect())
    }

    /// Delete a silence of `tenant` (expired or not); false: no such
    /// silence.
    pub async fn delete_silence(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<bool, MetadataError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(false);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE silences SET deleted = true \
                 WHERE tenant_id = $1 AND id = $2 AND NOT deleted",
                &[&tenant, &uuid],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        audit(&tx, tenant, principal, "delete", "silence", id, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// An active silence of the alert's tenant that matches it, if any.
    pub async fn matching_silence(&self, alert: &Alert) -> Result<Option<String>, MetadataError> {
        let rule_id = alert
            .rule_id
            .as_deref()
            .and_then(|r| Uuid::parse_str(r).ok());
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id FROM silences \
                 WHERE tenant_id = $1 AND NOT deleted AND starts_at <= now() AND now() < ends_at \
                 AND (rule_id IS NULL OR rule_id = $2) \
                 AND (campaign_id IS NULL OR campaign_id = $3) \
                 AND (severity IS NULL OR severity = $4) \
                 ORDER BY starts_at, id LIMIT 1",
                &[
                    &alert.tenant_id,
                    &rule_id,
                    &alert.campaign_id,
                    &alert.severity,
                ],
            )
            .await?;
        Ok(row.map(|r| r.get::<_, Uuid>(0).to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: Option<&str>, campaign: Option<&str>, severity: &str) -> Alert {
        Alert {
            id: "a".into(),
            tenant_id: "t".into(),
            rule_id: rule.map(str::to_owned),
            rule_name: None,
            severity: severity.into(),
            campaign_id: campaign.map(str::to_owned),
            job_id: None,
            status: "firing".into(),
            value: None,
            threshold: None,
            message: String::new(),
            fired_at: DateTime::<Utc>::default(),
            resolved_at: None,
            read: false,
            dismissed: false,
        }
    }

    #[test]
    fn every_given_matcher_must_match() {
        let m = SilenceMatchers {
            rule_id: Some("r".into()),
            campaign_id: Some("c".into()),
            severity: None,
        };
        assert!(m.matches(&alert(Some("r"), Some("c"), "info")));
        assert!(m.matches(&alert(Some("r"), Some("c"), "critical")));
        assert!(!m.matches(&alert(Some("r"), Some("other"), "info")));
        assert!(!m.matches(&alert(None, Some("c"), "info")));
        let by_severity = SilenceMatchers {
            severity: Some("critical".into()),
            ..SilenceMatchers::default()
        };
        assert!(by_severity.matches(&alert(None, None, "critical")));
        assert!(!by_severity.matches(&alert(None, None, "warning")));
        assert!(SilenceMatchers::default().is_empty());
        assert!(!by_severity.is_empty());
    }
}
