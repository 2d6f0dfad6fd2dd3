//! Real receivers of deliveries for the end-to-end tests: an SMTP server
//! (Python aiosmtpd) and an HTTP server recording POSTs, in one child
//! process (`tests/python/sinks.py` in the test venv, $VENV_DIR), each
//! message or request written as a JSON file in a directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::server::free_port;

/// The running receivers (stopped when dropped).
#[derive(Debug)]
pub struct Sinks {
    pub smtp_port: u16,
    pub http_port: u16,
    dir: PathBuf,
    child: Child,
}

/// The venv's python (the test tools are installed there).
pub fn python() -> PathBuf {
    match std::env::var("VENV_DIR") {
        Ok(venv) => Path::new(&venv).join("bin/python"),
        Err(_) => PathBuf::from("python3"),
    }
}

/// A script of `tests/python`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

impl Sinks {
    /// Start both receivers on free ports and wait until they listen.
    pub fn start() -> Sinks {
        let dir = crate::procs::log_dir().join(crate::unique("sinks"));
        std::fs::create_dir_all(&dir).expect("sinks directory");
        let (smtp_port, http_port) = (free_port(), free_port());
        let mut child = Command::new(python())
            .arg(script("sinks.py"))
            .arg(&dir)
            .arg(smtp_port.to_string())
            .arg(http_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): run `deploy/local/install.sh python` and source \
                     deploy/local/env.sh (VENV_DIR)",
                    python().display()
                )
            });
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP/HTTP receivers did not start (is aiosmtpd installed in $VENV_DIR?)"
        );
        Sinks {
            smtp_port,
            http_port,
            dir,
            child,
        }
    }

    /// What was received so far (`kind` `mail` or `http`), in order.
    pub fn received(&self, kind: &str) -> Vec<Value> {
        let suffix = format!("-{kind}.json");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with(&suffix))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
            .collect()
    }

    /// Wait up to `timeout` until at least `n` of `kind` arrived.
    pub async fn wait_for(&self, kind: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let got = self.received(kind);
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sinks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
