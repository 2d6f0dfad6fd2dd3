//! Apply the numbered migrations of `schemas/clickhouse/` in order, once
//! each, recorded in `schema_migrations`; refuse to run against a database
//! whose applied migrations were edited or are newer than this binary.
//!
//! A migration is recorded only after all of its statements succeeded. Every
//! statement is `IF NOT EXISTS`, so a run that died half-way through a file
//! simply runs the whole file again. (`REPARTITION TABLE`, not ClickHouse
//! SQL, is a table rebuild done by [`crate::repartition`], resumable too.) Two processors migrating at once may
//! both record a file; the duplicate rows are identical and harmless.

use std::collections::BTreeSet;

use clickhouse::Client;
use schemas::migrations::{Migration, MIGRATIONS};
use serde::Deserialize;

use super::config::ClickHouseConfig;
use super::repartition::{self, Repartition};

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The connection settings cannot work (a CA file that cannot be read).
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    #[error("ClickHouse at {url}: {source}. Is it running (make up)?")]
    Connect {
        url: String,
        source: clickhouse::error::Error,
    },
    #[error("migration {file} failed at `{statement}`: {source}")]
    Statement {
        file: &'static str,
        statement: String,
        source: clickhouse::error::Error,
    },
    #[error("migration {file} was edited after it was applied (applied checksum {applied}, file checksum {current}); never edit an applied migration, add a new numbered one instead")]
    Edited {
        file: &'static str,
        applied: String,
        current: String,
    },
    #[error("migration {version} was applied as {applied_file} but this binary calls it {file}; never rename an applied migration")]
    Renamed {
        version: u32,
        applied_file: String,
        file: &'static str,
    },
    #[error("the database has migration {version} ({file}), which this binary does not know: it is older than the schema; deploy the newer version")]
    Unknown { version: u32, file: String },
    #[error("reading schema_migrations: {0}")]
    Read(clickhouse::error::Error),
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Applied {
    version: u32,
    file_name: String,
    checksum: String,
}

/// What a run of the migrations did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// File names of the migrations this run applied, in order.
    pub applied: Vec<&'static str>,
    /// How many migrations the database already had.
    pub already: usize,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
    (version UInt32, file_name String, checksum String, applied_at DateTime('UTC') DEFAULT now()) \
    ENGINE = MergeTree() ORDER BY version";

fn first_line(sql: &str) -> String {
    sql.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect()
}

/// ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: an `ADD COLUMN`
/// that fails because the column exists (a run that died half-way through
/// the file added it) is done.
fn already_added(statement: &str, error: &clickhouse::error::Error) -> bool {
    let upper = statement.to_ascii_uppercase();
    upper.starts_with("ALTER TABLE")
        && upper.contains(" ADD COLUMN ")
        && error.to_string().contains("already exists")
}

/// Create the configured database if needed and apply every pending
/// migration of [`MIGRATIONS`] to it.
pub async fn migrate(cfg: &ClickHouseConfig) -> Result<MigrationReport, MigrateError> {
    let connect = |source| MigrateError::Connect {
        url: cfg.url.clone(),
        source,
    };
    cfg.server_client()?
        .query(&format!("CREATE DATABASE IF NOT EXISTS `{}`", cfg.database))
        .execute()
        .await
        .map_err(connect)?;
    migrate_client(&cfg.client()?, MIGRATIONS).await
}

/// Apply `migrations` (in slice order) through a client bound to an existing
/// database. [`migrate`] passes [`MIGRATIONS`]; tests pass a prefix of it.
pub async fn migrate_client(
    client: &Client,
    migrations: &'static [Migration],
) -> Result<MigrationReport, MigrateError> {
    client
        .query(CREATE_TABLE)
        .execute()
        .await
        .map_err(|source| MigrateError::Statement {
            file: "schema_migrations",
            statement: first_line(CREATE_TABLE),
            source,
        })?;
    let applied: Vec<Applied> = client
        .query("SELECT version, file_name, checksum FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .map_err(MigrateError::Read)?;
    for a in &applied {
        let Some(m) = migrations.iter().find(|m| m.version == a.version) else {
            return Err(MigrateError::Unknown {
                version: a.version,
                file: a.file_name.clone(),
            });
        };
        if a.file_name != m.file_name {
            return Err(MigrateError::Renamed {
                version: a.version,
                applied_file: a.file_name.clone(),
                file: m.file_name,
            });
        }
        let current = m.checksum();
        if a.checksum != current {
            return Err(MigrateError::Edited {
                file: m.file_name,
                applied: a.checksum.clone(),
                current,
            });
        }
    }
    let done: BTreeSet<u32> = applied.iter().map(|a| a.version).collect();
    let pending: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !done.contains(&m.version))
        .collect();
    tracing::info!(
        already = done.len(),
        pending = pending.len(),
        "schema_migrations read"
    );
    let mut report = MigrationReport {
        already: done.len(),
        ..MigrationReport::default()
    };
    for m in pending {
        tracing::info!(file = m.file_name, "applying migration");
        for statement in m.statements() {
            tracing::debug!(file = m.file_name, statement = %first_line(&statement), "executing");
            if let Some(r) = Repartition::parse(&statement) {
                repartition::run(client, &r)
                    .await
                    .map_err(|source| MigrateError::Statement {
                        file: m.file_name,
                        statement: first_line(&statement),
                        source,
                    })?;
                continue;
            }
            let result = client.query(&statement).execute().await;
            if let Err(source) = result {
                if already_added(&statement, &source) {
                    tracing::info!(file = m.file_name, statement = %first_line(&statement), "column already added by an earlier run");
                    continue;
                }
                return Err(MigrateError::Statement {
                    file: m.file_name,
                    statement: first_line(&statement),
                    source,
                });
            }
        }
        client
            .query("INSERT INTO schema_migrations (version, file_name, checksum) VALUES (?, ?, ?)")
            .bind(m.version)
            .bind(m.file_name)
            .bind(m.checksum())
            .execute()
            .await
            .map_err(|source| MigrateError::Statement {
                file: m.file_name,
                statement: "INSERT INTO schema_migrations".into(),
                source,
            })?;
        tracing::info!(file = m.file_name, "migration applied");
        report.applied.push(m.file_name);
    }
    Ok(report)
}
