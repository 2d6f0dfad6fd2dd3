//! The router, its state and its layers, and the server loop.
//!
//! Layers, outermost first: request id + access log + metrics (they see
//! every final status), the request timeout (504), and the JSON error
//! normalizer (any error response not already JSON, such as axum's 405,
//! gets the `{"error": ...}` body; headers such as `Allow` are kept).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use runtime::tenants::TenantZones;
use runtime::TenantDirectory;
use tracing::Instrument;

use crate::alerts::Alerts;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::ingest::{Ingest, MAX_BODY_BYTES};
use crate::key_roles::KeyRoles;
use crate::keys::KeyStore;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::rate_limit::{Limit, RateLimiter};
use crate::read::Reader;
use crate::reports::Reports;
use crate::routes::{
    alert_rules, alerts, campaigns, channels, dashboards, events, journeys, keys, live, me, ops,
    overview, report_runs, report_templates, reports, silences, tenants, ws,
};
use crate::tenants::Tenants;

/// The request id header, taken from the request or generated, and
/// always returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest overview range, in days (inclusive).
    pub max_overview_days: u32,
    /// Longest time to the response head.
    pub request_timeout: Duration,
    /// A fixed "now" (tests); `None`: the system clock.
    pub now: Option<DateTime<Utc>>,
    /// Commits a live stream may fall behind before it is closed.
    pub live_buffer: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_overview_days: 731,
            request_timeout: Duration::from_secs(10),
            now: None,
            live_buffer: crate::live::DEFAULT_BUFFER,
        }
    }
}

impl Settings {
    /// Today in a time zone.
    pub fn today(&self, zone: chrono_tz::Tz) -> NaiveDate {
        self.now
            .unwrap_or_else(Utc::now)
            .with_timezone(&zone)
            .date_naive()
    }
}

/// What every handler shares; cheap to clone.
#[derive(Debug)]
pub struct AppState<R> {
    pub reader: R,
    pub keys: Arc<KeyStore>,
    /// Tenant keys' roles as their admins changed them (over the file's).
    pub roles: Arc<KeyRoles>,
    pub limiter: Arc<RateLimiter>,
    /// Every tenant's calendar: the `TENANT_TIMEZONES` seeds overlaid
    /// with the tenants registry, kept current by [`crate::tenants`].
    pub zones: Arc<TenantDirectory>,
    pub metrics: Metrics,
    pub settings: Arc<Settings>,
    /// HTTP ingestion; `None` when off (no Kafka brokers configured).
    pub ingest: Option<Arc<Ingest>>,
    /// Alerts; `None` when off (no metadata database configured): the
    /// alert routes answer 503.
    pub alerts: Option<Arc<Alerts>>,
    /// Scheduled reports; `None` when off (no metadata database
    /// configured): the report routes answer 503.
    pub reports: Option<Arc<Reports>>,
    /// The tenants registry; `None` when off (no metadata database
    /// configured): `/v1/tenants` answers 503.
    pub tenants: Option<Arc<Tenants>>,
    /// The live streams' hub; its poller is started apart
    /// ([`crate::live::spawn_poller`]).
    pub live: Arc<Live>,
}

impl<R: Clone> Clone for AppState<R> {
    fn clone(&self) -> Self {
        AppState {
            reader: self.reader.clone(),
            keys: self.keys.clone(),
            roles: self.roles.clone(),
            limiter: self.limiter.clone(),
            zones: self.zones.clone(),
            metrics: self.metrics.clone(),
            settings: self.settings.clone(),
            ingest: self.ingest.clone(),
            alerts: self.alerts.clone(),
            reports: self.reports.clone(),
            tenants: self.tenants.clone(),
            live: self.live.clone(),
        }
    }
}

impl<R: Reader> AppState<R> {
    pub fn new(
        reader: R,
        keys: KeyStore,
        zones: TenantZones,
        default_limit: Limit,
        settings: Settings,
    ) -> Self {
        let limiter = RateLimiter::new(&keys, default_limit);
        let metrics = Metrics::new();
        let live = Arc::new(Live::new(settings.live_buffer, metrics.clone()));
        AppState {
            reader,
            keys: Arc::new(keys),
            roles: Arc::new(KeyRoles::default()),
            limiter: Arc::new(limiter),
            zones: Arc::new(TenantDirectory::new(zones)),
            metrics,
            settings: Arc::new(settings),
            ingest: None,
            alerts: None,
            reports: None,
            tenants: None,
            live,
        }
    }

    /// Turn HTTP ingestion on (`POST /v1/events`, `/v1/events/batch`).
    pub fn with_ingest(mut self, ingest: Ingest) -> Self {
        self.ingest = Some(Arc::new(ingest));
        self
    }

    /// Turn the alert routes on (`/v1/alerts...`, `/v1/alert-rules...`,
    /// `/v1/channels...`, `/v1/silences...`, `/v1/ws`). The background tasks ([`crate::alerts::stream::spawn_fanout`]
    /// for the live stream, the rule publisher and the alert store) are
    /// started apart, on the same `alerts`.
    pub fn with_alerts(mut self, alerts: Arc<Alerts>) -> Self {
        self.alerts = Some(alerts);
        self
    }
}

impl<R> AppState<R> {
    /// Turn the report routes on (`/v1/report-*`, `/v1/schedules`,
    /// `/v1/audit`). Its tasks (scheduler, workers, delivery, retention)
    /// are started apart ([`Reports::spawn_tasks`]).
    pub fn with_reports(mut self, reports: Arc<Reports>) -> Self {
        self.reports = Some(reports);
        self
    }

    /// Turn the tenants registry on (`/v1/tenants`); `tenants` must hold
    /// this state's [`AppState::zones`]. Its tasks (the sync and the
    /// outbox publisher) are started apart.
    pub fn with_tenants(mut self, tenants: Arc<Tenants>) -> Self {
        self.tenants = Some(tenants);
        self
    }
}

/// Every route, with its layers.
pub fn router<R: Reader>(state: AppState<R>) -> Router {
    Router::new()
        .route("/v1/campaigns", get(campaigns::list::<R>))
        .route("/v1/campaigns/stream", get(live::campaigns::<R>))
        .route(
            "/v1/campaigns/{campaign_id}/report/stream",
            get(live::report::<R>),
        )
        .route(
            "/v1/campaigns/{campaign_id}/report",
            get(campaigns::report::<R>),
        )
        .route(
            "/v1/campaigns/{campaign_id}/jobs",
            get(campaigns::jobs::<R>),
        )
        .route(
            "/v1/campaigns/{campaign_id}/jobs/{job_id}/report",
            get(campaigns::job_report::<R>),
        )
        .route(
            "/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys",
            get(journeys::list::<R>),
        )
        .route(
            "/v1/campaigns/{campaign_id}/jobs/{job_id}/journeys/{user_id}",
            get(journeys::one_journey::<R>),
        )
        .route("/v1/overview", get(overview::overview::<R>))
        .route("/v1/me", get(me::me))
        .route(
            "/v1/events",
            post(events::post_event::<R>).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route(
            "/v1/events/batch",
            post(events::post_batch::<R>).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route(
            "/v1/alerts",
            get(alerts::list::<R>).post(alerts::create::<R>),
        )
        .route("/v1/alerts/stats", get(alerts::stats::<R>))
        .route("/v1/alerts/unread", get(alerts::unread::<R>))
        .route("/v1/alerts/stream", get(alerts::stream::<R>))
        .route("/v1/alerts/mark-all-read", post(alerts::mark_all_read::<R>))
        .route(
            "/v1/alerts/{id}",
            get(alerts::one::<R>).delete(alerts::delete::<R>),
        )
        .route("/v1/alerts/{id}/resolve", post(alerts::resolve::<R>))
        .route("/v1/alerts/{id}/mark-read", post(alerts::mark_read::<R>))
        .route("/v1/alerts/{id}/dismiss", post(alerts::dismiss::<R>))
        .route(
            "/v1/alert-rules",
            get(alert_rules::list::<R>).post(alert_rules::create::<R>),
        )
        .route(
            "/v1/alert-rules/{id}",
            get(alert_rules::one::<R>)
                .put(alert_rules::replace::<R>)
                .delete(alert_rules::delete::<R>),
        )
        .route(
            "/v1/alert-rules/{id}/preview",
            post(alert_rules::preview::<R>),
        )
        .route(
            "/v1/channels",
            get(channels::list::<R>).post(channels::create::<R>),
        )
        .route("/v1/channels/{id}", delete(channels::delete::<R>))
        .route("/v1/channels/{id}/test", post(channels::test::<R>))
        .route(
            "/v1/silences",
            get(silences::list::<R>).post(silences::create::<R>),
        )
        .route("/v1/silences/{id}", delete(silences::delete::<R>))
        .route("/v1/ws", get(ws::websocket::<R>))
        .route(
            "/v1/tenants",
            get(tenants::list::<R>).post(tenants::create::<R>),
        )
        .route(
            "/v1/tenants/{id}",
            get(tenants::one::<R>)
                .patch(tenants::update::<R>)
                .delete(tenants::delete::<R>),
        )
        .route(
            "/v1/report-definitions",
            get(reports::list_definitions::<R>).post(reports::create_definition::<R>),
        )
        .route(
            "/v1/report-definitions/{id}",
            get(reports::definition::<R>)
                .put(reports::update_definition::<R>)
                .delete(reports::delete_definition::<R>),
        )
        .route(
            "/v1/report-definitions/{id}/duplicate",
            post(reports::duplicate_definition::<R>),
        )
        .route(
            "/v1/report-definitions/{id}/schedule",
            put(reports::put_schedule::<R>).delete(reports::delete_schedule::<R>),
        )
        .route(
            "/v1/report-definitions/{id}/schedule/pause",
            post(reports::pause_schedule::<R>),
        )
        .route(
            "/v1/report-definitions/{id}/schedule/resume",
            post(reports::resume_schedule::<R>),
        )
        .route(
            "/v1/report-definitions/{id}/run",
            post(reports::run_definition::<R>),
        )
        .route("/v1/schedules", get(reports::list_schedules::<R>))
        .route(
            "/v1/report-templates",
            get(report_templates::list::<R>).post(report_templates::create::<R>),
        )
        .route(
            "/v1/report-templates/{id}",
            get(report_templates::one::<R>)
                .put(report_templates::update::<R>)
                .delete(report_templates::delete::<R>),
        )
        .route(
            "/v1/report-templates/{id}/instantiate",
            post(report_templates::instantiate::<R>),
        )
        .route("/v1/report-runs", get(report_runs::list::<R>))
        .route("/v1/report-runs/{id}", get(report_runs::one::<R>))
        .route(
            "/v1/report-runs/{id}/cancel",
            post(report_runs::cancel::<R>),
        )
        .route(
            "/v1/report-runs/{id}/download",
            get(report_runs::download::<R>),
        )
        .route(
            "/v1/report-files/{id}/{format}",
            get(report_runs::file::<R>),
        )
        .route("/v1/audit", get(reports::audit::<R>))
        .route("/v1/keys", get(keys::list::<R>))
        .route(
            "/v1/keys/{id}/role",
            put(keys::set_role::<R>).delete(keys::reset_role::<R>),
        )
        .route(
            "/v1/dashboards",
            get(dashboards::list::<R>).post(dashboards::create::<R>),
        )
        .route(
            "/v1/dashboards/{id}",
            get(dashboards::one::<R>)
                .put(dashboards::replace::<R>)
                .delete(dashboards::delete::<R>),
        )
        .route("/v1/dashboards/{id}/data", get(dashboards::data::<R>))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz::<R>))
        .route("/metrics", get(ops::metrics::<R>))
        .route("/openapi.json", get(ops::openapi))
        .route("/docs", get(ops::docs))
        .merge(crate::ui::router())
        .fallback(unknown_route)
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), timeout::<R>))
        .layer(middleware::from_fn_with_state(state.clone(), observe::<R>))
        .with_state(state)
}

async fn unknown_route() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}

/// A request id from the client if it is short visible ASCII, else a new one.
fn request_id(req: &Request) -> HeaderValue {
    let given = req.headers().get(&REQUEST_ID).filter(|v| {
        !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(u8::is_ascii_graphic)
    });
    if let Some(v) = given {
        return v.clone();
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    // Unique per process and request (start time, pid, counter); not a secret.
    let id = format!("{micros:x}-{:x}-{n:x}", std::process::id());
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Request id, access log and metrics. The Authorization header is never
/// logged; the key appears by its label only.
async fn observe<R: Reader>(
    State(s): State<AppState<R>>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let id = request_id(&req);
    let caller = Caller::default();
    req.extensions_mut().insert(caller.clone());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let id_text = id.to_str().unwrap_or_default().to_string();
    let span =
        tracing::info_span!("request", request_id = %id_text, method = %method, route = %route);
    let mut res = next.run(req).instrument(span).await;
    res.headers_mut().insert(REQUEST_ID, id);
    let elapsed = start.elapsed();
    let status = res.status().as_u16();
    s.metrics
        .observe(method.as_str(), &route, status, elapsed.as_secs_f64());
    let who = caller.get();
    tracing::info!(
        target: "query_api::access",
        request_id = %id_text,
        method = %method,
        route = %route,
        path = %path,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        key = who.key.as_deref().unwrap_or("-"),
        tenant = who.tenant.as_deref().unwrap_or("-"),
        "request"
    );
    res
}

/// 504 when the response head takes longer than the configured timeout.
async fn timeout<R: Reader>(State(s): State<AppState<R>>, req: Request, next: Next) -> Response {
    let limit = s.settings.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
            ApiError::timeout(ms).into_response()
        }
    }
}

/// Give every error response the JSON error body.
async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let (json_parts, body) = ApiError::for_status(status).into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &json_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, body)
}

/// Serve `app` on `listener` until `shutdown` completes; requests in
/// flight are finished first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `into_make_service`: each connection gets a clone of the router's
    // `Arc`. Serving the `Router` itself re-applies its state per
    // connection, which copies every route (about 120 KiB a connection,
    // held as long as it is open: more than 1 GiB for 10,000 live
    // dashboards; tests/live_memory.rs).
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}
