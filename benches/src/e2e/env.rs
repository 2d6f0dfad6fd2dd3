//! Where the stack and the binaries are, and names no other run uses.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use processor::clickhouse::{ClickHouseConfig, CompressionChoice};

/// The broker and ClickHouse of the local stack, and where the binaries and
/// logs are.
#[derive(Debug, Clone)]
pub struct Env {
    /// `KAFKA_BROKERS`, default `127.0.0.1:9092`.
    pub brokers: String,
    /// `CLICKHOUSE_URL`, default `http://127.0.0.1:8123`.
    pub clickhouse_url: String,
    /// The directory of `processor` and `loadgen`.
    pub bin_dir: PathBuf,
    /// Child logs and expected-figure files of this run.
    pub log_dir: PathBuf,
    /// Child output goes to log files only (no progress on the terminal).
    pub quiet: bool,
    /// A client of `clickhouse_url` (and `CLICKHOUSE_CA_FILE`), without a
    /// database.
    client: clickhouse::Client,
}

impl Env {
    /// The stack from the environment; binaries next to the running
    /// executable (or one level up, as for test executables in `deps/`).
    pub fn from_env(quiet: bool) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("path of the running executable")?;
        let bin_dir = bin_dir_near(&exe)?;
        let log_dir = std::env::temp_dir()
            .join("pipeline-bench")
            .join(unique("run"));
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("create log directory {}", log_dir.display()))?;
        let clickhouse_url = var_or("CLICKHOUSE_URL", "http://127.0.0.1:8123");
        let client = ClickHouseConfig {
            url: clickhouse_url.clone(),
            user: "default".into(),
            password: String::new(),
            database: "default".into(),
            compression: CompressionChoice::Auto,
            ca_file: std::env::var_os("CLICKHOUSE_CA_FILE").map(Into::into),
        }
        .server_client()?;
        Ok(Env {
            brokers: var_or("KAFKA_BROKERS", "127.0.0.1:9092"),
            clickhouse_url,
            bin_dir,
            log_dir,
            quiet,
            client,
        })
    }

    /// A workspace binary (`processor`, `loadgen`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// A ClickHouse client without a database, with the processor's
    /// settings.
    pub fn clickhouse(&self) -> clickhouse::Client {
        self.client.clone()
    }
}

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn bin_dir_near(exe: &Path) -> anyhow::Result<PathBuf> {
    let dir = exe
        .parent()
        .context("directory of the running executable")?;
    for candidate in [Some(dir), dir.parent()].into_iter().flatten() {
        if candidate.join("processor").exists() && candidate.join("loadgen").exists() {
            return Ok(candidate.to_path_buf());
        }
    }
    bail!(
        "processor and loadgen are not next to {}: build them first \
         (cargo build --release -p processor -p benches)",
        exe.display()
    )
}

/// A name no other run uses: `prefix-<pid>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(listener
        .local_addr()
        .context("address of a free port")?
        .port())
}
