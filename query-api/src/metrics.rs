//! Every metric of the query API, named in one place. Labels are methods,
//! route templates (`/v1/campaigns/{campaign_id}/report`, never the ids
//! themselves; `unmatched` for unknown paths) and status codes; for event
//! ingestion, the record type, the rejection code and the produce outcome
//! (never tenant ids).

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Cheap to clone: every field is a handle to the same metric.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub rate_limited: IntCounter,
    /// Ingested events the broker acknowledged, by type.
    pub ingest_accepted: IntCounterVec,
    /// Ingested events rejected by the checks, by code.
    pub ingest_rejected: IntCounterVec,
    /// Valid events of requests answered 503 (the broker did not
    /// acknowledge them all).
    pub ingest_undelivered: IntCounter,
    /// From handing a request's records to the producer until the broker
    /// acknowledged them all (or one failed), by outcome.
    pub ingest_produce: HistogramVec,
    /// Live subscriptions open, by stream (report, campaigns).
    pub live_subscriptions: IntGaugeVec,
    /// Live messages sent, by stream.
    pub live_messages: IntCounterVec,
    /// Live subscriptions closed because the client fell too far behind.
    pub live_closed_slow: IntCounter,
    /// Polls of the checkpoints that found a commit.
    pub live_ticks: IntCounter,
    /// Changed reports read by those polls.
    pub live_reports: IntCounter,
    /// Polls that failed.
    pub live_poll_errors: IntCounter,
    /// Duration of a poll (checkpoints and changed reports).
    pub live_poll_duration: Histogram,
    /// Catch-up reads run (subscriptions that need the same reports share
    /// one).
    pub live_catch_up_reads: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered. (The names are
    /// constants: registration cannot fail except by a programming error.)
    pub fn new() -> Self {
        let r = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "query_api_requests_total",
                "HTTP requests answered, by method, route template and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "query_api_request_duration_seconds",
                "Time to the response head, by method, route template and status.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let rate_limited = IntCounter::new(
            "query_api_rate_limited_total",
            "Requests refused with 429 because their key exceeded its rate limit.",
        )
        .expect("valid metric");
        let ingest_accepted = IntCounterVec::new(
            Opts::new(
                "query_api_ingest_events_accepted_total",
                "Events posted over HTTP that the broker acknowledged, by type \
                 (lifecycle, notification, interaction).",
            ),
            &["type"],
        )
        .expect("valid metric");
        let ingest_rejected = IntCounterVec::new(
            Opts::new(
                "query_api_ingest_events_rejected_total",
                "Events posted over HTTP that broke the contract, by code \
                 (missing_field, empty_field, in_future, tenant_mismatch, ...).",
            ),
            &["code"],
        )
        .expect("valid metric");
        let ingest_undelivered = IntCounter::new(
            "query_api_ingest_events_undelivered_total",
            "Valid events posted over HTTP in requests answered 503: the broker \
             did not acknowledge them all within the delivery timeout.",
        )
        .expect("valid metric");
        let ingest_produce = HistogramVec::new(
            HistogramOpts::new(
                "query_api_ingest_produce_seconds",
                "Per request, from handing its events to the Kafka producer until the \
                 broker acknowledged every one (outcome acknowledged) or one failed (failed).",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["outcome"],
        )
        .expect("valid metric");
        let live_subscriptions = IntGaugeVec::new(
            Opts::new(
                "query_api_live_subscriptions",
                "Live subscriptions open (SSE streams and WebSocket subscriptions), by stream \
                 (report, campaigns).",
            ),
            &["stream"],
        )
        .expect("valid metric");
        let live_messages = IntCounterVec::new(
            Opts::new(
                "query_api_live_messages_total",
                "Live messages sent to clients, by stream (report, campaigns).",
            ),
            &["stream"],
        )
        .expect("valid metric");
        let live_closed_slow = IntCounter::new(
            "query_api_live_closed_slow_total",
            "Live subscriptions closed because the client fell more than LIVE_BUFFER commits behind.",
        )
        .expect("valid metric");
        let live_ticks = IntCounter::new(
            "query_api_live_ticks_total",
            "Polls of the checkpoints that found a commit and handed its reports to the live streams.",
        )
        .expect("valid metric");
        let live_reports = IntCounter::new(
            "query_api_live_reports_total",
            "Changed reports read for the live streams.",
        )
        .expect("valid metric");
        let live_poll_errors = IntCounter::new(
            "query_api_live_poll_errors_total",
            "Polls of the checkpoints for the live streams that failed (retried at the next poll).",
        )
        .expect("valid metric");
        let live_catch_up_reads = IntCounter::new(
            "query_api_live_catch_up_reads_total",
            "Catch-up reads of new or resumed live subscriptions run against ClickHouse \
             (subscriptions needing the same reports share one).",
        )
        .expect("valid metric");
        let live_poll_duration = Histogram::with_opts(
            HistogramOpts::new(
                "query_api_live_poll_seconds",
                "Duration of one poll for the live streams: the checkpoints, then the changed reports.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid metric");
        // Every stream exported from the start (at 0), so that dashboards
        // and alerts see the series before the first subscription.
        for stream in ["report", "campaigns"] {
            live_subscriptions.with_label_values(&[stream]);
            live_messages.with_label_values(&[stream]);
        }
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(live_subscriptions.clone()),
            Box::new(live_messages.clone()),
            Box::new(live_closed_slow.clone()),
            Box::new(live_ticks.clone()),
            Box::new(live_reports.clone()),
            Box::new(live_poll_errors.clone()),
            Box::new(live_poll_duration.clone()),
            Box::new(live_catch_up_reads.clone()),
            Box::new(duration.clone()),
            Box::new(rate_limited.clone()),
            Box::new(ingest_accepted.clone()),
            Box::new(ingest_rejected.clone()),
            Box::new(ingest_undelivered.clone()),
            Box::new(ingest_produce.clone()),
        ] {
            r.register(m).expect("unique metric");
        }
        Metrics {
            registry: r,
            requests,
            duration,
            rate_limited,
            ingest_accepted,
            ingest_rejected,
            ingest_undelivered,
            ingest_produce,
            live_subscriptions,
            live_messages,
            live_closed_slow,
            live_ticks,
            live_reports,
            live_poll_errors,
            live_poll_duration,
            live_catch_up_reads,
        }
    }

    /// Count one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        // Methods are a closed set here, whatever a client sends.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "TRACE" => method,
            _ => "OTHER",
        };
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
