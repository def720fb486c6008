//! What operators and their tools read: `/healthz` (the process answers),
//! `/readyz` (the store answers, in a cluster this node hears the others,
//! and the gateway is not stopping) and
//! `/metrics` in Prometheus's text format.
//!
//! Counters and histograms are recorded where things happen, through the
//! `metrics` facade (sessions and history in the audit crate, dials in
//! `connect` and `ssh`, API requests here); this module installs the one
//! recorder and renders it. Live-session gauges are taken from the registry
//! when the page is read, so a scrape always sees the present.
//!
//! On the gateway's own listener `/metrics` needs a login allowed
//! `audit.view`; the separate operations listener (`metrics_listen` in the
//! configuration) serves it without one, for a scraper on a private network.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_domain::Permission;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Buckets (seconds) for request and dial durations: 1 ms to 10 s.
const SECONDS_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How long `/readyz` waits for the store.
const STORE_CHECK: Duration = Duration::from_secs(2);

/// The process-wide recorder, installed on first use. `None` if another
/// recorder was installed first (an embedder's): metrics then go there.
fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Installs the recorder (so counts start with the gateway, not with the
/// first scrape) and keeps its histograms trimmed until `stop`.
pub fn start_metrics(stop: tokio_util::sync::CancellationToken) {
    if let Some(handle) = prometheus() {
        let handle = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => handle.run_upkeep(),
                }
            }
        });
    }
}

/// `/healthz` and `/readyz`, open to anyone (load balancers do not log in).
pub(crate) fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Serves the operations listener — health and `/metrics`, no login —
/// until the gateway stops.
pub async fn serve_operations(listener: tokio::net::TcpListener, state: AppState) {
    let shutdown = state.shutdown.clone();
    let app = health_routes()
        .route("/metrics", get(open_metrics))
        .with_state(state);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the operations listener failed");
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        return not_ready("the gateway is shutting down");
    }
    if state.cluster.as_ref().is_some_and(|c| !c.listening()) {
        return not_ready("the gateway does not hear the other nodes of its cluster yet");
    }
    match tokio::time::timeout(STORE_CHECK, state.access.store().ping()).await {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store did not answer");
            not_ready("the database is not reachable")
        }
        Err(_) => not_ready("the database did not answer in time"),
    }
}

fn not_ready(message: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": { "code": "not_ready", "message": message } })),
    )
        .into_response()
}

/// `/metrics` on the gateway's own listener: for logins allowed `audit.view`.
pub(crate) async fn metrics_page(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.principal.require(Permission::AuditView)?;
    Ok(render(&state))
}

async fn open_metrics(State(state): State<AppState>) -> Response {
    render(&state)
}

fn render(state: &AppState) -> Response {
    let Some(handle) = prometheus() else {
        return not_ready("metrics go to another recorder in this process");
    };
    let node = state.registry.node().to_owned();
    for (protocol, tally) in state.registry.tally() {
        let protocol = protocol.as_str();
        metrics::gauge!("gatehouse_sessions_live", "protocol" => protocol, "node" => node.clone())
            .set(tally.live as f64);
        metrics::counter!("gatehouse_relayed_bytes_total", "protocol" => protocol, "direction" => "from_clients", "node" => node.clone())
            .absolute(tally.bytes_from_clients);
        metrics::counter!("gatehouse_relayed_bytes_total", "protocol" => protocol, "direction" => "to_clients", "node" => node.clone())
            .absolute(tally.bytes_to_clients);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Times every API request by its route (not its path: ids would make a
/// series each) and status.
pub(crate) async fn time_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    // Only API routes: the UI's files and the fallback are not timed.
    if let Some(route) = route.filter(|r| r.starts_with("/api/")) {
        metrics::histogram!(
            "gatehouse_http_request_duration_seconds",
            "method" => method,
            "route" => route,
            "status" => response.status().as_u16().to_string(),
        )
        .record(started.elapsed().as_secs_f64());
    }
    response
}
