//! Load generator and benchmarks of campaign analytics.
//!
//! # Layout
//!
//! - [`loadgen`]: the `loadgen` binary's library: realistic, deterministic
//!   traffic for the three topics, the expected figures of that traffic (an
//!   oracle written straight from `metrics.md`), and a Kafka producer.
//!   `src/bin/loadgen.rs` only parses the command line and calls into it.

pub mod loadgen;
