//! The dead-letter producer: a record that cannot be applied goes, unchanged
//! (same key, same bytes), to the dead-letter topic with headers naming where
//! it came from and why.
//!
//! Records are enqueued without waiting (librdkafka batches them, `linger.ms`
//! in [`KafkaConfig::producer_config`]); each carries an opaque value of the
//! caller's, handed back with the record's delivery report (on the
//! producer's polling thread), so the caller decides what waits for the
//! broker's acknowledgement (the engine: a checkpoint past the record).

use std::borrow::Cow;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::config::KafkaConfig;

/// Headers on every dead-lettered record.
pub const HEADER_TOPIC: &str = "source-topic";
pub const HEADER_PARTITION: &str = "source-partition";
pub const HEADER_OFFSET: &str = "source-offset";
pub const HEADER_REASON: &str = "reason";
pub const HEADER_REASON_CODE: &str = "reason-code";

#[derive(Debug, thiserror::Error)]
#[error("dead-letter topic {topic}: {source}")]
pub struct DeadLetterError {
    topic: String,
    source: rdkafka::error::KafkaError,
}

/// Where a bad record came from and why it was rejected.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub reason_code: Cow<'static, str>,
    pub reason: String,
}

/// Called once per enqueued record with its opaque value: `Ok` once the
/// broker acknowledged it; the error and the record (to enqueue again) when
/// it was refused (local queue full), failed or timed out
/// (`message.timeout.ms`).
pub type OnDelivery<O> = Box<dyn Fn(O, Result<(), (DeadLetterError, Rejected)>) + Send + Sync>;

/// The producer's context: hands delivery reports to [`OnDelivery`].
struct Reports<O> {
    topic: String,
    on_delivery: OnDelivery<O>,
}

impl<O> ClientContext for Reports<O> {}

impl<O: Send + Sync + 'static> ProducerContext for Reports<O> {
    type DeliveryOpaque = Box<O>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Box<O>) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((source, message)) => Err((
                DeadLetterError {
                    topic: self.topic.clone(),
                    source: source.clone(),
                },
                rejected_from(message),
            )),
        };
        (self.on_delivery)(*opaque, outcome);
    }
}

/// Sends records to the dead-letter topic.
pub struct DeadLetters<O: Send + Sync + 'static> {
    producer: ThreadedProducer<Reports<O>>,
    topic: String,
}

impl<O: Send + Sync + 'static> std::fmt::Debug for DeadLetters<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("topic", &self.topic)
            .finish()
    }
}

impl<O: Send + Sync + 'static> DeadLetters<O> {
    pub fn new(config: &KafkaConfig, on_delivery: OnDelivery<O>) -> Result<Self, DeadLetterError> {
        let reports = Reports {
            topic: config.topic_dlq.clone(),
            on_delivery,
        };
        let producer = config
            .producer_config()
            // Fuller batches, fewer produce requests for the broker to
            // serve; the snapshot waiting for the acknowledgements hardly
            // notices 20 ms.
            .set("linger.ms", "20")
            .create_with_context(reports)
            .map_err(|source| DeadLetterError {
                topic: config.topic_dlq.clone(),
                source,
            })?;
        Ok(DeadLetters {
            producer,
            topic: config.topic_dlq.clone(),
        })
    }

    /// Hand one record to the producer without waiting for the broker;
    /// `opaque` comes back through [`OnDelivery`] (right away when the
    /// producer refuses the record).
    pub fn enqueue(&self, r: &Rejected, opaque: O) {
        let (mut partition, mut offset) = ([0u8; 20], [0u8; 20]);
        let partition = decimal(i64::from(r.partition), &mut partition);
        let offset = decimal(r.offset, &mut offset);
        let headers = OwnedHeaders::new_with_capacity(5)
            .insert(Header {
                key: HEADER_TOPIC,
                value: Some(r.topic.as_bytes()),
            })
            .insert(Header {
                key: HEADER_PARTITION,
                value: Some(partition),
            })
            .insert(Header {
                key: HEADER_OFFSET,
                value: Some(offset),
            })
            .insert(Header {
                key: HEADER_REASON_CODE,
                value: Some(r.reason_code.as_bytes()),
            })
            .insert(Header {
                key: HEADER_REASON,
                value: Some(r.reason.as_bytes()),
            });
        let mut record =
            BaseRecord::<[u8], [u8], Box<O>>::with_opaque_to(&self.topic, Box::new(opaque))
                .payload(&r.payload)
                .headers(headers);
        if let Some(key) = &r.key {
            record = record.key(key);
        }
        if let Err((source, record)) = self.producer.send(record) {
            let error = DeadLetterError {
                topic: self.topic.clone(),
                source,
            };
            (self.producer.context().on_delivery)(*record.delivery_opaque, Err((error, r.clone())));
        }
    }

    /// Wait (at most 10 s) until every enqueued record has its delivery
    /// report.
    pub fn flush(&self) {
        let _ = self.producer.flush(Duration::from_secs(10));
    }
}

/// `n` in decimal, written into `buf` (no allocation per record).
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // 20 bytes hold every i64.
    let _ = write!(cursor, "{n}");
    let len = usize::try_from(cursor.position()).unwrap_or(0);
    &buf[..len]
}

/// The record a dead letter was made of, back from the producer (a failed
/// delivery), by its headers.
fn rejected_from(m: &BorrowedMessage<'_>) -> Rejected {
    let header = |name: &str| -> String {
        m.headers()
            .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    Rejected {
        topic: header(HEADER_TOPIC),
        partition: header(HEADER_PARTITION).parse().unwrap_or(-1),
        offset: header(HEADER_OFFSET).parse().unwrap_or(-1),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        reason_code: Cow::Owned(header(HEADER_REASON_CODE)),
        reason: header(HEADER_REASON),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_without_allocation() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(1234, &mut buf), b"1234");
        assert_eq!(decimal(i64::MIN, &mut buf), b"-9223372036854775808");
        assert_eq!(decimal(i64::MAX, &mut buf), b"9223372036854775807");
    }
}
