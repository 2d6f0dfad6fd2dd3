//! Retention: files past their `expires_at` are removed from the store and
//! marked deleted (their runs stay, without downloads). Runs on the
//! scheduler instances, every few minutes.

use std::sync::Arc;
use std::time::Duration;

use super::Reports;

/// How often expired files are looked for.
const EVERY: Duration = Duration::from_secs(300);
/// Files removed per round.
const BATCH: i64 = 500;

/// Forever: remove expired files.
pub async fn run_retention(reports: Arc<Reports>) {
    loop {
        match remove_expired(&reports).await {
            Ok(n) if n > 0 => tracing::info!(files = n, "report files past retention removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "report retention failed; retrying later"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// One round: remove up to a batch of expired files; returns how many.
pub async fn remove_expired(reports: &Reports) -> Result<usize, String> {
    let files = reports
        .metadata
        .expired_files(BATCH)
        .await
        .map_err(|e| e.to_string())?;
    for file in &files {
        reports
            .store
            .delete(&file.storage_key)
            .await
            .map_err(|e| format!("{}: {e}", file.storage_key))?;
        reports
            .metadata
            .mark_file_deleted(&file.run_id, &file.format)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(files.len())
}
