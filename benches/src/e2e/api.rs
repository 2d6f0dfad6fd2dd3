//! The release `query-api` binary as a child process, its keys file, and a
//! small HTTP client: the query scenario's server, and the end-to-end
//! tests' (`tests/src/api.rs` wraps this with test-style failures).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use query_api::keys::hash_key;
use serde::de::DeserializeOwned;

use super::env::{free_port, unique};

/// API keys: one per tenant and an admin key (random; the file holds only
/// their SHA-256).
#[derive(Debug, Clone)]
pub struct Keys {
    /// Tenant → key.
    pub tenants: BTreeMap<String, String>,
    pub admin: String,
    /// The query API's TOML keys file.
    pub path: PathBuf,
}

impl Keys {
    /// Random keys for these tenants, written as a keys file in `dir`.
    pub fn write<'a>(
        dir: &Path,
        tenants: impl IntoIterator<Item = &'a String>,
    ) -> anyhow::Result<Keys> {
        // A secret per run: the hash of a unique name (printable, no spaces).
        let secret = |who: &str| hash_key(&format!("{who}-{}", unique("key")));
        let tenants: BTreeMap<String, String> = tenants
            .into_iter()
            .map(|t| (t.clone(), secret(t)))
            .collect();
        let admin = secret("admin");
        let mut toml = String::from("# keys of one run (pipeline-bench or the end-to-end tests)\n");
        for (tenant, key) in &tenants {
            toml.push_str(&format!(
                "[[keys]]\ntenant = \"{tenant}\"\nsha256 = \"{}\"\n\n",
                hash_key(key)
            ));
        }
        toml.push_str(&format!(
            "[[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\n",
            hash_key(&admin)
        ));
        let path = dir.join(format!("{}.toml", unique("keys")));
        std::fs::write(&path, toml).with_context(|| format!("write {}", path.display()))?;
        Ok(Keys {
            tenants,
            admin,
            path,
        })
    }

    /// The key of `tenant`.
    pub fn of(&self, tenant: &str) -> Option<&str> {
        self.tenants.get(tenant).map(String::as_str)
    }
}

/// How a query API is started.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `query-api` binary.
    pub bin: PathBuf,
    /// Where its log goes.
    pub log_dir: PathBuf,
    pub clickhouse_url: String,
    pub database: String,
    /// `TENANT_TIMEZONES` (the processor's).
    pub tenant_timezones: String,
    /// More environment (e.g. `RATE_LIMIT_PER_SECOND`, `LOG_FORMAT`).
    pub extra_env: Vec<(String, String)>,
}

/// What [`QueryApi::start`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// `/readyz` is 200 (ClickHouse reachable).
    Ready,
    /// `/healthz` is 200 (the process serves).
    Alive,
}

/// A running `query-api serve`, killed when dropped.
#[derive(Debug)]
pub struct QueryApi {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub log: PathBuf,
    client: Client<HttpConnector, Empty<Bytes>>,
}

/// One response, read completely.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response ({}) is not the JSON expected: {}",
                self.status,
                self.text()
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The `error.code` of a JSON error body; `None` when it is not one.
    pub fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = self.json().ok()?;
        v["error"]["code"].as_str().map(str::to_string)
    }
}

impl QueryApi {
    /// Start the binary on a free port and wait (up to 30 s) for `wait`.
    pub async fn start(settings: &Settings, wait: Wait) -> anyhow::Result<QueryApi> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let log = settings
            .log_dir
            .join(format!("{}.log", unique("query-api")));
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(&settings.bin)
            .arg("serve")
            .env("LISTEN_ADDR", &addr)
            .env("CLICKHOUSE_URL", &settings.clickhouse_url)
            .env("CLICKHOUSE_DATABASE", &settings.database)
            .env("TENANT_TIMEZONES", &settings.tenant_timezones)
            .env("RUST_LOG", "info")
            .envs(settings.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("start {}", settings.bin.display()))?;
        let mut api = QueryApi {
            child,
            base: format!("http://{addr}"),
            log,
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let path = match wait {
            Wait::Ready => "/readyz",
            Wait::Alive => "/healthz",
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = api.child.try_wait()? {
                bail!(
                    "query-api exited with {status}; log {}:\n{}",
                    api.log.display(),
                    std::fs::read_to_string(&api.log).unwrap_or_default()
                );
            }
            if let Ok(r) = api.get(path, None, None).await {
                if r.status == 200 {
                    return Ok(api);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "query-api not answering 200 on {path} after 30 s; log: {}",
                    api.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// GET with an optional key (Bearer) and Accept header, the body read
    /// completely (30 s at most).
    pub async fn get(
        &self,
        path_and_query: &str,
        key: Option<&str>,
        accept: Option<&str>,
    ) -> anyhow::Result<Response> {
        let mut req = hyper::Request::get(format!("{}{path_and_query}", self.base));
        if let Some(key) = key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        let resp = tokio::time::timeout(
            Duration::from_secs(30),
            self.client.request(req.body(Empty::new())?),
        )
        .await
        .with_context(|| format!("GET {path_and_query}: no answer within 30 s"))??;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// The process id (for CPU and memory figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for QueryApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
