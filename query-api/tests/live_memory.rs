//! The heap a live connection holds, counted by dhat's allocator (this test
//! binary only): 300 SSE clients of the campaigns stream connect to the
//! real server loop over TCP and read up to `synced`; the heap that stays
//! allocated, over the connections, must stay small. (Serving the axum
//! `Router` itself once made every connection copy all routes: about
//! 120 KiB a connection; the benchmark measures the process's memory.)

use std::time::Duration;

use query_api::app::{router, AppState, Settings};
use query_api::keys::{hash_key, KeyStore};
use query_api::live;
use query_api::rate_limit::Limit;
use query_api::read::MemoryReader;
use runtime::tenants::TenantZones;
use storage::rows::ReportRow;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Heap bytes a connection may hold, the client's socket included.
const MAX_BYTES_PER_CONNECTION: i64 = 48 * 1024;
const CONNECTIONS: usize = 300;

fn heap_bytes() -> i64 {
    i64::try_from(dhat::HeapStats::get().curr_bytes).unwrap_or(i64::MAX)
}

/// A client: the request, then read until `synced`.
async fn subscribe(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /v1/campaigns/stream HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer key\r\n\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("event: synced") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "the stream ended: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200"));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_connection_holds_little_memory() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let keys = KeyStore::parse(
        &format!(
            "[[keys]]\ntenant = \"a\"\nsha256 = \"{}\"\n",
            hash_key("key")
        ),
        "test keys",
    )
    .unwrap();
    let reader = MemoryReader::new();
    for c in 0..10 {
        reader.put_report(ReportRow {
            tenant_id: "a".into(),
            campaign_id: format!("c{c}"),
            version: 10,
            nodes_json: "[]".into(),
            funnel_json: "[]".into(),
            ..ReportRow::default()
        });
    }
    reader.set_checkpoint(0, 10);
    let state = AppState::new(
        reader.clone(),
        keys,
        TenantZones::parse("UTC", &[]).unwrap(),
        Limit {
            per_second: 1e9,
            burst: 1_000_000_000,
        },
        Settings::default(),
    );
    let poller = live::spawn_poller(state.live.clone(), reader, Duration::from_millis(50));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(query_api::app::serve(
        listener,
        router(state),
        std::future::pending(),
    ));
    // Warm up: the first connections allocate what every later one shares.
    let warm: Vec<_> = futures_util::future::join_all((0..20).map(|_| subscribe(addr))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = heap_bytes();
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        clients.push(subscribe(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per_connection = (heap_bytes() - before) / CONNECTIONS as i64;
    eprintln!("{per_connection} heap bytes per live connection");
    assert!(
        per_connection < MAX_BYTES_PER_CONNECTION,
        "{per_connection} heap bytes per live connection (at most {MAX_BYTES_PER_CONNECTION})"
    );
    drop((clients, warm));
    server.abort();
    poller.abort();
}
