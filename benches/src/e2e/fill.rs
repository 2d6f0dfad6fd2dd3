//! Filling the topics: a loadgen configuration sized to a target, and the
//! `loadgen` binary run flat out with its expected figures.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use schemas::Codec;

use super::env::{unique, Env};
use super::topics::Topics;
use crate::loadgen::expected_json::ExpectedFile;
use crate::loadgen::{self, GenConfig};

/// Users per job of the calibration run.
const CALIBRATION_USERS: u32 = 20;

/// The benchmark traffic: loadgen's defaults (5 % duplicates, 20 poison
/// records, start 2026-09-01) over 4 tenants × 25 campaigns × up to 3
/// jobs, campaigns starting within 40 days (as in the end-to-end tests: the
/// processor dead-letters events more than 5 minutes in the future, and
/// loadgen's default 75 days reach past late November 2026); only the
/// users per job grow with the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub seed: u64,
    pub tenants: u32,
    pub campaigns: u32,
    pub jobs: u32,
    pub users: u32,
    pub days: u32,
    /// Poison records (`None`: loadgen's default).
    pub poison: Option<u32>,
}

impl Traffic {
    fn with_users(users: u32) -> Self {
        Traffic {
            seed: 7,
            tenants: 4,
            campaigns: 25,
            jobs: 3,
            users: users.max(1),
            days: 40,
            poison: None,
        }
    }

    /// loadgen's configuration of this traffic.
    pub fn gen_config(&self) -> GenConfig {
        let default = GenConfig::default();
        GenConfig {
            seed: self.seed,
            tenants: self.tenants,
            campaigns: self.campaigns,
            jobs: self.jobs,
            users: self.users,
            days: self.days,
            poison: self.poison.unwrap_or(default.poison),
            ..default
        }
    }

    /// About `records` records (records grow linearly with users per job).
    pub fn for_records(records: u64) -> anyhow::Result<Self> {
        let sample = Self::with_users(CALIBRATION_USERS);
        let generated = loadgen::generate(&sample.gen_config(), &Codec::new()?)?;
        Ok(Self::scaled(records, generated.plan.items.len() as u64))
    }

    /// At least about `journeys` journeys.
    pub fn for_journeys(journeys: u64) -> anyhow::Result<Self> {
        let sample = Self::with_users(CALIBRATION_USERS);
        let traffic = crate::loadgen::traffic::generate(&sample.gen_config());
        let expected = loadgen::compute(&traffic.events, &traffic.tenants);
        Ok(Self::scaled(journeys, expected.journeys.len() as u64))
    }

    /// `tenants` × `campaigns` campaigns (the rest as above) with at least
    /// about `journeys` journeys.
    pub fn shaped(tenants: u32, campaigns: u32, journeys: u64) -> Self {
        let sample = Traffic {
            tenants,
            campaigns,
            ..Self::with_users(CALIBRATION_USERS)
        };
        let traffic = crate::loadgen::traffic::generate(&sample.gen_config());
        let expected = loadgen::compute(&traffic.events, &traffic.tenants);
        Traffic {
            tenants,
            campaigns,
            ..Self::scaled(journeys, expected.journeys.len() as u64)
        }
    }

    /// `TENANT_TIMEZONES` of this traffic (`t0=UTC,t1=Europe/Berlin,…`).
    pub fn tenant_timezones(&self) -> String {
        let zones: Vec<String> = crate::loadgen::traffic::tenants(&self.gen_config())
            .iter()
            .map(|(t, tz)| format!("{t}={}", tz.name()))
            .collect();
        zones.join(",")
    }

    fn scaled(target: u64, per_sample: u64) -> Self {
        let per_user = per_sample.max(1) as f64 / f64::from(CALIBRATION_USERS);
        let users = (target as f64 / per_user).ceil().min(f64::from(u32::MAX)) as u32;
        Self::with_users(users)
    }

    /// The loadgen options of this traffic.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            ("--seed", self.seed.to_string()),
            ("--tenants", self.tenants.to_string()),
            ("--campaigns", self.campaigns.to_string()),
            ("--jobs", self.jobs.to_string()),
            ("--users", self.users.to_string()),
            ("--days", self.days.to_string()),
        ];
        if let Some(n) = self.poison {
            args.push(("--poison", n.to_string()));
        }
        args.into_iter()
            .flat_map(|(k, v)| [k.to_owned(), v])
            .collect()
    }
}

/// What one fill produced.
#[derive(Debug)]
pub struct Filled {
    pub expected: ExpectedFile,
    /// Records per input topic, in [`Topics::inputs`] order.
    pub records: [u64; 3],
    /// The whole loadgen run: generation, expected figures, production.
    pub elapsed: Duration,
    pub command: String,
}

impl Filled {
    pub fn total(&self) -> u64 {
        self.records.iter().sum()
    }
}

/// How to fill.
#[derive(Debug, Clone, Copy)]
pub struct FillOptions {
    /// Also compute the expected journeys.
    pub journeys: bool,
    /// loadgen's --rate (0: flat out).
    pub rate: u64,
    /// Keep the expected-figures file (hundreds of MB for millions of
    /// records) once read.
    pub keep_file: bool,
}

/// Create topics named after `prefix` and fill them; when loadgen fails
/// (tansu sometimes leaves a produce request unanswered for longer than
/// the producer's timeouts), try once more on new topics.
pub async fn fill_new_topics(
    env: &Env,
    prefix: &str,
    partitions: i32,
    traffic: &Traffic,
    options: FillOptions,
) -> anyhow::Result<(Topics, Filled)> {
    let mut attempt = 1;
    loop {
        let topics = Topics::unique(prefix, partitions);
        topics.create(&env.brokers).await?;
        match fill(env, &topics, traffic, options).await {
            Ok(filled) => return Ok((topics, filled)),
            Err(e) if attempt == 1 => {
                eprintln!("pipeline-bench: fill failed ({e:#}); once more on new topics");
                topics.delete(env).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Run loadgen into `topics`.
pub async fn fill(
    env: &Env,
    topics: &Topics,
    traffic: &Traffic,
    options: FillOptions,
) -> anyhow::Result<Filled> {
    let path = env.log_dir.join(format!("{}.json", unique("expected")));
    let mut args = traffic.args();
    if !options.journeys {
        args.push("--no-journeys".into());
    }
    args.extend(["--rate".into(), options.rate.to_string()]);
    let command = format!("loadgen {}", args.join(" "));
    args.extend([
        "--expected".into(),
        path.display().to_string(),
        "--brokers".into(),
        env.brokers.clone(),
        "--topic-lifecycle".into(),
        topics.lifecycle.clone(),
        "--topic-notifications".into(),
        topics.notifications.clone(),
        "--topic-interactions".into(),
        topics.interactions.clone(),
    ]);
    let log = path.with_extension("log");
    let (out, err) = if env.quiet {
        let file = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        (Stdio::from(file.try_clone()?), Stdio::from(file))
    } else {
        (Stdio::inherit(), Stdio::inherit())
    };
    let started = Instant::now();
    let status = tokio::process::Command::new(env.bin("loadgen"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .await
        .context("run loadgen")?;
    if !status.success() {
        bail!("loadgen failed ({status}); log: {}", log.display());
    }
    let elapsed = started.elapsed();
    let expected = read_expected(path.clone()).await?;
    if !options.keep_file {
        let _ = std::fs::remove_file(&path);
    }
    let records = topics
        .inputs()
        .map(|t| expected.counts.per_topic.get(t).map_or(0, |c| c.records));
    Ok(Filled {
        expected,
        records,
        elapsed,
        command,
    })
}

async fn read_expected(path: PathBuf) -> anyhow::Result<ExpectedFile> {
    tokio::task::spawn_blocking(move || parse(&path)).await?
}

fn parse(path: &Path) -> anyhow::Result<ExpectedFile> {
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    serde_json::from_reader(BufReader::new(file))
        .with_context(|| format!("parse expected figures {}", path.display()))
}
