//! loadgen traffic produced at a steady rate from this process: generated
//! (with its expected figures) and Avro-encoded first, so that production
//! starts exactly when the caller asks, its duration is production alone,
//! and the encoding (about 0.3 core at 50 k records/s, on the two cores
//! the measured pipeline runs on) is not part of the window: in production
//! the producers run elsewhere. The same library steps as the `loadgen`
//! binary (`loadgen::run`), without the expected-figures file.

use anyhow::Context;
use schemas::Codec;

use super::fill::Traffic;
use super::topics::Topics;
use crate::loadgen::expected_json::ExpectedFile;
use crate::loadgen::ordering::OwnedRecord;
use crate::loadgen::producer::{self, Produced};
use crate::loadgen::{self, encoder, output, ProducerConfig};

/// Generated traffic, ready to produce.
#[derive(Debug)]
pub struct SteadyLoad {
    /// Every record, encoded, in production order.
    encoded: Vec<OwnedRecord>,
    config: ProducerConfig,
    /// Records it holds (duplicates and poison records included).
    pub records: u64,
    /// The `loadgen` command that produces the same records at the same
    /// rate (for RESULTS.md).
    pub command: String,
}

impl SteadyLoad {
    /// Generate `traffic` for `topics`, to be produced at `rate` records/s;
    /// returns it with its expected figures (journeys only when `journeys`).
    pub async fn generate(
        brokers: &str,
        topics: &Topics,
        traffic: &Traffic,
        rate: u64,
        journeys: bool,
    ) -> anyhow::Result<(SteadyLoad, ExpectedFile)> {
        let topics = loadgen::Topics {
            lifecycle: topics.lifecycle.clone(),
            notifications: topics.notifications.clone(),
            interactions: topics.interactions.clone(),
        };
        let config = ProducerConfig {
            rate,
            ..ProducerConfig::new(brokers, topics.clone())
        };
        let mut args = traffic.args();
        if !journeys {
            args.push("--no-journeys".into());
        }
        args.extend(["--rate".into(), rate.to_string()]);
        let command = format!("loadgen {}", args.join(" "));
        let cfg = traffic.gen_config();
        tokio::task::spawn_blocking(move || {
            let codec = Codec::new()?;
            let generated = loadgen::generate(&cfg, &codec).context("generate the traffic")?;
            let expected = loadgen::compute(&generated.traffic.events, &generated.traffic.tenants);
            let file = output::expected_file(
                &cfg,
                &topics,
                &generated.traffic,
                &generated.plan,
                expected,
                journeys,
            );
            let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
            let encoded =
                encoder::encode_all(&generated.plan, &generated.traffic, &codec, workers)?;
            let load = SteadyLoad {
                records: encoded.len() as u64,
                encoded,
                config,
                command,
            };
            Ok((load, file))
        })
        .await?
    }

    /// Produce every record at the rate (on a blocking thread); fails if
    /// any was not delivered.
    pub async fn produce(self) -> anyhow::Result<Produced> {
        tokio::task::spawn_blocking(move || {
            producer::produce_encoded(&self.config, &self.encoded).context("produce the load")
        })
        .await?
    }
}
