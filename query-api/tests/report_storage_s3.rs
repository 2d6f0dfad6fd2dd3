//! The report file store on S3-compatible storage: moto's S3 server (an
//! independent implementation of the S3 API, from the test venv, $VENV_DIR)
//! on a free port, the store configured as in production
//! (`REPORT_STORAGE=s3://BUCKET/PREFIX` and the `AWS_*` variables). A file
//! larger than one part goes up as a multipart upload and comes back the
//! same; prefixes are listed and cleaned, deletes are idempotent.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use query_api::reports::storage::{FileStore, StoreLocation};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto() -> (Moto, String) {
    let venv = std::env::var("VENV_DIR").unwrap_or_default();
    let bin = PathBuf::from(&venv).join("bin/moto_server");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run `deploy/local/install.sh python` and source \
                 deploy/local/env.sh (VENV_DIR)",
                bin.display()
            )
        });
    let moto = Moto(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ureq::get(&url).call().is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on {url}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, url)
}

#[tokio::test]
async fn files_round_trip_through_s3_compatible_storage() {
    let (_moto, endpoint) = moto();
    ureq::put(&format!("{endpoint}/reports"))
        .call()
        .expect("create the bucket");
    for (name, value) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        std::env::set_var(name, value);
    }
    let location = StoreLocation::parse("s3://reports/analytics/files").unwrap();
    let store = FileStore::open(&location).unwrap();

    let dir = std::env::temp_dir().join(format!("s3-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let local = dir.join("report.bin");
    // 12 MB: three parts of a multipart upload (5 MB each at most).
    let data: Vec<u8> = (0..12_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    let size = store.upload("t/run-1/1/report.bin", &local).await.unwrap();
    assert_eq!(size, data.len() as u64);
    assert_eq!(store.read_all("t/run-1/1/report.bin").await.unwrap(), data);

    // Under the configured prefix, as another S3 client sees it.
    let listing = ureq::get(&format!("{endpoint}/reports?list-type=2"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        listing.contains("<Key>analytics/files/t/run-1/1/report.bin</Key>"),
        "{listing}"
    );

    // Earlier attempts' files are removed, the kept one stays.
    store.upload("t/run-1/2/report.bin", &local).await.unwrap();
    let removed = store
        .delete_prefix_except("t/run-1", &["t/run-1/2/report.bin".to_owned()])
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(store.read_all("t/run-1/1/report.bin").await.is_err());
    assert_eq!(
        store.read_all("t/run-1/2/report.bin").await.unwrap().len(),
        data.len()
    );
    store.delete("t/run-1/2/report.bin").await.unwrap();
    store.delete("t/run-1/2/report.bin").await.unwrap();
    assert!(store.read_all("t/run-1/2/report.bin").await.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
