//! The alert store: transitions stored once per idempotency key (a replayed
//! transition is a no-op), the alerts they make, each principal's read
//! state, dismissal, and the ordered log of stored transitions that the
//! live stream follows.

use std::collections::BTreeMap;

use alerting::{Transition, TransitionKind};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{Metadata, MetadataError};

/// Serializes the inserts into `alert_events`, so that `seq` order is
/// commit order (a reader following `seq` never skips a row that commits
/// later with a smaller one). Alert volume is small; this costs nothing.
const EVENTS_LOCK: i64 = 0x616c_6572_7473; // "alerts"

/// The NOTIFY channel raised by every stored transition.
pub const EVENTS_CHANNEL: &str = "alert_events";

/// An alert as the API shows it to one principal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: String,
    pub tenant_id: String,
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    pub severity: String,
    pub campaign_id: Option<String>,
    pub job_id: Option<String>,
    pub status: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub message: String,
    pub fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub read: bool,
    pub dismissed: bool,
}

/// A manual alert (from an upstream service): no rule, firing until
/// resolved through the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ManualAlert {
    pub severity: String,
    pub message: String,
    pub rule_name: Option<String>,
    pub campaign_id: Option<String>,
    pub job_id: Option<String>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

/// Filters of an alert list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub since: Option<DateTime<Utc>>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub unread_only: bool,
    pub campaign_id: Option<String>,
    pub rule_id: Option<String>,
    pub include_dismissed: bool,
    pub limit: i64,
    /// Strictly after this (fired_at, id) in the list's order (newest first).
    pub after: Option<(DateTime<Utc>, String)>,
}

/// One page of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    /// Alerts matching the filters (all pages).
    pub total: i64,
    /// Of those, unread by the principal.
    pub unread_count: i64,
    pub has_more: bool,
}

/// The alert counts of a tenant as one principal sees them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertStats {
    /// Not dismissed and not read by the principal.
    pub total_unread: i64,
    /// Firing now.
    pub firing: i64,
    /// Firing now, per severity.
    pub by_severity: BTreeMap<String, i64>,
    /// Firing now, per rule id (manual alerts under "manual").
    pub by_rule: BTreeMap<String, i64>,
}

/// A stored transition with the alert as it is now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub alert: Alert,
}

fn time_of(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn kind_str(kind: TransitionKind) -> &'static str {
    match kind {
        TransitionKind::Fired => "fired",
        TransitionKind::Resolved => "resolved",
        TransitionKind::Repeated => "repeated",
    }
}

fn uuid_of(what: &str, id: &str) -> Result<Uuid, MetadataError> {
    Uuid::parse_str(id).map_err(|e| MetadataError::Corrupt(format!("{what} id {id:?}: {e}")))
}

pub(crate) const ALERT_COLUMNS: &str =
    "a.id, a.tenant_id, a.rule_id, a.rule_name, a.severity, a.campaign_id, \
     a.job_id, a.status, a.value, a.threshold, a.message, a.fired_at, a.resolved_at, a.dismissed, \
     (r.alert_id IS NOT NULL) AS read";

pub(crate) fn alert_of(row: &tokio_postgres::Row) -> Alert {
    Alert {
        id: row.get::<_, Uuid>("id").to_string(),
        tenant_id: row.get("tenant_id"),
        rule_id: row.get::<_, Option<Uuid>>("rule_id").map(|u| u.to_string()),
        rule_name: row.get("rule_name"),
        severity: row.get("severity"),
        campaign_id: row.get("campaign_id"),
        job_id: row.get("job_id"),
        status: row.get("status"),
        value: row.get("value"),
        threshold: row.get("threshold"),
        message: row.get("message"),
        fired_at: row.get("fired_at"),
        resolved_at: row.get("resolved_at"),
        read: row.get("read"),
        dismissed: row.get("dismissed"),
    }
}

/// The WHERE clause of a list, over `a` (alerts) and `r` (the principal's
/// reads): parameters $1 tenant, $2 principal, $3..$9 the filters.
const LIST_WHERE: &str = "a.tenant_id = $1 AND NOT a.deleted \
     AND ($3::timestamptz IS NULL OR a.fired_at >= $3) \
     AND ($4::text IS NULL OR a.severity = $4) \
     AND ($5::text IS NULL OR a.status = $5) \
     AND (NOT $6 OR r.alert_id IS NULL) \
     AND ($7::text IS NULL OR a.campaign_id = $7) \
     AND ($8::uuid IS NULL OR a.rule_id = $8) \
     AND ($9 OR NOT a.dismissed)";

impl Metadata {
    /// Store a transition from the processor, once: `Some(seq)` when it
    /// was new, `None` when its idempotency key was stored before.
    pub async fn store_transition(&self, t: &Transition) -> Result<Option<i64>, MetadataError> {
        let alert_id = uuid_of("alert", &t.alert_id)?;
        let rule_id = uuid_of("rule", &t.rule_id)?;
        let key = t.idempotency_key();
        let kind = kind_str(t.kind);
        let fired_at = time_of(t.fired_at_ms);
        let resolved_at = t.resolved_at_ms.map(time_of);
        let status = if t.kind == TransitionKind::Resolved {
            "resolved"
        } else {
            "firing"
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK])
            .await?;
        let seen = tx
            .query_opt(
                "SELECT 1 FROM alert_events WHERE idempotency_key = $1",
                &[&key],
            )
            .await?;
        if seen.is_some() {
            return Ok(None);
        }
        // A resolved transition finds its alert stored by the fired one
        // (same key, same partition, in order); the upsert also covers
        // an alert whose fired transition this store never saw.
        tx.execute(
            "INSERT INTO alerts (id, tenant_id, rule_id, rule_name, severity, campaign_id, job_id, \
             status, value, threshold, message, fired_at, resolved_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO UPDATE SET \
               status = CASE WHEN EXCLUDED.status = 'resolved' THEN 'resolved' ELSE alerts.status END, \
               resolved_at = coalesce(EXCLUDED.resolved_at, alerts.resolved_at)",
            &[
                &alert_id,
                &t.tenant_id,
                &rule_id,
                &t.rule_name,
                &t.severity.as_str(),
                &t.campaign_id,
                &t.job_id,
                &status,
                &t.value,
                &t.threshold,
                &t.message,
                &fired_at,
                &resolved_at,
            ],
        )
        .await?;
        let seq = self
            .insert_event(&tx, &t.tenant_id, alert_id, kind, &key, time_of(t.at_ms))
            .await?;
        // Its deliveries commit with it: a stored transition is never
        // left undelivered.
        crate::deliveries::enqueue(&tx, &t.tenant_id, seq, alert_id, rule_id, &key).await?;
        tx.commit().await?;
        Ok(Some(seq))
    }

    async fn insert_event(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        tenant: &str,
        alert_id: Uuid,
        kind: &str,
        key: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, MetadataError> {
        let row = tx
            .query_one(
                "INSERT INTO alert_events (tenant_id, alert_id, kind, idempotency_key, at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING seq",
                &[&tenant, &alert_id, &kind, &key, &at],
            )
            .await?;
        tx.execute(&format!("NOTIFY {EVENTS_CHANNEL}"), &[]).await?;
        Ok(row.get(0))
    }

    /// Create a manual alert of `tenant`, firing now.
    pub async fn create_manual_alert(
        &self,
        tenant: &str,
        principal: &str,
        alert: ManualAlert,
    ) -> Result<Alert, MetadataError> {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK])
            .await?;
        tx.execute(
            "INSERT INTO alerts (id, tenant_id, rule_name, severity, campaign_id, job_id, status, \
             value, threshold, message, fired_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'firing', $7, $8, $9, $10)",
            &[
                &id,
                &tenant,
                &alert.rule_name,
                &alert.severity,
                &alert.campaign_id,
                &alert.job_id,
                &alert.value,
                &alert.threshold,
                &alert.message,
                &now,
            ],
        )
        .await?;
        self.insert_event(&tx, tenant, id, "fired", &format!("{id}:fired"), now)
            .await?;
        tx.execute(
            "INSERT INTO audit_log (tenant_id, principal, action, entity, entity_id) \
             VALUES ($1, $2, 'create', 'alert', $3)",
            &[&tenant, &principal, &id.to_string()],
        )
        .await?;
        tx.commit().await?;
        self.alert(tenant, principal, &id.to_string())
            .await?
            .ok_or_else(|| MetadataError::Corrupt("manual alert vanished".into()))
    }

    /// Resolve a firing manual alert; `None`: no such manual alert.
    pub async fn resolve_manual_alert(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<Option<Alert>, MetadataError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(None);
        };
        let now = Utc::now();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK])
            .await?;
        let n = tx
            .execute(
                "UPDATE alerts SET status = 'resolved', resolved_at = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND rule_id IS NULL AND status = 'firing' \
                 AND NOT deleted",
                &[&tenant, &uuid, &now],
            )
            .await?;
        if n == 1 {
            self.insert_event(
                &tx,
                tenant,
                uuid,
                "resolved",
                &format!("{id}:resolved"),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        let alert = self.alert(tenant, principal, id).await?;
        Ok(alert.filter(|a| a.rule_id.is_none()))
    }

    /// A page of `tenant`'s alerts, newest first, with `principal`'s read
    /// state.
    pub async fn list_alerts(
        &self,
        tenant: &str,
        principal: &str,
        f: &AlertFilter,
    ) -> Result<AlertPage, MetadataError> {
        let rule_id = match &f.rule_id {
            Some(id) => match Uuid::parse_str(id) {
                Ok(u) => Some(u),
                // No rule has that id: nothing matches.
                Err(_) => {
                    return Ok(AlertPage {
                        alerts: Vec::new(),
                        total: 0,
                        unread_count: 0,
                        has_more: false,
                    })
                }
            },
            None => None,
        };
        let (after_at, after_id) = match &f.after {
            Some((at, id)) => (Some(*at), Uuid::parse_str(id).ok()),
            None => (None, None),
        };
        let client = self.client().await?;
        let counts = client
            .query_one(
                &format!(
                    "SELECT count(*), count(*) FILTER (WHERE r.alert_id IS NULL) \
                     FROM alerts a LEFT JOIN alert_reads r ON r.alert_id = a.id AND r.principal = $2 \
                     WHERE {LIST_WHERE}"
                ),
                &[
                    &tenant,
                    &principal,
                    &f.since,
                    &f.severity,
                    &f.status,
                    &f.unread_only,
                    &f.campaign_id,
                    &rule_id,
                    &f.include_dismissed,
                ],
            )
            .await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ALERT_COLUMNS} \
                     FROM alerts a LEFT JOIN alert_reads r ON r.alert_id = a.id AND r.principal = $2 \
                     WHERE {LIST_WHERE} \
                     AND ($10::timestamptz IS NULL OR (a.fired_at, a.id) < ($10, $11::uuid)) \
                     ORDER BY a.fired_at DESC, a.id DESC LIMIT $12"
                ),
                &[
                    &tenant,
                    &principal,
                    &f.since,
                    &f.severity,
                    &f.status,
                    &f.unread_only,
                    &f.campaign_id,
                    &rule_id,
                    &f.include_dismissed,
                    &after_at,
                    &after_id.unwrap_or_default(),
                    &(f.limit + 1),
                ],
            )
            .await?;
        let mut alerts: Vec<Alert> = rows.iter().map(alert_of).collect();
        let has_more = alerts.len() as i64 > f.limit;
        alerts.truncate(f.limit.max(0) as usize);
        Ok(AlertPage {
            alerts,
            total: counts.get(0),
            unread_count: counts.get(1),
            has_more,
        })
    }

    /// One alert of `tenant` (dismissed or not).
    pub async fn alert(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<Option<Alert>, MetadataError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {ALERT_COLUMNS} \
                     FROM alerts a LEFT JOIN alert_reads r ON r.alert_id = a.id AND r.principal = $2 \
                     WHERE a.tenant_id = $1 AND a.id = $3 AND NOT a.deleted"
                ),
                &[&tenant, &principal, &uuid],
            )
            .await?;
        Ok(row.as_ref().map(alert_of))
    }

    /// Mark an alert read by `principal`; false: no such alert.
    pub async fn mark_read(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<bool, MetadataError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(false);
        };
        let client = self.client().await?;
        let n = client
            .execute(
                "INSERT INTO alert_reads (alert_id, principal) \
                 SELECT id, $2 FROM alerts WHERE tenant_id = $1 AND id = $3 AND NOT deleted \
                 ON CONFLICT DO NOTHING",
                &[&tenant, &principal, &uuid],
            )
            .await?;
        if n == 1 {
            return Ok(true);
        }
        // Already read, or no such alert.
        Ok(self.alert(tenant, principal, id).await?.is_some())
    }

    /// Mark every alert of `tenant` read by `principal`; returns how many
    /// were unread.
    pub async fn mark_all_read(&self, tenant: &str, principal: &str) -> Result<u64, MetadataError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "INSERT INTO alert_reads (alert_id, principal) \
                 SELECT id, $2 FROM alerts WHERE tenant_id = $1 AND NOT deleted \
                 ON CONFLICT DO NOTHING",
                &[&tenant, &principal],
            )
            .await?)
    }

    /// Dismiss an alert (left out of lists unless asked for); false: no
    /// such alert.
    pub async fn dismiss_alert(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<bool, MetadataError> {
        self.flag_alert(tenant, principal, id, "dismiss", "dismissed = true")
            .await
    }

    /// Delete an alert (gone from every route); false: no such alert.
    pub async fn delete_alert(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
    ) -> Result<bool, MetadataError> {
        self.flag_alert(tenant, principal, id, "delete", "deleted = true")
            .await
    }

    async fn flag_alert(
        &self,
        tenant: &str,
        principal: &str,
        id: &str,
        action: &str,
        set: &str,
    ) -> Result<bool, MetadataError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(false);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                &format!(
                    "UPDATE alerts SET {set} WHERE tenant_id = $1 AND id = $2 AND NOT deleted"
                ),
                &[&tenant, &uuid],
            )
            .await?;
        if n == 1 {
            tx.execute(
                "INSERT INTO audit_log (tenant_id, principal, action, entity, entity_id) \
                 VALUES ($1, $2, $3, 'alert', $4)",
                &[&tenant, &principal, &action, &id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The alert counts of `tenant` for `principal`.
    pub async fn alert_stats(
        &self,
        tenant: &str,
        principal: &str,
    ) -> Result<AlertStats, MetadataError> {
        let client = self.client().await?;
        let unread = client
            .query_one(
                "SELECT count(*) FROM alerts a \
                 LEFT JOIN alert_reads r ON r.alert_id = a.id AND r.principal = $2 \
                 WHERE a.tenant_id = $1 AND NOT a.deleted AND NOT a.dismissed AND r.alert_id IS NULL",
                &[&tenant, &principal],
            )
            .await?;
        let rows = client
            .query(
                "SELECT severity, coalesce(rule_id::text, 'manual'), count(*) FROM alerts \
                 WHERE tenant_id = $1 AND status = 'firing' AND NOT deleted \
                 GROUP BY 1, 2",
                &[&tenant],
            )
            .await?;
        let mut stats = AlertStats {
            total_unread: unread.get(0),
            firing: 0,
            by_severity: BTreeMap::new(),
            by_rule: BTreeMap::new(),
        };
        for row in rows {
            let n: i64 = row.get(2);
            stats.firing += n;
            *stats.by_severity.entry(row.get(0)).or_default() += n;
            *stats.by_rule.entry(row.get(1)).or_default() += n;
        }
        Ok(stats)
    }

    /// Stored transitions of `tenant` after `seq`, oldest first, with the
    /// alert as it is now (as `principal` sees it).
    pub async fn events_after(
        &self,
        tenant: &str,
        principal: &str,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT e.seq, e.kind, e.at, {ALERT_COLUMNS} FROM alert_events e \
                     JOIN alerts a ON a.id = e.alert_id \
                     LEFT JOIN alert_reads r ON r.alert_id = a.id AND r.principal = $2 \
                     WHERE e.tenant_id = $1 AND e.seq > $3 ORDER BY e.seq LIMIT $4"
                ),
                &[&tenant, &principal, &seq, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| StoredEvent {
                seq: row.get("seq"),
                kind: row.get("kind"),
                at: row.get("at"),
                alert: alert_of(row),
            })
            .collect())
    }

    /// The greatest stored transition number (0: none).
    pub async fn latest_event_seq(&self) -> Result<i64, MetadataError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT coalesce(max(seq), 0) FROM alert_events", &[])
            .await?;
        Ok(row.get(0))
    }

    /// Tenants with transitions after `seq`, and the greatest seq seen
    /// (for the stream's fan-out: which subscribers to wake).
    pub async fn tenants_with_events_after(
        &self,
        seq: i64,
    ) -> Result<(Vec<String>, i64), MetadataError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant_id, max(seq) FROM alert_events WHERE seq > $1 GROUP BY tenant_id",
                &[&seq],
            )
            .await?;
        let mut latest = seq;
        let mut tenants = Vec::with_capacity(rows.len());
        for row in rows {
            tenants.push(row.get(0));
            latest = latest.max(row.get(1));
        }
        Ok((tenants, latest))
    }

    /// Wake-ups after stored transitions (LISTEN on [`EVENTS_CHANNEL`]).
    /// The channel closes when the listening connection drops: the caller
    /// reconnects, and polls meanwhile.
    pub async fn listen_events(&self) -> Result<EventListener, MetadataError> {
        self.listen(EVENTS_CHANNEL).await
    }

    /// Wake-ups after each NOTIFY on `channel` (a fixed identifier).
    pub(crate) async fn listen(&self, channel: &str) -> Result<EventListener, MetadataError> {
        use futures_util::StreamExt;
        let (client, mut connection) = self.dedicated().await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            let mut messages = std::pin::pin!(futures_util::stream::poll_fn(move |cx| {
                connection.poll_message(cx)
            }));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                        // Full: a wake-up is pending already.
                        let _ = tx.try_send(());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "metadata LISTEN connection lost");
                        break;
                    }
                }
            }
        });
        client.batch_execute(&format!("LISTEN {channel}")).await?;
        Ok(EventListener {
            wakeups: rx,
            _client: client,
        })
    }
}

/// See [`Metadata::listen_events`] and [`Metadata::listen_deliveries`].
#[derive(Debug)]
pub struct EventListener {
    /// One message (at least) after each notification.
    pub wakeups: tokio::sync::mpsc::Receiver<()>,
    /// Dropping it ends the LISTEN connection.
    _client: tokio_postgres::Client,
}

impl EventListener {
    /// Wait `poll`, or less when a notification comes first, for a worker
    /// that found no work. Without a listener it just waits; a listener
    /// whose connection was lost is dropped (the caller listens again).
    pub async fn idle(listener: &mut Option<EventListener>, poll: std::time::Duration) {
        let sleep = tokio::time::sleep(poll);
        let closed = match listener {
            Some(l) => tokio::select! {
                _ = sleep => false,
                woke = l.wakeups.recv() => woke.is_none(),
            },
            None => {
                sleep.await;
                false
            }
        };
        if closed {
            *listener = None;
        }
    }
}
