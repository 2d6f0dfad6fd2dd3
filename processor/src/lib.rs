//! The stateful stream processor.
//!
//! # Layout
//!
//! - [`state`]: the pure state machine (no I/O): events in, reports and
//!   journeys out, exactly as metrics.md defines them.
//! - [`engine`]: owns the state of each assigned partition, applies records,
//!   takes snapshots and restores partitions on assignment.
//! - [`store`]: the storage seam the engine writes through (raw events,
//!   versioned reports and journeys, checkpoints), with an in-memory store
//!   for tests.
//! - [`kafka`]: the consumer thread with our rebalance protocol, the
//!   dead-letter producer, the alert rules reader and the alert
//!   transitions producer. Only this module knows rdkafka.
//! - [`alerts`]: the rules the engine evaluates (read from the rules
//!   topic) and where committed transitions go.
//! - [`schema_source`]: writer schemas of Confluent-framed records, from a
//!   schema registry or a schema ids file.
//! - [`checkpoint_reset`]: `processor checkpoint reset`, for a partition
//!   refused because its checkpoint lies outside its log.
//! - [`metrics`]: every Prometheus metric, named in one place; [`http`]
//!   serves them with `/healthz`.
//! - [`run`]: `processor run` wires it all together.
//!
//! The storage contract (ClickHouse settings, migrations, row types,
//! versions) is the `storage` crate; logging, the shutdown signal and
//! tenant time zones are the `runtime` crate, both shared with the API.
//! - [`retention`]: which months of raw events and snapshot rows may be
//!   dropped (`--retention-days`, `processor retention`).
//! - [`replay`]: `processor dlq replay` (what to replay and the reports;
//!   the Kafka side is [`kafka::replay`]).
pub mod alerts;
pub mod checkpoint_reset;
pub mod clickhouse;
pub mod engine;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod replay;
pub mod retention;
pub mod run;
pub mod schema_source;
pub mod state;
pub mod store;
