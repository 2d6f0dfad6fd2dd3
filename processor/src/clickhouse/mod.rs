//! The processor's side of ClickHouse: the store the engine writes through
//! and restores from, the conversions between the engine's types and the
//! storage rows, the partition-count check, and retention (dropping whole months). The storage contract
//! itself (connection settings, migrations, row types) is the `storage`
//! crate, shared with the query API.

pub mod convert;
pub mod retention;
pub mod store;
pub mod topology;

pub use storage::config::{ClickHouseConfig, CompressionChoice};
pub use storage::migrate::{migrate, MigrateError, MigrationReport};
pub use store::ClickHouseStore;
