//! What every binary of the product shares and nothing else: logging
//! set-up, the shutdown signal, tenant time zones (which calendar day an
//! event falls on, and the tenants registry's copy every binary holds), secrets from files, the configuration file and the CA
//! certificates TLS clients trust. No Kafka, no ClickHouse.

pub mod config_file;
pub mod logging;
pub mod secrets;
pub mod shutdown;
pub mod tenant_directory;
pub mod tenants;
pub mod tls_roots;

pub use shutdown::shutdown_signal;
pub use tenant_directory::TenantDirectory;
pub use tenants::TenantZones;
