//! Load generator and benchmarks of campaign analytics.
//!
//! # Layout
//!
//! - [`loadgen`]: the `loadgen` binary's library: realistic, deterministic
//!   traffic for the three topics, the expected figures of that traffic (an
//!   oracle written straight from `metrics.md`), and a Kafka producer.
//!   `src/bin/loadgen.rs` only parses the command line and calls into it.
//! - [`e2e`]: the `pipeline-bench` binary's library: end-to-end catch-up,
//!   recovery and scaling benchmarks of the release processor against the
//!   running stack (`src/bin/pipeline-bench.rs` is its command line).
//!
//! The criterion benchmark of the apply path is `benches/apply.rs`.

pub mod e2e;
pub mod loadgen;
