//! The release `processor run` as a child process: spawned with the
//! benchmark's settings, watched through its /metrics port and its JSON
//! log, stopped with SIGTERM.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;

use super::cpu::CpuSeconds;
use super::env::{free_port, unique, Env};
use super::topics::Topics;
use crate::loadgen::expected_json::ExpectedFile;

/// Settings of one processor instance.
#[derive(Debug, Clone)]
pub struct Spec {
    pub topics: Topics,
    pub database: String,
    pub group: String,
    /// `TENANT_TIMEZONES` of the traffic.
    pub tenant_timezones: String,
    pub snapshot_interval_ms: u64,
    /// `EVICT_COMPLETED_AFTER_SECONDS` (`None`: the processor's default).
    pub evict_completed_after_seconds: Option<i64>,
    /// More environment (e.g. `ALERTING` and the alert topics).
    pub extra_env: Vec<(&'static str, String)>,
}

impl Spec {
    /// A fresh database name and consumer group for this traffic.
    pub fn fresh(topics: &Topics, expected: &ExpectedFile, snapshot_interval_ms: u64) -> Self {
        let zones: Vec<String> = expected
            .tenants
            .iter()
            .map(|(t, info)| format!("{t}={}", info.timezone))
            .collect();
        Spec {
            topics: topics.clone(),
            database: unique("bench").replace('-', "_"),
            group: unique("bench-group"),
            tenant_timezones: zones.join(","),
            snapshot_interval_ms,
            evict_completed_after_seconds: None,
            extra_env: Vec::new(),
        }
    }

    /// The environment the processor runs with (everything else at its
    /// default).
    fn vars(&self, env: &Env, metrics_addr: &str) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("KAFKA_BROKERS", env.brokers.clone()),
            ("KAFKA_GROUP_ID", self.group.clone()),
            ("TOPIC_LIFECYCLE", self.topics.lifecycle.clone()),
            ("TOPIC_NOTIFICATIONS", self.topics.notifications.clone()),
            ("TOPIC_INTERACTIONS", self.topics.interactions.clone()),
            ("TOPIC_DLQ", self.topics.dlq.clone()),
            ("CLICKHOUSE_URL", env.clickhouse_url.clone()),
            ("CLICKHOUSE_DATABASE", self.database.clone()),
            ("TENANT_TIMEZONES", self.tenant_timezones.clone()),
            (
                "SNAPSHOT_INTERVAL_MS",
                self.snapshot_interval_ms.to_string(),
            ),
            ("KAFKA_SESSION_TIMEOUT_MS", "6000".into()),
            ("METRICS_ADDR", metrics_addr.to_owned()),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
        ];
        if let Some(seconds) = self.evict_completed_after_seconds {
            vars.push(("EVICT_COMPLETED_AFTER_SECONDS", seconds.to_string()));
        }
        vars.extend(self.extra_env.iter().cloned());
        vars
    }

    /// Spawn `processor run`.
    pub fn spawn(&self, env: &Env) -> anyhow::Result<Processor> {
        let metrics_addr = format!("127.0.0.1:{}", free_port()?);
        let log = env.log_dir.join(format!("{}.log", unique("processor")));
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let spawned_wall = Utc::now();
        let spawned = Instant::now();
        let cpu_at_spawn = CpuSeconds::now(None);
        let child = tokio::process::Command::new(env.bin("processor"))
            .arg("run")
            .envs(self.vars(env, &metrics_addr))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .context("spawn the processor")?;
        Ok(Processor {
            child,
            log,
            metrics_addr,
            spawned,
            spawned_wall,
            cpu_at_spawn,
        })
    }
}

/// A running processor.
#[derive(Debug)]
pub struct Processor {
    child: Child,
    pub log: PathBuf,
    metrics_addr: String,
    pub spawned: Instant,
    pub spawned_wall: DateTime<Utc>,
    /// The broker's and ClickHouse's CPU time at the spawn.
    cpu_at_spawn: CpuSeconds,
}

/// What the /metrics page says.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// `processor_records_consumed_total`, all topics.
    pub consumed: u64,
    /// `processor_dead_lettered_total`, all topics and reasons (dead
    /// letters the broker acknowledged).
    pub dead_lettered: u64,
    /// `processor_restore_seconds_sum` of restores from the store.
    pub restore_seconds: f64,
    /// `processor_snapshot_seconds` sum and count: time spent writing
    /// snapshots.
    pub snapshot_seconds: f64,
    pub snapshots: u64,
    /// `processor_snapshot_rows_total` by table.
    pub rows_written: BTreeMap<String, u64>,
    /// `processor_snapshot_seconds_bucket`: (upper bound in seconds,
    /// snapshots written within it), cumulative as Prometheus has them.
    pub snapshot_buckets: Vec<(f64, u64)>,
    /// `processor_alert_transitions_total`, all kinds.
    pub alert_transitions: u64,
    /// `processor_snapshot_step_seconds` by step: (sum, count).
    pub snapshot_steps: BTreeMap<String, (f64, u64)>,
}

/// `processor_snapshot_step_seconds_sum{step="x"}` → `("x", true)`, the
/// `_count` → `("x", false)`.
fn step_sample(name: &str) -> Option<(&str, bool)> {
    let (sum, labels) = if let Some(l) = name.strip_prefix("processor_snapshot_step_seconds_sum{") {
        (true, l)
    } else {
        (
            false,
            name.strip_prefix("processor_snapshot_step_seconds_count{")?,
        )
    };
    let step = labels.strip_prefix("step=\"")?.strip_suffix("\"}")?;
    Some((step, sum))
}

/// One line of the processor's JSON log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub message: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Processor {
    /// Fails when the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "processor exited early ({status}); log: {}",
                self.log.display()
            );
        }
        Ok(())
    }

    /// The metrics page, asked up to five times (a loaded machine may miss
    /// the 2 s answer time once); zeros only when it never answered.
    pub async fn scrape_settled(&self) -> Scrape {
        for _ in 0..4 {
            if let Some(s) = self.scrape().await {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.scrape().await.unwrap_or_default()
    }

    /// The metrics page, or `None` while the port is not up.
    pub async fn scrape(&self) -> Option<Scrape> {
        let body = tokio::time::timeout(Duration::from_secs(2), get_metrics(&self.metrics_addr))
            .await
            .ok()?
            .ok()?;
        let mut scrape = Scrape::default();
        for line in body.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = value.parse().unwrap_or(0.0);
            if name.starts_with("processor_records_consumed_total") {
                scrape.consumed += value as u64;
            } else if name.starts_with("processor_dead_lettered_total") {
                scrape.dead_lettered += value as u64;
            } else if name == "processor_restore_seconds_sum{source=\"store\"}" {
                scrape.restore_seconds = value;
            } else if name == "processor_snapshot_seconds_sum" {
                scrape.snapshot_seconds = value;
            } else if name == "processor_snapshot_seconds_count" {
                scrape.snapshots = value as u64;
            } else if let Some(le) = name
                .strip_prefix("processor_snapshot_seconds_bucket{le=\"")
                .and_then(|l| l.trim_end_matches("\"}").parse::<f64>().ok())
            {
                scrape.snapshot_buckets.push((le, value as u64));
            } else if name.starts_with("processor_alert_transitions_total") {
                scrape.alert_transitions += value as u64;
            } else if let Some((step, sum)) = step_sample(name) {
                let e = scrape.snapshot_steps.entry(step.to_owned()).or_default();
                if sum {
                    e.0 = value;
                } else {
                    e.1 = value as u64;
                }
            } else if let Some(labels) = name.strip_prefix("processor_snapshot_rows_total{table=\"")
            {
                let table = labels.trim_end_matches("\"}").to_owned();
                scrape.rows_written.insert(table, value as u64);
            }
        }
        Some(scrape)
    }

    /// CPU used since the spawn by the processor, the broker and ClickHouse.
    pub fn cpu(&self) -> CpuSeconds {
        CpuSeconds::now(self.child.id()).since(&self.cpu_at_spawn)
    }

    /// Resident memory, MiB (0 when unknown).
    pub fn rss_mib(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }

    /// SIGTERM, then wait for the final snapshot and a clean exit; returns
    /// how long that took.
    pub async fn stop(mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let pid = self.child.id().context("processor already reaped")?;
        let status = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .context("run kill")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        let exit = tokio::time::timeout(Duration::from_secs(180), self.child.wait())
            .await
            .with_context(|| {
                format!(
                    "processor did not stop within 180 s of SIGTERM; log: {}",
                    self.log.display()
                )
            })??;
        if !exit.success() {
            bail!(
                "processor exited with {exit} after SIGTERM; log: {}",
                self.log.display()
            );
        }
        Ok(started.elapsed())
    }

    /// Every JSON line of the log so far.
    pub fn log_lines(&self) -> anyhow::Result<Vec<LogLine>> {
        let text = std::fs::read_to_string(&self.log)
            .with_context(|| format!("read {}", self.log.display()))?;
        Ok(text.lines().filter_map(parse_log_line).collect())
    }
}

fn parse_log_line(line: &str) -> Option<LogLine> {
    let serde_json::Value::Object(mut obj) = serde_json::from_str(line).ok()? else {
        return None;
    };
    let at = obj.get("timestamp")?.as_str()?.parse().ok()?;
    let serde_json::Value::Object(mut fields) = obj.remove("fields")? else {
        return None;
    };
    let message = fields.remove("message")?.as_str()?.to_owned();
    Some(LogLine {
        at,
        message,
        fields,
    })
}

async fn get_metrics(addr: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
            Ok(body.to_owned())
        }
        _ => bail!("unexpected /metrics response"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_json_log_line() {
        let line = r#"{"timestamp":"2026-11-23T06:52:19.327241Z","level":"INFO","fields":{"message":"partition restored","partition":3,"seconds":1.5},"target":"processor::engine"}"#;
        let l = parse_log_line(line).expect("a log line");
        assert_eq!(l.message, "partition restored");
        assert_eq!(l.fields["seconds"].as_f64(), Some(1.5));
        assert!(parse_log_line("not json").is_none());
    }
}
