//! Deliveries of succeeded runs, one per (run, recipient), enqueued with
//! the run's success: e-mail over SMTP with the files attached (files
//! above the attachment limit are linked instead), or a webhook POST with
//! the signed links and `Idempotency-Key: <run id>`. Claimed with a lease,
//! retried with backoff, every attempt logged (as alert deliveries).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use metadata::reports::{ClaimedReportDelivery, StoredFile, StoredRun};
use metadata::{AttemptOutcome, AttemptRecord, EventListener, NextState};
use serde::Serialize;

use super::Reports;
use crate::alerts::delivery::backoff;
use crate::alerts::senders::email::Attachment;
use crate::alerts::senders::{SendFailure, Sent};

/// Deliveries claimed at a time.
const BATCH: i64 = 8;
/// A delivery is held this long by its worker.
const LEASE: Duration = Duration::from_secs(300);
/// A delivery still failing this long after it was enqueued fails.
const GIVE_UP: Duration = Duration::from_secs(24 * 3600);
const BACKOFF_MAX: Duration = Duration::from_secs(600);

/// A file of a run as deliveries and the API name it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkedFile {
    pub format: String,
    pub file_name: String,
    pub size: i64,
    pub download_url: String,
    pub expires_at: DateTime<Utc>,
}

/// The signed link of a file, valid for `ttl` from `now`.
pub fn link(reports: &Reports, file: &StoredFile, now: DateTime<Utc>, ttl: Duration) -> LinkedFile {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
    let expires_at = now + ttl;
    let expires = expires_at.timestamp();
    let signature = reports.links.sign(&file.run_id, &file.format, expires);
    let base = reports.settings.public_url.trim_end_matches('/');
    LinkedFile {
        format: file.format.clone(),
        file_name: file.file_name.clone(),
        size: file.size,
        download_url: format!(
            "{base}/v1/report-files/{}/{}?expires={expires}&signature={signature}",
            file.run_id, file.format
        ),
        expires_at,
    }
}

#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    event: &'static str,
    run_id: &'a str,
    tenant_id: &'a str,
    definition_id: &'a str,
    name: &'a str,
    trigger: &'a str,
    scheduled_for: Option<DateTime<Utc>>,
    as_of: Option<DateTime<Utc>>,
    files: Vec<LinkedFile>,
}

/// Forever: claim due deliveries and send them.
pub async fn run_delivery(reports: Arc<Reports>) {
    let worker = format!("{}-delivery", reports.settings.worker_id);
    let mut listener: Option<EventListener> = None;
    loop {
        if listener.is_none() {
            listener = reports.metadata.listen_report_deliveries().await.ok();
        }
        match reports
            .metadata
            .claim_report_deliveries(&worker, BATCH, LEASE)
            .await
        {
            Ok(batch) => {
                let n = batch.len();
                for d in batch {
                    deliver(&reports, &worker, &d).await;
                }
                if n as i64 >= BATCH {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "report delivery: claiming failed; retrying"),
        }
        EventListener::idle(&mut listener, reports.settings.poll_interval).await;
    }
}

async fn deliver(reports: &Reports, worker: &str, d: &ClaimedReportDelivery) {
    let started = Instant::now();
    let result = match reports.metadata.run(&d.tenant_id, &d.run_id).await {
        Ok(Some(run)) => send(reports, d, &run).await,
        Ok(None) => Err(SendFailure::permanent("the run no longer exists")),
        Err(e) => Err(SendFailure::transient(e.to_string())),
    };
    let (attempt, next) = match result {
        Ok(sent) => (
            AttemptRecord {
                outcome: AttemptOutcome::Ok,
                http_status: sent.http_status,
                error: None,
                duration: started.elapsed(),
            },
            NextState::Delivered,
        ),
        Err(failure) => {
            let next = if failure.retryable {
                let wait = failure.retry_after.unwrap_or_else(|| {
                    backoff(d.attempts, reports.settings.retry_backoff, BACKOFF_MAX)
                });
                NextState::Retry {
                    after: wait,
                    give_up: GIVE_UP,
                }
            } else {
                NextState::Failed
            };
            tracing::warn!(run = %d.run_id, recipient = %d.recipient, error = %failure.error, ?next,
                "report delivery attempt failed");
            (
                AttemptRecord {
                    outcome: AttemptOutcome::Error,
                    http_status: failure.http_status,
                    error: Some(failure.error),
                    duration: started.elapsed(),
                },
                next,
            )
        }
    };
    reports.metrics.delivery(&d.kind, attempt.outcome.as_str());
    if let Err(e) = reports
        .metadata
        .finish_report_delivery(d.id, worker, &attempt, next)
        .await
    {
        tracing::warn!(delivery = d.id, error = %e, "report delivery: recording the attempt failed");
    }
}

fn title(run: &StoredRun) -> String {
    let name = run.definition["name"].as_str().unwrap_or("report");
    let when = run.scheduled_for.unwrap_or(run.created_at);
    format!("{name} ({})", when.format("%Y-%m-%d %H:%M UTC"))
}

async fn send(
    reports: &Reports,
    d: &ClaimedReportDelivery,
    run: &StoredRun,
) -> Result<Sent, SendFailure> {
    let now = Utc::now();
    let ttl = reports.settings.link_ttl_max;
    if d.kind == "webhook" {
        let body = WebhookBody {
            event: "report_run.succeeded",
            run_id: &run.id,
            tenant_id: &run.tenant_id,
            definition_id: &run.definition_id,
            name: run.definition["name"].as_str().unwrap_or("report"),
            trigger: &run.trigger,
            scheduled_for: run.scheduled_for,
            as_of: run.as_of,
            files: run
                .files
                .iter()
                .map(|f| link(reports, f, now, ttl))
                .collect(),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| SendFailure::permanent(format!("the webhook body: {e}")))?;
        return reports.senders.post_json(&d.recipient, &run.id, body).await;
    }
    let mut attachments = Vec::new();
    let mut linked = Vec::new();
    let mut budget = reports.settings.max_attachment_bytes;
    for file in &run.files {
        let size = u64::try_from(file.size).unwrap_or(u64::MAX);
        if size <= budget {
            let bytes = reports
                .store
                .read_all(&file.storage_key)
                .await
                .map_err(|e| SendFailure::transient(format!("reading {}: {e}", file.file_name)))?;
            budget -= size;
            attachments.push(Attachment {
                file_name: file.file_name.clone(),
                content_type: file.content_type.clone(),
                bytes,
            });
        } else {
            linked.push(link(reports, file, now, ttl));
        }
    }
    let text = mail_text(run, &attachments, &linked);
    reports
        .senders
        .mail(
            std::slice::from_ref(&d.recipient),
            &format!("Report: {}", title(run)),
            &text,
            &attachments,
            &format!("{}.{}", run.id, d.id),
        )
        .await
}

fn mail_text(run: &StoredRun, attached: &[Attachment], linked: &[LinkedFile]) -> String {
    let mut lines = vec![
        format!("Report {}", title(run)),
        String::new(),
        format!("tenant: {}", run.tenant_id),
        format!(
            "figures as of: {}",
            run.as_of
                .map_or_else(|| "generation time".to_owned(), |t| t.to_rfc3339())
        ),
        format!("run: {}", run.id),
        String::new(),
    ];
    for a in attached {
        lines.push(format!(
            "attached: {} ({} bytes)",
            a.file_name,
            a.bytes.len()
        ));
    }
    for l in linked {
        lines.push(format!(
            "download {} ({} bytes, link valid until {}): {}",
            l.file_name,
            l.size,
            l.expires_at.to_rfc3339(),
            l.download_url
        ));
    }
    lines.push(String::new());
    lines.join("\n")
}
