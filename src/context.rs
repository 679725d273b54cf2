//! Request context every layer may read: the state built at start-up, the base path the
//! client used, the request id header, the body limit, and the facts of the runtime and
//! of one Lambda invocation.
//!
//! This module sits at the bottom of the crate (it imports only `config` and `store`),
//! so handlers, extractors, error rendering and the Lambda adapter can all share these
//! types without importing one another.

use crate::config::Config;
use crate::store::ItemStore;
use axum::extract::FromRequestParts;
use axum::http::{HeaderName, request::Parts};
use std::convert::Infallible;
use std::sync::Arc;

/// The request id header, accepted from the client or generated, and always returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler may need, built once at start-up (once per cold start on Lambda).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where items live.
    pub store: Arc<dyn ItemStore>,
    /// The bearer token writes need; `None` leaves writes open.
    pub api_token: Option<Arc<str>>,
    /// Where the process runs, as known at start-up (reported by `/api/aws-info`).
    pub runtime: Arc<Runtime>,
    /// What writes must carry, and how long idempotency keys live.
    pub writes: WritePolicy,
}

/// The rules for writes: required headers and the idempotency keys' lifetime.
#[derive(Debug, Clone, Copy)]
pub struct WritePolicy {
    /// Creates without `Idempotency-Key` answer 428.
    pub require_idempotency_key: bool,
    /// Replaces and deletes without `If-Match` answer 428.
    pub require_if_match: bool,
    /// How long a key is remembered.
    pub idempotency_ttl: std::time::Duration,
}

impl WritePolicy {
    /// The policy `config` sets.
    pub fn new(config: &Config) -> Self {
        Self {
            require_idempotency_key: config.require_idempotency_key,
            require_if_match: config.require_if_match,
            idempotency_ttl: std::time::Duration::from_secs(config.idempotency_ttl_seconds),
        }
    }
}

impl AppState {
    /// State for `config`, with `store` as the item store, running locally.
    pub fn new(config: &Config, store: Arc<dyn ItemStore>) -> Self {
        Self {
            store,
            api_token: None,
            runtime: Arc::new(Runtime::local()),
            writes: WritePolicy::new(config),
        }
        .with_api_token(config.api_token.clone())
    }

    /// The same state with `token` as the bearer token writes need (`None` or empty: open).
    pub fn with_api_token(mut self, token: Option<String>) -> Self {
        self.api_token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// The same state running in `runtime` (the Lambda adapter describes its own).
    pub fn with_runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Arc::new(runtime);
        self
    }
}

/// Where the process runs, as known at start-up: the fixed part of `/api/aws-info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runtime {
    /// Whether the process serves AWS Lambda invocations.
    pub in_lambda: bool,
    /// The AWS region (Lambda's `AWS_REGION`).
    pub region: Option<String>,
    /// The Lambda runtime, such as `provided.al2023`.
    pub runtime: Option<String>,
    /// The processor architecture of the binary.
    pub architecture: Option<String>,
}

impl Runtime {
    /// A process outside Lambda: only the architecture is known.
    pub fn local() -> Self {
        Self {
            in_lambda: false,
            architecture: Some(std::env::consts::ARCH.to_owned()),
            ..Self::default()
        }
    }
}

/// The facts of one Lambda invocation, put in the request extensions by the Lambda
/// adapter; absent on the local server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub function_name: Option<String>,
    pub function_version: Option<String>,
    pub memory_limit_mb: Option<u32>,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
    pub lambda_request_id: Option<String>,
    pub api_request_id: Option<String>,
    pub stage: Option<String>,
    pub source_ip: Option<String>,
    pub trace_id: Option<String>,
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

/// A request the transport could not read whole (on Lambda: an event whose body is
/// marked base64 but is not, or whose Host header is not a host). The transport
/// passes a readable stand-in with this extension, and the service answers 400 with
/// the reason instead of running an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDefect(pub String);

/// The body limit in force, put in the request extensions by the app so that a 413 can
/// say it (axum's `DefaultBodyLimit` enforces it but does not expose it to extractors).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The body-read timeout in force, for the 408's detail (tower-http's deadline layer
/// enforces it).
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub std::time::Duration);

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
}
