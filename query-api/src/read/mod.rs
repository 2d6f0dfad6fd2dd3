//! The read model over the processor's ClickHouse tables, and the seam the
//! HTTP layer reads through.
//!
//! - [`snapshots`]: reports and journeys, the greatest version of each
//!   (every row is one snapshot's and durable), in bulk for the end-to-end
//!   tests and per key for the API.
//! - [`overview`]: the tenant overview from the rollup tables.
//! - [`reader`]: the [`Reader`] trait the HTTP layer uses (no SQL above it),
//!   with [`ClickHouseReader`] and the in-memory [`MemoryReader`] for tests.

pub mod clickhouse_reader;
pub mod memory;
pub mod overview;
pub mod reader;
pub mod snapshots;

pub use clickhouse_reader::ClickHouseReader;
pub use memory::MemoryReader;
pub use overview::{overview, Granularity, Period};
pub use reader::{
    CampaignQuery, JourneyQuery, Reader, ReportScope, ReportSet, RowStream, VersionRange,
};
pub use snapshots::{visible_journeys, visible_reports};

/// A failed read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// ClickHouse refused the query or could not be reached.
    #[error("ClickHouse read failed: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// The store is unavailable (the in-memory reader's simulated outage).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}
