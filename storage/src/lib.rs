//! The ClickHouse storage contract, shared by the processor (which writes
//! and restores) and the query API (which reads): where ClickHouse is and
//! how to talk to it, over HTTP or HTTPS ([`config`]), the numbered migrations of
//! `schemas/clickhouse/` ([`migrate`]), and the rows of each table
//! ([`rows`]). No Kafka here, and no engine logic.

pub mod config;
pub mod migrate;
pub mod repartition;
pub mod rollups;
pub mod rows;
mod tls;
pub mod version;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{ClickHouseConfig, CompressionChoice, ConfigError};
pub use migrate::{migrate, MigrateError, MigrationReport};
