//! The real binaries as child processes: the processor (started, killed,
//! stopped) and the load generator.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use benches::loadgen::expected_json::ExpectedFile;
use processor::clickhouse::convert::CheckpointRow;

use crate::kafka::Topics;

/// Where child process logs go (kept for a failing test's post-mortem).
pub fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("campaign-analytics-e2e");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Settings of one processor instance.
#[derive(Debug, Clone)]
pub struct ProcessorSpec {
    pub topics: Topics,
    pub group: String,
    pub database: String,
    pub clickhouse_url: String,
    pub tenant_timezones: String,
    pub extra_env: Vec<(String, String)>,
}

/// A running `processor run`.
#[derive(Debug)]
pub struct ProcessorProc {
    pub child: Child,
    pub log: PathBuf,
}

impl ProcessorSpec {
    pub fn new(topics: &Topics, database: &str, expected: &ExpectedFile) -> Self {
        let tz: Vec<String> = expected
            .tenants
            .iter()
            .map(|(t, info)| format!("{t}={}", info.timezone))
            .collect();
        ProcessorSpec {
            topics: topics.clone(),
            group: crate::unique("e2e-group"),
            database: database.to_string(),
            clickhouse_url: crate::clickhouse_url(),
            tenant_timezones: tz.join(","),
            extra_env: Vec::new(),
        }
    }

    pub fn start(&self, name: &str) -> ProcessorProc {
        self.start_binary(&crate::bin("processor"), name)
    }

    /// [`ProcessorSpec::start`] with another build of the processor (an
    /// earlier release, for the upgrade test).
    pub fn start_binary(&self, binary: &std::path::Path, name: &str) -> ProcessorProc {
        let log = log_dir().join(format!("{}.log", crate::unique(name)));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(binary);
        cmd.arg("run")
            .env("KAFKA_BROKERS", crate::brokers())
            .env("KAFKA_GROUP_ID", &self.group)
            .env("TOPIC_LIFECYCLE", &self.topics.lifecycle)
            .env("TOPIC_NOTIFICATIONS", &self.topics.notifications)
            .env("TOPIC_INTERACTIONS", &self.topics.interactions)
            .env("TOPIC_DLQ", &self.topics.dlq)
            .env("CLICKHOUSE_URL", &self.clickhouse_url)
            .env("CLICKHOUSE_DATABASE", &self.database)
            .env("TENANT_TIMEZONES", &self.tenant_timezones)
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env("SNAPSHOT_INTERVAL_MS", "500")
            .env("KAFKA_SESSION_TIMEOUT_MS", "6000")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start processor");
        ProcessorProc { child, log }
    }
}

/// A processor left running by a failing test is killed with it.
impl Drop for ProcessorProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ProcessorProc {
    /// SIGKILL: no final snapshot, no leaving the group.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    assert!(
                        status.success(),
                        "processor exited with {status} after SIGTERM; log: {}",
                        self.log.display()
                    );
                    return;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                _ => {
                    let _ = self.child.kill();
                    panic!(
                        "processor did not stop within 60 s of SIGTERM; log: {}",
                        self.log.display()
                    );
                }
            }
        }
    }

    /// Send a signal by name (`STOP` freezes the process, `CONT` resumes it).
    pub fn signal(&self, name: &str) {
        signal_pid(self.child.id(), name);
    }

    /// Fails the test if the process died.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "processor exited early with {status}; log: {}",
                self.log.display()
            );
        }
    }

    /// Wait at most `timeout` for the process to exit on its own.
    pub fn exited_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                _ => return None,
            }
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Run `loadgen` to completion with these extra arguments, producing to the
/// test's topics; returns its expected figures.
pub fn loadgen(topics: &Topics, args: &[&str]) -> ExpectedFile {
    let path = log_dir().join(format!("{}.json", crate::unique("expected")));
    let status = loadgen_command(topics, args, &path)
        .status()
        .expect("run loadgen");
    assert!(status.success(), "loadgen failed: {status}");
    read_expected(&path)
}

/// `loadgen` as a command (to run in the background).
pub fn loadgen_command(topics: &Topics, args: &[&str], expected: &PathBuf) -> Command {
    let log = File::create(expected.with_extension("log")).expect("loadgen log");
    let err = log.try_clone().expect("loadgen log");
    let mut cmd = Command::new(crate::bin("loadgen"));
    cmd.stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .args(args)
        .arg("--expected")
        .arg(expected)
        .args(["--brokers", &crate::brokers()])
        .args(["--topic-lifecycle", &topics.lifecycle])
        .args(["--topic-notifications", &topics.notifications])
        .args(["--topic-interactions", &topics.interactions])
        // One record per batch: the tests' broker (tansu, memory storage)
        // cannot serve a fetch from inside a batch, and processors resume
        // at checkpoint offsets (tests/tests/broker.rs).
        .args(["--batch-records", "1"])
        .stdin(Stdio::null());
    cmd
}

pub fn read_expected(path: &PathBuf) -> ExpectedFile {
    let file = File::open(path).expect("expected figures");
    serde_json::from_reader(std::io::BufReader::new(file)).expect("expected figures parse")
}

/// Wait until the checkpoints cover every record loadgen produced (offsets
/// are contiguous from 0, so a topic is done when its partitions' next
/// offsets add up to its record count).
pub async fn wait_caught_up(
    client: &clickhouse::Client,
    topics: &Topics,
    expected: &ExpectedFile,
    timeout: Duration,
    running: &mut [&mut ProcessorProc],
) {
    let want = topics.inputs().map(|t| {
        expected
            .counts
            .per_topic
            .get(t)
            .map_or(0, |c| c.records as i64)
    });
    wait_checkpointed(client, want, timeout, running).await;
}

/// The latest checkpoint of every partition, by partition.
pub async fn latest_checkpoints(
    client: &clickhouse::Client,
) -> Result<Vec<CheckpointRow>, clickhouse::error::Error> {
    client
        .query(
            "SELECT partition, v AS version, l AS lifecycle_offset, \
                    n AS notifications_offset, i AS interactions_offset, f AS state_format, \
                    r AS retained_from_ms, o AS rules_offset \
             FROM (SELECT partition, max(version) AS v, \
                          argMax(lifecycle_offset, version) AS l, \
                          argMax(notifications_offset, version) AS n, \
                          argMax(interactions_offset, version) AS i, \
                          argMax(state_format, version) AS f, \
                          argMax(retained_from_ms, version) AS r, \
                          argMax(rules_offset, version) AS o \
                   FROM checkpoints GROUP BY partition) ORDER BY partition",
        )
        .fetch_all()
        .await
}

/// Wait until the checkpoints cover `want` records of each input topic
/// (lifecycle, notifications, interactions), summed over partitions.
pub async fn wait_checkpointed(
    client: &clickhouse::Client,
    want: [i64; 3],
    timeout: Duration,
    running: &mut [&mut ProcessorProc],
) {
    let deadline = Instant::now() + timeout;
    loop {
        for p in running.iter_mut() {
            p.assert_running();
        }
        // The processor creates the table when it starts.
        let rows = latest_checkpoints(client).await.unwrap_or_default();
        let mut have = [0i64; 3];
        for r in &rows {
            for (t, o) in [
                r.lifecycle_offset,
                r.notifications_offset,
                r.interactions_offset,
            ]
            .into_iter()
            .enumerate()
            {
                have[t] += o.max(0);
            }
        }
        if have.iter().zip(&want).all(|(h, w)| h >= w) {
            return;
        }
        if Instant::now() > deadline {
            panic!("not caught up after {timeout:?}: checkpointed {have:?} of {want:?} records per topic");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What `processor dlq replay` did.
#[derive(Debug)]
pub struct Replayed {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Replayed {
    /// Fails the test unless it succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "dlq replay failed with {}:\n{}\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails the test unless the summary has this line fragment.
    pub fn assert_says(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "dlq replay summary lacks {text:?}:\n{}\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Run `processor dlq replay ARGS` on the test's dead-letter topic (one
/// record per produced batch, as the tests' broker needs) to completion,
/// at most `timeout`.
pub fn dlq_replay(topics: &Topics, args: &[&str], timeout: Duration) -> Replayed {
    let base = log_dir().join(crate::unique("dlq-replay"));
    let (out, err) = (base.with_extension("out"), base.with_extension("err"));
    let mut child = Command::new(crate::bin("processor"))
        .args(["dlq", "replay", "--batch-records", "1"])
        .args(args)
        .env("KAFKA_BROKERS", crate::brokers())
        .env("TOPIC_DLQ", &topics.dlq)
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::from(File::create(&out).expect("replay stdout")))
        .stderr(Stdio::from(File::create(&err).expect("replay stderr")))
        .spawn()
        .expect("start processor dlq replay");
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("wait for dlq replay") {
            Some(status) => break status,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "processor dlq replay still running after {timeout:?}; output in {}",
                    base.display()
                );
            }
        }
    };
    Replayed {
        status,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    }
}

/// Send a signal by name to a process (`STOP` freezes it, `CONT` resumes
/// it).
pub fn signal_pid(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}
