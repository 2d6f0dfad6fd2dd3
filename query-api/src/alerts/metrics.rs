//! Prometheus metrics of alert delivery: attempts by channel kind and
//! outcome, how long a send took, and where deliveries ended. Labels are
//! kinds and outcomes only (never tenants, channels or URLs).

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Cheap to clone: handles to the same metrics.
#[derive(Debug, Clone)]
pub struct DeliveryMetrics {
    attempts: IntCounterVec,
    seconds: HistogramVec,
    finished: IntCounterVec,
}

impl DeliveryMetrics {
    /// Metrics registered in `registry` (left unregistered when it has them
    /// already, e.g. a second server in one test process).
    pub fn new(registry: &Registry) -> Self {
        let attempts = IntCounterVec::new(
            Opts::new(
                "alert_delivery_attempts_total",
                "Alert delivery attempts by channel kind (webhook, slack, email, deleted) and \
                 outcome (ok, error, suppressed)",
            ),
            &["kind", "outcome"],
        )
        .unwrap_or_else(|_| unreachable!("valid counter options"));
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "alert_delivery_send_seconds",
                "Time to send one alert notification (the channel's answer or the error), by \
                 channel kind",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["kind"],
        )
        .unwrap_or_else(|_| unreachable!("valid histogram options"));
        let finished = IntCounterVec::new(
            Opts::new(
                "alert_delivery_attempt_results_total",
                "What became of a delivery after an attempt (delivered, retry, failed, \
                 suppressed)",
            ),
            &["next"],
        )
        .unwrap_or_else(|_| unreachable!("valid counter options"));
        let _ = registry.register(Box::new(attempts.clone()));
        let _ = registry.register(Box::new(seconds.clone()));
        let _ = registry.register(Box::new(finished.clone()));
        DeliveryMetrics {
            attempts,
            seconds,
            finished,
        }
    }

    /// One attempt to a channel of `kind`: its outcome, and the send's
    /// duration when something was sent.
    pub fn attempt(&self, kind: &str, outcome: &str, sent_for: Option<Duration>) {
        self.attempts.with_label_values(&[kind, outcome]).inc();
        if let Some(took) = sent_for {
            self.seconds
                .with_label_values(&[kind])
                .observe(took.as_secs_f64());
        }
    }

    /// Where the delivery goes after an attempt.
    pub fn next(&self, next: &str) {
        self.finished.with_label_values(&[next]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_by_kind_and_outcome() {
        let registry = Registry::new();
        let m = DeliveryMetrics::new(&registry);
        m.attempt("webhook", "ok", Some(Duration::from_millis(20)));
        m.attempt("webhook", "error", Some(Duration::from_millis(30)));
        m.attempt("deleted", "error", None);
        m.next("retry");
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(
            text.contains(r#"alert_delivery_attempts_total{kind="webhook",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"alert_delivery_attempts_total{kind="deleted",outcome="error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"alert_delivery_send_seconds_count{kind="webhook"} 2"#),
            "{text}"
        );
        assert!(
            !text.contains(r#"alert_delivery_send_seconds_count{kind="deleted"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"alert_delivery_attempt_results_total{next="retry"} 1"#),
            "{text}"
        );
        // A second set on the same registry shares nothing but works.
        DeliveryMetrics::new(&registry).attempt("slack", "ok", None);
    }
}
