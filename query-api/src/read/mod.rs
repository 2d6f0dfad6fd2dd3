//! The read model over the processor's ClickHouse tables.

pub mod overview;
pub mod snapshots;

pub use overview::{overview, Granularity, Period};
pub use snapshots::{visible_journeys, visible_reports};

/// A failed read.
#[derive(Debug, thiserror::Error)]
#[error("ClickHouse read failed: {0}")]
pub struct ReadError(#[from] pub clickhouse::error::Error);
