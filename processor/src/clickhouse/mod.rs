//! The ClickHouse seam: connection settings, migrations, the tables the
//! processor writes and reads back. Only this module knows ClickHouse.

pub mod config;
pub mod migrate;
pub mod snapshot_rows;
pub mod store;
pub mod topology;

pub use config::{ClickHouseConfig, CompressionChoice};
pub use migrate::{migrate, MigrateError, MigrationReport};
pub use store::ClickHouseStore;
