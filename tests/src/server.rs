//! A ClickHouse server of a test's own (for outage tests), run with the
//! project's own script on free ports and a scratch data directory.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

/// A free TCP port on loopback (free when asked; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[derive(Debug)]
pub struct OwnClickHouse {
    pub url: String,
    dir: PathBuf,
    /// HTTP, native, interserver, HTTPS.
    ports: [u16; 4],
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/clickhouse.sh")
}

impl OwnClickHouse {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(crate::unique("own-clickhouse"));
        let ports = [free_port(), free_port(), free_port(), free_port()];
        OwnClickHouse {
            url: format!("http://127.0.0.1:{}", ports[0]),
            dir,
            ports,
        }
    }

    fn run(&self, action: &str) {
        self.run_with(action, &[]);
    }

    fn run_with(&self, action: &str, vars: &[(&str, &str)]) {
        let status = Command::new("bash")
            .arg(script())
            .arg(action)
            .envs(vars.iter().copied())
            .env("LOCAL_DIR", &self.dir)
            .env("CLICKHOUSE_HTTP_PORT", self.ports[0].to_string())
            .env("CLICKHOUSE_TCP_PORT", self.ports[1].to_string())
            .env("CLICKHOUSE_INTERSERVER_PORT", self.ports[2].to_string())
            .env("CLICKHOUSE_HTTPS_PORT", self.ports[3].to_string())
            .env("CLICKHOUSE_URL", &self.url)
            .env(
                "CLICKHOUSE_HTTPS_URL",
                format!("https://127.0.0.1:{}", self.ports[3]),
            )
            .env("LOCAL_CA_FILE", self.dir.join("tls/ca.pem"))
            .status()
            .expect("run clickhouse.sh");
        assert!(status.success(), "clickhouse.sh {action} failed");
    }

    pub fn start(&self) {
        self.run("start");
    }

    pub fn stop(&self) {
        self.run("stop");
    }

    /// An outage rather than a maintenance stop: SIGTERM, then SIGKILL
    /// after `seconds`. (Seen in the outage test: a graceful stop of
    /// ClickHouse 18.16 took its whole 30 s while the processor wrote a
    /// snapshot every second, and those writes went on succeeding.)
    pub fn stop_within(&self, seconds: u32) {
        self.run_with("stop", &[("CLICKHOUSE_STOP_TIMEOUT", &seconds.to_string())]);
    }
}

impl Default for OwnClickHouse {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OwnClickHouse {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .env("LOCAL_DIR", &self.dir)
            .env("CLICKHOUSE_HTTP_PORT", self.ports[0].to_string())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
