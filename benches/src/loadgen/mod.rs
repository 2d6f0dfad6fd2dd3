//! The load generator behind `loadgen`.
//!
//! # Layout
//!
//! A run is a pipeline; each step is one file:
//!
//! - [`config`]: command-line options and the configuration structs.
//! - [`script`]: random campaign scripts (branching graphs) and script updates.
//! - [`traffic`]: the distinct events: tenants, campaigns, jobs, users
//!   walking the scripts ([`traffic::generate`]).
//! - [`ordering`]: the production order: lag, late scripts, duplicates, poison
//!   ([`ordering::plan`]).
//! - [`poison`]: the poison records.
//! - [`expected`]: the oracle: every figure of `metrics.md` from the distinct
//!   events ([`expected::compute`]).
//! - [`expected_json`]: the serde types of the expected-figures file.
//! - [`output`]: writing that file, and the records as JSON events
//!   (`--emit-json`).
//! - [`producer`], [`encoder`], [`progress`]: producing the plan to Kafka,
//!   encoding ahead on worker threads, pacing and progress.
//!
//! Invariants: the same [`GenConfig`] gives the same events, records and
//! figures (one seeded ChaCha8 stream per step, `BTreeMap`s, no clock);
//! poison records and duplicates never change the figures.

pub mod config;
pub mod encoder;
pub mod error;
pub mod expected;
pub mod expected_json;
pub mod framing;
pub mod ordering;
pub mod output;
pub mod poison;
pub mod producer;
pub mod progress;
pub mod script;
pub mod traffic;

use std::fmt;
use std::time::{Duration, Instant};

use schemas::Codec;

pub use config::{Args, GenConfig, ProducerConfig, Topics};
pub use error::LoadgenError;
pub use expected::{compute, Expected};
pub use ordering::Plan;
pub use traffic::Traffic;

/// The generated traffic and its production order.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub traffic: Traffic,
    pub plan: Plan,
}

/// Generate the traffic of `cfg` and its production order.
pub fn generate(cfg: &GenConfig, codec: &Codec) -> Result<Generated, LoadgenError> {
    let traffic = traffic::generate(cfg);
    let plan = ordering::plan(cfg, &traffic, codec)?;
    Ok(Generated { traffic, plan })
}

/// What a run did, as its last line.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub dry_run: bool,
    pub per_topic: Vec<(String, u64)>,
    pub records: u64,
    pub distinct_events: u64,
    pub duplicates: u64,
    pub poison: u64,
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "generated"
        } else {
            "produced"
        };
        write!(f, "loadgen: {verb} {} records (", self.records)?;
        for (i, (topic, n)) in self.per_topic.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{topic}={n}")?;
        }
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.records as f64 / secs
        } else {
            0.0
        };
        write!(
            f,
            "), distinct events {}, duplicates {}, poison {}, elapsed {secs:.2}s, {rate:.0} records/s",
            self.distinct_events, self.duplicates, self.poison
        )
    }
}

/// The whole command: generate, write the expected figures, produce.
pub fn run(args: &Args) -> Result<Summary, LoadgenError> {
    let cfg = args.gen_config();
    let topics = args.topics();
    let codec = Codec::new()?;

    let writer = match &args.expected {
        Some(path) => Some(output::ExpectedWriter::create(path)?),
        None => None,
    };

    let started = Instant::now();
    let Generated { mut traffic, plan } = generate(&cfg, &codec)?;
    for (tenant, zone) in &args.expected_timezones {
        if traffic.tenants.insert(tenant.clone(), *zone).is_none() {
            return Err(LoadgenError::Config(format!(
                "--expected-timezone {tenant}=...: no such tenant (t0 to t{})",
                cfg.tenants.saturating_sub(1)
            )));
        }
    }
    tracing::info!(
        events = traffic.events.len(),
        records = plan.items.len(),
        campaigns = traffic.campaigns.len(),
        late_campaigns = plan.late_campaigns.len(),
        "generated in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let counts = plan.counts(&traffic, &topics);

    if let Some(path) = &args.emit_json {
        let written = output::write_json_events(path, &traffic, &plan)?;
        tracing::info!(path = %path.display(), events = written, "wrote the JSON events");
    }

    if let (Some(writer), Some(path)) = (writer, &args.expected) {
        let at = Instant::now();
        let expected = expected::compute(&traffic.events, &traffic.tenants);
        tracing::info!(
            reports = expected.reports.len(),
            journeys = expected.journeys.len(),
            "computed the expected figures in {:.2}s",
            at.elapsed().as_secs_f64()
        );
        let file =
            output::expected_file(&cfg, &topics, &traffic, &plan, expected, !args.no_journeys);
        writer.write(&file)?;
        tracing::info!(path = %path.display(), "wrote the expected figures");
    }

    let mut summary = Summary {
        dry_run: args.dry_run,
        per_topic: counts
            .per_topic
            .iter()
            .map(|(topic, c)| (topic.clone(), c.records))
            .collect(),
        records: counts.records,
        distinct_events: counts.distinct_events,
        duplicates: counts.duplicates,
        poison: counts.poison,
        elapsed: started.elapsed(),
    };
    if args.dry_run {
        return Ok(summary);
    }
    if let Some(partitions) = args.create_topics {
        producer::create_topics(&args.brokers, &topics.all(), partitions)?;
    }
    let mut producer_config = args.producer_config();
    producer_config.framing =
        framing::Framing::new(args.wire_format, args.schema_ids_file.as_deref(), &codec)?;
    let produced = producer::produce(&producer_config, &traffic, &plan, &codec)?;
    summary.per_topic = produced.per_topic.into_iter().collect();
    summary.elapsed = produced.elapsed;
    Ok(summary)
}
