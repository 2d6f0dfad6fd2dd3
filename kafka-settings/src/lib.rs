//! Kafka client settings shared by every binary that talks to Kafka.
//!
//! - [`KafkaClientArgs`]: the command-line side (`--kafka-property`,
//!   `--kafka-properties-file`), resolved with the `KAFKA_PROPERTY_*`
//!   variables into [`KafkaProperties`]: any librdkafka property
//!   (`security.protocol`, `sasl.*`, `ssl.*`, ...) for every client of the
//!   binary (consumers, producers, metadata probes). Properties the
//!   product's correctness depends on are refused ([`RESERVED`]).
//! - [`check_connection`]: one metadata round trip at start that turns a
//!   refused credential or certificate into an error naming the settings
//!   to fix, instead of librdkafka's endless reconnects.
//!
//! Secrets: values of secret properties never leave through `Debug` or
//! [`KafkaProperties::masked`]; give them as `KAFKA_PROPERTY_<NAME>_FILE`
//! (read before the runtime starts, `runtime::secrets`).

mod args;
mod check;
mod properties;

pub use args::KafkaClientArgs;
pub use check::{check_connection, ConnectError};
pub use properties::{is_secret, KafkaProperties, PropertyError, Source, RESERVED};
