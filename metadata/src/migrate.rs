//! The numbered migrations of `metadata/migrations/` (refinery), applied at
//! start by every service that uses the database. Several instances may
//! start at once: the run holds a session advisory lock.

use crate::{Metadata, MetadataError};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Any fixed number: the advisory lock that serializes migration runs.
const MIGRATION_LOCK: i64 = 0x6d65_7461_6461_7461; // "metadata"

impl Metadata {
    /// Apply the migrations not applied yet; returns their names.
    pub async fn migrate(&self) -> Result<Vec<String>, MetadataError> {
        let (mut client, connection) = self.dedicated().await?;
        let driver = tokio::spawn(connection);
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let report = embedded::migrations::runner()
            .set_migration_table_name("metadata_migrations")
            .run_async(&mut client)
            .await;
        // Unlocked by the session's end anyway.
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        drop(client);
        driver.abort();
        let report = report.map_err(|e| MetadataError::Migration(e.to_string()))?;
        let applied: Vec<String> = report
            .applied_migrations()
            .iter()
            .map(|m| m.to_string())
            .collect();
        for m in &applied {
            tracing::info!(migration = %m, "metadata migration applied");
        }
        Ok(applied)
    }
}
