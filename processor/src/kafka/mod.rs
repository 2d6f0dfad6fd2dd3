//! The Kafka seam: the consumer (a thread of its own, with the rebalance
//! protocol that restores state before a partition is consumed), the
//! dead-letter producer, the alert rules reader and the alert transitions
//! producer. Only this module knows rdkafka.

pub mod alert_publisher;
pub mod bounds;
pub mod config;
pub mod dlq;
pub mod replay;
pub mod source;
pub mod table_reader;

pub use config::KafkaConfig;
pub use dlq::DeadLetters;
pub use source::{Source, SourceEvent, SourceRecord, TopicIndex};
