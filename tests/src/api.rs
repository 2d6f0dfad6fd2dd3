//! The query API binary as a child process for the end-to-end tests:
//! [`benches::e2e::api`] (also the query benchmark's) with test-style
//! failures, i.e. panics that name the server's log.

use serde::de::DeserializeOwned;

use benches::e2e::api::{self as bench_api, Settings, Wait};
pub use benches::e2e::api::{Keys, Response};

use crate::procs::log_dir;

/// Random keys for these tenants and an admin key, as a keys file.
pub fn keys<'a>(tenants: impl IntoIterator<Item = &'a String>) -> Keys {
    Keys::write(&log_dir(), tenants).expect("write the keys file")
}

/// A running `query-api serve` (killed when dropped).
#[derive(Debug)]
pub struct QueryApi(bench_api::QueryApi);

impl std::ops::Deref for QueryApi {
    type Target = bench_api::QueryApi;

    fn deref(&self) -> &Self::Target {
        &self.0
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
        let settings = Settings {
            bin: crate::bin("query-api"),
            log_dir: log_dir(),
            clickhouse_url: clickhouse_url.to_string(),
            database: database.to_string(),
            tenant_timezones: tenant_timezones.to_string(),
            extra_env: vec![("API_KEYS_FILE".into(), keys.path.display().to_string())],
        };
        let wait = if ready { Wait::Ready } else { Wait::Alive };
        match bench_api::QueryApi::start(&settings, wait).await {
            Ok(api) => QueryApi(api),
            Err(e) => panic!("{e:#}"),
        }
    }

    /// [`QueryApi::start`] with the environment `env` (the keys file
    /// included, e.g. [`crate::ingest::api_env`] for HTTP ingestion).
    pub async fn start_with(
        clickhouse_url: &str,
        database: &str,
        tenant_timezones: &str,
        env: Vec<(String, String)>,
        ready: bool,
    ) -> QueryApi {
        let settings = Settings {
            bin: crate::bin("query-api"),
            log_dir: log_dir(),
            clickhouse_url: clickhouse_url.to_string(),
            database: database.to_string(),
            tenant_timezones: tenant_timezones.to_string(),
            extra_env: env,
        };
        let wait = if ready { Wait::Ready } else { Wait::Alive };
        match bench_api::QueryApi::start(&settings, wait).await {
            Ok(api) => QueryApi(api),
            Err(e) => panic!("{e:#}"),
        }
    }

    /// GET with an optional key (Bearer) and Accept header.
    pub async fn get_as(&self, path: &str, key: Option<&str>, accept: Option<&str>) -> Response {
        self.0
            .get(path, key, accept)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e:#}; log: {}", self.log.display()))
    }

    /// GET with a key, expecting 200 and a JSON body.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, key: &str) -> T {
        let r = self.get_as(path, Some(key), None).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json().unwrap_or_else(|e| panic!("GET {path}: {e:#}"))
    }
}
