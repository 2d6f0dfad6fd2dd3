//! The ClickHouse seam: the tables the processor writes and reads back.
//! Only this module knows ClickHouse.

pub mod snapshot_rows;
pub mod store;

pub use store::ClickHouseStore;
