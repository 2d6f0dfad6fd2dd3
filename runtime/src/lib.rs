//! What every binary of the product shares and nothing else: logging
//! set-up, the shutdown signal, and tenant time zones (which calendar day
//! an event falls on). No Kafka, no ClickHouse.

pub mod logging;
pub mod shutdown;
pub mod tenants;

pub use shutdown::shutdown_signal;
pub use tenants::TenantZones;
