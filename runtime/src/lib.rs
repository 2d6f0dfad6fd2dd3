//! What every binary of the product shares and nothing else: logging
//! set-up, the shutdown signal, tenant time zones (which calendar day an
//! event falls on) and secrets from files. No Kafka, no ClickHouse.

pub mod logging;
pub mod secrets;
pub mod shutdown;
pub mod tenants;

pub use shutdown::shutdown_signal;
pub use tenants::TenantZones;
