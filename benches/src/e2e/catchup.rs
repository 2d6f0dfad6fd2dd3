//! One catch-up case: `records` records already on the broker; per repeat
//! the bare consumer and then the processor (fresh database) read them
//! all, and the processor's figures are checked. The catchup scenario is
//! one case; the scaling scenario is a grid of them.

use std::time::Duration;

use super::bare;
use super::cpu::CpuSeconds;
use super::figures::{self, Checked};
use super::fill::{fill_new_topics, Filled, Traffic};
use super::machine::load_average;
use super::processor::{Scrape, Spec};
use super::timing::{median, Run};
use super::topics::Topics;
use super::watch;
use super::{drop_database, say, Bench};

/// One repeat: both readers on the same records.
#[derive(Debug)]
pub struct Repeat {
    pub bare: Run,
    pub processor: Run,
    pub checked: Checked,
    pub load: String,
    /// The processor's metrics when caught up.
    pub metrics: Scrape,
}

impl Repeat {
    /// Processor rate over bare consumer rate.
    pub fn ratio(&self) -> f64 {
        self.processor.rate() / self.bare.rate().max(f64::MIN_POSITIVE)
    }
}

/// The outcome of one case.
#[derive(Debug)]
pub struct Case {
    pub partitions: i32,
    pub target: u64,
    pub records: u64,
    pub fill_command: String,
    pub fill_seconds: f64,
    pub repeats: Vec<Repeat>,
}

impl Case {
    pub fn bare_rate(&self) -> f64 {
        median(self.repeats.iter().map(|r| r.bare.rate()))
    }

    pub fn processor_rate(&self) -> f64 {
        median(self.repeats.iter().map(|r| r.processor.rate()))
    }

    pub fn processor_wall_rate(&self) -> f64 {
        median(self.repeats.iter().map(|r| r.processor.wall_rate()))
    }

    /// The median of the per-repeat ratios.
    pub fn ratio(&self) -> f64 {
        median(self.repeats.iter().map(Repeat::ratio))
    }

    pub fn startup(&self) -> f64 {
        median(
            self.repeats
                .iter()
                .map(|r| r.processor.startup().as_secs_f64()),
        )
    }

    pub fn tail(&self) -> f64 {
        median(
            self.repeats
                .iter()
                .map(|r| r.processor.tail().as_secs_f64()),
        )
    }

    /// Median CPU µs per record of (bare consumer run, processor run).
    pub fn cpu_per_record(&self) -> (CpuSeconds, CpuSeconds) {
        let per = |run: fn(&Repeat) -> &Run| {
            CpuSeconds::median(
                self.repeats
                    .iter()
                    .map(move |r| run(r).cpu.per_record(run(r).records)),
            )
        };
        (per(|r| &r.bare), per(|r| &r.processor))
    }

    /// Median share of the cores busy (reader, broker and ClickHouse) of
    /// (bare consumer run, processor run), from the start until caught up.
    pub fn busy(&self, cores: usize) -> (f64, f64) {
        let busy = |run: &Run| run.cpu.busy(run.done - run.started, cores);
        (
            median(self.repeats.iter().map(|r| busy(&r.bare))),
            median(self.repeats.iter().map(|r| busy(&r.processor))),
        )
    }

    pub fn all_exact(&self) -> bool {
        self.repeats.iter().all(|r| r.checked.exact())
    }
}

/// How long a catch-up of `records` may take.
pub fn timeout_for(records: u64) -> Duration {
    Duration::from_secs(120 + records / 2_000)
}

/// Run one case.
pub async fn case(
    bench: &Bench,
    label: &str,
    target: u64,
    partitions: i32,
    repeats: usize,
) -> anyhow::Result<Case> {
    let env = &bench.env;
    let prefix: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let traffic = Traffic::for_records(target)?;
    say(
        env,
        format!(
            "{label}: filling {partitions} partitions with about {target} records ({} users per job)",
            traffic.users
        ),
    );
    let (topics, filled) = fill_new_topics(
        env,
        &format!("bench-{prefix}"),
        partitions,
        &traffic,
        bench.options.fill_options(),
    )
    .await?;
    say(
        env,
        format!(
            "{label}: {} records on the broker after {:.1} s",
            filled.total(),
            filled.elapsed.as_secs_f64()
        ),
    );
    let mut out = Case {
        partitions,
        target,
        records: filled.total(),
        fill_command: filled.command.clone(),
        fill_seconds: filled.elapsed.as_secs_f64(),
        repeats: Vec::new(),
    };
    let measured = repeat_all(bench, label, &topics, &filled, repeats, &mut out).await;
    // The topics go also after a failure (their records fill the broker's
    // memory); a failed repeat's database stays for the post-mortem.
    if bench.options.delete_topics() {
        topics.delete(env).await;
    }
    measured.map(|()| out)
}

async fn repeat_all(
    bench: &Bench,
    label: &str,
    topics: &Topics,
    filled: &Filled,
    repeats: usize,
    out: &mut Case,
) -> anyhow::Result<()> {
    for i in 1..=repeats {
        let repeat = one_repeat(bench, &format!("{label} {i}/{repeats}"), topics, filled).await?;
        say(
            &bench.env,
            format!(
                "{label} {i}/{repeats}: bare {:.0}/s, processor {:.0}/s, ratio {:.2}; {}",
                repeat.bare.rate(),
                repeat.processor.rate(),
                repeat.ratio(),
                repeat.checked.summary()
            ),
        );
        out.repeats.push(repeat);
    }
    Ok(())
}

async fn one_repeat(
    bench: &Bench,
    label: &str,
    topics: &Topics,
    filled: &Filled,
) -> anyhow::Result<Repeat> {
    let env = &bench.env;
    let load = load_average();
    let bare = bare::read_all(env, topics, filled.records).await?;
    let spec = Spec::fresh(topics, &filled.expected, bench.options.snapshot_interval_ms);
    let db = env.clickhouse().with_database(&spec.database);
    let mut p = spec.spawn(env)?;
    let processor = watch::caught_up(
        &mut p,
        &db,
        filled.records,
        filled.total(),
        timeout_for(filled.total()),
        label,
        env.quiet,
    )
    .await?;
    let metrics = p.scrape_settled().await;
    p.stop().await?;
    let checked = figures::check(&db, &filled.expected).await?;
    for shown in &checked.shown {
        say(env, format!("{label}: {shown}"));
    }
    if !bench.options.keep {
        drop_database(env, &spec.database).await;
    }
    Ok(Repeat {
        bare,
        processor,
        checked,
        load,
        metrics,
    })
}
