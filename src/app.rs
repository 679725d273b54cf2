//! The service, composed: the API routes, the documentation pages and the cross-cutting
//! layers, in order. Each piece is defined where it belongs; this file only assembles.

use crate::api;
use crate::config::{Config, ServerConfig};
use crate::context::{AppState, BodyLimit, BodyReadTimeout, REQUEST_ID};
use crate::docs::{self, DocsState};
use crate::error;
use crate::metrics::{Measured, Metrics};
use crate::middleware::{self, RequestLimits, normalize_request};
use crate::store::Decorated;
use crate::telemetry;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::{Extension, Router};
use std::sync::Arc;
use std::time::Duration;
use tower::util::MapRequestLayer;
use tower::{Layer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::map_request_body::MapRequestBodyLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyDeadlineLayer;
use tower_http::trace::TraceLayer;

/// The complete service: the router behind the request normalization (request id
/// bounds, trailing slash).
pub type App = tower::util::MapRequest<Router, fn(Request) -> Request>;

/// Builds the whole service for `config` and `state`.
pub fn build_app(config: &Config, mut state: AppState) -> Result<App, docs::DocsError> {
    let (api_router, mut document) = api::routes().split_for_parts();
    api::complete(&mut document);
    // Once, for both the served document and the metrics' operation names.
    let document = serde_json::to_value(&document).map_err(docs::DocsError::Serialize)?;
    let metrics = if config.metrics_enabled() {
        let metrics = Arc::new(Metrics::new(
            &config.telemetry.metrics_namespace,
            &config.telemetry.metrics_service,
            &document,
        ));
        state.store = Arc::new(Decorated::new(
            state.store,
            Measured::new(Arc::clone(&metrics)),
        ));
        Some(metrics)
    } else {
        None
    };
    let docs = DocsState::new(&config.docs, document)?;
    let mut router = api_router
        .merge(docs::router(docs))
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
        .with_state(state);
    if let Some(metrics) = metrics {
        router = router.layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::record,
        ));
    }
    let router = with_layers(router, &config.server);
    Ok(MapRequestLayer::new(normalize_request as fn(Request) -> Request).layer(router))
}

/// Cross-cutting layers, innermost first.
///
/// The request span, the request limits and the body limit and deadline wrap each
/// route (the span needs the matched route). Problem rendering wraps the router as a
/// whole, so it sees the framework's finished answers: axum adds `Allow` to a 405
/// outside the per-route layers.
fn with_layers(router: Router, config: &ServerConfig) -> Router {
    let limits = RequestLimits {
        max_uri_bytes: config.max_uri_bytes,
        max_header_bytes: config.max_header_bytes,
        max_headers: config.max_headers,
    };
    let routes = router
        // axum's limit rather than tower-http's RequestBodyLimitLayer: it applies where a
        // body is read (createItem, replaceItem), so an oversized body on a read or an
        // unknown path is ignored like any other body there instead of answering a 413
        // the contract does not list for those operations.
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(Extension(BodyLimit(config.max_body_bytes)))
        .layer(
            ServiceBuilder::new()
                .layer(RequestBodyDeadlineLayer::new(Duration::from_millis(
                    config.body_read_timeout_ms,
                )))
                .layer(MapRequestBodyLayer::new(Body::new)),
        )
        .layer(Extension(BodyReadTimeout(Duration::from_millis(
            config.body_read_timeout_ms,
        ))))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            middleware::enforce_limits,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::request_span)
                .on_request(())
                .on_response(telemetry::log_response)
                .on_failure(()),
        );
    let service = Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn(error::render_problems))
        .layer(middleware::security_headers())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    match middleware::cors_layer(&config.cors_allow_origins) {
        Some(cors) => service.layer(cors),
        None => service,
    }
}
