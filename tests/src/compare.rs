//! What landed in ClickHouse, or what the query API serves, against the
//! load generator's expected figures: the benchmarks' comparison
//! (`benches::e2e::figures`), with test assertions. Counts and texts must be
//! equal; rates and seconds equal within 1e-9 relative.

use benches::loadgen::expected_json as expected;

pub use benches::e2e::figures::{check, differences, Checked};

/// Panic with the first differences, if any.
pub fn assert_no_differences(checked: &Checked) {
    if !checked.exact() {
        panic!(
            "{} differences from the expected figures; the first:\n{}",
            checked.differences,
            checked.shown.join("\n")
        );
    }
}

/// Every report, journey (when the file has them) and rollup in ClickHouse
/// equals the expected one (panics with the first differences otherwise).
pub async fn assert_exact(client: &clickhouse::Client, exp: &expected::ExpectedFile) {
    let checked = check(client, exp).await.expect("read the figures back");
    assert_no_differences(&checked);
}

/// Raw rows and distinct event ids in `events_raw`.
pub async fn raw_counts(client: &clickhouse::Client) -> (u64, u64) {
    client
        .query("SELECT count(), uniqExact(event_id) FROM events_raw")
        .fetch_one::<(u64, u64)>()
        .await
        .expect("count raw events")
}
