//! The seam between HTTP ingestion and the broker: an [`EventSink`] takes
//! encoded records and answers once the broker acknowledged every one (or
//! says how many it did). [`super::kafka::KafkaSink`] is the real one;
//! [`MemorySink`] keeps records in memory for tests and can play a broker
//! that is down.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One record to produce: Avro single-object bytes keyed by campaign id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub topic: Arc<str>,
    pub key: String,
    pub payload: Vec<u8>,
}

/// The broker did not acknowledge every record of a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the broker acknowledged {acknowledged} of {total} records: {reason}")]
pub struct SinkError {
    /// Records the broker has (they are in Kafka whatever the answer).
    pub acknowledged: usize,
    pub total: usize,
    pub reason: String,
}

/// What [`EventSink::send`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// Where accepted events go.
pub trait EventSink: Send + Sync + std::fmt::Debug + 'static {
    /// Produce `records` and resolve once the broker acknowledged all of
    /// them (`Ok`), or once each was either acknowledged or failed (`Err`).
    /// Bounded in time by the sink's delivery timeout.
    fn send(&self, records: Vec<OutRecord>) -> SendFuture<'_>;
}

/// Records in memory, in the order sent; [`MemorySink::set_down`] makes it
/// refuse everything, as a broker that cannot be reached.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<OutRecord>>>,
    down: Arc<AtomicBool>,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record acknowledged so far.
    pub fn records(&self) -> Vec<OutRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

impl EventSink for MemorySink {
    fn send(&self, records: Vec<OutRecord>) -> SendFuture<'_> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(SinkError {
                    acknowledged: 0,
                    total: records.len(),
                    reason: "the broker is down (memory sink)".into(),
                });
            }
            let total = records.len();
            match self.records.lock() {
                Ok(mut all) => {
                    all.extend(records);
                    Ok(())
                }
                Err(_) => Err(SinkError {
                    acknowledged: 0,
                    total,
                    reason: "memory sink poisoned".into(),
                }),
            }
        })
    }
}
