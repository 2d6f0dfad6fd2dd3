//! The connection check at start: one metadata round trip, and a refused
//! credential or certificate as an error that names what to fix (librdkafka
//! itself would reconnect forever, logging).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

use crate::properties::KafkaProperties;

/// Why the brokers could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("Kafka client settings: {reason}{at}")]
    Config { reason: String, at: String },
    #[error(
        "Kafka at {brokers} refused the credentials: {reason}. Check sasl.mechanism, \
         sasl.username and sasl.password (KAFKA_PROPERTY_SASL_MECHANISM, \
         KAFKA_PROPERTY_SASL_USERNAME, KAFKA_PROPERTY_SASL_PASSWORD or \
         KAFKA_PROPERTY_SASL_PASSWORD_FILE)"
    )]
    Authentication { brokers: String, reason: String },
    #[error(
        "TLS to Kafka at {brokers} failed: {reason}. Check security.protocol and \
         ssl.ca.location (KAFKA_PROPERTY_SECURITY_PROTOCOL, KAFKA_PROPERTY_SSL_CA_LOCATION)"
    )]
    Tls { brokers: String, reason: String },
    #[error("cannot reach the Kafka broker at {brokers} within {seconds} s: {reason}")]
    Unreachable {
        brokers: String,
        seconds: u64,
        reason: String,
    },
}

impl ConnectError {
    /// A refused credential or certificate, or a bad setting: waiting will
    /// not help (an unreachable broker may come up).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ConnectError::Unreachable { .. })
    }
}

/// Records the errors librdkafka reports while the check runs.
#[derive(Default)]
struct Capture {
    /// A refused credential or certificate: the check ends with it.
    fatal: Mutex<Option<(RDKafkaErrorCode, String)>>,
    /// The last other error (a refused connection, a timeout).
    last: Mutex<Option<String>>,
}

impl ClientContext for Capture {
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let slot = match code {
            Some(
                RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::SSL,
            ) => &self.fatal,
            _ => {
                if let Ok(mut last) = self.last.lock() {
                    *last = Some(reason.to_owned());
                }
                return;
            }
        };
        if let (Ok(mut slot), Some(code)) = (slot.lock(), code) {
            slot.get_or_insert((code, reason.to_owned()));
        }
    }
}

impl ProducerContext for Capture {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// Ask `brokers` for their metadata with `props`, for at most `timeout`.
/// Blocking: call it from a blocking thread.
pub fn check_connection(
    brokers: &str,
    props: &KafkaProperties,
    timeout: Duration,
) -> Result<(), ConnectError> {
    let producer: BaseProducer<Capture> = props
        .client_config(brokers)
        .create_with_context(Capture::default())
        .map_err(|e| config_error(props, &e))?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let last_error = match producer
            .client()
            .fetch_metadata(None, left.min(Duration::from_millis(500)))
        {
            Ok(_) => return Ok(()),
            Err(e) => e.to_string(),
        };
        // Serve the error events of the attempts so far. With a zero
        // timeout rdkafka serves at most one event per call, and the
        // refused handshake may queue behind others: poll for a moment,
        // which serves every event queued meanwhile.
        producer.poll(Duration::from_millis(50));
        let context = producer.context();
        if let Some((code, reason)) = context.fatal.lock().ok().and_then(|f| f.clone()) {
            let brokers = brokers.to_owned();
            return Err(if code == RDKafkaErrorCode::SSL {
                ConnectError::Tls { brokers, reason }
            } else {
                ConnectError::Authentication { brokers, reason }
            });
        }
        if Instant::now() >= deadline {
            let reason = context
                .last
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .unwrap_or(last_error);
            return Err(ConnectError::Unreachable {
                brokers: brokers.to_owned(),
                seconds: timeout.as_secs(),
                reason,
            });
        }
    }
}

/// librdkafka refused a property: name the setting it came from.
pub(crate) fn config_error(props: &KafkaProperties, e: &KafkaError) -> ConnectError {
    let reason = e.to_string();
    let at = props
        .named_in(&reason)
        .map(|(_, source)| format!(" (set by {source})"))
        .unwrap_or_default();
    ConnectError::Config { reason, at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_property_names_its_variable() {
        let props = KafkaProperties::parse(
            None,
            &[("KAFKA_PROPERTY_SASL_USERNME".into(), "alice".into())],
            &[],
        )
        .unwrap();
        let e = check_connection("127.0.0.1:1", &props, Duration::from_millis(10)).unwrap_err();
        assert!(e.is_fatal());
        let text = e.to_string();
        assert!(text.contains("sasl.usernme"), "{text}");
        assert!(
            text.ends_with("(set by KAFKA_PROPERTY_SASL_USERNME)"),
            "{text}"
        );
    }

    #[test]
    fn nobody_listening_is_unreachable_not_fatal() {
        let e = check_connection(
            "127.0.0.1:1",
            &KafkaProperties::default(),
            Duration::from_millis(1200),
        )
        .unwrap_err();
        assert!(!e.is_fatal(), "{e}");
        assert!(
            e.to_string()
                .starts_with("cannot reach the Kafka broker at 127.0.0.1:1"),
            "{e}"
        );
    }
}
