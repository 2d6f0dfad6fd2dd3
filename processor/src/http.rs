//! The processor's small HTTP port: Prometheus `/metrics` and `/healthz`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    healthy: Arc<AtomicBool>,
}

/// The router: `/metrics` and `/healthz` (503 once the engine has stopped).
pub fn router(metrics: Metrics, healthy: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(health))
        .with_state(AppState { metrics, healthy })
}

async fn render(State(s): State<AppState>) -> String {
    s.metrics.render()
}

async fn health(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.healthy.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "engine stopped\n")
    }
}

/// Serve until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    healthy: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics and health on http://{addr}/metrics");
    axum::serve(listener, router(metrics, healthy))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn metrics_and_health_answer() {
        let metrics = Metrics::new();
        metrics.records_consumed.with_label_values(&["t"]).inc();
        let healthy = Arc::new(AtomicBool::new(true));
        let app = router(metrics, healthy.clone());
        let res = app
            .clone()
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("processor_records_consumed_total{topic=\"t\"} 1"));
        let res = app
            .clone()
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        healthy.store(false, Ordering::SeqCst);
        let res = app
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
