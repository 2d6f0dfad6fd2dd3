//! The query API over ClickHouse.
//!
//! # Layout
//!
//! - [`read`]: the read model: what is visible in ClickHouse (reports and
//!   journeys up to each partition's checkpoint, so a report never mixes
//!   two snapshots) and the tenant overview from the rollup tables. The
//!   HTTP layer (the query API issue) serves these; the end-to-end tests
//!   check them against the load generator's expected figures.

pub mod read;
