//! Catch-up reads shared between subscriptions: every subscription that
//! needs the same reports (same scope, same version ranges: for example
//! every new campaigns stream of a tenant between two commits) waits for
//! one read. A reconnect storm of thousands of clients after a deploy then
//! costs a query per tenant, not per client.
//!
//! A finished read stays while the hub is at the cursor it was read up to
//! (the next commit makes every range of it stale) and at most
//! [`MAX_ENTRIES`] are kept; a failed one is forgotten at once, so the
//! next subscription tries again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use prometheus::IntCounter;
use tokio::sync::Semaphore;

use super::cursor::Cursor;
use super::subscription::{live_reports, LiveReport};
use crate::read::{ReadError, Reader, ReportScope, VersionRange};

/// Reads kept at most (finished or running); past it, the finished ones
/// are dropped.
pub const MAX_ENTRIES: usize = 1024;

/// The reports of a catch-up, sorted as the poller sorts a tick's.
pub type Reports = Arc<[Arc<LiveReport>]>;

type Read = Shared<BoxFuture<'static, Result<Reports, String>>>;
type Key = (ReportScope, Vec<VersionRange>);

/// The shared reads of one process.
#[derive(Debug)]
pub struct CatchUps {
    inner: Mutex<Entries>,
    /// Bounds the reads running at once (ClickHouse refuses past
    /// `max_concurrent_queries`).
    turns: Arc<Semaphore>,
    reads: IntCounter,
}

#[derive(Default)]
struct Entries {
    /// The hub cursor the entries were read up to.
    at: Cursor,
    reads: HashMap<Key, Read>,
}

impl std::fmt::Debug for Entries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries")
            .field("at", &self.at)
            .field("reads", &self.reads.len())
            .finish()
    }
}

impl CatchUps {
    /// At most `concurrent` reads at once; `reads` counts the queries.
    pub fn new(concurrent: usize, reads: IntCounter) -> Self {
        CatchUps {
            inner: Mutex::new(Entries::default()),
            turns: Arc::new(Semaphore::new(concurrent.max(1))),
            reads,
        }
    }

    /// The reports of `scope` in `ranges`, which end at the hub's cursor
    /// `at`: from a read running or finished for the same, or a new one.
    pub async fn read<R: Reader>(
        &self,
        reader: &R,
        scope: ReportScope,
        ranges: Vec<VersionRange>,
        at: &Cursor,
    ) -> Result<Reports, ReadError> {
        if ranges.is_empty() {
            return Ok(Arc::from(Vec::new()));
        }
        let key = (scope, ranges);
        let read = {
            let mut entries = self.lock();
            if entries.at != *at {
                entries.at = at.clone();
                entries.reads.clear();
            }
            if entries.reads.len() >= MAX_ENTRIES {
                entries.reads.retain(|_, r| r.peek().is_none());
            }
            match entries.reads.get(&key) {
                Some(read) => read.clone(),
                None => {
                    let read = self.start(reader.clone(), key.clone());
                    entries.reads.insert(key.clone(), read.clone());
                    read
                }
            }
        };
        match read.await {
            Ok(reports) => Ok(reports),
            Err(message) => {
                let mut entries = self.lock();
                if matches!(entries.reads.get(&key).and_then(Shared::peek), Some(Err(_))) {
                    entries.reads.remove(&key);
                }
                Err(ReadError::Unavailable(message))
            }
        }
    }

    fn start<R: Reader>(&self, reader: R, (scope, ranges): Key) -> Read {
        let turns = self.turns.clone();
        let reads = self.reads.clone();
        async move {
            let _turn = turns.acquire_owned().await.map_err(|e| e.to_string())?;
            reads.inc();
            let rows = reader
                .reports_between(&scope, &ranges)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Reports::from(live_reports(&rows)))
        }
        .boxed()
        .shared()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is consistent between statements; nothing under the lock
        // panics.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use storage::rows::ReportRow;

    use super::*;
    use crate::read::MemoryReader;

    fn counter() -> IntCounter {
        IntCounter::new("reads", "reads").unwrap()
    }

    fn scope(tenant: &str) -> ReportScope {
        ReportScope {
            tenant: Some(tenant.into()),
            job: Some(String::new()),
            ..ReportScope::default()
        }
    }

    fn upto(v: u64) -> Vec<VersionRange> {
        vec![VersionRange {
            partition: 0,
            after: 0,
            upto: v,
        }]
    }

    fn reader() -> MemoryReader {
        let reader = MemoryReader::new();
        for (t, c, v) in [("a", "c1", 5), ("a", "c2", 7), ("b", "c3", 6)] {
            reader.add_report(ReportRow {
                tenant_id: t.into(),
                campaign_id: c.into(),
                version: v,
                ..ReportRow::default()
            });
        }
        reader
    }

    fn campaigns(r: &Reports) -> Vec<&str> {
        r.iter().map(|x| x.campaign.as_str()).collect()
    }

    #[tokio::test]
    async fn concurrent_subscriptions_share_one_read_per_scope() {
        let reader = reader();
        reader.set_delay(Duration::from_millis(50));
        let reads = counter();
        let c = CatchUps::new(8, reads.clone());
        let at = Cursor::from_pairs([(0, 7)]);
        let many = (0..50).map(|i| {
            let tenant = if i % 2 == 0 { "a" } else { "b" };
            c.read(&reader, scope(tenant), upto(7), &at)
        });
        let results = futures_util::future::join_all(many).await;
        assert_eq!(reads.get(), 2, "one read per tenant");
        assert_eq!(campaigns(results[0].as_ref().unwrap()), ["c1", "c2"]);
        assert_eq!(campaigns(results[1].as_ref().unwrap()), ["c3"]);
        // Later subscriptions at the same cursor reuse the finished read.
        c.read(&reader, scope("a"), upto(7), &at).await.unwrap();
        assert_eq!(reads.get(), 2);
        // Another range is another read.
        let r = c.read(&reader, scope("a"), upto(5), &at).await.unwrap();
        assert_eq!(campaigns(&r), ["c1"]);
        assert_eq!(reads.get(), 3);
    }

    #[tokio::test]
    async fn a_new_commit_or_a_failure_forgets_the_reads() {
        let reader = reader();
        let reads = counter();
        let c = CatchUps::new(1, reads.clone());
        c.read(&reader, scope("a"), upto(7), &Cursor::from_pairs([(0, 7)]))
            .await
            .unwrap();
        // The hub moved: what was read up to 7 is not reused.
        reader.add_report(ReportRow {
            tenant_id: "a".into(),
            campaign_id: "c4".into(),
            version: 8,
            ..ReportRow::default()
        });
        let at8 = Cursor::from_pairs([(0, 8)]);
        let r = c.read(&reader, scope("a"), upto(8), &at8).await.unwrap();
        assert_eq!(campaigns(&r), ["c1", "c2", "c4"]);
        assert_eq!(reads.get(), 2);
        // A failed read is not kept: the next one asks again.
        reader.set_down(true);
        let at9 = Cursor::from_pairs([(0, 9)]);
        assert!(c.read(&reader, scope("a"), upto(9), &at9).await.is_err());
        reader.set_down(false);
        let r = c.read(&reader, scope("a"), upto(9), &at9).await.unwrap();
        assert_eq!(campaigns(&r), ["c1", "c2", "c4"]);
        assert_eq!(reads.get(), 4);
        // No ranges: nothing to read.
        assert!(c
            .read(&reader, scope("a"), Vec::new(), &at9)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(reads.get(), 4);
    }
}
