//! The router: routes, layers and documentation pages. No logic lives here.

use crate::api::{self, aws_info::AwsInfo};
use crate::config::Config;
use crate::docs::{self, DocsState};
use crate::error::{self, ApiError};
use crate::extract::BodyLimit;
use crate::store::ItemStore;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, request::Parts};
use axum::{Extension, Router, middleware};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;
use tower::util::MapRequestLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The request id header, accepted from the client or generated, and always returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler may need, built once at start-up (once per cold start on Lambda).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where items live.
    pub store: Arc<dyn ItemStore>,
    /// The bearer token writes need; `None` leaves writes open.
    pub api_token: Option<Arc<str>>,
    /// What `/api/aws-info` reports about the environment.
    pub aws_info: Arc<AwsInfo>,
}

impl AppState {
    /// State for `config`, with `store` as the item store.
    pub fn new(config: &Config, store: Arc<dyn ItemStore>) -> Self {
        Self {
            store,
            api_token: None,
            aws_info: Arc::new(AwsInfo::local()),
        }
        .with_api_token(config.api_token.clone())
    }

    /// The same state with `token` as the bearer token writes need (`None` or empty: open).
    pub fn with_api_token(mut self, token: Option<String>) -> Self {
        self.api_token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// The same state reporting the Lambda environment `config` describes in /api/aws-info.
    pub fn in_lambda(mut self, config: &Config) -> Self {
        self.aws_info = Arc::new(crate::lambda::environment(
            config.aws_region.clone(),
            config.aws_execution_env.clone(),
        ));
        self
    }
}

/// The path prefix the client used in front of the API's own paths: empty locally, the
/// stage (`/prod`) or a custom domain's base path behind API Gateway. Links the service
/// returns (Location, welcome links, the docs' URLs) start with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasePath(String);

impl BasePath {
    /// A prefix such as `/prod`; empty or `/` means none.
    pub fn new(prefix: &str) -> Self {
        let trimmed = prefix.trim_end_matches('/');
        if trimmed.is_empty() {
            return Self::default();
        }
        if trimmed.starts_with('/') {
            Self(trimmed.to_owned())
        } else {
            Self(format!("/{trimmed}"))
        }
    }

    /// The prefix, empty or starting with `/` and never ending with one.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BasePath {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

/// The complete service: the router behind the trailing-slash rewrite.
pub type App = tower::util::MapRequest<Router, fn(Request) -> Request>;

/// Builds the whole service for `config` and `state`.
pub fn build_app(config: &Config, state: AppState) -> Result<App, docs::DocsError> {
    let (api_router, document) = api::routes().split_for_parts();
    let docs = DocsState::new(config, document)?;
    let router = api_router
        .merge(docs::router(docs))
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
        .with_state(state);
    let router = with_layers(router, config);
    Ok(MapRequestLayer::new(trim_api_trailing_slash as fn(Request) -> Request).layer(router))
}

/// Cross-cutting layers, innermost first.
fn with_layers(router: Router, config: &Config) -> Router {
    let router = router
        // axum's limit rather than tower-http's RequestBodyLimitLayer: it applies where a
        // body is read (createItem, replaceItem), so an oversized body on a read or an
        // unknown path is ignored like any other body there instead of answering a 413
        // the contract does not list for those operations.
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(Extension(BodyLimit(config.max_body_bytes)))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(middleware::from_fn(error::render_problems))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    match cors_layer(&config.cors_allow_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// One span per request; its fields are on every event logged while serving it.
fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let invocation = request
        .extensions()
        .get::<crate::api::aws_info::Invocation>();
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        lambda_request_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if let Some(invocation) = invocation {
        if let Some(id) = &invocation.lambda_request_id {
            span.record("lambda_request_id", id.as_str());
        }
        if let Some(trace) = &invocation.trace_id {
            span.record("trace_id", trace.as_str());
        }
    }
    span
}

/// The one log line per request.
fn log_response(response: &axum::response::Response, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    tracing::info!(status, latency_ms, "request completed");
}

/// CORS from the configured origins; `None` when there are none.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                REQUEST_ID,
            ])
            .expose_headers([
                axum::http::header::LOCATION,
                REQUEST_ID,
                axum::http::header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

/// The original service accepted `POST /api/items/`; API paths with a trailing slash
/// are served as their canonical form. Only `/api/` paths are rewritten: `/docs/` must
/// keep its slash for Swagger UI's relative asset URLs. (tower-http's
/// `NormalizePathLayer` rewrites every path, which loops on the `/docs` redirect.)
fn trim_api_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > "/api/".len() && path.starts_with("/api/") && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

impl From<docs::DocsError> for ApiError {
    fn from(error: docs::DocsError) -> Self {
        Self::Internal(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_normalised() {
        assert_eq!(BasePath::new("").as_str(), "");
        assert_eq!(BasePath::new("/").as_str(), "");
        assert_eq!(BasePath::new("prod").as_str(), "/prod");
        assert_eq!(BasePath::new("/prod/").as_str(), "/prod");
    }

    #[test]
    fn only_api_paths_lose_their_trailing_slash() {
        let rewrite = |uri: &str| {
            let request = Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .expect("valid");
            trim_api_trailing_slash(request).uri().to_string()
        };
        assert_eq!(rewrite("/api/items/"), "/api/items");
        assert_eq!(rewrite("/api/items/?limit=2"), "/api/items?limit=2");
        assert_eq!(rewrite("/api/items//"), "/api/items");
        assert_eq!(rewrite("/docs/"), "/docs/");
        assert_eq!(rewrite("/api/"), "/api/");
    }
}
