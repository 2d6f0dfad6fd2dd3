//! The numbered ClickHouse migrations of `schemas/clickhouse/`, compiled in.
//!
//! Applied in order by `processor migrate` (and on processor start). A file,
//! once applied anywhere, is never edited: the runner refuses to continue
//! when an applied file's checksum has changed. Add a new numbered file and a
//! line below instead; a test checks that this list and the folder agree.

use sha2::{Digest, Sha256};

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub file_name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// Hex SHA-256 of the file, recorded when it is applied.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }

    /// The statements of the file, in order: split at `;` at the end of a
    /// line, with comment lines and blank statements dropped. (Migrations
    /// never put `;` at the end of a line inside a string literal.)
    pub fn statements(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = String::new();
        for line in self.sql.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with("--") || trimmed.is_empty() {
                continue;
            }
            if let Some(body) = trimmed.strip_suffix(';') {
                current.push_str(body);
                let stmt = current.trim().to_string();
                if !stmt.is_empty() {
                    out.push(stmt);
                }
                current.clear();
            } else {
                current.push_str(line);
                current.push('\n');
            }
        }
        let rest = current.trim();
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
        out
    }
}

macro_rules! migration {
    ($version:expr, $file:literal) => {
        Migration {
            version: $version,
            file_name: $file,
            sql: include_str!(concat!("../clickhouse/", $file)),
        }
    };
}

/// All migrations, in the order they are applied.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_raw_events.sql"),
    migration!(2, "0002_tenant_rollups.sql"),
    migration!(3, "0003_snapshots.sql"),
    migration!(4, "0004_topology.sql"),
    migration!(5, "0005_state_rows.sql"),
    migration!(6, "0006_fencing.sql"),
    migration!(7, "0007_retention.sql"),
    migration!(8, "0008_rules_offset.sql"),
];
