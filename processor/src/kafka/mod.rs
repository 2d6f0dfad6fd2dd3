//! The Kafka seam: the consumer (a thread of its own, with the rebalance
//! protocol that restores state before a partition is consumed) and the
//! dead-letter producer. Only this module knows rdkafka.

pub mod bounds;
pub mod config;
pub mod dlq;
pub mod replay;
pub mod source;

pub use config::KafkaConfig;
pub use dlq::DeadLetters;
pub use source::{Source, SourceEvent, SourceRecord, TopicIndex};
