//! The query API binary as a child process, its keys file, and a small
//! HTTP client for the end-to-end tests.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::procs::log_dir;
use crate::server::free_port;

/// API keys of a test: one per tenant and an admin key.
#[derive(Debug, Clone)]
pub struct Keys {
    pub tenants: BTreeMap<String, String>,
    pub admin: String,
    pub path: PathBuf,
}

fn sha256_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Keys {
    /// Random keys for these tenants, written as the query API's TOML file.
    pub fn write<'a>(tenants: impl IntoIterator<Item = &'a String>) -> Keys {
        let secret = |who: &str| sha256_hex(&format!("{who}-{}", crate::unique("key")));
        let tenants: BTreeMap<String, String> = tenants
            .into_iter()
            .map(|t| (t.clone(), secret(t)))
            .collect();
        let admin = secret("admin");
        let mut toml = String::from("# test keys\n");
        for (tenant, key) in &tenants {
            toml.push_str(&format!(
                "[[keys]]\ntenant = \"{tenant}\"\nsha256 = \"{}\"\n\n",
                sha256_hex(key)
            ));
        }
        toml.push_str(&format!(
            "[[keys]]\nrole = \"admin\"\nsha256 = \"{}\"\n",
            sha256_hex(&admin)
        ));
        let path = log_dir().join(format!("{}.toml", crate::unique("keys")));
        std::fs::write(&path, toml).expect("write the keys file");
        Keys {
            tenants,
            admin,
            path,
        }
    }

    pub fn of(&self, tenant: &str) -> &str {
        &self.tenants[tenant]
    }
}

/// A running `query-api serve`, killed when dropped.
#[derive(Debug)]
pub struct QueryApi {
    child: Child,
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

    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response ({}) is not the JSON expected ({e}): {}",
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

    /// The `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        let v: serde_json::Value = self.json();
        v["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {v}"))
            .to_string()
    }
}

impl QueryApi {
    /// Start the binary on a free port with these settings, and wait until
    /// it is ready (ClickHouse reachable) or, when `ready` is false, merely
    /// alive.
    pub async fn start(
        clickhouse_url: &str,
        database: &str,
        keys: &Keys,
        tenant_timezones: &str,
        ready: bool,
    ) -> QueryApi {
        let addr = format!("127.0.0.1:{}", free_port());
        let log = log_dir().join(format!("{}.log", crate::unique("query-api")));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(crate::bin("query-api"))
            .arg("serve")
            .env("LISTEN_ADDR", &addr)
            .env("API_KEYS_FILE", &keys.path)
            .env("CLICKHOUSE_URL", clickhouse_url)
            .env("CLICKHOUSE_DATABASE", database)
            .env("TENANT_TIMEZONES", tenant_timezones)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start query-api");
        let mut api = QueryApi {
            child,
            base: format!("http://{addr}"),
            log,
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let path = if ready { "/readyz" } else { "/healthz" };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = api.child.try_wait() {
                panic!(
                    "query-api exited with {status}; log {}:\n{}",
                    api.log.display(),
                    std::fs::read_to_string(&api.log).unwrap_or_default()
                );
            }
            if let Ok(r) = api.try_get(path, None, None).await {
                if r.status == 200 {
                    return api;
                }
            }
            assert!(
                Instant::now() < deadline,
                "query-api not answering 200 on {path} after 30 s; log: {}",
                api.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn try_get(
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
        .await??;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// GET with an optional key (Bearer) and Accept header.
    pub async fn get_as(&self, path: &str, key: Option<&str>, accept: Option<&str>) -> Response {
        self.try_get(path, key, accept)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}; log: {}", self.log.display()))
    }

    /// GET with a key, expecting 200 and a JSON body.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, key: &str) -> T {
        let r = self.get_as(path, Some(key), None).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }
}

impl Drop for QueryApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
