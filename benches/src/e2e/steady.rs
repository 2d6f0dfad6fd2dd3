//! loadgen traffic produced at a steady rate from this process: generated
//! (with its expected figures) first, so that production starts exactly
//! when the caller asks and its duration is production alone. The same
//! library steps as the `loadgen` binary (`loadgen::run`), without the
//! expected-figures file.

use anyhow::Context;
use schemas::Codec;

use super::fill::Traffic;
use super::topics::Topics;
use crate::loadgen::expected_json::ExpectedFile;
use crate::loadgen::producer::{self, Produced};
use crate::loadgen::{self, output, Generated, ProducerConfig};

/// Generated traffic, ready to produce.
#[derive(Debug)]
pub struct SteadyLoad {
    generated: Generated,
    codec: Codec,
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
            let load = SteadyLoad {
                records: generated.plan.items.len() as u64,
                generated,
                codec,
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
            producer::produce(
                &self.config,
                &self.generated.traffic,
                &self.generated.plan,
                &self.codec,
            )
            .context("produce the load")
        })
        .await?
    }
}
