//! Delivery channels (`alerts.md`, "Delivery channels"): where a tenant's
//! alerts are sent. Created and deleted by the API (each change audited in
//! the same transaction, without secrets); a deleted channel stays as a
//! tombstone so that its deliveries keep naming it. The checks of what a
//! client sends (URL schemes, addresses) are the API's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::rules::audit;
use crate::{Metadata, MetadataError};

/// A rule that sends to a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
}

/// What [`Metadata::delete_channel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelDeletion {
    Deleted,
    /// No live channel of the tenant has this id.
    NotFound,
    /// Rules still send to it (name order): nothing was changed.
    InUse(Vec<RuleRef>),
}

/// Lock the live channels of `tenant` among `ids` until `tx` ends (a
/// deletion of one of them waits, then sees the rule that names it), and
/// fail with those of `ids` that are not among them.
pub(crate) async fn lock_channels(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    ids: &[String],
) -> Result<(), MetadataError> {
    if ids.is_empty() {
        return Ok(());
    }
    let uuids: Vec<Uuid> = ids
        .iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect();
    let rows = tx
        .query(
            "SELECT id FROM channels WHERE tenant_id = $1 AND id = ANY($2) AND NOT deleted \
             ORDER BY id FOR SHARE",
            &[&tenant, &uuids],
        )
        .await?;
    let live: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| Uuid::parse_str(id).map_or(true, |u| !live.contains(&u)))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(MetadataError::UnknownChannels(unknown))
    }
}

/// What a channel sends to, by kind. Its `Debug` never shows a secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelConfig {
    /// An HTTP POST of the transition as JSON; with a secret, the body is
    /// signed (HMAC-SHA256, `X-Signature-256`).
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A Slack incoming webhook.
    Slack { url: String },
    /// E-mail through the server's SMTP relay.
    Email { recipients: Vec<String> },
}

impl std::fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelConfig::Webhook { url, secret } => f
                .debug_struct("Webhook")
                .field("url", url)
                .field("secret_set", &secret.is_some())
                .finish(),
            // The URL of a Slack incoming webhook is its credential.
            ChannelConfig::Slack { .. } => f.debug_struct("Slack").finish_non_exhaustive(),
            ChannelConfig::Email { recipients } => f
                .debug_struct("Email")
                .field("recipients", recipients)
                .finish(),
        }
    }
}

impl ChannelConfig {
    /// `webhook`, `slack` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Webhook { .. } => "webhook",
            ChannelConfig::Slack { .. } => "slack",
            ChannelConfig::Email { .. } => "email",
        }
    }

    /// The `config` column: the fields without `kind`.
    fn to_column(&self) -> Result<Value, MetadataError> {
        let mut value = serde_json::to_value(self)
            .map_err(|e| MetadataError::Corrupt(format!("channel config: {e}")))?;
        if let Some(object) = value.as_object_mut() {
            object.remove("kind");
        }
        Ok(value)
    }

    pub(crate) fn from_columns(kind: &str, config: Value) -> Result<Self, MetadataError> {
        let mut config = config;
        let Some(object) = config.as_object_mut() else {
            return Err(MetadataError::Corrupt(format!(
                "channel config of kind {kind} is not an object"
            )));
        };
        object.insert("kind".into(), Value::String(kind.to_owned()));
        serde_json::from_value(config)
            .map_err(|e| MetadataError::Corrupt(format!("channel config of kind {kind}: {e}")))
    }

    /// What the audit log keeps: no secret, no Slack URL.
    fn audit_detail(&self, name: &str) -> Value {
        match self {
            ChannelConfig::Webhook { url, secret } => json!({
                "name": name, "kind": "webhook", "url": url, "secret_set": secret.is_some(),
            }),
            ChannelConfig::Slack { .. } => json!({"name": name, "kind": "slack"}),
            ChannelConfig::Email { recipients } => json!({
                "name": name, "kind": "email", "recipients": recipients,
            }),
        }
    }
}

/// A channel of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub config: ChannelConfig,
    pub created_at: DateTime<Utc>,
}

const CHANNEL_COLUMNS: &str = "id, tenant_id, name, kind, config, created_at";

fn channel_of(row: &tokio_postgres::Row) -> Result<Channel, MetadataError> {
    let kind: String = row.get("kind");
    Ok(Channel {
        id: row.get::<_, Uuid>("id").to_string(),
        tenant_id: row.get("tenant_id"),
        name: row.get("name"),
        config: ChannelConfig::from_columns(&kind, row.get("config"))?,
        created_at: row.get("created_at"),
    })
}

impl Metadata {
    /// Create a channel of `tenant` (already checked by the caller).
    pub async fn create_channel(
        &self,
        tenant: &str,
        principal: &str,
        name: &str,
        config: ChannelConfig,
    ) -> Result<Channel, MetadataError> {
        let id = Uuid::new_v4();
        let column = config.to_column()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO channels (id, tenant_id, name, kind, config) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING {CHANNEL_COLUMNS}"
                ),
                &[&id, &tenant, &name, &config.kind(), &column],
            )
            .await?;
        let detail = config.audit_detail(name);
        audit(
            &tx,
            tenant,
            principal,
            "create",
            "channel",
            &id.to_string(),
            Some(&detail),
        )
        .await?;
        tx.commit().await?;
        channel_of(&row)
    }

    /// The channels of `tenant`, oldest first.
    pub async fn list_channels(&self, tenant: &str) -> Result<Vec<Channel>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channels \
                     WHERE tenant_id = $1 AND NOT deleted ORDER BY created_at, id"
                ),
                &[&tenant],
            )
            .await?;
        rows.iter().map(channel_of).collect()
    }

    /// One channel of `tenant` (not deleted).
    pub async fn channel(&self, tenant: &str, id: &str) -> Result<Option<Channel>, MetadataError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM channels \
                     WHERE tenant_id = $1 AND id = $2 AND NOT deleted"
                ),
                &[&tenant, &uuid],
            )
            .await?;
        row.as_ref().map(channel_of).transpose()
    }

    /// Delete a channel of `tenant`: its pending deliveries fail (the
    /// worker finds it deleted); false: no such channel.
    pub async fn delete_channel(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<ChannelDeletion, MetadataError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(ChannelDeletion::NotFound);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The row lock first: a rule being written with this channel holds
        // a share lock on it (`lock_channels`), so once we have it, every
        // rule that names the channel is committed and visible below.
        let found = tx
            .query_opt(
                "SELECT 1 FROM channels WHERE tenant_id = $1 AND id = $2 AND NOT deleted \
                 FOR UPDATE",
                &[&tenant, &uuid],
            )
            .await?;
        if found.is_none() {
            return Ok(ChannelDeletion::NotFound);
        }
        let users = tx
            .query(
                "SELECT id, body->>'name' AS name FROM alert_rules \
                 WHERE tenant_id = $1 AND NOT deleted AND EXISTS ( \
                     SELECT 1 FROM jsonb_array_elements_text(body->'channels') AS c \
                     WHERE lower(c) = $2) \
                 ORDER BY name, id",
                &[&tenant, &uuid.to_string()],
            )
            .await?;
        if !users.is_empty() {
            return Ok(ChannelDeletion::InUse(
                users
                    .iter()
                    .map(|r| RuleRef {
                        id: r.get::<_, Uuid>(0).to_string(),
                        name: r.get::<_, Option<String>>(1).unwrap_or_default(),
                    })
                    .collect(),
            ));
        }
        tx.execute(
            "UPDATE channels SET deleted = true WHERE tenant_id = $1 AND id = $2",
            &[&tenant, &uuid],
        )
        .await?;
        audit(&tx, tenant, principal, "delete", "channel", id, None).await?;
        tx.commit().await?;
        Ok(ChannelDeletion::Deleted)
    }

    /// A test message sent to a channel, in the audit log (`test`), with
    /// how it went (`detail`: never the channel's secret).
    pub async fn record_channel_test(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
        detail: &Value,
    ) -> Result<(), MetadataError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        audit(&tx, tenant, principal, "test", "channel", id, Some(detail)).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_round_trip_through_their_columns() {
        let configs = [
            ChannelConfig::Webhook {
                url: "https://example.com/hook".into(),
                secret: Some("s3cret".into()),
            },
            ChannelConfig::Webhook {
                url: "http://127.0.0.1:1/".into(),
                secret: None,
            },
            ChannelConfig::Slack {
                url: "https://hooks.slack.com/services/T/B/X".into(),
            },
            ChannelConfig::Email {
                recipients: vec!["a@example.com".into()],
            },
        ];
        for config in configs {
            let column = config.to_column().unwrap();
            assert!(column.get("kind").is_none(), "{column}");
            assert_eq!(
                ChannelConfig::from_columns(config.kind(), column).unwrap(),
                config
            );
        }
        assert!(ChannelConfig::from_columns("slack", json!({"recipients": []})).is_err());
        assert!(ChannelConfig::from_columns("fax", json!({})).is_err());
    }

    #[test]
    fn debug_and_audit_never_show_secrets() {
        let webhook = ChannelConfig::Webhook {
            url: "https://example.com/hook".into(),
            secret: Some("s3cret".into()),
        };
        let slack = ChannelConfig::Slack {
            url: "https://hooks.slack.com/services/T/B/TOKEN".into(),
        };
        for config in [webhook, slack] {
            let shown = format!("{config:?} {}", config.audit_detail("n"));
            assert!(
                !shown.contains("s3cret") && !shown.contains("TOKEN"),
                "{shown}"
            );
        }
    }
}
