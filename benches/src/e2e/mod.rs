//! End-to-end benchmarks behind `pipeline-bench`: the release processor
//! against the real broker and ClickHouse, timed from the outside.
//!
//! # Layout
//!
//! - [`options`]: the command line (its doc comments are `--help`).
//! - [`env`]: where the stack, the binaries and the logs are; unique names.
//! - [`topics`]: creating and deleting a case's topics; duplicates past a
//!   checkpoint.
//! - [`fill`]: loadgen traffic sized to a target, produced flat out.
//! - [`bare`]: the reference reader, a bare rdkafka consumer.
//! - [`processor`]: `processor run` as a child: spawn, /metrics, JSON log,
//!   SIGTERM.
//! - [`watch`]: waiting until a processor's checkpoints cover everything.
//! - [`figures`]: ClickHouse against loadgen's expected figures.
//! - [`timing`]: one timed catch-up; medians. [`cpu`]: where the CPU went.
//! - [`catchup`], [`recovery`], [`scaling`], [`dlq`]: the scenarios;
//!   [`history`]: the recovery scenario's synthetic history.
//! - [`query`]: the query API's latency under wrk; [`api`]: the release
//!   `query-api` as a child, its keys file, an HTTP client.
//! - [`ingest`]: HTTP ingestion into Kafka through the query API (batches
//!   and single events under wrk), and its pieces the tests share.
//! - [`freshness`]: production → visible through the query API at a
//!   steady load; [`steady`]: loadgen traffic produced at a steady rate
//!   from this process; [`probe`]: the probe events and their count.
//! - [`alert_latency`]: the event that makes a rule fire → the alert
//!   listed through the API and pushed over SSE, at a steady load;
//!   [`rules`]: a catch-up with and without 1,000 rules.
//! - [`machine`], [`results`]: the machine, and the Markdown section for
//!   RESULTS.md.

pub mod alert_latency;
pub mod api;
pub mod bare;
pub mod catchup;
pub mod cpu;
pub mod dlq;
pub mod env;
pub mod figures;
pub mod fill;
pub mod freshness;
pub mod history;
pub mod ingest;
pub mod machine;
pub mod options;
pub mod probe;
pub mod processor;
pub mod query;
pub mod recovery;
pub mod results;
pub mod rules;
pub mod scaling;
pub mod sse;
pub mod steady;
pub mod timing;
pub mod topics;
pub mod watch;

pub use env::Env;
pub use options::{Options, Scenario};
pub use results::Outcome;

/// A run's settings and surroundings.
#[derive(Debug)]
pub struct Bench {
    pub env: Env,
    pub options: Options,
}

/// Run the scenarios `options` asks for; then, with `--results`, write
/// their section into that file. A scenario that fails is recorded in
/// [`Outcome::errors`] and the others still run.
pub async fn run(mut options: Options) -> anyhow::Result<Outcome> {
    options.apply_tiny();
    let env = Env::from_env(options.quiet)?;
    let bench = Bench { env, options };
    say(
        &bench.env,
        format!(
            "logs and expected figures in {}",
            bench.env.log_dir.display()
        ),
    );
    let mut outcome = Outcome::start(&bench.options);
    let scenario = bench.options.scenario;
    // A failed scenario does not lose the others' figures.
    if scenario.includes(Scenario::Catchup) {
        let o = &bench.options;
        let repeats = o.repeats_for(o.events, false);
        match catchup::case(&bench, "catchup", o.events, o.partitions, repeats).await {
            Ok(c) => outcome.catchup = Some(c),
            Err(e) => outcome.errors.push(format!("catchup: {e:#}")),
        }
    }
    if scenario.includes(Scenario::Recovery) {
        match recovery::run(&bench).await {
            Ok(r) => outcome.recovery = Some(r),
            Err(e) => outcome.errors.push(format!("recovery: {e:#}")),
        }
    }
    if scenario.includes(Scenario::Scaling) {
        let (cells, error) = scaling::run(&bench).await;
        outcome.scaling = cells;
        outcome
            .errors
            .extend(error.map(|e| format!("scaling: {e:#}")));
    }
    if scenario.includes(Scenario::Query) {
        if bench.options.tiny && !query::wrk_available() {
            say(
                &bench.env,
                "query: skipped, wrk is not installed (deploy/local/install.sh installs it)".into(),
            );
        } else {
            match query::run(&bench).await {
                Ok(q) => outcome.query = Some(q),
                Err(e) => outcome.errors.push(format!("query: {e:#}")),
            }
        }
    }
    if scenario.includes(Scenario::Dlq) {
        let o = &bench.options;
        match dlq::run(&bench, o.dlq_events, o.dlq_poison).await {
            Ok(d) => outcome.dlq = Some(d),
            Err(e) => outcome.errors.push(format!("dlq: {e:#}")),
        }
    }
    if scenario.includes(Scenario::Ingest) {
        if bench.options.tiny && !query::wrk_available() {
            say(
                &bench.env,
                "ingest: skipped, wrk is not installed (deploy/local/install.sh installs it)"
                    .into(),
            );
        } else {
            match ingest::run(&bench).await {
                Ok(i) => outcome.ingest = Some(i),
                Err(e) => outcome.errors.push(format!("ingest: {e:#}")),
            }
        }
    }
    if scenario.includes(Scenario::Freshness) {
        match freshness::run(&bench).await {
            Ok(f) => outcome.freshness = Some(f),
            Err(e) => outcome.errors.push(format!("freshness: {e:#}")),
        }
    }
    if scenario.includes(Scenario::Rules) {
        match rules::run(&bench).await {
            Ok(r) => outcome.rules = Some(r),
            Err(e) => outcome.errors.push(format!("rules: {e:#}")),
        }
    }
    if scenario.includes(Scenario::AlertLatency) {
        match alert_latency::run(&bench).await {
            Ok(a) => outcome.alert_latency = Some(a),
            Err(e) => outcome.errors.push(format!("alert-latency: {e:#}")),
        }
    }
    outcome.finish();
    if let Some(path) = &bench.options.results {
        results::insert(path, &outcome.markdown())?;
        say(
            &bench.env,
            format!("wrote the results to {}", path.display()),
        );
    }
    Ok(outcome)
}

/// A progress line on stderr (unless quiet).
pub fn say(env: &Env, text: String) {
    if !env.quiet {
        eprintln!("pipeline-bench: {text}");
    }
}

/// Drop a run's database; a failure is only reported.
pub async fn drop_database(env: &Env, database: &str) {
    let sql = format!("DROP DATABASE IF EXISTS `{database}`");
    if let Err(e) = env.clickhouse().query(&sql).execute().await {
        eprintln!("pipeline-bench: database {database} not dropped ({e})");
    }
}
