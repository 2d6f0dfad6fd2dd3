//! The rules scenario (issue 12): what alert rules cost a catch-up, end to
//! end. The same records (`--rules-campaigns` campaigns over 10 tenants,
//! about `--rules-events` records) are read from the beginning by the
//! processor without alerting, and by the processor with `--rules` rules
//! (an equal share per tenant, every one in scope of every campaign of its
//! tenant: thresholds, funnel steps, statuses, inactivity) on a rules
//! topic, publishing its transitions to an alerts topic. Both run per
//! repeat, in alternating order, on fresh databases; both must give the
//! exact figures. Reported: both catch-up rates and their ratio, and the
//! transitions the rules made.

use std::fmt::Write as _;
use std::time::Duration;

use alerting::{Rule, RuleInput};
use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use super::catchup::timeout_for;
use super::env::unique;
use super::figures::{self, Checked};
use super::fill::{fill_new_topics, Filled, Traffic};
use super::machine::load_average;
use super::processor::Spec;
use super::timing::{median, Run};
use super::topics::{self, Topics};
use super::watch;
use super::{drop_database, say, Bench};

/// Tenants of the traffic (the campaigns are spread over them).
const TENANTS: u32 = 10;

/// The condition shapes the rules cycle through.
const SHAPES: [&str; 5] = [
    r#"{"kind": "metric_threshold", "metric": "interaction_rate", "op": "<", "value": 40}"#,
    r#"{"kind": "metric_threshold", "metric": "sent_users", "op": ">=", "value": 4}"#,
    r#"{"kind": "funnel_conversion", "node_id": "n2", "op": "<", "value": 50}"#,
    r#"{"kind": "status", "status": "ERROR"}"#,
    r#"{"kind": "inactivity", "seconds": 3600}"#,
];

/// The `i`-th rule of a tenant in the rule benchmarks (end to end here, in
/// process in `benches/benches/alert_rules.rs`): the shapes in turn,
/// `min_sent_users` 0, 1 or 2.
pub fn bench_rule(tenant: &str, i: usize, id: String) -> anyhow::Result<Rule> {
    let json = format!(
        r#"{{"name": "r{i}", "min_sent_users": {}, "condition": {}}}"#,
        i % 3,
        SHAPES[i % SHAPES.len()]
    );
    Ok(RuleInput::from_json(&json)
        .context("a rule")?
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid bench rule: {e:?}"))?
        .into_rule(id, tenant.to_owned(), 1))
}

/// One catch-up of the records.
#[derive(Debug)]
pub struct Side {
    pub run: Run,
    pub checked: Checked,
    /// `processor_alert_transitions_total` when caught up.
    pub transitions: u64,
}

/// One repeat: the same records without rules and with them.
#[derive(Debug)]
pub struct Repeat {
    pub without: Side,
    pub with: Side,
    /// Whether the run with rules went first.
    pub rules_first: bool,
    pub load: String,
}

impl Repeat {
    /// Catch-up rate with rules over the rate without.
    pub fn ratio(&self) -> f64 {
        self.with.run.rate() / self.without.run.rate().max(f64::MIN_POSITIVE)
    }
}

/// The scenario's outcome.
#[derive(Debug)]
pub struct Rules {
    pub partitions: i32,
    pub campaigns: u32,
    pub rules: usize,
    pub records: u64,
    pub fill_command: String,
    pub repeats: Vec<Repeat>,
}

impl Rules {
    pub fn ratio(&self) -> f64 {
        median(self.repeats.iter().map(Repeat::ratio))
    }

    pub fn all_exact(&self) -> bool {
        self.repeats
            .iter()
            .all(|r| r.without.checked.exact() && r.with.checked.exact())
    }

    /// The Markdown section for RESULTS.md.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "### Alert rules on a catch-up (issue 12): {} rules over {} campaigns\n",
            self.rules, self.campaigns
        );
        let _ = writeln!(
            s,
            "{} records on {} partitions (`{}`), read from the beginning by the processor \
             without alerting and with {} rules ({} per tenant, each in scope of every \
             campaign of its tenant), per repeat in alternating order, fresh databases. \
             Rate: records over the time from the first record read until the checkpoints \
             cover every record.\n",
            self.records,
            self.partitions,
            self.fill_command,
            self.rules,
            self.rules / TENANTS as usize,
        );
        let _ = writeln!(
            s,
            "| repeat | first | without rules | with rules | **ratio** | transitions | figures | load |"
        );
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- |");
        for (i, r) in self.repeats.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} k/s | {:.1} k/s | **{:.2}** | {} | {} / {} | {} |",
                i + 1,
                if r.rules_first { "with" } else { "without" },
                r.without.run.rate() / 1000.0,
                r.with.run.rate() / 1000.0,
                r.ratio(),
                r.with.transitions,
                r.without.checked.summary(),
                r.with.checked.summary(),
                r.load
            );
        }
        let _ = writeln!(
            s,
            "| **median** | | {:.1} k/s | {:.1} k/s | **{:.2}** | | | |\n",
            median(self.repeats.iter().map(|r| r.without.run.rate())) / 1000.0,
            median(self.repeats.iter().map(|r| r.with.run.rate())) / 1000.0,
            self.ratio()
        );
        s
    }
}

/// Run the scenario.
pub async fn run(bench: &Bench) -> anyhow::Result<Rules> {
    let (env, o) = (&bench.env, &bench.options);
    let per_tenant = (o.rules_campaigns / TENANTS).max(1);
    // About five records per journey.
    let traffic = Traffic::shaped(TENANTS, per_tenant, o.rules_events / 5);
    say(
        env,
        format!(
            "rules: filling {} partitions with {} campaigns, about {} records",
            o.partitions,
            TENANTS * per_tenant,
            o.rules_events
        ),
    );
    let (topics, filled) =
        fill_new_topics(env, "bench-rules", o.partitions, &traffic, o.fill_options()).await?;
    let base = unique("bench-rules");
    let (rules_topic, alerts_topic) = (format!("{base}-rules"), format!("{base}-out"));
    let measured = async {
        topics::create_topic(&env.brokers, &rules_topic, 1, &[]).await?;
        topics::create_topic(&env.brokers, &alerts_topic, o.partitions, &[]).await?;
        let tenants: Vec<String> = filled.expected.tenants.keys().cloned().collect();
        let rules = publish_rules(&env.brokers, &rules_topic, &tenants, o.rules).await?;
        let mut out = Rules {
            partitions: o.partitions,
            campaigns: TENANTS * per_tenant,
            rules,
            records: filled.total(),
            fill_command: filled.command.clone(),
            repeats: Vec::new(),
        };
        let n = o.repeat.max(1);
        for i in 1..=n {
            let label = format!("rules {i}/{n}");
            let rules_first = i % 2 == 0;
            let load = load_average();
            let mut with = None;
            let mut without = None;
            for rules_now in [rules_first, !rules_first] {
                let alerting = rules_now.then_some((rules_topic.as_str(), alerts_topic.as_str()));
                let side = catch_up(bench, &label, &topics, &filled, alerting).await?;
                if rules_now {
                    with = Some(side);
                } else {
                    without = Some(side);
                }
            }
            let repeat = Repeat {
                without: without.context("the run without rules")?,
                with: with.context("the run with rules")?,
                rules_first,
                load,
            };
            say(
                env,
                format!(
                    "{label}: without rules {:.0}/s, with {} rules {:.0}/s, ratio {:.2}; {} transitions",
                    repeat.without.run.rate(),
                    out.rules,
                    repeat.with.run.rate(),
                    repeat.ratio(),
                    repeat.with.transitions
                ),
            );
            out.repeats.push(repeat);
        }
        anyhow::Ok(out)
    }
    .await;
    if o.delete_topics() {
        topics.delete(env).await;
        topics::delete_named(env, &[&rules_topic, &alerts_topic]).await;
    }
    measured
}

/// `count` rules, an equal share per tenant (at least one each), on the
/// rules topic as the API publishes them (key: rule id; value: the rule's
/// JSON). Returns how many.
async fn publish_rules(
    brokers: &str,
    topic: &str,
    tenants: &[String],
    count: usize,
) -> anyhow::Result<usize> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("producer")?;
    let per_tenant = (count / tenants.len().max(1)).max(1);
    let mut published = 0;
    for tenant in tenants {
        for i in 0..per_tenant {
            let id = format!("bench-{tenant}-r{i}");
            let rule = bench_rule(tenant, i, id.clone())?;
            let value = serde_json::to_vec(&rule)?;
            producer
                .send(
                    FutureRecord::to(topic).key(&id).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .context("produce a rule")?;
            published += 1;
        }
    }
    Ok(published)
}

/// One processor from the beginning of the records until caught up, with
/// rules when `alerting` names (rules topic, alerts topic).
async fn catch_up(
    bench: &Bench,
    label: &str,
    topics: &Topics,
    filled: &Filled,
    alerting: Option<(&str, &str)>,
) -> anyhow::Result<Side> {
    let env = &bench.env;
    let mut spec = Spec::fresh(topics, &filled.expected, bench.options.snapshot_interval_ms);
    if let Some((rules_topic, alerts_topic)) = alerting {
        spec.extra_env.extend([
            ("ALERTING", "true".to_owned()),
            ("TOPIC_ALERT_RULES", rules_topic.to_owned()),
            ("TOPIC_ALERTS", alerts_topic.to_owned()),
        ]);
    }
    let which = if alerting.is_some() {
        "with rules"
    } else {
        "without rules"
    };
    let db = env.clickhouse().with_database(&spec.database);
    let mut p = spec.spawn(env)?;
    let run = watch::caught_up(
        &mut p,
        &db,
        filled.records,
        filled.total(),
        timeout_for(filled.total()),
        &format!("{label} {which}"),
        env.quiet,
    )
    .await?;
    let metrics = p.scrape_settled().await;
    p.stop().await?;
    let checked = figures::check(&db, &filled.expected).await?;
    if !bench.options.keep {
        drop_database(env, &spec.database).await;
    }
    Ok(Side {
        run,
        checked,
        transitions: metrics.alert_transitions,
    })
}
